"""dmfemu.pykd: symbols and types over an ISF file (getOffset, typeInfo, typedVar, `x`).

Expected values come from spec/real-pykd-under-wine.md (the observed behaviour of the real pykd 0.3.4.15)
and spec/pykd.md, never from the stand-in itself; the dumps are helpers.standin_dumps.
"""
import os
import sys

import pytest

from dmfkd.targets.isf import IsfSymbols
from dmfemu import pykd
from dmfemu.target import EmulatorTarget

from helpers.paths import SMALL_ISF, SOURCE_PATH
from helpers.standin_dumps import isf_machine, message


def test_symbols_and_types():
    machine, record_va, record = isf_machine()
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
