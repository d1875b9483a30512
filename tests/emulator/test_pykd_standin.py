"""dmfemu.pykd, the stand-in pykd: names, return types, exceptions and messages against the tables of
spec/real-pykd-under-wine.md (observed behaviour of the real pykd 0.3.4.15) and spec/pykd.md.

Expected values come from those tables (and from the real triage dumps' facts in spec/dump-format.md
§3.6), never from the stand-in itself. The synthetic dumps here are written by dmfemu with known
page contents and known blobs, so their expected answers are the inputs.
"""
import io
import os
import sys
import uuid

import pytest

import dmfemu.pykd as pykd
from dmfemu.machine import Machine
from dmfemu.target import EmulatorTarget
from dmfkd.targets.dumpfile import DumpFile
from dmfkd.targets.isf import IsfSymbols

from helpers.paths import SMALL_ISF, SOURCE_PATH, TRIAGE_ARM64, TRIAGE_X64

VA = 0xFFFFF80012345000          # two mapped pages
UNMAPPED = 0xFFFFF80099990000
PAGE0 = (b"synthetic pfn=0x5 seed=0|" * 200)[:0x1000]
PAGE1 = (b"resynthetic page one|" * 200)[:0x1000]
G1 = uuid.UUID("11111111-2222-3333-4444-555555555555")
G2 = uuid.UUID("5b2c1d0e-7a4f-4c3b-9e21-0a1b2c3d4e5f")
G3 = uuid.UUID("65755a40-f146-43ea-8c91-36b85728fd35")
BLOB1 = bytes(range(192))
BLOB2 = b"B" * 0x200
BLOB1_DUP = b"d" * 44
# (GUID, payload) in bug-check order: a repeat of G1, a zero-size block and the all-zero GUID
BLOBS = [(G1, BLOB1), (G2, BLOB2), (uuid.UUID(int=0), b""), (G1, BLOB1_DUP), (G3, b"")]
BUGCHECK = (0xDEADDEAD, 0x1FFF8A3B2C38, 0, 0, 0)


def make_machine(arch="x64"):
    machine = Machine(arch)
    pa = machine.phys.allocate_pages(2)
    va = VA if arch == "x64" else 0x90001000
    machine.space.map(va, pa, 0x2000)
    machine.space.write(va, PAGE0)
    machine.space.write(va + 0x1000, PAGE1)
    return machine, va, pa


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    folder = tmp_path_factory.mktemp("standin")
    machine, _, pa = make_machine()
    paths = {}
    for kind in ("full", "bitmap"):
        path = str(folder / ("%s.dmp" % kind))
        machine.write_dump(path, kind, BUGCHECK, blobs=BLOBS)
        paths[kind] = path
    x86, _, _ = make_machine("x86")
    path = str(folder / "x86.dmp")
    x86.write_dump(path, "full", (0xDEADDEAD, 0x8A3B2C38, 0, 0, 0), blobs=BLOBS)
    paths["x86"] = path
    paths["pa"] = pa
    return paths


@pytest.fixture(autouse=True)
def fresh():
    pykd.detach()
    pykd.reset_counts()
    yield
    pykd.detach()


def attach_dump(path, symbols=None):
    target = DumpFile(path)
    pykd.attach(target, symbols)
    return target


def message(excinfo):
    return str(excinfo.value)


# -- module surface ----------------------------------------------------------------------------

def test_version_and_exception_hierarchy():
    assert pykd.__version__ == "0.3.4.15"
    assert pykd.MemoryException.__mro__[:3] == (pykd.MemoryException, pykd.DbgException, Exception)
    assert issubclass(pykd.TypeException, pykd.SymbolException)
    assert issubclass(pykd.SymbolException, pykd.DbgException)
    assert issubclass(pykd.CallException, pykd.DbgException)
    assert issubclass(pykd.CPUException, pykd.DbgException)
    for cls in (pykd.DbgException, pykd.MemoryException, pykd.SymbolException, pykd.TypeException):
        assert cls.__module__ == "pykd"
    assert pykd.DbgException.__doc__ == "Pykd base exception class"
    assert pykd.MemoryException.__doc__ == "Target memory access exception class"


def test_boost_enums():
    assert isinstance(pykd.dumpType.KernelFull, int)
    assert str(pykd.dumpType.KernelSmall) == "KernelSmall"
    assert repr(pykd.dumpType.KernelSmall) == "pykd.pykd.dumpType.KernelSmall"  # observed on the real one
    assert int(pykd.dumpType.KernelFull) == 1026 and pykd.dumpType.values[1024].name == "KernelSmall"
    assert pykd.CPUType.AMD64.name == "AMD64"
    assert set(pykd.dumpType.names) == {"Small", "Default", "Full", "Image", "KernelSmall", "Kernel", "KernelFull"}


# -- engine life cycle (standalone mode) -------------------------------------------------------

def test_not_initialized():
    for call in (pykd.isDumpAnalyzing, pykd.getSymbolPath, lambda: pykd.setSymbolPath("x")):
        with pytest.raises(pykd.DbgException) as info:
            call()
        assert message(info) == "pykd is not initialized"


def test_initialize_twice():
    assert pykd.initialize() is None
    assert pykd.isDumpAnalyzing() is False
    with pytest.raises(pykd.DbgException) as info:
        pykd.initialize()
    assert message(info) == "pykd is already initialized"


def test_no_dump_open():
    # observed on the real one before the first loadDump and after closing all: ptrSize still says 8,
    # the calls that need a target name the dbgeng method that failed with E_UNEXPECTED
    pykd.initialize()
    assert pykd.ptrSize() == 8
    assert pykd.isKernelDebugging() is False and pykd.isDumpAnalyzing() is False
    for call, method in ((pykd.getCPUType, "IDebugControl::GetActualProcessorType"),
                         (pykd.is64bitSystem, "IDebugControl::GetActualProcessorType"),
                         (pykd.enumTagged, "IDebugDataSpaces3::StartEnumTagged"),
                         (pykd.bugCheckData, "IDebugControl::ReadBugCheckData")):
        assert _raised(call) == ("DbgException", "Call %s failed\nHRESULT 0x8000ffff" % method)


def test_load_and_close_dump(dumps, tmp_path):
    pykd.initialize()
    assert pykd.setSymbolPath(str(tmp_path)) is None
    assert pykd.getSymbolPath() == str(tmp_path)
    dump_id = pykd.loadDump(dumps["full"])
    assert dump_id == 0 and type(dump_id) is int
    assert pykd.isDumpAnalyzing() is True
    assert pykd.closeDump(dump_id) is None
    assert pykd.isDumpAnalyzing() is False
    assert pykd.loadDump(dumps["bitmap"]) == 0
    assert pykd.closeDump() is None


def _systems():
    """`||` as [(current?, id, file)]."""
    text = pykd.dbgCommand("||") or ""
    return [(line[0] == ".", int(line[1:4]), line.rsplit(": ", 1)[1]) for line in text.splitlines()]


def test_several_dumps_open_at_once(dumps):
    # observed on the real 0.3.4.15 (tests/oracle/test_pykd_standin.py): a loadDump while another dump
    # is open opens one more system with the lowest free id and makes it current; closeDump() closes
    # the current one, closeDump(id) that one; then the lowest remaining id is current
    pykd.initialize()
    assert pykd.loadDump(dumps["full"]) == 0
    assert pykd.loadDump(dumps["x86"]) == 1
    assert pykd.ptrSize() == 4  # the new one is current
    assert pykd.loadDump(dumps["bitmap"]) == 2
    assert _systems() == [(False, 0, dumps["full"]), (False, 1, dumps["x86"]), (True, 2, dumps["bitmap"])]
    assert pykd.closeDump(1) is None
    assert _systems() == [(True, 0, dumps["full"]), (False, 2, dumps["bitmap"])]
    assert pykd.dbgCommand("||").splitlines()[1].startswith("#  2 ")  # the last event's system
    assert pykd.loadDump(dumps["x86"]) == 1  # the freed id again
    assert pykd.closeDump() is None          # the current one (1)
    assert pykd.isDumpAnalyzing() is True
    assert _systems() == [(True, 0, dumps["full"]), (False, 2, dumps["bitmap"])]
    assert pykd.ptrSize() == 8
    with pytest.raises(pykd.DbgException) as info:
        pykd.closeDump(7)
    assert type(info.value) is pykd.DbgException
    assert message(info) == "Call IDebugSystemObjects::SetCurrentProcessId failed\nHRESULT 0x80004002"
    with pytest.raises(OverflowError) as info:
        pykd.closeDump(-1)
    assert message(info) == "can't convert negative value to unsigned int"
    pykd.closeDump()
    pykd.closeDump()
    assert pykd.isDumpAnalyzing() is False
    assert pykd.dbgCommand("||") is None     # no system: no output
    with pytest.raises(pykd.DbgException) as info:
        pykd.closeDump()
    assert message(info) == "Call IDebugClient::TerminateCurrentProcess failed\nHRESULT 0x8000ffff"
    assert pykd.loadDump(dumps["full"]) == 0


def test_load_dump_errors(tmp_path):
    pykd.initialize()
    with pytest.raises(pykd.DbgException) as info:
        pykd.loadDump(str(tmp_path / "missing.dmp"))
    assert message(info) == "Call IDebugClient4::OpenDumpFileWide failed\nHRESULT 0x80070002"
    junk = tmp_path / "junk.dmp"
    junk.write_bytes(b"not a dump at all" * 100)
    with pytest.raises(pykd.DbgException) as info:
        pykd.loadDump(str(junk))
    assert message(info) == "Call IDebugClient4::OpenDumpFileWide failed\nHRESULT 0x80070057"


# -- target state --------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["full", "bitmap"])
def test_state_synthetic(dumps, kind):
    attach_dump(dumps[kind])
    assert pykd.isKernelDebugging() is True
    assert pykd.is64bitSystem() is True
    assert pykd.ptrSize() == 8 and pykd.pageSize() == 4096
    assert pykd.getDumpType() == pykd.dumpType.KernelFull  # bitmap too, like dbgeng's qualifier 1026
    assert pykd.getCPUType().name == "AMD64" and pykd.getCPUMode().name == "AMD64"
    assert pykd.getDumpFormat() == 0
    data = pykd.bugCheckData()
    assert type(data) is tuple and data == BUGCHECK


def test_state_triage():
    attach_dump(TRIAGE_X64)
    assert pykd.getDumpType() == pykd.dumpType.KernelSmall
    assert pykd.bugCheckData() == (0x1000007E, 0xFFFFFFFFC0000005, 0xFFFFF8048B58334C, 0xFFFF850429891EE8,
                                   0xFFFF850429891720)
    version = pykd.getSystemVersion()
    assert version.buildNumber == 19041
    assert (version.win32Major, version.win32Minor) == (10, 0)
    assert str(version).startswith("Major Version: 10\nMinor Version: 0\nBuild: 19041\nDescription: ")
    pykd.detach()
    attach_dump(TRIAGE_ARM64)
    assert pykd.getDumpType() == pykd.dumpType.KernelSmall
    assert pykd.getCPUType().name == "ARM64"
    assert pykd.bugCheckData() == (0x1C8, 0x1B58, 0xFFFFF803F3A20860, 0, 0)


# -- tagged data ----------------------------------------------------------------------------------

def test_enum_tagged_synthetic(dumps):
    attach_dump(dumps["full"])
    ids = pykd.enumTagged()
    assert type(ids) is list and all(type(i) is str for i in ids)
    assert ids == [str(g) for g, _ in BLOBS]  # file order, repeats and zero-size blocks included
    assert all(i == i.lower() and not i.startswith("{") for i in ids)


def test_load_tagged_buffer_rules(dumps):
    attach_dump(dumps["bitmap"])
    data = pykd.loadTaggedBuffer(str(G1))
    assert type(data) is list and bytes(data) == BLOB1  # the FIRST block of a repeated GUID
    assert bytes(pykd.loadTaggedBuffer(str(G1).upper())) == BLOB1
    assert bytes(pykd.loadTaggedBuffer(str(G2))) == BLOB2
    for zero in (str(uuid.UUID(int=0)), str(G3)):
        with pytest.raises(pykd.DbgException) as info:
            pykd.loadTaggedBuffer(zero)
        assert message(info) == "Call IDebugDataSpaces4::ReadTagged failed\nHRESULT 0x80070057"
    with pytest.raises(pykd.DbgException) as info:
        pykd.loadTaggedBuffer("00000000-0000-0000-0000-000000000001")
    assert message(info) == "Call IDebugDataSpaces4::ReadTagged failed\nHRESULT 0x80004002"
    for bad in ("{%s}" % G1, "not-a-guid", str(G1).replace("-", "")):
        with pytest.raises(pykd.DbgException) as info:
            pykd.loadTaggedBuffer(bad)
        assert message(info) == "Call UuidFromString failed\nRPC_STATUS 0x6a9"


@pytest.mark.parametrize("path,count,loadable", [(TRIAGE_X64, 20, 18), (TRIAGE_ARM64, 42, 39)])
def test_tagged_real_triage(path, count, loadable):
    attach_dump(path)
    ids = pykd.enumTagged()
    assert len(ids) == count
    ok = 0
    for text in ids:
        try:
            pykd.loadTaggedBuffer(text)
            ok += 1
        except pykd.DbgException as exc:
            assert str(exc) == "Call IDebugDataSpaces4::ReadTagged failed\nHRESULT 0x80070057"
    assert ok == loadable
    if path == TRIAGE_ARM64:
        assert ids.count("335d5e04-563b-4e58-aa36-7ed1cfe76fd6") == 3


def test_enumtag_command(dumps):
    attach_dump(dumps["full"])
    text = pykd.dbgCommand(".enumtag")
    assert type(text) is str
    headers = [line for line in text.splitlines() if line.startswith("{")]
    assert headers[0] == "{11111111-2222-3333-4444555555555555} - 0xc0 bytes"
    assert headers[1] == "{5B2C1D0E-7A4F-4C3B-9E210A1B2C3D4E5F} - 0x200 bytes"
    assert headers[2] == "{00000000-0000-0000-0000000000000000} - 0x0 bytes"
    assert headers[3] == "{11111111-2222-3333-4444555555555555} - 0x2c bytes"
    assert len(headers) == 5
    # the layout the real one prints (tests/oracle compares whole texts): no blank line between
    # blocks, TAB shown as itself, 0x80/0x98/0x99 and the C0 controls as "."; a repeated GUID shows
    # the first block's bytes (dbgeng reads blocks by GUID)
    lines = text.split("\n")
    assert "" not in lines[:-1] and lines[-1] == ""
    first = lines[lines.index(headers[0]) + 1]
    assert first == "  00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F  .........\t......"
    row_80 = lines[lines.index(headers[0]) + 1 + 8]
    assert row_80 == ("  80 81 82 83 84 85 86 87 88 89 8A 8B 8C 8D 8E 8F  .." + "".join(map(chr, range(0x82, 0x8D)))
                      + ".\x8e.")
    repeat = lines[lines.index(headers[3]) + 1:lines.index(headers[4])]
    assert len(repeat) == 3 and repeat[0] == first  # 44 bytes of BLOB1, not b"d" * 44


# -- memory -----------------------------------------------------------------------------------------

def test_load_bytes(dumps):
    attach_dump(dumps["bitmap"])
    data = pykd.loadBytes(VA, 32)
    assert type(data) is list and all(type(b) is int for b in data)
    assert bytes(data) == PAGE0[:32]
    assert bytes(pykd.loadBytes(VA + 0xFF8, 16)) == PAGE0[0xFF8:] + PAGE1[:8]  # across a page boundary
    assert pykd.ptrQWord(VA) == int.from_bytes(PAGE0[:8], "little")
    assert pykd.ptrDWord(VA + 4) == int.from_bytes(PAGE0[4:8], "little")
    assert pykd.ptrByte(VA) == PAGE0[0] and pykd.ptrWord(VA) == int.from_bytes(PAGE0[:2], "little")
    assert pykd.ptrPtr(VA) == pykd.ptrMWord(VA) == pykd.ptrQWord(VA)
    assert pykd.loadDWords(VA, 2) == [int.from_bytes(PAGE0[0:4], "little"), int.from_bytes(PAGE0[4:8], "little")]
    assert pykd.loadPtrs(VA, 1) == [int.from_bytes(PAGE0[:8], "little")]
    assert pykd.loadChars(VA, 9) == "synthetic"
    assert pykd.isValid(VA) is True and pykd.isValid(UNMAPPED) is False
    assert pykd.isVaRegionValid(VA, 0x2000) is True and pykd.isVaRegionValid(VA, 0x2001) is False
    assert pykd.addr64(VA) == VA
    assert pykd.compareMemory(VA, VA, 16) is True


def test_memory_exception_messages(dumps):
    attach_dump(dumps["full"])
    with pytest.raises(pykd.MemoryException) as info:
        pykd.loadBytes(UNMAPPED, 8)
    assert message(info) == "Memory exception at 0xfffff80099990000 target virtual address"
    with pytest.raises(pykd.MemoryException) as info:
        pykd.loadBytes(VA, 0)  # count 0 fails even on a mapped address
    assert message(info) == "Memory exception at 0xfffff80012345000 target virtual address"
    with pytest.raises(pykd.MemoryException) as info:
        pykd.loadBytes(0, 4)
    assert message(info) == "Memory exception at 0x0 target virtual address"
    with pytest.raises(pykd.MemoryException) as info:
        pykd.loadBytes(VA + 0x1FF0, 0x20)  # all or nothing: the start address is named
    assert message(info) == "Memory exception at 0x%x target virtual address" % (VA + 0x1FF0)
    with pytest.raises(pykd.MemoryException):
        pykd.ptrQWord(UNMAPPED)
    with pytest.raises(pykd.MemoryException):
        pykd.loadCStr(VA)  # no NUL before the unmapped page


def test_physical_reads(dumps):
    attach_dump(dumps["full"])
    pa = dumps["pa"]
    assert bytes(pykd.loadBytes(pa, 10, True)) == PAGE0[:10]
    assert pykd.loadBytes(pa, 0, True) == []
    pykd.detach()
    attach_dump(TRIAGE_X64)
    with pytest.raises(pykd.MemoryException) as info:
        pykd.loadBytes(0x5000, 8, True)
    assert message(info) == "Memory exception at 0x5000 target physical address"


def test_load_cstr_terminated(tmp_path):
    machine, va, _ = make_machine()
    machine.space.write(va + 0x100, b"DmfModule\0")
    pykd.attach(EmulatorTarget(machine))
    assert pykd.loadCStr(va + 0x100) == "DmfModule"
    machine.space.write(va + 0x200, "Ring".encode("utf-16-le") + b"\0\0")
    assert pykd.loadWStr(va + 0x200) == "Ring"


def test_x86_addresses_sign_extend(dumps):
    attach_dump(dumps["x86"])
    assert pykd.ptrSize() == 4 and pykd.is64bitSystem() is False
    assert pykd.getCPUType().name == "I386"
    assert pykd.addr64(0x90001000) == 0xFFFFFFFF90001000
    assert pykd.addr64(0x00401000) == 0x00401000
    assert bytes(pykd.loadBytes(0x90001000, 9)) == b"synthetic"
    assert bytes(pykd.loadBytes(0xFFFFFFFF90001000, 9)) == b"synthetic"
    value = int.from_bytes(PAGE0[:4], "little")
    expected = value | 0xFFFFFFFF00000000 if value & 0x80000000 else value
    assert pykd.ptrPtr(0x90001000) == expected


# -- writes: the target is read-only -------------------------------------------------------------------

WRITE_CALLS = {
    "setByte": (VA, 1), "setWord": (VA, 1), "setDWord": (VA, 1), "setQWord": (VA, 1),
    "setSignByte": (VA, -1), "setSignWord": (VA, -1), "setSignDWord": (VA, -1), "setSignQWord": (VA, -1),
    "setFloat": (VA, 1.0), "setDouble": (VA, 1.0), "setPtr": (VA, 0),
    "writeBytes": (VA, [1, 2]), "writeWords": (VA, [1]), "writeDWords": (VA, [1]), "writeQWords": (VA, [1]),
    "writeSignBytes": (VA, [-1]), "writeSignWords": (VA, [-1]), "writeSignDWords": (VA, [-1]),
    "writeSignQWords": (VA, [-1]), "writeFloats": (VA, [1.0]), "writeDoubles": (VA, [1.0]),
    "writeCStr": (VA, "x"), "writeWStr": (VA, "x"),
    "setReg": ("rax", 0), "setIP": (0,), "setSP": (0,), "setFP": (0,), "wrmsr": (0x176, 0),
}


def test_every_write_raises_and_memory_is_unchanged(dumps):
    assert set(pykd.WRITE_FUNCTIONS) == set(WRITE_CALLS)
    machine, va, _ = make_machine()
    pykd.attach(EmulatorTarget(machine))  # even a live target refuses
    for name, args in WRITE_CALLS.items():
        with pytest.raises(pykd.DbgException):
            getattr(pykd, name)(*args)
    with pytest.raises(pykd.MemoryException) as info:
        pykd.writeBytes(VA, [0x41])
    assert message(info) == "Memory exception at 0xfffff80012345000 target virtual address"
    assert machine.space.read(va, 0x2000) == PAGE0 + PAGE1


# -- live target ---------------------------------------------------------------------------------------

def test_live_target():
    machine, va, _ = make_machine()
    pykd.attach(EmulatorTarget(machine))
    assert pykd.isDumpAnalyzing() is False
    assert pykd.isKernelDebugging() is True
    assert bytes(pykd.loadBytes(va, 9)) == b"synthetic"
    with pytest.raises(pykd.DbgException) as info:
        pykd.enumTagged()
    assert message(info) == "Call IDebugDataSpaces3::StartEnumTagged failed\nHRESULT 0x80004001"
    with pytest.raises(pykd.DbgException):
        pykd.loadTaggedBuffer(str(G1))
    assert pykd.bugCheckData() == (0, 0, 0, 0, 0)
    with pytest.raises(pykd.DbgException):
        pykd.getDumpType()
    # memory the machine changes is seen at once: a live target has no snapshot
    machine.space.write(va, b"CHANGED")
    assert bytes(pykd.loadBytes(va, 7)) == b"CHANGED"


# -- commands and output ---------------------------------------------------------------------------------

def test_dbg_command(dumps):
    attach_dump(dumps["bitmap"])
    assert pykd.dbgCommand("as !dmftags !py -g -m dmfkd tags") is None  # empty output -> None
    assert pykd.aliases() == {"!dmftags": "!py -g -m dmfkd tags"}
    systems = pykd.dbgCommand("||")
    assert systems == ".  0 64-bit Kernel bitmap dump: %s\n" % dumps["bitmap"]  # dbgeng's spacing
    assert pykd.dbgCommand(".bugcheck").startswith("Bugcheck code DEADDEAD\nArguments 00001fff`8a3b2c38 ")
    with pytest.raises(pykd.DbgException) as info:
        pykd.dbgCommand("r")
    assert message(info) == "Call IDebugControl::ExecuteWide failed\nHRESULT 0x80040205"


class _DbgOut(io.StringIO):
    def __init__(self):
        super().__init__()
        self.dml = []

    def writedml(self, text):
        self.dml.append(text)


def test_dprint(monkeypatch, capsys):
    assert pykd.dprintln("x", True) is None
    assert pykd.dprintln("y") is None
    assert pykd.dprint("z<b>bold</b>\n", True) is None
    assert capsys.readouterr().out == "x\ny\nz<b>bold</b>\n"  # outside WinDbg the tags print raw
    assert pykd.isWindbgExt() is False
    out = _DbgOut()
    monkeypatch.setattr(sys, "stdout", out)
    assert pykd.isWindbgExt() is True
    pykd.dprint("<b>b</b>", True)
    pykd.dprint("plain")
    assert out.dml == ["<b>b</b>"] and out.getvalue() == "plain"


# -- symbols and types over an ISF file --------------------------------------------------------------------

def _isf_machine():
    """Memory at the ISF's g_DemoRecord (image base 0xfffff80000000000 + 0x3040)."""
    machine = Machine("x64")
    pa = machine.phys.allocate_pages(1)
    base = 0xFFFFF80000003000
    machine.space.map(base, pa, 0x1000)
    record = (0x4C524D44).to_bytes(4, "little") + (1).to_bytes(4, "little") + G2.bytes_le
    record += (base + 0x40).to_bytes(8, "little") + (0).to_bytes(8, "little")
    record += (0b10101 << 0).to_bytes(4, "little") + (-5).to_bytes(4, "little", signed=True)
    machine.space.write(base + 0x40, record)
    return machine, base + 0x40, record


def test_symbols_and_types():
    machine, record_va, record = _isf_machine()
    pykd.attach(EmulatorTarget(machine), IsfSymbols.load(SMALL_ISF))
    assert pykd.getOffset("dmfdemo!g_DemoRecord") == record_va
    with pytest.raises(pykd.SymbolException):
        pykd.getOffset("dmfdemo!g_Missing")
    info = pykd.typeInfo("dmfdemo!_DEMO_RECORD")
    assert info.size() == 48 and pykd.sizeof("dmfdemo!_DEMO_RECORD") == 48
    assert [name for name, _ in info.fields()] == ["Signature", "State", "Guid", "Next", "Buffer", "Flags", "Delta"]
    assert info.fieldOffset("Next") == 24 and info.fieldOffset(6) == 44
    assert info.Signature.name() == "UInt4B" and info.Delta.name() == "Int4B"  # as the real one names PDB types
    assert info.Next.isPointer() and info.Next.deref().name() == "_DEMO_RECORD"
    assert info.Guid.isUserDefined() and info.Guid.Data4.isArray() and info.Guid.Data4.size() == 8
    assert info.Flags.isBitField() and (info.Flags.bitOffset(), info.Flags.bitWidth()) == (3, 2)
    with pytest.raises(pykd.TypeException):
        info.fieldOffset("Nope")
    with pytest.raises(pykd.SymbolException) as info:
        pykd.typeInfo("dmfdemo!_NOPE")
    assert type(info.value) is pykd.SymbolException and message(info) == "'_NOPE' - symbol not found"

    var = pykd.typedVar("dmfdemo!_DEMO_RECORD", record_va)
    assert var.getAddress() == record_va and var.sizeof() == 48
    assert var.Signature == 0x4C524D44 and var.State == 1 and var.Delta == -5
    assert var.Flags == 0b10  # bits 3..4 of 0b10101
    assert var.Guid.Data1 == 0x5B2C1D0E and var.Guid.Data4[0] == 0x9E
    assert var.Next == record_va and var.Next.deref().Signature == 0x4C524D44
    assert bytes(var.rawBytes()) == record
    by_symbol = pykd.typedVar("dmfdemo!g_DemoRecord")
    assert by_symbol.Signature == 0x4C524D44
    overlay = pykd.typedVar("dmfdemo!_DEMO_RECORD", list(record))
    assert overlay.Delta == -5 and overlay.Guid.Data2 == 0x7A4F
    assert pykd.typedVar("UInt4B", [0x11, 0x22, 0x33, 0x44]) == 0x44332211  # pykd test/scripts/typedvar.py
    assert "dmfdemo!g_DemoRecord" in pykd.dbgCommand("x dmfdemo!g_*")
    assert pykd.dbgCommand("x dmfdemo!nothing*") is None


# -- which modules are loaded decides the exception (observed on the real 0.3.4.15) -------------------------

def _raised(call, *args):
    """(exact class name, message) of what call(*args) raises."""
    try:
        call(*args)
    except Exception as exc:  # noqa: the point is to see which class
        return type(exc).__name__, str(exc)
    raise AssertionError("%s%r did not raise" % (getattr(call, "__name__", call), args))


@pytest.fixture(scope="module")
def driver_dumps(tmp_path_factory):
    """Dumps of a machine with a driver image "dmfdemo" (dmfemu.kernel lists it in PsLoadedModuleList),
    no symbols: what WinDbg sees on a dmfemu demo dump without the PDB."""
    folder = tmp_path_factory.mktemp("drivers")
    out = {}
    for arch in ("x64", "x86"):
        machine = Machine(arch)
        machine.add_image("dmfdemo", 0x10000)
        out[arch] = str(folder / ("%s.dmp" % arch))
        machine.write_dump(out[arch], "full", BUGCHECK if arch == "x64" else (0xDEADDEAD, 1, 0, 0, 0))
    return out


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_module_loaded_without_symbols(driver_dumps, arch):
    attach_dump(driver_dumps[arch])
    assert _raised(pykd.getOffset, "dmfdemo!g_DmfModuleCrashDump") == (
        "SymbolException", "g_DmfModuleCrashDump symbol is not found")
    assert _raised(pykd.getOffset, "DMFDEMO!g_DmfModuleCrashDump")[0] == "SymbolException"  # case-insensitive
    assert _raised(pykd.getOffset, "nt!KiBugCheckData") == ("SymbolException", "KiBugCheckData symbol is not found")
    assert _raised(pykd.getOffset, "nosuch!x") == ("DbgException", "Failed to find module 'nosuch'")
    assert _raised(pykd.getOffset, "dmfdemo.sys!x") == ("DbgException", "Failed to find module 'dmfdemo.sys'")
    assert _raised(pykd.getOffset, "ntoskrnl!x") == ("DbgException", "Failed to find module 'ntoskrnl'")
    assert _raised(pykd.getOffset, "g_DmfModuleCrashDump") == (
        "SymbolException", "failed to find module for symbol: g_DmfModuleCrashDump")
    assert _raised(pykd.getOffset, "dmfdemo!") == ("SymbolException", "invalid symbol name: dmfdemo!")
    assert _raised(pykd.getOffset, "") == ("SymbolException", "invalid symbol name: ")
    assert _raised(pykd.typeInfo, "dmfdemo!DMF_OBJECT") == ("SymbolException", "'DMF_OBJECT' - symbol not found")
    assert _raised(pykd.typeInfo, "dmfdemo!DMF_OBJECT*") == ("SymbolException", "DMF_OBJECT symbol is not found")
    assert _raised(pykd.typeInfo, "dmfdemo!DMF_OBJECT[2]") == ("SymbolException", "DMF_OBJECT symbol is not found")
    assert _raised(pykd.typeInfo, "DMF_OBJECT") == ("SymbolException", "failed to find module for symbol: DMF_OBJECT")
    assert _raised(pykd.typeInfo, "nosuch!T") == ("DbgException", "Failed to find module 'nosuch'")
    assert _raised(pykd.typeInfo, "nt!UInt4B") == ("SymbolException", "'UInt4B' - symbol not found")
    assert pykd.typeInfo("nt!UInt4B*").name() == "UInt4B*" == pykd.typeInfo("dmfdemo!UInt4B*").name()
    # the images' PE headers are in these dumps: dbgeng names the missing type
    assert _raised(pykd.typeInfo, "nt!_LIST_ENTRY*") == ("SymbolException", "_LIST_ENTRY symbol is not found")
    assert _raised(pykd.sizeof, "dmfdemo!DMF_OBJECT") == ("SymbolException", "'DMF_OBJECT' - symbol not found")
    assert pykd.typeInfo("UInt4B").size() == 4 and pykd.typeInfo("Char*").size() == pykd.ptrSize()
    # `x`: nothing found -> None; a module without wildcards that is not loaded -> the command fails
    for pattern in ("*!g_DmfModuleCrashDump", "dmfdemo!*", "g_Dmf*", "nt!Ki*", ""):
        assert pykd.dbgCommand(("x " + pattern).strip()) is None, pattern
    assert _raised(pykd.dbgCommand, "x nosuch!*") == (
        "DbgException", "Call IDebugControl::ExecuteWide failed\nHRESULT 0x80040205")


def test_module_list_of_a_triage_dump():
    attach_dump(TRIAGE_X64)  # its driver list: ntoskrnl.exe, hal.dll, kd.dll, ... (151 drivers)
    assert _raised(pykd.getOffset, "dmfdemo!g_DmfModuleCrashDump") == ("DbgException", "Failed to find module 'dmfdemo'")
    assert _raised(pykd.getOffset, "nt!KiBugCheckData") == ("SymbolException", "KiBugCheckData symbol is not found")
    assert _raised(pykd.getOffset, "hal!x") == ("SymbolException", "x symbol is not found")
    assert _raised(pykd.getOffset, "CLFS!x") == ("SymbolException", "x symbol is not found")
    assert _raised(pykd.typeInfo, "dmfdemo!DMF_OBJECT") == ("DbgException", "Failed to find module 'dmfdemo'")
    assert _raised(pykd.typeInfo, "nt!_LIST_ENTRY") == ("SymbolException", "'_LIST_ENTRY' - symbol not found")
    # nt's export directory and hal's image are not in a triage dump: no name in the message (observed)
    assert _raised(pykd.typeInfo, "nt!_LIST_ENTRY*") == ("SymbolException", "symbol not found")
    assert _raised(pykd.typeInfo, "hal!X[2]") == ("SymbolException", "symbol not found")
    assert pykd.typeInfo("nt!UInt4B*").name() == "UInt4B*"
    assert _raised(pykd.typeInfo, "dmfdemo!UInt4B*") == ("DbgException", "Failed to find module 'dmfdemo'")
    assert _raised(pykd.dbgCommand, "x dmfdemo!*")[0] == "DbgException"
    assert pykd.dbgCommand("x *!g_DmfModuleCrashDump") is None


def test_symbols_module_counts_as_loaded():
    # a live machine without that image: the ISF's module is the "PDB" of a loaded module
    machine, record_va, _ = _isf_machine()
    pykd.attach(EmulatorTarget(machine), IsfSymbols.load(SMALL_ISF))
    assert pykd.getOffset("DMFDEMO!g_DemoRecord") == record_va
    assert pykd.getOffset("g_DemoRecord") == record_va  # no module: every module is searched
    assert _raised(pykd.getOffset, "dmfdemo!g_Missing") == ("SymbolException", "g_Missing symbol is not found")
    assert _raised(pykd.getOffset, "other!g_DemoRecord") == ("DbgException", "Failed to find module 'other'")
    assert pykd.typeInfo("_DEMO_RECORD").size() == 48
    assert _raised(pykd.dbgCommand, "x other!*")[0] == "DbgException"


@pytest.mark.parametrize("path,lab", [
    (TRIAGE_X64, "19041.1.amd64fre.vb_release.191206-1406"),
    (TRIAGE_ARM64, "22000.1.arm64fre.co_release.210604-1628"),
])
def test_system_version_build_string(path, lab):
    # the real one's str(getSystemVersion()) on these dumps (tests/oracle probe)
    attach_dump(path)
    version = pykd.getSystemVersion()
    assert version.buildString == "Built by: " + lab and version.servicePack == 0
    assert str(version) == "Major Version: 10\nMinor Version: 0\nBuild: %s\nDescription: Built by: %s\n" % (
        lab.split(".")[0], lab)


def test_alias_listing(dumps):
    attach_dump(dumps["full"])
    assert pykd.dbgCommand("al") == "No aliases\n"
    pykd.dbgCommand("as !dmfzz !py -g -m dmfkd tags")
    assert pykd.dbgCommand("al") == ("  Alias            Value  \n -------          ------- \n"
                                     " !dmfzz           !py -g -m dmfkd tags \n")


@pytest.fixture(scope="module")
def x86_demo(tmp_path_factory):
    import subprocess

    out = str(tmp_path_factory.mktemp("x86demo"))
    env = dict(os.environ, PYTHONPATH=SOURCE_PATH)
    subprocess.run([sys.executable, "-m", "dmfemu", "demo", "-o", out, "--arch", "x86"], check=True, env=env,
                   stdout=subprocess.DEVNULL, timeout=300)
    return out


def test_symbols_on_x86_sign_extend_and_x_lists_no_locals(x86_demo):
    # the real one over the x86 PDB: getOffset through kdlib addr64 (tests/oracle symbol probe)
    isf = IsfSymbols.load(os.path.join(x86_demo, "driver.isf.json"))
    pykd.initialize()
    pykd.loadDump(os.path.join(x86_demo, "MEMORY.DMP"))  # takes driver.isf.json beside it as the PDB
    address = isf.address_of("g_DmfModuleCrashDump")
    assert address >> 32 == 0 and address & 0x80000000
    assert pykd.getOffset("dmfdemo!g_DmfModuleCrashDump") == address | 0xFFFFFFFF00000000
    assert pykd.getOffset("g_DmfModuleCrashDump") == address | 0xFFFFFFFF00000000
    assert pykd.ptrPtr(pykd.getOffset("dmfdemo!g_DmfModuleCrashDump")) != 0  # readable as given
    # `x` without "mod!" lists the current scope's locals: none in a dump
    assert pykd.dbgCommand("x g_Dmf*") is None
    assert "dmfdemo!g_DmfModuleCrashDump" in pykd.dbgCommand("x dmfdemo!g_Dmf*")
    info = pykd.typeInfo("dmfdemo!RING_BUFFER")
    assert [info.field(n).name() for n in ("ItemSize", "Items", "Mode")] == ["UInt4B", "UInt1B*", "Int4B"]


# -- engine-call counting --------------------------------------------------------------------------------------

def test_counting(dumps):
    attach_dump(dumps["full"])
    pykd.reset_counts()
    assert pykd.engine_calls() == 0
    pykd.loadBytes(VA, 16)
    pykd.loadBytes(VA, 16)
    pykd.ptrQWord(VA)
    pykd.enumTagged()
    with pytest.raises(pykd.MemoryException):
        pykd.loadBytes(UNMAPPED, 1)  # failed calls count too: they were round trips
    assert pykd.call_counts() == {"loadBytes": 3, "ptrQWord": 1, "enumTagged": 1}
    assert pykd.engine_calls() == 5
    pykd.reset_counts()
    assert pykd.call_counts() == {} and pykd.engine_calls() == 0
