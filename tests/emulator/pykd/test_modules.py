"""dmfemu.pykd: which modules are loaded decides the exception getOffset / typeInfo raise (observed on
the real 0.3.4.15).

Expected values come from spec/real-pykd-under-wine.md (the observed behaviour of the real pykd 0.3.4.15)
and spec/pykd.md, never from the stand-in itself; the dumps are helpers.standin_dumps.
"""
import pytest

from dmfkd.targets.isf import IsfSymbols
from dmfemu import pykd
from dmfemu.machine import Machine
from dmfemu.target import EmulatorTarget

from helpers.paths import SMALL_ISF, TRIAGE_X64
from helpers.standin_dumps import BUGCHECK, attach_dump, isf_machine, raised


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
    assert raised(pykd.getOffset, "dmfdemo!g_DmfModuleCrashDump") == (
        "SymbolException", "g_DmfModuleCrashDump symbol is not found")
    assert raised(pykd.getOffset, "DMFDEMO!g_DmfModuleCrashDump")[0] == "SymbolException"  # case-insensitive
    assert raised(pykd.getOffset, "nt!KiBugCheckData") == ("SymbolException", "KiBugCheckData symbol is not found")
    assert raised(pykd.getOffset, "nosuch!x") == ("DbgException", "Failed to find module 'nosuch'")
    assert raised(pykd.getOffset, "dmfdemo.sys!x") == ("DbgException", "Failed to find module 'dmfdemo.sys'")
    assert raised(pykd.getOffset, "ntoskrnl!x") == ("DbgException", "Failed to find module 'ntoskrnl'")
    assert raised(pykd.getOffset, "g_DmfModuleCrashDump") == (
        "SymbolException", "failed to find module for symbol: g_DmfModuleCrashDump")
    assert raised(pykd.getOffset, "dmfdemo!") == ("SymbolException", "invalid symbol name: dmfdemo!")
    assert raised(pykd.getOffset, "") == ("SymbolException", "invalid symbol name: ")
    assert raised(pykd.typeInfo, "dmfdemo!DMF_OBJECT") == ("SymbolException", "'DMF_OBJECT' - symbol not found")
    assert raised(pykd.typeInfo, "dmfdemo!DMF_OBJECT*") == ("SymbolException", "DMF_OBJECT symbol is not found")
    assert raised(pykd.typeInfo, "dmfdemo!DMF_OBJECT[2]") == ("SymbolException", "DMF_OBJECT symbol is not found")
    assert raised(pykd.typeInfo, "DMF_OBJECT") == ("SymbolException", "failed to find module for symbol: DMF_OBJECT")
    assert raised(pykd.typeInfo, "nosuch!T") == ("DbgException", "Failed to find module 'nosuch'")
    assert raised(pykd.typeInfo, "nt!UInt4B") == ("SymbolException", "'UInt4B' - symbol not found")
    assert pykd.typeInfo("nt!UInt4B*").name() == "UInt4B*" == pykd.typeInfo("dmfdemo!UInt4B*").name()
    # the images' PE headers are in these dumps: dbgeng names the missing type
    assert raised(pykd.typeInfo, "nt!_LIST_ENTRY*") == ("SymbolException", "_LIST_ENTRY symbol is not found")
    assert raised(pykd.sizeof, "dmfdemo!DMF_OBJECT") == ("SymbolException", "'DMF_OBJECT' - symbol not found")
    assert pykd.typeInfo("UInt4B").size() == 4 and pykd.typeInfo("Char*").size() == pykd.ptrSize()
    # `x`: nothing found -> None; a module without wildcards that is not loaded -> the command fails
    for pattern in ("*!g_DmfModuleCrashDump", "dmfdemo!*", "g_Dmf*", "nt!Ki*", ""):
        assert pykd.dbgCommand(("x " + pattern).strip()) is None, pattern
    assert raised(pykd.dbgCommand, "x nosuch!*") == (
        "DbgException", "Call IDebugControl::ExecuteWide failed\nHRESULT 0x80040205")


def test_module_list_of_a_triage_dump():
    attach_dump(TRIAGE_X64)  # its driver list: ntoskrnl.exe, hal.dll, kd.dll, ... (151 drivers)
    assert raised(pykd.getOffset, "dmfdemo!g_DmfModuleCrashDump") == ("DbgException", "Failed to find module 'dmfdemo'")
    assert raised(pykd.getOffset, "nt!KiBugCheckData") == ("SymbolException", "KiBugCheckData symbol is not found")
    assert raised(pykd.getOffset, "hal!x") == ("SymbolException", "x symbol is not found")
    assert raised(pykd.getOffset, "CLFS!x") == ("SymbolException", "x symbol is not found")
    assert raised(pykd.typeInfo, "dmfdemo!DMF_OBJECT") == ("DbgException", "Failed to find module 'dmfdemo'")
    assert raised(pykd.typeInfo, "nt!_LIST_ENTRY") == ("SymbolException", "'_LIST_ENTRY' - symbol not found")
    # nt's export directory and hal's image are not in a triage dump: no name in the message (observed)
    assert raised(pykd.typeInfo, "nt!_LIST_ENTRY*") == ("SymbolException", "symbol not found")
    assert raised(pykd.typeInfo, "hal!X[2]") == ("SymbolException", "symbol not found")
    assert pykd.typeInfo("nt!UInt4B*").name() == "UInt4B*"
    assert raised(pykd.typeInfo, "dmfdemo!UInt4B*") == ("DbgException", "Failed to find module 'dmfdemo'")
    assert raised(pykd.dbgCommand, "x dmfdemo!*")[0] == "DbgException"
    assert pykd.dbgCommand("x *!g_DmfModuleCrashDump") is None


def test_symbols_module_counts_as_loaded():
    # a live machine without that image: the ISF's module is the "PDB" of a loaded module
    machine, record_va, _ = isf_machine()
    pykd.attach(EmulatorTarget(machine), IsfSymbols.load(SMALL_ISF))
    assert pykd.getOffset("DMFDEMO!g_DemoRecord") == record_va
    assert pykd.getOffset("g_DemoRecord") == record_va  # no module: every module is searched
    assert raised(pykd.getOffset, "dmfdemo!g_Missing") == ("SymbolException", "g_Missing symbol is not found")
    assert raised(pykd.getOffset, "other!g_DemoRecord") == ("DbgException", "Failed to find module 'other'")
    assert pykd.typeInfo("_DEMO_RECORD").size() == 48
    assert raised(pykd.dbgCommand, "x other!*")[0] == "DbgException"
