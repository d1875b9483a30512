"""The fuzzer's input classes beyond the dump (scripts/fuzz_inputs.py, issue 9 item 7): each class runs a
few cases with the same judge as the campaign (exit 0, or 2 with one `dmfkd:` / `dmfemu:` line; no other
exception, hang or memory blow-up), the harness notices a planted failure, and the PDB class is a hook.
Then one regression test per finding of the campaigns, each with its minimal input."""
import atexit
import contextlib
import importlib.util
import io
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import tracemalloc

import pytest

from dmfkd import cli as cli_module
from dmfkd.errors import FormatError, UsageError

from helpers.paths import REPO

_spec = importlib.util.spec_from_file_location("fuzz_commands", os.path.join(REPO, "scripts", "fuzz_commands.py"))
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)
import fuzz_inputs as I  # noqa: E402 - on sys.path once fuzz_commands is loaded

DEMO_DUMP = os.path.join(REPO, "tests", "data", "dmfdemo", "MEMORY.DMP")
SELF_GUID = "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70"
#: cases per class (DMFKD_FUZZ_EXAMPLES scales them for a longer local run)
SCALE = max(1, int(os.environ.get("DMFKD_FUZZ_EXAMPLES", "50")) // 50)
CASES = {"isf": 10, "options": 25, "special": 25, "schema": 10, "scenario": 4, "pdb": 6}

_WORKDIR = tempfile.mkdtemp(prefix="dmfkd-fuzz-classes-")
atexit.register(shutil.rmtree, _WORKDIR, True)
_BASES = {}


def bases():
    if not _BASES:
        for base in F.build_bases(_WORKDIR, [("x64", "1.1.154", "full")]):
            _BASES[base.name] = base
    return _BASES


def case_dir() -> str:
    d = os.path.join(_WORKDIR, "case")
    os.makedirs(d, exist_ok=True)
    return d


@pytest.mark.parametrize("klass", sorted(CASES))
def test_input_class_cases_pass_the_judge(klass):
    rng = random.Random(9000 + sorted(CASES).index(klass))
    for number in range(CASES[klass] * SCALE):
        try:
            case = I.generate(klass, rng, F, bases())
        except I.NotReady as why:  # no clang-14/lld-14 to build the driver's PDB
            pytest.skip(str(why))
        try:
            I.run_case(case, case_dir(), bases(), F)
        except F.Finding as finding:
            pytest.fail("%s case %d (%s): %s" % (klass, number, case["label"], finding))


def test_the_judge_reports_a_traceback_in_a_class_case(monkeypatch):
    import dmfkd.targets.isf as isf

    def broken(*args, **kwargs):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(isf.bounded_input, "read_json", broken)
    case = {"class": "isf", "label": "planted", "files": {
        "MEMORY.DMP": {"kind": "base", "base": "x64-1.1.154-full", "file": "dump"},
        "driver.isf.json": {"kind": "text", "text": "{}"}}, "runs": [{"argv": ["crashdump", "{dir}/MEMORY.DMP"]}]}
    with pytest.raises(F.Finding) as info:
        I.run_case(case, case_dir(), bases(), F)
    assert info.value.key.startswith("ZeroDivisionError")


def test_info_and_tags_must_succeed_whatever_the_isf(monkeypatch):
    """The class's own oracle: were the ISF read eagerly again, a hostile one would fail `info`."""
    case = {"class": "isf", "label": "deep", "files": {
        "MEMORY.DMP": {"kind": "base", "base": "x64-1.1.154-full", "file": "dump"},
        "driver.isf.json": {"kind": "recipe", "recipe": "deep", "depth": 1000}},
        "runs": [{"argv": ["info", "{dir}/MEMORY.DMP"], "must_succeed": True}]}
    I.run_case(case, case_dir(), bases(), F)
    real_open = cli_module.open_target

    def eager(args):
        target = real_open(args)
        target.symbols  # noqa: B018 - the regression: symbols loaded up front
        return target

    monkeypatch.setattr(cli_module, "open_target", eager)
    with pytest.raises(F.Finding, match="must exit 0"):
        I.run_case(case, case_dir(), bases(), F)


@pytest.mark.parametrize("mutation,message", [
    (["super", 1, 3], "block size"), (["super", 3, 0xFFFFFFFF], ""), (["dir", 0, 0xFFFFFFFF], ""),
    (["truncate", 100], "")])
def test_pdb_class_cases_are_judged(mutation, message):
    """The PDB class: the driver's real PDB with one container-level mutation, opened and used; its
    error (when it has one) is one line."""
    try:
        I.fuzz_pdb_inputs.pdb_base(I.NotReady)
    except I.NotReady as why:
        pytest.skip(str(why))
    case = {"class": "pdb", "label": mutation[0],
            "files": {"dmfdemo.pdb": {"kind": "recipe", "recipe": "pdb", "mutations": [mutation]}},
            "runs": [{"tool": "pdb", "pdb": "{dir}/dmfdemo.pdb", "argv": ["crashdump"]}]}
    assert I.run_case(case, case_dir(), bases(), F) == [2]
    run = dict(case["runs"][0], pdb=os.path.join(case_dir(), "dmfdemo.pdb"))
    assert message in (I.fuzz_pdb_inputs.run(run, case_dir(), F, "none") or "").lower()
    pristine = dict(case, files={"dmfdemo.pdb": {"kind": "recipe", "recipe": "pdb", "mutations": []}})
    assert I.run_case(pristine, case_dir(), bases(), F) == [0]


def test_a_class_finding_replays(tmp_path):
    case = I.generate("options", random.Random(3), F, bases())
    path = tmp_path / "finding.json"
    path.write_text(json.dumps({"class": "options", "case": case}))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert F.replay(str(path), pykd=False) == 0
    assert out.getvalue() == "no finding\n"


# -- regressions: the minimal inputs of findings of the campaigns ------------------------------------------

@pytest.mark.parametrize("argv", [["--version"], ["-h"], ["info", "-h"], ["crashdump", "--help"]])
def test_help_and_version_return_in_process(argv, capsys):
    """Found by the options class: argparse's own exit() after --help/--version raised SystemExit out of
    cli.main (and cli.run) in-process."""
    assert cli_module.main(argv) == 0
    assert cli_module.run(argv) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("option", ["--last", "--entry-size", "--width"])
def test_an_option_given_as_dashdash(option, cli):
    """Found by the options class: `--last=--` reached the command as an empty list (argparse drops the
    "--" before 3.12), a TypeError in check_record_options."""
    result = cli("crashdump", DEMO_DUMP, "--guid", SELF_GUID, option + "=--", code=2)
    assert result.err == "dmfkd: argument %s: expected one value, got '--'\n" % option


def test_error_text_is_one_line_whatever_it_quotes(cli, pykd_standin):
    """Found by the options class through the pykd stand-in: argparse quoted an argument holding a
    newline, a two-line error in WinDbg. Every DmfkdError now reads as one line."""
    assert str(FormatError("a\nb.dmp", "cannot open")) == "a\\x0ab.dmp: cannot open"
    assert str(UsageError("bidi \u202e text\t")) == "bidi \\u202e text\\x09"
    result = cli("tags", DEMO_DUMP, "--bogus", "x\ny", code=2)
    assert result.err == "dmfkd: unrecognized arguments: --bogus x\\x0ay\n"
    pykd_standin.attach(F.DumpFile(DEMO_DUMP))
    with pytest.raises(UsageError) as info:
        cli_module.run(["tags", "--bogus", "x\ny"], output=F.Output(io.StringIO()))
    assert "\n" not in str(info.value)


def test_a_schema_frees_each_records_objects(tmp_path, cli):
    """Found by the schema class: construct's results and a failed Check's traceback are cyclic, so
    every record's values (200,000-key dicts here) stayed alive until a full collection: 380 MB for
    28 records. Now freed per record under the guard."""
    schema = tmp_path / "s.py"
    schema.write_text("import construct as c\n"
                      "class Big(c.Adapter):\n"
                      "    def _decode(self, obj, ctx, path):\n"
                      "        return dict.fromkeys(range(200000), obj)\n"
                      "REC = c.Struct('first' / Big(c.Int8ul), c.Check(c.this.first == 300), 'rest' / c.GreedyBytes)\n"
                      "OK = c.Struct('first' / Big(c.Int8ul), 'rest' / c.GreedyBytes)\n")
    for name in ("REC", "OK"):
        tracemalloc.start()
        try:
            cli("crashdump", DEMO_DUMP, "--all", "--schema", "%s:%s" % (schema, name), "--format", "json", quiet=True)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 100 << 20, (name, peak)


def emulator(argv):
    from dmfemu import cli as emulator_cli

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = emulator_cli.main(argv)
    return code, err.getvalue()


def finishes(call, seconds=60):
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("value", call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked"
    return box["value"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_scenario_fifo_is_one_line(tmp_path):
    """Found by the scenario class: `dmfemu scenario FIFO` blocked in open()."""
    fifo = str(tmp_path / "s.json")
    os.mkfifo(fifo)
    code, err = finishes(lambda: emulator(["scenario", fifo, "-o", str(tmp_path / "out")]))
    assert (code, err) == (2, "dmfemu: cannot read scenario %s: is a FIFO (named pipe), not a regular file\n" % fifo)


def _demo(**changes):
    from dmfemu.scenarios.crashdump_demo import demo_scenario

    scenario = demo_scenario()
    for key, value in changes.items():
        if key == "crashdump_buffer_size":
            scenario["crashdump"]["buffer_size"] = value
        elif key == "crashdump_without":
            del scenario["crashdump"][value]
        else:
            scenario[key] = value
    return scenario


@pytest.mark.parametrize("scenario,message", [
    (_demo(operations=7), "operations: must be an array"),
    (_demo(crashdump="x"), "crashdump: must be an object"),
    (_demo(crash={"via": "ioctl"}), "crash.handle: is required"),
    (_demo(crash={"via": "ioctl", "handle": []}), "crash.handle: must be a string"),
    (_demo(crashdump_buffer_size=1 << 64), "crashdump.buffer_size: must be <= 4294967295"),
    (_demo(maximum_allowed=-(1 << 70)), "maximum_allowed: must be >= 1"),
    # no SELF ring (buffer_count left out), then write_self: refused before the emulated driver faults
    (_demo(crashdump_without="buffer_count"), "operations[0] write_self: the driver has no SELF ring to write")])
def test_scenario_values_of_the_wrong_type_or_range_are_one_line(tmp_path, scenario, message):
    """Found by the scenario class: a wrong shape (operations, crashdump), a crash spec without its
    handle, a value too large for its field (struct.error), an operation the emulated driver faults on
    (KernelFault) were tracebacks. Each is one line naming the value (the file's path first when the
    checked format says it), exit 2."""
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario))
    code, err = emulator(["scenario", str(path), "-o", str(tmp_path / "out")])
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("dmfemu: ") and message in err and err.index(message) <= len("dmfemu: %s: " % path), err


def test_scenario_json_bombs_are_bounded(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("[" * 100000)
    code, err = emulator(["scenario", str(path), "-o", str(tmp_path / "out")])
    assert (code, err) == (2, "dmfemu: cannot read scenario %s: scenario JSON nests deeper than 100 levels: "
                              "refused\n" % path)


SELF_TYPE = SELF_GUID + "=dmfdemo!DMFDEMO_EVENT"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
@pytest.mark.parametrize("argv", [["crashdump", DEMO_DUMP, "--guid", SELF_GUID, "--out", "{fifo}.json"],
                                  ["tags", DEMO_DUMP, "--save", SELF_GUID, "{fifo}.json"],
                                  ["timeline", DEMO_DUMP, "-o", "{fifo}.svg", "--type", SELF_TYPE],
                                  ["timeline", DEMO_DUMP, "-o", "{fifo}.html", "--type", SELF_TYPE]])
def test_an_output_fifo_nobody_reads_is_one_line(tmp_path, argv):
    """Found by the options and special classes: --out, --save and timeline -o opened an existing FIFO
    for writing, which waits for a reader forever."""
    if argv[0] == "timeline":
        pytest.importorskip("matplotlib")
    fifo = str(tmp_path / "out")
    argv = [a.replace("{fifo}", fifo) for a in argv]
    os.mkfifo(argv[argv.index("--out") + 1] if "--out" in argv else argv[-1] if argv[0] == "tags" else argv[3])
    err = io.StringIO()

    def run():
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            return cli_module.main(argv)
    assert finishes(run) == 2
    assert err.getvalue().endswith("it is a FIFO (named pipe) nobody reads\n") and err.getvalue().count("\n") == 1


@pytest.mark.parametrize("argv", [
    ["crashdump", DEMO_DUMP, "--pdb", "a\0b.pdb"], ["info", "a\0b.dmp"], ["crashdump", DEMO_DUMP, "--isf", "a\0b"],
    ["crashdump", DEMO_DUMP, "--guid", SELF_GUID, "--schema", "a\0b.py:REC"],
    ["crashdump", DEMO_DUMP, "--guid", SELF_GUID, "--out", "a\0b.json"], ["tags", DEMO_DUMP, "--save", SELF_GUID, "a\0b"]])
def test_a_nul_byte_in_a_path_is_one_line(argv, cli):
    """Found by the special class: `--pdb` with a NUL byte in its path (an in-process caller's argv can
    hold one) was a ValueError out of the PDB reader's open; the same for --out/--save's same-file check."""
    result = cli(*argv, code=2)
    assert result.err.count("\n") == 1 and "a NUL byte in the path" in result.err
