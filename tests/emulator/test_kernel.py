"""dmfemu.kernel: the kernel structures it builds are found again by independent readers (dmfkd's
DumpFile, kdmp-parser) by following the dump header the way a debugger does."""
import struct

import pytest

from dmfkd.layouts import debugger_data
from dmfkd.targets.dumpfile import DumpFile
from dmfemu import kernel
from dmfemu.machine import Machine

from helpers.paths import TRIAGE_X64

BUGCHECK = (0xDEADDEAD, 1, 2, 3, 4)
KDBG_SIZE = 0x380        # KDDEBUGGER_DATA64 of Windows 10 19041 (the real triage dumps' copies say so)


def _unicode(dump, va):
    length, _maximum, _pad, buffer = struct.unpack("<HHIQ", dump.read(va, 16))
    return dump.read(buffer, length).decode("utf-16-le")


def _modules(dump, head):
    """Walk PsLoadedModuleList like dbgeng: KLDR_DATA_TABLE_ENTRY (x64: 0xA0 bytes) DllBase @0x30,
    SizeOfImage @0x40, BaseDllName @0x58."""
    out = []
    entry = struct.unpack("<Q", dump.read(head, 8))[0]
    while entry != head and len(out) < 64:
        raw = dump.read(entry, 0xA0)
        base = struct.unpack_from("<Q", raw, 0x30)[0]
        size = struct.unpack_from("<I", raw, 0x40)[0]
        out.append((_unicode(dump, entry + 0x58), base, size))
        blink = struct.unpack_from("<Q", raw, 8)[0]
        assert struct.unpack("<Q", dump.read(blink, 8))[0] == entry     # Blink->Flink comes back
        entry = struct.unpack_from("<Q", raw, 0)[0]
    return out


@pytest.fixture
def machine():
    m = Machine("x64")
    m.add_image("dmfdemo", 0x10000)
    return m


@pytest.mark.parametrize("dump_type", ["full", "bitmap"])
def test_header_points_at_a_decoded_kdbg(tmp_path, machine, dump_type):
    path = str(tmp_path / "k.dmp")
    machine.write_dump(path, dump_type, BUGCHECK)
    with DumpFile(path) as dump:
        h = dump.header
        assert h.KdDebuggerDataBlock != 0
        kdbg = dump.read(h.KdDebuggerDataBlock, KDBG_SIZE)
        assert kdbg[0x10:0x14] == b"KDBG"
        assert struct.unpack_from("<I", kdbg, 0x14)[0] == KDBG_SIZE
        kern_base, = struct.unpack_from("<Q", kdbg, 0x18)
        assert dump.read(kern_base, 2) == b"MZ"
        assert struct.unpack_from("<Q", kdbg, 0x48)[0] == h.PsLoadedModuleList
        assert struct.unpack_from("<Q", kdbg, 0x50)[0] == h.PsActiveProcessHead
        # NtBuildLab names the build the header carries
        lab = dump.read_cstring(struct.unpack_from("<Q", kdbg, 0x208)[0])
        assert lab.startswith(b"%d.1.amd64fre" % h.MinorVersion)
        # MmSystemRangeStart is the address of the variable, below KernBase
        system_range_start = struct.unpack("<Q", dump.read(struct.unpack_from("<Q", kdbg, 0x1D0)[0], 8))[0]
        assert system_range_start <= kern_base


def test_module_list_has_kernel_then_every_image(tmp_path, machine):
    path = str(tmp_path / "k.dmp")
    machine.write_dump(path, "full", BUGCHECK)
    with DumpFile(path) as dump:
        modules = _modules(dump, dump.header.PsLoadedModuleList)
    assert modules[0][0] == "ntoskrnl.exe"
    assert ("dmfdemo.sys",) + machine.images["dmfdemo"] in modules
    assert len(modules) == len(machine.images)            # nt is in machine.images too


def test_images_added_later_join_the_list_once(tmp_path, machine):
    machine.write_dump(str(tmp_path / "a.dmp"), "full", BUGCHECK)
    machine.add_image("late", 0x3000)
    machine.write_dump(str(tmp_path / "b.dmp"), "full", BUGCHECK)
    kernel.prepare_dump(machine)
    machine.write_dump(str(tmp_path / "c.dmp"), "full", BUGCHECK)
    with DumpFile(str(tmp_path / "a.dmp")) as dump:
        assert [m[0] for m in _modules(dump, dump.header.PsLoadedModuleList)] == ["ntoskrnl.exe", "dmfdemo.sys"]
    with DumpFile(str(tmp_path / "c.dmp")) as dump:
        names = [m[0] for m in _modules(dump, dump.header.PsLoadedModuleList)]
    assert names == ["ntoskrnl.exe", "dmfdemo.sys", "late.sys"]


def test_driver_image_gets_pe_headers_only_when_its_header_page_is_free(tmp_path):
    m = Machine("x64")
    clean = m.add_image("clean", 0x4000)
    busy = m.add_image("busy", 0x4000)
    m.space.write(busy, b"driver data")
    m.write_dump(str(tmp_path / "k.dmp"), "full", BUGCHECK)
    assert m.space.read(clean, 2) == b"MZ"
    e_lfanew = struct.unpack("<I", m.space.read(clean + 0x3C, 4))[0]
    assert m.space.read(clean + e_lfanew, 4) == b"PE\0\0"
    size_of_image = struct.unpack("<I", m.space.read(clean + e_lfanew + 0x18 + 0x38, 4))[0]
    assert size_of_image == 0x4000
    assert m.space.read(busy, 11) == b"driver data"


def test_processor_context_matches_header(tmp_path, machine):
    """KiProcessorBlock[0] -> KPRCB; KPRCB+OffsetPrcbContext -> CONTEXT (what dbgeng shows in `r`)."""
    path = str(tmp_path / "k.dmp")
    extra = kernel.prepare_dump(machine)
    machine.write_dump(path, "bitmap", BUGCHECK)
    with DumpFile(path) as dump:
        kdbg = dump.read(dump.header.KdDebuggerDataBlock, KDBG_SIZE)
        prcb = struct.unpack("<Q", dump.read(struct.unpack_from("<Q", kdbg, 0x218)[0], 8))[0]
        offset_context = struct.unpack_from("<H", kdbg, 0x338)[0]
        context_va = struct.unpack("<Q", dump.read(prcb + offset_context, 8))[0]
        rip = struct.unpack("<Q", dump.read(context_va + 0xF8, 8))[0]
        rsp = struct.unpack("<Q", dump.read(context_va + 0x98, 8))[0]
        header_rip = struct.unpack_from("<Q", dump.header.ContextRecord, 0xF8)[0]
        thread = struct.unpack("<Q", dump.read(prcb + struct.unpack_from("<H", kdbg, 0x2B4)[0], 8))[0]
        process = struct.unpack("<Q", dump.read(thread + struct.unpack_from("<H", kdbg, 0x2A0)[0], 8))[0]
        process_dtb = struct.unpack("<Q", dump.read(process + struct.unpack_from("<H", kdbg, 0x2AE)[0], 8))[0]
        assert dump.read(rsp, 8)          # the stack the context points at is in the dump
    assert rip == header_rip == extra["context"]["Rip"]
    assert process_dtb == machine.space.dtb


def test_kdmp_parser_translates_the_kernel_structures(tmp_path, machine):
    kdmp_parser = pytest.importorskip("kdmp_parser")
    path = str(tmp_path / "k.dmp")
    extra = kernel.prepare_dump(machine)
    machine.write_dump(path, "full", BUGCHECK)
    parser = kdmp_parser.KernelDumpParser(path)
    kdbg_va = extra["kdbg_va"]
    page = parser.read_virtual_page(kdbg_va)
    assert bytes(page[(kdbg_va & 0xFFF) + 0x10:(kdbg_va & 0xFFF) + 0x14]) == b"KDBG"


def test_x86_kdbg_pointers_are_sign_extended(tmp_path):
    m = Machine("x86")
    m.add_image("dmfdemo", 0x4000)
    path = str(tmp_path / "k.dmp")
    extra = kernel.prepare_dump(m)
    m.write_dump(path, "full", BUGCHECK)
    with DumpFile(path) as dump:
        assert dump.header.KdDebuggerDataBlock == extra["kdbg_va"]
        kdbg = dump.read(extra["kdbg_va"], KDBG_SIZE)
        kern_base = struct.unpack_from("<Q", kdbg, 0x18)[0]
        assert kdbg[0x10:0x14] == b"KDBG" and kern_base >> 32 == 0xFFFFFFFF
        assert dump.read(kern_base & 0xFFFFFFFF, 2) == b"MZ"
        assert struct.unpack_from("<H", kdbg, 0x36)[0] & 1
        head = dump.header.PsLoadedModuleList
        first = struct.unpack("<I", dump.read(head, 4))[0]
        dll_base = struct.unpack("<I", dump.read(first + 0x18, 4))[0]
    assert dll_base == kern_base & 0xFFFFFFFF


def test_x64_offsets_are_the_real_19041_kernels():
    """The Offset*/Size*/Gdt* values the emulator's KDBG carries are those of the KDBG copy in the
    real Windows 10 19041 triage dump."""
    with DumpFile(TRIAGE_X64) as dump:
        offset, size = dump.triage["DebuggerDataOffset"], dump.triage["DebuggerDataSize"]
    with open(TRIAGE_X64, "rb") as handle:
        handle.seek(offset)
        real = debugger_data.kddebugger_data64().unpack_from(handle.read(size))
    assert dict((name, real[name]) for name in kernel.X64_OFFSETS) == kernel.X64_OFFSETS
