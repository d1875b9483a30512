"""dmfemu.pykd: opening and closing targets (standalone initialize / loadDump / closeDump, several
dumps at once) and what the stand-in says about the current target.

Expected values come from spec/real-pykd-under-wine.md (the observed behaviour of the real pykd 0.3.4.15)
and spec/pykd.md, never from the stand-in itself; the dumps are helpers.standin_dumps.
"""
import pytest

from dmfemu import pykd
from dmfemu.target import EmulatorTarget

from helpers.paths import TRIAGE_ARM64, TRIAGE_X64
from helpers.standin_dumps import BUGCHECK, G1, attach_dump, make_machine, message, raised


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
        assert raised(call) == ("DbgException", "Call %s failed\nHRESULT 0x8000ffff" % method)


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
