"""README's support table is what dmfkd does: every cell is run on the emulator's targets of that architecture
and kind - `dmfemu demo` crash dumps (full, bitmap, triage) for the DMF CrashDump commands, `dmfemu livedump`
live dumps of the same kind for `livedump`, and the live emulated machine through the pykd stand-in (a live
WinDbg session) - and what the command gives must be what the cell says:

- yes: the command shows what the emulated clients and driver put there;
- blobs: the records are the clients' records, decoded from the blobs with P inferred (not from memory);
- —: the command says in one line that its data is not there (exit 0 with nothing to show, or exit 2);
- no: x86 triage (no such dump to run on: dmfemu does not write them).

And ARM64 has every cell x64 has (issue 13)."""
import contextlib
import io
import json
import os
import re

import pytest

from dmfkd import cli
from dmfkd.commands import load_all
from dmfkd.errors import DmfkdError
from dmfkd.layouts import dump_format
from dmfkd.render import Output
from dmfkd.targets.isf import IsfSymbols

from dmfemu.isf import write_isf
from dmfemu.scenarios.crashdump_demo import SELF_GUID, demo_scenario
from dmfemu.scenarios.crashdump_replay import ScenarioRun
from dmfemu.scenarios.live_dump_demo import LiveDumpRun
from dmfemu.target import EmulatorTarget

from helpers.paths import REPO
from helpers.standin import standin_as_pykd

ARCH_NAMES = {"x64": "x64", "x86": "x86", "ARM64": "arm64"}
KINDS = ("full", "bitmap", "triage", "live")
LIVE_DUMP_TYPE = {"full": "full", "bitmap": "bitmap-kernel", "triage": "triage"}
EVENT_TYPE = "%s=dmfdemo!DMFDEMO_EVENT" % SELF_GUID


def support_table():
    """{command: {(arch, kind): cell}} from README's table between the support-table markers."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    block = text.split("<!-- support-table", 1)[1].split("<!-- /support-table -->", 1)[0]
    lines = [line for line in block.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    columns = []
    for name in header[1:]:
        arch, kind = name.split()
        columns.append((ARCH_NAMES[arch], kind))
    table = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        table[cells[0].strip("`")] = dict(zip(columns, cells[1:]))
    return table


TABLE = support_table()


def test_the_table_has_every_command_and_every_column():
    assert sorted(TABLE) == sorted(command.name for command in load_all())
    for row in TABLE.values():
        assert sorted(row) == sorted((arch, kind) for arch in ARCH_NAMES.values() for kind in KINDS)
        assert set(row.values()) <= {"yes", "blobs", "—", "no"}


def test_arm64_has_every_cell_x64_has():
    for command, row in TABLE.items():
        assert [row[("arm64", kind)] for kind in KINDS] == [row[("x64", kind)] for kind in KINDS], command
        assert row[("x86", "triage")] == "no"


# -- the targets --------------------------------------------------------------------------------------
class Targets(object):
    """One architecture's emulated targets, built on first use."""

    def __init__(self, arch, directory):
        self.arch, self.directory = arch, directory
        self._crash, self._live_dumps, self._live = {}, {}, None

    def crash(self, kind):
        """(MEMORY.DMP, expected.json document, SELF ring handle) of `dmfemu demo --dump-type kind`."""
        if kind not in self._crash:
            out = os.path.join(self.directory, "crash-" + kind)
            os.makedirs(out)
            run = self._replayed(demo_scenario(self.arch, dump_type=kind))
            write_isf(os.path.join(out, "driver.isf.json"), run.driver)
            expected = run.expected(run.crash(out))
            self._crash[kind] = (os.path.join(out, "MEMORY.DMP"), expected, self._self_ring(run))
        return self._crash[kind]

    def live_dump(self, kind):
        """A DMF_LiveKernelDump live dump of this kind (x86 ones other than type 1 written directly: the
        emulated IOCTL makes x86 full dumps only)."""
        if kind not in self._live_dumps:
            out = os.path.join(self.directory, "live-" + kind)
            os.makedirs(out)
            run = LiveDumpRun(self.arch)
            run.add_client_buffer("buffer", b"DMFDEMO CLIENT BUFFER")
            path = os.path.join(out, "LIVEDUMP.DMP")
            if self.arch == "x86" and kind != "full":
                report = run.live_dump(os.path.join(out, "type1.dmp"), dump_type="full")
                run.machine.write_dump(path, LIVE_DUMP_TYPE[kind], (report.code,) + report.parameters,
                                       attributes=dump_format.DUMP_ATTRIBUTE_LIVE_DUMP)
            else:
                run.live_dump(path, dump_type=LIVE_DUMP_TYPE[kind])
            write_isf(os.path.join(out, "driver.isf.json"), run.driver)
            self._live_dumps[kind] = path
        return self._live_dumps[kind]

    def live(self):
        """(crash demo ScenarioRun before its crash, its symbols, a LiveDumpRun, its symbols)."""
        if self._live is None:
            run = self._replayed(demo_scenario(self.arch))
            live_dump = LiveDumpRun(self.arch)
            live_dump.add_client_buffer("buffer", b"DMFDEMO CLIENT BUFFER")
            symbols = []
            for name, driver in (("crash", run.driver), ("livedump", live_dump.driver)):
                path = os.path.join(self.directory, "live-%s.isf.json" % name)
                write_isf(path, driver)
                symbols.append(IsfSymbols.load(path))
            self._live = (run, symbols[0], live_dump, symbols[1])
        return self._live

    @staticmethod
    def _replayed(scenario):
        run = ScenarioRun(scenario)
        for op in scenario["operations"]:
            run.run(op)
        return run

    @staticmethod
    def _self_ring(run):
        return run.crashdump.state.ring_of(0).handle


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    built = {}

    def get(arch):
        if arch not in built:
            built[arch] = Targets(arch, str(tmp_path_factory.mktemp("support-" + arch)))
        return built[arch]
    return get


class Outcome(object):
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def doc(self):
        return json.loads(self.out)

    @property
    def one_line_refusal(self):
        return self.code == 2 and self.err.startswith("dmfkd: ") and self.err.count("\n") == 1


def on_dump(command, path, *args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([command, path] + [str(a) for a in args] + ["--format", "json"])
    return Outcome(code, out.getvalue(), err.getvalue())


def on_live(command, machine, symbols, *args):
    """`!py -g -m dmfkd COMMAND ...` in a live session: the stand-in pykd over the running machine."""
    out = io.StringIO()
    with standin_as_pykd(EmulatorTarget(machine), symbols):
        try:
            code = cli.run([command] + [str(a) for a in args] + ["--format", "json"], output=Output(out))
            err = ""
        except DmfkdError as exc:
            code, err = 2, "dmfkd: %s\n" % str(exc).splitlines()[0]
    return Outcome(code, out.getvalue(), err)


# -- what each command shows, per cell value ----------------------------------------------------------
def _records(doc):
    return [r["hex"] for r in doc["records"] if not r.get("partial")]


def check(command, cell, arch, kind, targets, tmp_path):
    """Run `command` on the (arch, kind) target and assert what `cell` says."""
    if kind == "live":
        run, symbols, live_dump, live_symbols = targets.live()
        machine = run.machine
        sources = [(str(log.guid), [r.hex() for r in log.live]) for log in [run.self_log] + list(run.sources.values())]
        blobs = []

        def go(*args):
            return on_live(command, machine, symbols, *args)
    else:
        path, expected, _ = targets.crash(kind)
        sources = [(s["guid"], [r["hex"] for r in s["records"]]) for s in expected["sources"]]
        blobs = expected["blobs"]

        def go(*args):
            return on_dump(command, path, *args)
    if command == "livedump":
        if kind == "live":
            outcome = on_live("livedump", live_dump.machine, live_symbols, "0x%x" % live_dump.collection.handle)
        else:
            outcome = on_dump("livedump", targets.live_dump(kind))
        assert cell == "yes" and outcome.code == 0, outcome.err
        doc = outcome.doc()
        assert doc["dmf_present"] and any(row["readable"] == "yes" for row in doc["data_buffers"])
        return
    if command == "ringbuffer":
        handle = targets.crash("full")[2] if kind == "live" else targets.crash(kind)[2]
        outcome = go("0x%x" % handle)
    elif command == "crashdump":
        outcome = go("--all")
    elif command == "timeline":
        picture = str(tmp_path / "timeline.svg")
        outcome = go("-o", picture, "--type", EVENT_TYPE)
    else:
        outcome = go()
    if cell == "—":
        if outcome.code == 2:
            assert outcome.one_line_refusal, outcome.err
            return
        assert outcome.code == 0, outcome.err
        doc = outcome.doc()
        nothing = {"tags": lambda: doc == [], "bugcheck": lambda: doc["code"] is None,
                   "datasources": lambda: doc == [], "modules": lambda: not doc.get("modules"),
                   "lm": lambda: doc == []}
        assert nothing[command](), doc
        return
    assert cell in ("yes", "blobs") and outcome.code == 0, (cell, outcome.err)
    if command == "timeline":
        assert os.path.getsize(picture) > 0
        return
    doc = outcome.doc()
    if command == "info":
        assert doc["arch"] == arch
    elif command == "tags":
        assert [(t["guid"], t["size"]) for t in doc] == [(b["guid"], b["length"]) for b in blobs] != []
    elif command == "bugcheck":
        assert doc["code"] == 0xDEADDEAD and doc["dmf_private"]
    elif command == "crashdump":
        assert [(s["guid"], _records(s)) for s in doc["sources"]] == sources
        assert all(s["present_known"] is (cell == "yes") for s in doc["sources"])
    elif command == "datasources":
        assert [row["guid"] for row in doc] == [guid for guid, _ in sources]
    elif command == "ringbuffer":
        assert _records(doc) == sources[0][1] and doc["present_known"]
    elif command == "modules":
        assert [m["module"] for m in doc["modules"]][:1] == ["CrashDump"] and len(doc["modules"]) >= 4
    elif command == "lm":
        assert {m["name"] for m in doc} == {"nt", "dmfdemo"}
    else:
        raise AssertionError("no check for %s" % command)


CELLS = [(arch, kind) for arch in ARCH_NAMES.values() for kind in KINDS if (arch, kind) != ("x86", "triage")]


@pytest.mark.parametrize("arch, kind", CELLS, ids=["-".join(cell) for cell in CELLS])
def test_every_cell_is_what_the_command_does(targets, tmp_path, arch, kind):
    pytest.importorskip("matplotlib")       # the timeline row draws
    problems = []
    for command, row in sorted(TABLE.items()):
        try:
            check(command, row[(arch, kind)], arch, kind, targets(arch), tmp_path)
        except AssertionError as exc:
            problems.append("%s on %s %s (README: %s): %s" % (command, arch, kind, row[(arch, kind)],
                                                             re.sub(r"\s+", " ", str(exc))[:300]))
    assert not problems, "\n".join(problems)
