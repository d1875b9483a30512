"""dmfemu.pykd: memory reads - return types, all-or-nothing failures and their messages, physical
reads, x86 sign extension.

Expected values come from spec/real-pykd-under-wine.md (the observed behaviour of the real pykd 0.3.4.15)
and spec/pykd.md, never from the stand-in itself; the dumps are helpers.standin_dumps.
"""
import pytest

from dmfemu import pykd
from dmfemu.target import EmulatorTarget

from helpers.paths import TRIAGE_X64
from helpers.standin_dumps import PAGE0, PAGE1, UNMAPPED, VA, attach_dump, make_machine, message


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
