"""DumpFile on ARM64 dumps: synthetic full and bitmap dumps with hand-built ARM64 translation tables
(tests/helpers/arm64_dumps.py), and the real Windows 11 ARM64 triage dump in tests/data."""
import struct

import pytest

from dmfkd.errors import MemoryReadError
from dmfkd.targets.dumpfile import DumpFile

from helpers.arm64_dumps import (BUGCHECK, CONTEXT, P, PA_1G, PA_2M, PFN_4K, PFN_TRANSITION, PFN_USER, VA_1G,
                                 VA_2M, VA_4K, VA_RESERVED_L3, VA_TRANSITION, VA_USER, arm64_pages,
                                 write_arm64_dump)
from helpers.paths import TRIAGE_ARM64, TRIAGE_X64
from helpers.synthetic_dumps import BLOBS

KINDS = {"full": 1, "bitmap": 5, "bitmap-kernel": 6}


@pytest.fixture(scope="module", params=sorted(KINDS))
def arm64_dump(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("arm64") / ("%s.dmp" % request.param)
    pages = arm64_pages()
    size = write_arm64_dump(path, request.param, pages, blobs=BLOBS)
    return request.param, str(path), size, pages


def test_header_facts(arm64_dump):
    kind, path, size, _ = arm64_dump
    with DumpFile(path) as dump:
        assert (dump.arch, dump.pointer_size, dump.dump_type, dump.build) == ("arm64", 8, KINDS[kind], 22000)
        assert dump.dtb == P and dump.header.RequiredDumpSpace == size
        assert tuple([dump.bugcheck().code] + list(dump.bugcheck().parameters)) == BUGCHECK
        assert [(b.guid, dump.read_blob(b)) for b in dump.tagged()] == BLOBS


def test_context_is_the_arm64_context(arm64_dump):
    _, path, _, _ = arm64_dump
    with DumpFile(path) as dump:
        context = dump.context()
        assert list(context.X) == CONTEXT["X"]
        assert (context.Fp, context.Lr, context.Sp, context.Pc, context.Cpsr) == \
            (CONTEXT["Fp"], CONTEXT["Lr"], CONTEXT["Sp"], CONTEXT["Pc"], CONTEXT["Cpsr"])
        assert context.ContextFlags == 0x400007
        assert dump.header.Exception.ExceptionAddress == CONTEXT["Pc"]
        # raw offsets of ARM64_NT_CONTEXT (winnt.h): X0 +0x8, Fp +0xF0, Lr +0xF8, Sp +0x100, Pc +0x108
        raw = bytes(dump.header.ContextRecord)
        assert struct.unpack_from("<IIQ", raw, 0) == (0x400007, CONTEXT["Cpsr"], 100)
        assert struct.unpack_from("<4Q", raw, 0xF0) == (CONTEXT["Fp"], CONTEXT["Lr"], CONTEXT["Sp"], CONTEXT["Pc"])


def test_virtual_reads_through_pages_blocks_and_transition(arm64_dump):
    _, path, _, pages = arm64_dump
    with DumpFile(path) as dump:
        assert dump.read(VA_4K + 5, 20) == pages[PFN_4K[0]][5:25]
        # two virtually adjacent pages that are physically apart (the second with the contiguous hint)
        assert dump.read(VA_4K + P - 6, 12) == pages[PFN_4K[0]][-6:] + pages[PFN_4K[1]][:6]
        assert dump.read(VA_2M + 3 * P + 7, 9) == pages[PA_2M // P + 3][7:16]
        assert dump.translate(VA_2M + 3 * P + 7) == PA_2M + 3 * P + 7
        assert dump.read(VA_1G + 5 * P, P) == pages[PA_1G // P + 5]
        assert dump.translate(VA_1G + 5 * P + 0x123) == PA_1G + 5 * P + 0x123
        assert dump.read(VA_TRANSITION, 16) == pages[PFN_TRANSITION][:16]
        assert dump.read(VA_USER + 0x10, 8) == pages[PFN_USER][0x10:0x18]    # the user half, same root


@pytest.mark.parametrize("va", [
    VA_RESERVED_L3,                  # 0b01 at L3: reserved
    VA_2M + 4 * P,                   # mapped by the block, page not in the dump
    0xFFFFF90000000000,              # no L0 entry
    0x0000900000000000,              # not a sign-extended 48-bit address
    (VA_4K & ~(0xFF << 56)) | (0xAB << 56),   # a tagged pointer (TBI is not supported)
])
def test_unmapped_reads_name_the_address(arm64_dump, va):
    _, path, _, _ = arm64_dump
    with DumpFile(path) as dump:
        with pytest.raises(MemoryReadError) as info:
            dump.read(va, 4)
        assert "0x%x" % va in str(info.value)


def test_kdmp_parser_reads_the_same_physical_pages(arm64_dump):
    """kdmp-parser 0.7.4 opens ARM64 full/bitmap dumps (it never checks MachineImageType) and serves
    their physical pages; its translate_virtual is the x64 walk only (blocks fail there)."""
    kdmp_parser = pytest.importorskip("kdmp_parser")
    kind, path, _, pages = arm64_dump
    parser = kdmp_parser.KernelDumpParser(path)
    assert parser.header.MachineImageType == 0xAA64 and parser.directory_table_base == P
    assert int(parser.type) == KINDS[kind]
    assert sorted(parser.pages.keys()) == sorted(pfn * P for pfn in pages)
    with DumpFile(path) as dump:
        for pfn, data in pages.items():
            assert bytes(parser.read_physical_page(pfn * P)) == data == dump.read_physical(pfn * P, P)
        # table and page descriptors without bit 7 read the same in the x64 format (valid bit 0, address
        # bits 47:12), so for 4 KiB pages its x64 walk is an independent check of the indices we use;
        # an ARM64 block (bits 1:0 = 0b01) is a pointer to a table there
        assert parser.translate_virtual(VA_4K + 0x10) == dump.translate(VA_4K + 0x10)
        assert parser.translate_virtual(VA_USER) == dump.translate(VA_USER)
        assert parser.translate_virtual(VA_2M + 3 * P) != dump.translate(VA_2M + 3 * P)


# -- the real Windows 11 22000 ARM64 triage dump ---------------------------------------------------
def _named_regions(dump):
    """{name: (va_start, va_end)} of the triage regions whose file offsets the triage header names."""
    tri = dump.triage
    by_offset = {offset: (start, end) for start, end, offset in dump.triage_regions()}
    return {name: by_offset[getattr(tri, field)] for name, field in
            (("thread", "ThreadOffset"), ("process", "ProcessOffset"), ("stack", "CallStackOffset"),
             ("kdbg", "DebuggerDataOffset"))}


@pytest.mark.parametrize("path", [TRIAGE_X64, TRIAGE_ARM64], ids=["x64", "arm64"])
def test_triage_thread_process_stack_and_kdbg_read_at_their_vas(path):
    with DumpFile(path) as dump:
        regions = _named_regions(dump)
        tri, kdbg = dump.triage, dump.read(dump.kdbg_va, 0x380)
        assert regions["kdbg"] == (dump.kdbg_va, dump.kdbg_va + tri.DebuggerDataSize) and kdbg[0x10:0x14] == b"KDBG"
        # the stored stack runs up from TopOfStack and holds the saved stack pointer
        sp = dump.context().Sp if dump.arch == "arm64" else dump.context().Rsp
        assert regions["stack"][0] == tri.TopOfStack <= sp < regions["stack"][1]
        # thread: KDBG's SizeEThread bytes at PRCB.CurrentThread; process: ApcState.Process of that thread
        # (KDBG SizeEThread @0x2C0, OffsetKThreadApcProcess @0x2A0, SizeEProcess @0x2A8)
        size_ethread, apc_process, size_eprocess = struct.unpack_from("<H", kdbg, 0x2C0)[0], \
            struct.unpack_from("<H", kdbg, 0x2A0)[0], struct.unpack_from("<H", kdbg, 0x2A8)[0]
        thread_va, thread_end = regions["thread"]
        assert thread_end - thread_va == size_ethread
        process_va = struct.unpack("<Q", dump.read(thread_va + apc_process, 8))[0]
        assert regions["process"] == (process_va, process_va + size_eprocess)
        # every region reads back as the bytes at its file offset
        for start, end in regions.values():
            with open(path, "rb") as f:
                offset = {s: o for s, _, o in dump.triage_regions()}[start]
                f.seek(offset)
                assert dump.read(start, end - start) == f.read(end - start)


def test_real_arm64_triage_context():
    with DumpFile(TRIAGE_ARM64) as dump:
        context = dump.context()
        # the values Microsoft's debugger prints for this dump (`r`; tests/oracle/test_dbgeng_arm64.py)
        assert (context.Pc, context.Sp, context.Fp, context.Lr, context.Cpsr) == \
            (0xFFFFF803F32DE014, 0xFFFFE00E0E4BC4A0, 0xFFFFE00E0E4BC4A0, 0, 0x80000144)
        assert context.X[3] == 0xFFFFF803F3A36AA0 and context.X[28] == 0
        assert dump.header.Exception.ExceptionAddress == context.Pc
        # the instruction at Pc is in a triage data block: dbgeng disassembles it as 91010260 (add x0,x19,#0x40)
        assert dump.read(context.Pc, 4) == struct.pack("<I", 0x91010260)
        # a triage dump carries no page tables: memory outside its VA-mapped regions does not read
        with pytest.raises(MemoryReadError):
            dump.read(context.Pc + 0x100000, 4)
