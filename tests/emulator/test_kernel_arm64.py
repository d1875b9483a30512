"""dmfemu's ARM64 machine (Machine(arch="arm64"), dmfemu.kernel's ARM64 kernel, dmfemu.dumpwriter's ARM64
dumps) against facts from outside the emulator: the real Windows 11 22000 ARM64 triage dump in tests/data
(the KDBG offsets, the EPROCESS fields, the dump's shape), the Arm ARM encodings (`brk #0xf000`), the
independently written layout-level builder of tests/helpers/arm64_dumps.py, and kdmp-parser."""
import struct

import pytest

from dmfkd.errors import MemoryReadError
from dmfkd.layouts import debugger_data
from dmfkd.layouts import dump_format
from dmfkd.targets.dumpfile import DumpFile
from dmfemu import kernel
from dmfemu.dumpwriter import write_dump
from dmfemu.machine import Machine

from helpers import arm64_dumps
from helpers.paths import TRIAGE_ARM64

BUGCHECK = (0xDEADDEAD, 1, 2, 3, 4)
KDBG_SIZE = 0x380
BRK_F000 = 0xD4200000 | 0xF000 << 5        # BRK #imm16: 0xD4200000 | imm16 << 5 (Arm ARM C6.2.38)


def _real_kdbg():
    with DumpFile(TRIAGE_ARM64) as dump:
        return debugger_data.kddebugger_data64().unpack_from(dump.read(dump.kdbg_va, KDBG_SIZE))


def test_arm64_offsets_are_the_real_22000_kernels():
    real = _real_kdbg()
    assert dict((name, real[name]) for name in kernel.ARM64_OFFSETS) == kernel.ARM64_OFFSETS
    # every non-zero Offset*/Size* field of the real block is carried
    carried = set(kernel.ARM64_OFFSETS)
    assert [name for name, value in real.items()
            if name.startswith(("Offset", "Size")) and value and name not in carried] == []


def test_arm64_eprocess_fields_are_where_the_real_process_has_them():
    """The current process of the real dump is System: PID 4, ActiveProcessLinks.Blink = the header's
    PsActiveProcessHead (it is the last entry of the list), ImageFileName "System"."""
    with DumpFile(TRIAGE_ARM64) as dump:
        raw = dump._read_at(dump.triage.ProcessOffset, kernel.ARM64_OFFSETS["SizeEProcess"])
        head = dump.header.PsActiveProcessHead
    assert struct.unpack_from("<Q", raw, kernel.ARM64_EPROCESS_UNIQUE_PROCESS_ID)[0] == 4
    assert struct.unpack_from("<Q", raw, kernel.ARM64_EPROCESS_ACTIVE_PROCESS_LINKS + 8)[0] == head
    assert raw[kernel.ARM64_EPROCESS_IMAGE_FILE_NAME:].startswith(b"System\0")


@pytest.fixture
def machine():
    m = Machine("arm64")
    m.add_image("dmfdemo", 0x10000)
    return m


def _pe_machine(dump, base):
    e_lfanew = struct.unpack("<I", dump.read(base + 0x3C, 4))[0]
    assert dump.read(base + e_lfanew, 4) == b"PE\0\0"
    return struct.unpack("<H", dump.read(base + e_lfanew + 4, 2))[0]


@pytest.mark.parametrize("dump_type", ["full", "bitmap", "bitmap-kernel"])
def test_arm64_dump_header_kdbg_images_and_context(tmp_path, machine, dump_type):
    path = str(tmp_path / "k.dmp")
    extra = kernel.prepare_dump(machine)
    machine.write_dump(path, dump_type, BUGCHECK)
    with DumpFile(path) as dump:
        h = dump.header
        assert (dump.arch, h.MachineImageType, h.MinorVersion) == ("arm64", 0xAA64, 22000)
        assert h.DirectoryTableBase == machine.space.dtb
        kdbg = debugger_data.kddebugger_data64().unpack_from(dump.read(h.KdDebuggerDataBlock, KDBG_SIZE))
        assert kdbg["Header.OwnerTag"] == debugger_data.KDBG_OWNER_TAG and kdbg["Header.Size"] == KDBG_SIZE
        assert (kdbg["PsLoadedModuleList"], kdbg["PsActiveProcessHead"]) == (h.PsLoadedModuleList, h.PsActiveProcessHead)
        assert kdbg["PteBase"] == 0xFFFFA88000000000          # the real dump's self-map slot
        assert dump.read_cstring(kdbg["NtBuildLab"]).startswith(b"22000.1.arm64fre")
        for base in (kdbg["KernBase"], machine.images["dmfdemo"][0]):
            assert _pe_machine(dump, base) == 0xAA64
        context = dump.context()
        assert (context.Pc, context.Sp) == (extra["context"]["Pc"], extra["context"]["Sp"])
        assert context.ContextFlags == 0x400007 and context.Cpsr == 0x80000144
        assert struct.unpack("<I", dump.read(context.Pc, 4))[0] == BRK_F000
        # the frame record at Fp: {caller's Fp, Lr}
        assert struct.unpack("<QQ", dump.read(context.Fp, 16)) == (0, context.Lr)
        assert h.Exception.ExceptionAddress == context.Pc
        # KiProcessorBlock[0] -> KPRCB -> context, current thread -> process -> DTB
        offsets = kernel.ARM64_OFFSETS
        prcb = struct.unpack("<Q", dump.read(kdbg["KiProcessorBlock"], 8))[0]
        context_va = struct.unpack("<Q", dump.read(prcb + offsets["OffsetPrcbContext"], 8))[0]
        assert dump.read(context_va, dump_format.CONTEXT_ARM64_SIZE) == h.ContextRecord[:dump_format.CONTEXT_ARM64_SIZE]
        thread = struct.unpack("<Q", dump.read(prcb + offsets["OffsetPrcbCurrentThread"], 8))[0]
        process = struct.unpack("<Q", dump.read(thread + offsets["OffsetKThreadApcProcess"], 8))[0]
        dtb = struct.unpack("<Q", dump.read(process + offsets["OffsetEprocessDirectoryTableBase"], 8))[0]
        assert dtb == h.DirectoryTableBase
        assert struct.unpack("<Q", dump.read(h.PsActiveProcessHead, 8))[0] == \
            process + kernel.ARM64_EPROCESS_ACTIVE_PROCESS_LINKS


def test_arm64_triage_dump_carries_thread_process_stack_and_kdbg(tmp_path, machine):
    path = str(tmp_path / "t.dmp")
    extra = kernel.prepare_dump(machine)
    machine.write_dump(path, "triage", BUGCHECK)
    offsets = kernel.ARM64_OFFSETS
    with DumpFile(path) as dump:
        tri = dump.triage
        assert (dump.arch, dump.dump_type) == ("arm64", 4)
        assert tri.TopOfStack == extra["context"]["Sp"] == dump.context().Sp
        prcb = machine.space.read_u64(machine.symbol("nt!KiProcessorBlock"))
        thread = machine.space.read_u64(prcb + offsets["OffsetPrcbCurrentThread"])
        process = machine.space.read_u64(thread + offsets["OffsetKThreadApcProcess"])
        # the sizes the real ARM64 minidump stores: SizePrcb, SizeEProcess, SizeEThread
        assert tri.ProcessOffset - tri.PrcbOffset == offsets["SizePrcb"]
        assert dump.read(thread, offsets["SizeEThread"]) == machine.space.read(thread, offsets["SizeEThread"])
        assert dump.read(process, offsets["SizeEProcess"]) == machine.space.read(process, offsets["SizeEProcess"])
        assert dump.read(tri.TopOfStack, tri.SizeOfCallStack) == machine.space.read(tri.TopOfStack, tri.SizeOfCallStack)
        assert dump.read(dump.kdbg_va, KDBG_SIZE) == machine.space.read(extra["kdbg_va"], KDBG_SIZE)
        assert sorted((d.path, d.base) for d in dump.triage_drivers()) == sorted(
            (name, base) for name, (base, _) in
            [("\\SystemRoot\\system32\\ntoskrnl.exe", machine.images["nt"]),
             ("\\SystemRoot\\system32\\drivers\\dmfdemo.sys", machine.images["dmfdemo"])])


@pytest.mark.parametrize("kind", ["full", "bitmap"])
def test_emulator_writer_and_the_layout_level_builder_give_the_same_dump_to_a_reader(tmp_path, kind):
    """The same pages, context and bug check through dmfemu.dumpwriter and through tests/helpers'
    builder (written from the layouts without the emulator): the same answers from DumpFile."""
    pages = arm64_dumps.arm64_pages()
    mine, theirs = str(tmp_path / "emulator.dmp"), str(tmp_path / "helper.dmp")
    write_dump(mine, arch="arm64", dump_type=kind, pages=pages, dtb=arm64_dumps.ROOT_PFN * 0x1000,
               context=arm64_dumps.CONTEXT, bugcheck=arm64_dumps.BUGCHECK, build=22000)
    arm64_dumps.write_arm64_dump(theirs, kind, pages)
    vas = [arm64_dumps.VA_4K + 0x10, arm64_dumps.VA_4K + 0x1FF8, arm64_dumps.VA_2M + 0x3010, arm64_dumps.VA_1G + 0x5010,
           arm64_dumps.VA_TRANSITION, arm64_dumps.VA_RESERVED_L3, arm64_dumps.VA_USER]
    with DumpFile(mine) as a, DumpFile(theirs) as b:
        assert (a.arch, a.dump_type, a.bugcheck(), a.context()) == (b.arch, b.dump_type, b.bugcheck(), b.context())
        for pfn in pages:
            assert a.read_physical(pfn * 0x1000, 0x1000) == b.read_physical(pfn * 0x1000, 0x1000) == pages[pfn]
        for va in vas:
            assert _translated(a, va) == _translated(b, va), hex(va)
        assert _translated(a, arm64_dumps.VA_RESERVED_L3) is None and _translated(a, arm64_dumps.VA_4K) is not None


def _translated(dump, va):
    try:
        return dump.translate(va)
    except MemoryReadError:
        return None


@pytest.mark.parametrize("dump_type, kind", [("full", 1), ("bitmap", 5)])
def test_kdmp_parser_reads_the_physical_pages_of_arm64_emulator_dumps(tmp_path, machine, dump_type, kind):
    """kdmp-parser 0.7.4 opens ARM64 full/bitmap dumps (it never checks MachineImageType) and serves their
    physical pages; its virtual translation is the x64 walk, so only physical pages are compared."""
    kdmp_parser = pytest.importorskip("kdmp_parser")
    path = str(tmp_path / "k.dmp")
    machine.write_dump(path, dump_type, BUGCHECK)
    parser = kdmp_parser.KernelDumpParser(path)
    assert parser.header.MachineImageType == 0xAA64 and int(parser.type) == kind
    assert parser.directory_table_base == machine.space.dtb
    with DumpFile(path) as dump:
        pas = sorted(parser.pages.keys())
        assert pas == [pfn * 0x1000 for pfn in machine.phys.present_pfns()]
        for pa in pas:
            assert bytes(parser.read_physical_page(pa)) == dump.read_physical(pa, 0x1000)
