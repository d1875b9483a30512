"""Fuzz every dmfkd command with hostile inputs (the long campaign; tests/end_to_end/test_fuzz_commands.py
and test_fuzz_input_classes.py run the same engine with small budgets).

Input classes (a campaign mixes them, fuzz_inputs.WEIGHTS):

    dump      the emulator's demo dumps (dmfemu.scenarios.crashdump_demo) with their DMF structures, blobs
              and ISF mutated (fuzz_bases.py: x64 full, x64 bitmap, x86 full, x86 bitmap, x64 with a DMF
              1.1.84 V1 context, ARM64 full, ARM64 bitmap)
    isf, options, special, schema, scenario
              everything around the dump (fuzz_inputs.py): ISF/JSON bombs, hostile option values,
              special files, hostile --schema files, scenario files for `dmfemu scenario`
    pdb       the driver's real PDB (clang-cl/lld-link) mutated at the container and the record level

Each command runs in-process - `dmfkd.cli.main(argv)` on the files, and for some cases `dmfkd.cli.run`
through the pykd stand-in attached to the same dump (spec/pykd.md) - and the outcome must be: exit 0,
or exit 2 / a DmfkdError with exactly one stderr line "dmfkd: ..."; no other exception; no call over
the time guard (a hang) or the memory guard (MEMORY_LIMIT more than the process held before the call:
RSS high-water mark, or tracemalloc peak with --memory tracemalloc).

    python3 scripts/fuzz_commands.py --iterations 2000 --seed 7 [--minutes 10] [--no-pykd] [--classes dump,isf]
    python3 scripts/fuzz_commands.py --replay /tmp/dmfkd-fuzz-7/finding-0/finding.json

prints the runs per second, per input class the cases, command runs, exit statuses and findings, the
largest memory growth and the slowest call, and every distinct finding (exception type + the frame
that raised), each saved with what replays it under /tmp/dmfkd-fuzz-<seed>/ (finding.json: the
mutations or the case; a dump case also keeps its MEMORY.DMP and driver.isf.json).
"""
import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
import tracemalloc
from typing import Any, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _sub in ("extension", "emulator", "scripts"):
    _p = os.path.join(ROOT, _sub)
    if _p not in sys.path:
        sys.path.insert(0, _p)

from dmfkd import cli  # noqa: E402
from dmfkd.errors import DmfkdError  # noqa: E402
from dmfkd.render import Output  # noqa: E402
from dmfkd.targets.dumpfile import DumpFile  # noqa: E402
from dmfkd.targets.isf import IsfSymbols  # noqa: E402

from fuzz_bases import (BASE_CONFIGS, EVENT_TYPE, HOT_OBJECT_FIELDS, INTERESTING, ISF_VALUES,  # noqa: E402,F401
                        Base, apply, build_bases, random_int, random_isf_mutation, random_mutation)

MEMORY_LIMIT = 200 * 1024 * 1024
SYMBOLS_SAY = "dmfkd: symbols: "


#: the largest memory growth (bytes, per the guard in use) and the slowest call seen
STATS = {"peak": 0, "peak_argv": None, "slowest": 0.0, "slowest_argv": None}


def _note(peak: int, seconds: float, argv: List[str]) -> None:
    if peak > STATS["peak"]:
        STATS["peak"], STATS["peak_argv"] = peak, argv
    if seconds > STATS["slowest"]:
        STATS["slowest"], STATS["slowest_argv"] = seconds, argv


class Runaway(BaseException):
    """A command ran past the hang guard (BaseException: no `except Exception` in dmfkd swallows it)."""


class Finding(Exception):
    """A command misbehaved; `key` groups findings with the same root (type + raising frame)."""

    def __init__(self, kind: str, argv: List[str], detail: str, key: str):
        super().__init__("%s: %s\n%s" % (kind, " ".join(argv), detail))
        self.kind = kind
        self.argv = argv
        self.detail = detail
        self.key = key


# --------------------------------------------------------------------------------------------------
# Running the commands
# --------------------------------------------------------------------------------------------------

def command_lines(base: Base) -> List[List[str]]:
    """argv of every command (without the DUMP argument; inserted after the command name)."""
    self_type = "%s=%s" % (base.guids[0], EVENT_TYPE)   # the SELF ring's records are DMFDEMO_EVENTs
    lines = [["info"], ["tags"], ["crashdump"], ["crashdump", "--format", "json"], ["crashdump", "--all"],
             ["crashdump", "--all", "--type", self_type, "--format", "json"],
             ["crashdump", "--merge-by", "Timestamp", "--type", self_type],
             ["datasources"], ["datasources", "--format", "json"], ["modules"], ["bugcheck"]]
    for g in base.guids:
        lines.append(["crashdump", "--guid", g])
        lines.append(["crashdump", "--guid", g, "--format", "jsonl"])
    lines.append(["crashdump", "--guid", base.guids[0], "--type", EVENT_TYPE, "--format", "json"])
    lines.append(["crashdump", "--guid", base.guids[-1], "--last", "2", "--grep", "23"])
    lines.append(["crashdump", "--guid", base.guids[0], "--raw"])
    lines.append(["crashdump", "--all", "--grep", "event"])
    lines.append(["tags", "--hex", base.guids[1]])
    lines.append(["crashdump", "--to-scenario", os.path.join(tempfile.gettempdir(), "dmfkd-fuzz-scenario.json")])
    for value in base.ring_handles + base.ring_contexts:
        lines.append(["ringbuffer", "0x%x" % value])
    lines.append(["ringbuffer", "0x%x" % base.ring_handles[-1], "--type", EVENT_TYPE, "--guid", base.guids[-1],
                  "--type-size-mismatch", "decode"])
    for handle in (base.ring_handles[0], base.collection_handle):
        if handle:
            lines.append(["modules", "0x%x" % handle])
    return lines


def _key(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    frame = tb[-1] if tb else None
    for f in reversed(tb):
        if "/dmfkd/" in f.filename.replace("\\", "/"):
            frame = f
            break
    where = "%s:%d" % (os.path.relpath(frame.filename, ROOT), frame.lineno) if frame else "?"
    return "%s at %s" % (type(exc).__name__, where)


def _rss() -> int:
    """Resident set size now (Linux /proc), else the high-water mark."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return _maxrss()


def _maxrss() -> int:
    """The high-water RSS since the last _reset_high_water() (Linux VmHWM), else since the process began."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # not POSIX: no memory guard
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_high_water() -> None:
    """Start a new high-water RSS (Linux >= 4.0: `5` to clear_refs), so that what the harness itself
    allocated between calls (building a bomb file) is never charged to the next call."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


@contextlib.contextmanager
def guard(seconds: float, memory: str = "rss"):
    """Hang guard (SIGALRM -> Runaway) and the memory a call took: with memory="rss" the growth of
    the process's high-water RSS (reset at the start of the call where Linux allows) over its RSS
    before the call (free; a call that allocates MEMORY_LIMIT more than the process holds raises the
    mark by at least that), with
    "tracemalloc" the exact Python allocation peak (slow)."""
    def on_alarm(signum, frame):
        raise Runaway("ran past the %.0f s hang guard" % seconds)

    use_alarm = seconds and hasattr(signal, "setitimer")
    if use_alarm:
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    if memory == "rss":
        _reset_high_water()
    before = _rss() if memory == "rss" else 0
    if memory == "tracemalloc":
        tracemalloc.start()
    peak = [0]
    try:
        yield peak
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        if memory == "tracemalloc":
            peak[0] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        elif memory == "rss":
            peak[0] = max(0, _maxrss() - before)


def run_cli(argv: List[str], seconds: float = 30.0, memory: str = "rss") -> Tuple[int, str, str]:
    """dmfkd.cli.main(argv) with output captured; raises Finding unless the outcome is acceptable."""
    out, err = io.StringIO(), io.StringIO()
    start = time.time()
    try:
        with guard(seconds, memory) as peak:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = cli.main(argv)
    except Runaway as exc:
        raise Finding("hang", argv, str(exc), "hang in %s" % argv[0])
    except BaseException as exc:  # the point of the exercise: anything but DmfkdError is a finding
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise Finding("exception", argv, traceback.format_exc(), _key(exc))
    _note(peak[0], time.time() - start, argv)
    if peak[0] > MEMORY_LIMIT:
        raise Finding("memory", argv, "%d bytes over the memory guard" % peak[0], "memory in %s" % argv[0])
    text = err.getvalue()
    # what symbol loading says (which driver, what was searched) goes to stderr as `dmfkd: symbols: ...`
    # lines by design; everything else on stderr is the one error line of an exit 2
    said = [line for line in text.splitlines() if not line.startswith(SYMBOLS_SAY)]
    if rc == 0:
        if said:
            raise Finding("stderr", argv, "exit 0 with stderr %r" % text[:500], "stderr on exit 0 in %s" % argv[0])
    elif rc == 2:
        lines = said
        if len(lines) != 1 or not lines[0].startswith("dmfkd: ") or not text.endswith("\n"):
            raise Finding("stderr", argv, "exit 2 with stderr %r" % text[:500], "bad error line in %s" % argv[0])
    else:
        raise Finding("status", argv, "exit %r, stderr %r" % (rc, text[:500]), "exit %r in %s" % (rc, argv[0]))
    return rc, out.getvalue(), text


def run_pykd(argv: List[str], dump_path: str, isf_path: str, seconds: float = 30.0,
             memory: str = "rss") -> Optional[str]:
    """The same command inside the pykd stand-in attached to the same dump (as `!py -g -m dmfkd`):
    returns None on success, the error line on a DmfkdError; raises Finding otherwise."""
    import dmfemu.pykd as standin

    try:
        target = DumpFile(dump_path)
    except DmfkdError:
        return "dump not openable"  # dbgeng would refuse it too; the CLI path covers the message
    try:
        symbols = IsfSymbols.load(isf_path)
    except DmfkdError:
        symbols = None  # no PDB: the commands run without symbols
    saved = sys.modules.get("pykd")
    sys.modules["pykd"] = standin
    standin.attach(target, symbols=symbols)
    label = ["pykd"] + argv
    start = time.time()
    try:
        with guard(seconds, memory) as peak:
            cli.run(list(argv), output=Output(io.StringIO()))
        result = None
    except DmfkdError as exc:
        text = str(exc)
        if not text or "\n" in text.strip():
            raise Finding("stderr", label, "DmfkdError text %r is not one line" % text[:300],
                          "multi-line error in pykd %s" % argv[0])
        result = text  # the guard measured this call too (peak is bound at __enter__)
    except Runaway as exc:
        raise Finding("hang", label, str(exc), "hang in pykd %s" % argv[0])
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise Finding("exception", label, traceback.format_exc(), "pykd: " + _key(exc))
    finally:
        standin.detach()
        target.close()
        if saved is None:
            sys.modules.pop("pykd", None)
        else:
            sys.modules["pykd"] = saved
    _note(peak[0], time.time() - start, label)
    if peak[0] > MEMORY_LIMIT:
        raise Finding("memory", label, "%d bytes over the memory guard" % peak[0], "memory in pykd %s" % argv[0])
    return result


def run_all(base: Base, dump_path: str, isf_path: str, lines=None, pykd: bool = True,
            seconds: float = 30.0, memory: str = "rss") -> List[int]:
    """Every command on the mutated dump, both ways; raises the first Finding."""
    codes = []
    for line in lines if lines is not None else command_lines(base):
        argv = [line[0], dump_path] + line[1:]
        rc, _, _ = run_cli(argv, seconds, memory)
        codes.append(rc)
        if pykd:
            run_pykd(line, dump_path, isf_path, seconds, memory)
    return codes


# --------------------------------------------------------------------------------------------------
# The campaign
# --------------------------------------------------------------------------------------------------

def _dump_iteration(base: Base, rng: random.Random, example_dir: str, pykd: bool, memory: str, seconds: float,
                    commands_per_example: int, tally) -> list:
    """One "dump" case: the base dump (and its ISF) mutated, command lines run both ways. Returns the
    mutations (the case, for a finding's record)."""
    import fuzz_inputs

    # the case directory may hold links to the pristine base files (other classes): never write through them
    fuzz_inputs.clear_directory(example_dir)
    mutations = [random_mutation(base, rng) for _ in range(rng.choice((1, 1, 2, 3, 5)))]
    if rng.random() < 0.2:
        # no DMF version in the symbols: layouts then come from the object or the ISF's types
        mutations.insert(0, ["isf_del", ["metadata", "dmfkd", "dmf_version"]])
    dump_path, isf_path = apply(base, mutations, example_dir)
    lines = command_lines(base)
    if commands_per_example and commands_per_example < len(lines):
        lines = rng.sample(lines, commands_per_example)
    for line in lines:
        rc, _, _ = run_cli([line[0], dump_path] + line[1:], seconds, memory)
        tally(rc)
        if pykd:
            run_pykd(line, dump_path, isf_path, seconds, memory)
            tally(None)
    return mutations


def campaign(iterations: int, seed: int, minutes: Optional[float], pykd: bool, memory: str,
             seconds: float, out_root: str, commands_per_example: int, classes=("dump",)) -> int:
    """Mixed campaign over input classes (fuzz_inputs.WEIGHTS among `classes`); per-class counts of
    command runs, exit statuses and findings."""
    import fuzz_inputs

    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="dmfkd-fuzz-work-")
    bases = build_bases(work)
    by_name = {b.name: b for b in bases}
    example_dir = os.path.join(work, "example")
    os.makedirs(example_dir, exist_ok=True)
    weights = [(fuzz_inputs.WEIGHTS.get(c, 10), c) for c in classes]
    findings = {}  # type: Dict[str, Tuple[int, Finding, str]]
    counts = {c: {"cases": 0, "runs": 0, "exit 0": 0, "exit 2": 0, "findings": 0} for c in classes}
    start = time.time()
    deadline = start + minutes * 60 if minutes else None
    done = 0
    try:
        for n in range(iterations):
            if deadline is not None and time.time() > deadline:
                break
            klass = fuzz_inputs.pick_weighted(rng, *weights)
            row = counts[klass]

            def tally(rc, row=row):
                row["runs"] += 1
                if rc is not None:
                    row["exit %d" % rc] = row.get("exit %d" % rc, 0) + 1
            case = None
            try:
                if klass == "dump":
                    base = rng.choice(bases)
                    case = {"class": "dump", "base": base.name, "mutations": None}
                    case["mutations"] = _dump_iteration(base, rng, example_dir, pykd, memory, seconds,
                                                        commands_per_example, tally)
                else:
                    try:
                        case = fuzz_inputs.generate(klass, rng, JUDGE, by_name)
                    except fuzz_inputs.NotReady as why:
                        sys.stdout.write("class %s left out: %s\n" % (klass, why))
                        weights = [w for w in weights if w[1] != klass]
                        continue
                    if not pykd:
                        case["runs"] = [r for r in case["runs"] if r.get("tool") != "pykd"]
                    for rc in fuzz_inputs.run_case(case, example_dir, by_name, JUDGE, memory):
                        tally(rc)
            except Finding as finding:
                row["findings"] += 1
                _record(findings, finding, case, klass, example_dir, out_root)
            except Exception:  # the harness's own bug (a generator, a file it makes): said, counted, not fatal
                row["harness errors"] = row.get("harness errors", 0) + 1
                if row["harness errors"] == 1:
                    sys.stdout.write("HARNESS ERROR [%s] %s\n%s\n" % (klass, json.dumps(case)[:2000],
                                                                      traceback.format_exc()))
            row["cases"] += 1
            done += 1
            if done % 5000 == 0:  # progress, so a long campaign that dies still says how far it got
                sys.stdout.write("PROGRESS %d cases %d runs %.0f s %s\n" % (
                    done, sum(r["runs"] for r in counts.values()), time.time() - start,
                    json.dumps({c: [r["runs"], r["findings"]] for c, r in counts.items()}, sort_keys=True)))
                sys.stdout.flush()
    finally:
        elapsed = time.time() - start
        shutil.rmtree(work, ignore_errors=True)
    runs = sum(r["runs"] for r in counts.values())
    sys.stdout.write("%d cases, %d command runs in %.1f s: %.1f runs/s\n" % (done, runs, elapsed,
                                                                            runs / elapsed if elapsed else 0))
    for klass in classes:
        r = counts[klass]
        sys.stdout.write("  %-9s %7d cases %9d runs   exit 0: %8d   exit 2: %8d   findings: %d%s\n"
                         % (klass, r["cases"], r["runs"], r["exit 0"], r["exit 2"], r["findings"],
                            "   harness errors: %d" % r["harness errors"] if r.get("harness errors") else ""))
    sys.stdout.write("largest memory growth of one call (%s): %.1f MiB (%s); slowest call: %.3f s (%s)\n"
                     % (memory, STATS["peak"] / 1048576.0, " ".join(STATS["peak_argv"] or [])[:120],
                        STATS["slowest"], " ".join(STATS["slowest_argv"] or [])[:120]))
    sys.stdout.write("%d distinct finding(s)\n" % len(findings))
    for key, (count, finding, saved) in sorted(findings.items()):
        example = " ".join(finding.argv[:1] + finding.argv[2:])[:200]
        sys.stdout.write("  %4d x %s  e.g. %s  (%s)\n" % (count, key, example,
                                                          saved))
    sys.stdout.write("COUNTS %s\n" % json.dumps(counts, sort_keys=True))
    return 1 if findings else 0


def _record(findings, finding: "Finding", case, klass: str, example_dir: str, out_root: str) -> None:
    """Keep the first case of each distinct finding (its finding.json replays it)."""
    if finding.key in findings:
        count, first, saved = findings[finding.key]
        findings[finding.key] = (count + 1, first, saved)
        return
    saved = os.path.join(out_root, "finding-%d" % len(findings))
    shutil.rmtree(saved, ignore_errors=True)
    os.makedirs(saved)
    if klass == "dump":
        # the mutated files themselves (dump cases hold regular files only)
        for name in ("MEMORY.DMP", "driver.isf.json"):
            shutil.copyfile(os.path.join(example_dir, name), os.path.join(saved, name))
    record = {"class": klass, "argv": finding.argv, "kind": finding.kind, "key": finding.key,
              "detail": finding.detail}
    if klass == "dump":
        record.update(base=case["base"], mutations=case["mutations"])
    else:
        record["case"] = case
    with open(os.path.join(saved, "finding.json"), "w") as f:
        json.dump(record, f, indent=1)
    findings[finding.key] = (1, finding, saved)
    example = " ".join(finding.argv[:1] + finding.argv[2:])[:160]
    sys.stdout.write("NEW %s [%s] (%s) -> %s\n" % (finding.key, klass, example,
                                                 saved))
    sys.stdout.flush()


def replay(path: str, pykd: bool) -> int:
    """Re-run a saved finding (its finding.json) on freshly built bases."""
    import fuzz_inputs

    with open(path) as f:
        saved = json.load(f)
    work = tempfile.mkdtemp(prefix="dmfkd-fuzz-replay-")
    try:
        d = os.path.join(work, "example")
        os.makedirs(d)
        try:
            if saved.get("class", "dump") == "dump":
                arch, version, dump_type = saved["base"].split("-", 2)
                base = build_bases(work, [(arch, version, dump_type)])[0]
                dump_path, isf_path = apply(base, saved["mutations"], d)
                run_all(base, dump_path, isf_path, pykd=pykd, memory="none")
            else:
                case = saved["case"]
                names = sorted({s["base"] for s in case["files"].values() if s.get("base")} | {BASE_NAMES[0]})
                bases = {b.name: b for b in build_bases(work, [tuple(n.split("-", 2)) for n in names])}
                fuzz_inputs.run_case(case, d, bases, JUDGE, memory="none")
        except Finding as finding:
            sys.stdout.write(str(finding) + "\n")
            return 1
        sys.stdout.write("no finding\n")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


BASE_NAMES = ["%s-%s-%s" % c for c in BASE_CONFIGS]


class _Judge(object):
    """This module as fuzz_inputs sees it (run_cli, run_pykd, guard, Finding ...), also when it was loaded
    from its path and is not in sys.modules (the tests load it so)."""

    def __getattr__(self, name):
        try:
            return globals()[name]
        except KeyError:
            raise AttributeError(name)


JUDGE = _Judge()


def main(argv=None) -> int:
    import fuzz_inputs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000, help="cases to run")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--minutes", type=float, default=None, help="stop after this long")
    parser.add_argument("--no-pykd", action="store_true", help="skip the pykd stand-in path")
    parser.add_argument("--memory", choices=("rss", "tracemalloc", "none"), default="rss",
                        help="memory guard: RSS high-water growth (default), tracemalloc peak (slow), none")
    parser.add_argument("--hang-seconds", type=float, default=20.0)
    parser.add_argument("--commands", type=int, default=6, help="commands per dump case (0: all)")
    parser.add_argument("--classes", default="dump," + ",".join(fuzz_inputs.CLASSES),
                        help="input classes, comma-separated (default: all: dump,%s; %s is a hook)"
                        % (",".join(fuzz_inputs.CLASSES), ",".join(fuzz_inputs.HOOKS)))
    parser.add_argument("--replay", metavar="FINDING_JSON")
    args = parser.parse_args(argv)
    # the driver's symbols come from the files of each case, never from the machine's symbol path (which
    # may name a server: the fuzzer asks no network)
    for name in ("_NT_SYMBOL_PATH", "_NT_ALT_SYMBOL_PATH"):
        os.environ.pop(name, None)
    if args.replay:
        return replay(args.replay, not args.no_pykd)
    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    unknown = [c for c in classes if c != "dump" and c not in fuzz_inputs.GENERATORS]
    if unknown or not classes:
        parser.error("unknown input class(es): %s" % ", ".join(unknown or ["(none)"]))
    if any(c in fuzz_inputs.HOOKS for c in classes):
        parser.error("%s: a hook, its reader is not on main yet" % ", ".join(c for c in classes if c in fuzz_inputs.HOOKS))
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    out_root = os.path.join(tempfile.gettempdir(), "dmfkd-fuzz-%d" % seed)
    os.makedirs(out_root, exist_ok=True)
    sys.stdout.write("seed %d; classes %s; findings go to %s\n" % (seed, ",".join(classes), out_root))
    return campaign(args.iterations, seed, args.minutes, not args.no_pykd, args.memory,
                    args.hang_seconds, out_root, args.commands, classes)


if __name__ == "__main__":
    sys.exit(main())
