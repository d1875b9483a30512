"""dmfkd.targets.pykd (PykdTarget, PykdSymbols, windbg_output) run through the stand-in pykd.

The reference for every tagged-data answer is H1's DumpFile reading the same file directly, and the
real Windows triage fixtures (20 / 42 blobs, duplicates in the ARM64 one, spec/dump-format.md §3.6).
"""
import io
import json
import os
import subprocess
import sys
import uuid

import pytest

import dmfemu.pykd as fake
from dmfemu.machine import Machine
from dmfemu.target import EmulatorTarget
from dmfkd.errors import FormatError, MemoryReadError, SymbolError, TagNotFoundError, UsageError
from dmfkd.render import Output
from dmfkd.targets.dumpfile import DumpFile

from helpers.paths import REPO as ROOT, SMALL_ISF, SOURCE_PATH, TRIAGE_ARM64, TRIAGE_X64
VA = 0xFFFFF80012345000


@pytest.fixture(autouse=True)
def pykd_module(monkeypatch):
    """The stand-in installed as `pykd`, fresh for every test."""
    monkeypatch.setitem(sys.modules, "pykd", fake)
    fake.detach()
    fake.reset_counts()
    yield fake
    fake.detach()


def pykd_target(path):
    from dmfkd.targets.pykd import PykdTarget

    direct = DumpFile(path)
    fake.attach(DumpFile(path))
    return PykdTarget(), direct


@pytest.mark.parametrize("path,count", [(TRIAGE_X64, 20), (TRIAGE_ARM64, 42)])
def test_tagged_matches_dumpfile(path, count):
    target, direct = pykd_target(path)
    mine, theirs = target.tagged(), direct.tagged()
    assert len(mine) == len(theirs) == count
    assert [b.guid for b in mine] == [b.guid for b in theirs]  # order and duplicates
    assert [b.index for b in mine] == list(range(count))
    # sizes: first blocks from loadTaggedBuffer, repeats from the .enumtag headers
    assert [b.size for b in mine] == [b.size for b in theirs]
    assert all(b.offset is None for b in mine)
    firsts = {}
    for blob in theirs:
        firsts.setdefault(blob.guid, blob)
    for guid, blob in firsts.items():
        assert target.read_tagged(guid) == direct.read_blob(blob)
        assert target.read_blob(mine[blob.index]) == direct.read_blob(blob)


def test_duplicates_are_not_readable_through_the_engine():
    target, direct = pykd_target(TRIAGE_ARM64)
    dup = "335d5e04-563b-4e58-aa36-7ed1cfe76fd6"
    blocks = [b for b in target.tagged() if str(b.guid) == dup]
    assert len(blocks) == 3
    assert target.read_blob(blocks[0]) == direct.read_tagged(dup)
    for later in blocks[1:]:
        with pytest.raises(TagNotFoundError, match="only returns the first block"):
            target.read_blob(later)


def test_duplicate_sizes_unknown_without_enumtag(monkeypatch):
    target, direct = pykd_target(TRIAGE_ARM64)

    def no_enumtag(command, *args):
        raise fake.DbgException("Call IDebugControl::ExecuteWide failed\nHRESULT 0x80040205")

    monkeypatch.setattr(fake, "dbgCommand", no_enumtag)
    seen = set()
    for mine, theirs in zip(target.tagged(), direct.tagged()):
        if mine.guid in seen:
            assert mine.size is None and mine.declared_size is None
        else:
            assert mine.size == theirs.size
        seen.add(mine.guid)


def test_zero_size_blocks_are_size_zero():
    target, direct = pykd_target(TRIAGE_X64)
    zero = [b for b in target.tagged() if b.size == 0]
    assert {str(b.guid) for b in zero} == {"00000000-0000-0000-0000-000000000000",
                                          "65755a40-f146-43ea-8c91-36b85728fd35"}
    assert target.read_tagged("{65755A40-F146-43EA-8C91-36B85728FD35}") == b""


def test_read_tagged_normalises_the_guid():
    target, direct = pykd_target(TRIAGE_X64)
    first = direct.tagged()[0]
    expected = direct.read_blob(first)
    assert target.read_tagged("{%s}" % str(first.guid).upper()) == expected
    with pytest.raises(TagNotFoundError):
        target.read_tagged("00000000-0000-0000-0000-000000000001")


def test_tagged_costs_one_enumeration_and_one_load_per_guid():
    target, _ = pykd_target(TRIAGE_X64)
    fake.reset_counts()
    blobs = target.tagged()
    for blob in blobs:
        target.read_blob(blob)  # cached: no further engine calls
    counts = fake.call_counts()
    assert counts == {"enumTagged": 1, "loadTaggedBuffer": len({b.guid for b in blobs})}


def test_target_facts():
    target, direct = pykd_target(TRIAGE_X64)
    assert target.arch == "x64" and target.pointer_size == 8 and target.is_live is False
    assert target.bugcheck() == direct.bugcheck()
    assert target.name == TRIAGE_X64  # from `||`
    assert target.build == 19041
    arm, _ = pykd_target(TRIAGE_ARM64)
    assert arm.arch == "arm64"


def _live_target():
    from dmfkd.targets.pykd import PykdTarget

    machine = Machine("x64")
    pa = machine.phys.allocate_pages(2)
    machine.space.map(VA, pa, 0x2000)
    machine.space.write(VA, bytes(range(256)) * 32)
    fake.attach(EmulatorTarget(machine))
    return PykdTarget(), machine


def test_read_is_one_bulk_load_and_memory_errors_become_memoryreaderror():
    target, machine = _live_target()
    assert target.is_live is True
    assert target.tagged() == []  # the stand-in's live enumTagged raises; the target says "none"
    assert target.bugcheck() is None
    assert target.name == "pykd"  # `||` names no dump file
    fake.reset_counts()
    assert target.read(VA + 0x10, 0x1800) == machine.space.read(VA + 0x10, 0x1800)
    assert fake.call_counts() == {"loadBytes": 1}
    assert target.read(VA, 0) == b"" and fake.engine_calls() == 1
    with pytest.raises(MemoryReadError) as info:
        target.read(VA + 0x1FF0, 0x20)
    assert info.value.address == VA + 0x1FF0 and info.value.size == 0x20
    assert "Memory exception at 0xfffff80012346ff0" in str(info.value)
    assert target.read_pointer(VA) == int.from_bytes(bytes(range(8)), "little")


def test_pykd_available():
    from dmfkd.targets.pykd import pykd_available

    assert pykd_available() is False  # imported but not initialized: "pykd is not initialized"
    fake.initialize()
    assert pykd_available() is False  # engine up, no target
    fake.attach(DumpFile(TRIAGE_X64))
    assert pykd_available() is True


def test_pykd_missing(monkeypatch):
    from dmfkd.targets.pykd import PykdTarget, pykd_available, windbg_output

    monkeypatch.setitem(sys.modules, "pykd", None)  # import pykd -> ImportError
    assert pykd_available() is False
    assert windbg_output() is None
    with pytest.raises(UsageError, match="pykd"):
        PykdTarget.open_dump(TRIAGE_X64)


class _DbgOut(io.StringIO):
    encoding = "ascii"

    def __init__(self):
        super().__init__()
        self.dml = []

    def writedml(self, text):
        self.dml.append(text)


def test_windbg_output(monkeypatch):
    from dmfkd.targets.pykd import windbg_output

    assert windbg_output() is None  # python.exe: stdout has no writedml
    out = _DbgOut()
    monkeypatch.setattr(sys, "stdout", out)
    output = windbg_output()
    assert isinstance(output, Output) and output.dml is True
    output.write_dml('<link cmd="!py -g -m dmfkd tags">tags</link>\n')
    output.write("plain \u00e9\n")
    assert out.dml == ['<link cmd="!py -g -m dmfkd tags">tags</link>\n']
    assert out.getvalue() == "plain \\xe9\n"  # ASCII-safe: DbgOut's encoding is "ascii"


def test_open_dump_standalone():
    from dmfkd.targets.pykd import PykdTarget

    fake.initialize()  # so open_dump's own initialize() raises 'already initialized' and is swallowed
    target = PykdTarget.open_dump(TRIAGE_X64)
    assert len(target.tagged()) == 20
    assert target.name == TRIAGE_X64
    target.close()
    assert fake.isDumpAnalyzing() is False
    assert fake.call_counts()["closeDump"] == 1


def test_open_dump_errors(tmp_path):
    from dmfkd.targets.pykd import PykdTarget

    missing = str(tmp_path / "missing.dmp")
    with pytest.raises(FormatError) as info:
        PykdTarget.open_dump(missing)
    assert str(info.value) == ("%s: dbgeng cannot open it as a dump (Call IDebugClient4::OpenDumpFileWide "
                               "failed HRESULT 0x80070002)" % missing)


# -- symbols -------------------------------------------------------------------------------------

def test_pykd_symbols_over_isf():
    from dmfkd.targets.isf import IsfSymbols
    from dmfkd.targets.pykd import PykdSymbols

    isf = IsfSymbols.load(SMALL_ISF)
    machine = Machine("x64")
    fake.attach(EmulatorTarget(machine), isf)
    symbols = PykdSymbols()
    assert symbols.address_of("dmfdemo!g_DmfModuleCrashDump") == isf.address_of("g_DmfModuleCrashDump")
    with pytest.raises(SymbolError, match="no symbol dmfdemo!g_Nope"):
        symbols.address_of("dmfdemo!g_Nope")
    layout = symbols.type_layout("dmfdemo!_DEMO_RECORD")
    reference = isf.type_layout("_DEMO_RECORD")
    assert layout.size == reference.size
    assert [(f.name, f.offset, f.size) for f in layout.fields.values()] == \
        [(f.name, f.offset, f.size) for f in reference.fields.values()]
    assert layout.fields["Signature"].type_name == "UInt4B"  # the real pykd's name for a PDB `unsigned long`
    with pytest.raises(SymbolError, match="no type dmfdemo!_NOPE"):
        symbols.type_layout("dmfdemo!_NOPE")
    assert symbols.search("dmfdemo!g_*") == isf.search("dmfdemo!g_*")
    assert symbols.search("dmfdemo!nothing*") == []
    record = symbols.overlay("dmfdemo!_DEMO_RECORD", bytes(range(48)))
    assert int(record.Signature) == 0x03020100


# -- the CLI through pykd, as `!py -g -m dmfkd tags` runs it ---------------------------------------

_RUN_AS_WINDBG = """
import runpy, sys
import dmfemu.pykd as fake
from dmfkd.targets.dumpfile import DumpFile
sys.modules["pykd"] = fake
fake.attach(DumpFile(sys.argv[1]))
sys.argv = ["dmfkd"] + sys.argv[2:]
runpy.run_module("dmfkd", run_name="__main__", alter_sys=True)
"""


def _run(args):
    env = dict(os.environ, PYTHONPATH=SOURCE_PATH)
    return subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)


@pytest.mark.parametrize("path", [TRIAGE_X64, TRIAGE_ARM64])
def test_cli_tags_through_pykd_equals_direct(path):
    through = _run(["-c", _RUN_AS_WINDBG, path, "tags", "--format", "json"])
    direct = _run(["-m", "dmfkd", "tags", path, "--format", "json"])
    assert through.returncode == 0, through.stderr
    assert direct.returncode == 0, direct.stderr
    rows_pykd, rows_file = json.loads(through.stdout), json.loads(direct.stdout)
    assert len(rows_pykd) == len(rows_file)
    for mine, theirs in zip(rows_pykd, rows_file):
        assert mine["offset"] is None  # the engine cannot say where a payload sits in the file
        mine.pop("offset")
        theirs.pop("offset")
        assert mine == theirs


def test_cli_tags_table_through_pykd():
    through = _run(["-c", _RUN_AS_WINDBG, TRIAGE_X64, "tags"])
    direct = _run(["-m", "dmfkd", "tags", TRIAGE_X64])
    assert through.returncode == 0, through.stderr

    def cells(text):
        rows = [line.split() for line in text.splitlines() if line[:1].isdigit() or line.startswith(" ")]
        # index, GUID, size and owner; the offset column is empty through pykd
        return [(r[0], r[1], r[2]) for r in rows if len(r) >= 3 and "-" in r[1]]

    assert cells(through.stdout) == cells(direct.stdout)
    assert len(cells(direct.stdout)) == 20


# -- scripts/dmfkd.wds -------------------------------------------------------------------------------

WDS = os.path.join(ROOT, "scripts", "dmfkd.wds")
EXPECTED_ALIASES = {"!crashdump": "crashdump", "!dmfcd": "crashdump", "!dmftl": "timeline", "!dmftags": "tags", "!dmfds": "datasources", "!dmfrb": "ringbuffer",
                    "!dmfmods": "modules", "!dmfinfo": "info", "!dmfbc": "bugcheck",
                    "!dmfld": "livedump"}


def test_wds_aliases():
    from dmfkd.commands import COMMAND_MODULES

    with open(WDS) as f:
        lines = [line.rstrip("\n") for line in f]
    # $$>< joins the lines with semicolons: a semicolon anywhere would split a comment or an alias
    assert not any(";" in line for line in lines)
    commands = [line for line in lines if line.strip() and not line.startswith("$$")]
    fake.attach(DumpFile(TRIAGE_X64))
    for line in commands:
        assert line.startswith(("aS ", ".echo ")), line
        if line.startswith("aS "):
            name, phrase = line[3:].split(" ", 1)
            assert phrase.startswith('"') and phrase.endswith('"') and phrase.count('"') == 2, line
            assert fake.dbgCommand(line) is None
    aliases = fake.aliases()
    assert aliases == {name: "!py -g -m dmfkd " + cmd for name, cmd in EXPECTED_ALIASES.items()}
    modules = {m.rsplit(".", 1)[1] for m in COMMAND_MODULES}
    assert set(EXPECTED_ALIASES.values()) <= modules


def test_parsing_dbgeng_text(monkeypatch):
    """`x` and `||` output in the shapes dbgeng prints (spec/pykd.md §4, windows-driver-docs `x`)."""
    from dmfkd.targets.pykd import PykdSymbols, PykdTarget

    x_output = ("fffff800`12345678 dmfdemo!g_DmfModuleCrashDump = 0xffffe000`00001000\n"
                "fffff800`12340000 dmfdemo!DriverEntry (struct _DRIVER_OBJECT *, struct _UNICODE_STRING *)\n"
                "8a3b2c38          dmfdemo!g_x86 = <no type information>\n"
                "\n")
    outputs = {"x dmfdemo!*": x_output, "||": ". 0 64-bit Kernel bitmap dump: F:\\dumps\\MEMORY.DMP\n"}
    monkeypatch.setattr(fake, "dbgCommand", lambda command, *a: outputs.get(command))
    fake.attach(DumpFile(TRIAGE_X64))
    assert PykdSymbols().search("dmfdemo!*") == [("dmfdemo!g_DmfModuleCrashDump", 0xFFFFF80012345678),
                                                 ("dmfdemo!DriverEntry", 0xFFFFF80012340000),
                                                 ("dmfdemo!g_x86", 0x8A3B2C38)]
    assert PykdSymbols().search("nothing*") == []  # dbgCommand gives None for no output
    assert PykdTarget().name == "F:\\dumps\\MEMORY.DMP"


def test_reads_outside_the_engine_signature_are_refused_without_a_call():
    target, _ = _live_target()
    fake.reset_counts()
    for address, size in ((VA, -1), (VA, 1 << 32), (-8, 8), (1 << 64, 8)):
        with pytest.raises(MemoryReadError):
            target.read(address, size)
    with pytest.raises(MemoryReadError):
        target.read_physical(0, 1 << 33)
    assert fake.engine_calls() == 0


def test_pykd_available_for_a_live_user_mode_like_target(monkeypatch):
    from dmfkd.targets.pykd import pykd_available

    fake.attach(EmulatorTarget(Machine("x64")))
    monkeypatch.setattr(fake, "isKernelDebugging", lambda: False)
    assert pykd_available() is True  # getCPUType answers: some target is being debugged


def test_pykd_available_without_a_target(tmp_path):
    """The real pykd answers ptrSize() == 8 with no dump open (tests/oracle pykd_probe): that is no
    target. Before the first loadDump and after closing the last one alike."""
    from dmfkd.targets.pykd import pykd_available

    fake.initialize()
    assert fake.ptrSize() == 8
    assert pykd_available() is False
    fake.loadDump(TRIAGE_X64)
    assert pykd_available() is True
    fake.closeDump()
    assert pykd_available() is False


@pytest.fixture(scope="module")
def driver_dump(tmp_path_factory):
    """A dump whose module list holds a driver "dmfdemo" (no symbols for it): lm would list it."""
    machine = Machine("x64")
    machine.add_image("dmfdemo", 0x10000)
    path = str(tmp_path_factory.mktemp("driver") / "driver.dmp")
    machine.write_dump(path, "full", (0xDEADDEAD, 1, 2, 3, 4))
    return path


def test_symbol_errors_say_why(driver_dump):
    """getOffset/typeInfo fail two ways in the real pykd (module not loaded: DbgException; loaded but no
    such symbol: SymbolException); PykdSymbols turns each into one SymbolError line saying which."""
    from dmfkd.targets.pykd import PykdSymbols

    fake.attach(DumpFile(driver_dump))
    symbols = PykdSymbols()
    cases = [
        (lambda: symbols.address_of("dmfdemo!g_DmfModuleCrashDump"),
         "debugger: no symbol dmfdemo!g_DmfModuleCrashDump - module dmfdemo is loaded but its symbols do not have "
         "it (is its PDB on the symbol path? .reload /f dmfdemo) (g_DmfModuleCrashDump symbol is not found)"),
        (lambda: symbols.address_of("other!g_DmfModuleCrashDump"),
         "debugger: no symbol other!g_DmfModuleCrashDump - module other is not loaded in this target (lm m other "
         "lists it when it is) (Failed to find module 'other')"),
        (lambda: symbols.address_of("g_DmfModuleCrashDump"),
         "debugger: no symbol g_DmfModuleCrashDump (failed to find module for symbol: g_DmfModuleCrashDump)"),
        (lambda: symbols.type_layout("dmfdemo!DMF_OBJECT"),
         "debugger: no type dmfdemo!DMF_OBJECT - module dmfdemo is loaded but its symbols do not have it (is its "
         "PDB on the symbol path? .reload /f dmfdemo) ('DMF_OBJECT' - symbol not found)"),
        (lambda: symbols.type_layout("other!DMF_OBJECT"),
         "debugger: no type other!DMF_OBJECT - module other is not loaded in this target (lm m other lists it "
         "when it is) (Failed to find module 'other')"),
        (lambda: symbols.search("other!*"),
         "debugger: x other!* failed - is module other loaded? (lm m other) (Call IDebugControl::ExecuteWide "
         "failed HRESULT 0x80040205)"),
    ]
    for call, text in cases:
        with pytest.raises(SymbolError) as info:
            call()
        assert str(info.value) == text
    # `x` that finds nothing: dbgCommand returns None, which is an empty answer, not an error
    assert symbols.search("*!g_DmfModuleCrashDump") == [] and symbols.search("dmfdemo!*") == []


@pytest.mark.parametrize("args,text", [
    (["crashdump"], "no g_DmfModuleCrashDump symbol"),
    # (commands/crashdump.py words the --driver failure itself; PykdSymbols' reason is in its notes)
    (["crashdump", "--driver", "dmfdemo"], "no symbol dmfdemo!g_DmfModuleCrashDump"),
    (["crashdump", "--driver", "other"], "no symbol other!g_DmfModuleCrashDump"),
])
def test_cli_without_symbols_through_pykd(driver_dump, args, text):
    """Inside WinDbg without the driver's PDB: a clear line, never a traceback."""
    run = _run(["-c", _RUN_AS_WINDBG, driver_dump] + args)
    assert "Traceback" not in run.stderr and run.returncode in (0, 2)
    assert text in run.stdout + run.stderr


def test_open_dump_closes_its_own_dump():
    """With another dump already open, open_dump gets the next id from loadDump and close() closes
    that one, not the other (the real pykd keeps both open, tests/oracle)."""
    from dmfkd.targets.pykd import PykdTarget

    fake.initialize()
    assert fake.loadDump(TRIAGE_ARM64) == 0
    target = PykdTarget.open_dump(TRIAGE_X64)
    assert len(target.tagged()) == 20  # the new dump is the current one
    target.close()
    assert fake.isDumpAnalyzing() is True
    assert fake.dbgCommand("||").strip().endswith(TRIAGE_ARM64)


def test_repeated_guid_with_a_different_size(tmp_path):
    """A repeat whose size differs from the first block: only .enumtag can tell (44 vs 192 bytes)."""
    g1 = uuid.UUID("11111111-2222-3333-4444-555555555555")
    g2 = uuid.UUID("5b2c1d0e-7a4f-4c3b-9e21-0a1b2c3d4e5f")
    blobs = [(g1, bytes(range(192))), (uuid.UUID(int=0), b""), (g2, b"B" * 0x200), (g1, b"d" * 44)]
    machine = Machine("x64")
    path = str(tmp_path / "dup.dmp")
    machine.write_dump(path, "bitmap", (0xDEADDEAD, 1, 2, 3, 4), blobs=blobs)
    target, direct = pykd_target(path)
    assert [(b.guid, b.size) for b in target.tagged()] == [(g, len(p)) for g, p in blobs]
    assert [(b.guid, b.size) for b in direct.tagged()] == [(g, len(p)) for g, p in blobs]
    assert target.read_blob(target.tagged()[0]) == bytes(range(192))
    assert target.read_tagged(g1) == bytes(range(192))
    with pytest.raises(TagNotFoundError):
        target.read_blob(target.tagged()[3])
    assert target.bugcheck() == direct.bugcheck()


def test_name_is_the_current_dump_of_several(driver_dump):
    """`||` lists every open dump; the target's name is the current one's ("." line), not the first."""
    from dmfkd.targets.pykd import PykdTarget

    fake.initialize()
    fake.loadDump(TRIAGE_ARM64)
    fake.loadDump(TRIAGE_X64)
    fake.loadDump(driver_dump)
    assert PykdTarget().name == driver_dump
    fake.closeDump(1)  # the lowest id (ARM64) becomes current; the driver dump keeps the "#" mark
    assert fake.dbgCommand("||").splitlines()[1].startswith("#")
    assert PykdTarget().name == TRIAGE_ARM64
