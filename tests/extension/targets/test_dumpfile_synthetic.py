"""Synthetic dumps written by dmfemu.dumpwriter with hand-built page tables, read back by DumpFile and
cross-checked with kdmp-parser (an independent C++ parser, spec/dump-format.md §5.1)."""
import os
import random
import struct

import pytest

from dmfemu.dumpwriter import write_dump
from dmfkd.errors import MemoryReadError
from dmfkd.targets.dumpfile import DumpFile

from helpers.synthetic_dumps import (P, PRESENT_RW, LARGE, VA_4K, VA_2M, VA_1G, PFN_4K, PA_2M, PA_1G, GUID_A, GUID_B, BLOBS, Pages, stamp, x64_pages, CONTEXT, BUGCHECK, write_x64)  # noqa: F401

kdmp_parser = pytest.importorskip("kdmp_parser")

@pytest.fixture(scope="module", params=["full", "bitmap", "bitmap-kernel"])
def x64_dump(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("dumps") / ("%s.dmp" % request.param)
    size, pages = write_x64(path, request.param)
    return request.param, str(path), size, pages


def test_file_size_and_region(x64_dump):
    kind, path, size, pages = x64_dump
    assert os.path.getsize(path) == size
    with DumpFile(path) as dump:
        assert dump.dump_type == {"full": 1, "bitmap": 5, "bitmap-kernel": 6}[kind]
        assert dump.header.RequiredDumpSpace == size
        if kind == "full":
            assert dump.blob_region_offset == 0x2000 + P * len(pages)
        else:
            bh = dump.bitmap_header
            assert bh.FirstPage % P == 0 and bh.Pages % 64 == 0
            assert dump.blob_region_offset == bh.FirstPage + P * bh.TotalPresentPages
        with open(path, "rb") as f:
            f.seek(dump.blob_region_offset)
            head = f.read(16)
        assert head[:8] == b"DumpBlob" and struct.unpack_from("<II", head, 8) == (16, 0xF0000000 | 19041)


def test_blobs_round_trip(x64_dump):
    _, path, size, _ = x64_dump
    with DumpFile(path) as dump:
        blobs = dump.tagged()
        assert [(b.guid, b.size) for b in blobs] == [(g, len(d)) for g, d in BLOBS]
        assert [dump.read_blob(b) for b in blobs] == [d for _, d in BLOBS]
        assert dump.read_tagged(GUID_A) == b"first copy"
        last = blobs[-1]
        assert last.offset + last.size + (-last.size % 8) == size


def test_physical_reads_return_placed_bytes(x64_dump):
    _, path, _, pages = x64_dump
    with DumpFile(path) as dump:
        for pfn, data in pages.items():
            assert dump.read_physical(pfn * P, P) == data
        # PFNs 1 and 2 (PML4, PDPT) are consecutive: one read spans both
        assert dump.read_physical(P + 0xFF0, 0x20) == pages[1][0xFF0:] + pages[2][:0x10]
        with pytest.raises(MemoryReadError):
            dump.read_physical(0x7000_0000, 8)


def test_virtual_reads_4k_2m_1g(x64_dump):
    _, path, _, pages = x64_dump
    with DumpFile(path) as dump:
        assert dump.read(VA_4K + 5, 20) == pages[PFN_4K[0]][5:25]
        # spanning two virtually adjacent pages that are physically apart
        assert dump.read(VA_4K + P - 6, 12) == pages[PFN_4K[0]][-6:] + pages[PFN_4K[1]][:6]
        assert dump.read(VA_2M + 3 * P + 7, 9) == pages[PA_2M // P + 3][7:16]
        assert dump.read(VA_1G + 5 * P, P) == pages[PA_1G // P + 5]
        assert dump.translate(VA_1G + 5 * P + 0x123) == PA_1G + 5 * P + 0x123
        # mapped by a large page but the page itself is not in the dump
        with pytest.raises(MemoryReadError) as info:
            dump.read(VA_2M + 4 * P, 4)
        assert "0x%x" % (VA_2M + 4 * P) in str(info.value)
        with pytest.raises(MemoryReadError):
            dump.read(0xFFFFF90000000000, 8)          # no PML4 entry
        with pytest.raises(MemoryReadError):
            dump.read(0x0000900000000000, 8)          # non-canonical


def test_kdmp_parser_agrees(x64_dump):
    kind, path, size, pages = x64_dump
    parser = kdmp_parser.KernelDumpParser(path)
    header = parser.header
    assert int(parser.type) == {"full": 1, "bitmap": 5, "bitmap-kernel": 6}[kind]
    assert parser.directory_table_base == P
    assert (header.BugCheckCode, list(header.BugCheckCodeParameter)) == (BUGCHECK[0], list(BUGCHECK[1:]))
    assert (header.MajorVersion, header.MinorVersion) == (0xF, 19041)
    assert header.MachineImageType == 0x8664 and header.NumberProcessors == 4
    assert header.KdDebuggerDataBlock == VA_4K + 0x100
    assert header.PsLoadedModuleList == VA_4K + 0x200 and header.PsActiveProcessHead == VA_4K + 0x300
    assert header.RequiredDumpSpace == size and header.SecondaryDataState == 0 and header.ProductType == 1
    assert header.SuiteMask == 0x110 and header.WriterStatus == 0 and header.KdSecondaryVersion == 0
    assert header.PhysicalMemoryBlock.NumberOfPages == len(pages)
    assert header.Exception.ExceptionCode == 0x80000003 and header.Exception.ExceptionFlags == 1
    assert header.Exception.ExceptionAddress == CONTEXT["Rip"]
    assert parser.context.Rip == CONTEXT["Rip"] and parser.context.Rsp == CONTEXT["Rsp"]
    assert parser.context.MxCsr == parser.context.MxCsr2 == 0x1F80
    if kind == "bitmap":
        bh = parser.header.BmpHeader
        with DumpFile(path) as dump:
            ours = dump.bitmap_header
        assert (bh.FirstPage, bh.TotalPresentPages, bh.Pages) == (ours.FirstPage, ours.TotalPresentPages, ours.Pages)
    assert sorted(parser.pages.keys()) == sorted(pfn * P for pfn in pages)
    with DumpFile(path) as dump:
        for pfn, data in pages.items():
            assert bytes(parser.read_physical_page(pfn * P)) == data == dump.read_physical(pfn * P, P)
        for va in (VA_4K, VA_4K + P, VA_2M + 3 * P, VA_1G + 5 * P):
            assert parser.translate_virtual(va) == dump.translate(va)
            assert bytes(parser.read_virtual_page(va)) == dump.read(va, P)


def test_kdmp_parser_agrees_on_many_random_pages(tmp_path):
    rng = random.Random(1234)
    pfns = sorted(rng.sample(range(1 << 16), 1500))
    pages = {pfn: stamp(b"pfn %06x " % pfn) for pfn in pfns}
    path = str(tmp_path / "bitmap.dmp")
    write_dump(path, arch="x64", dump_type="bitmap", pages=pages, dtb=pfns[0] * P, bugcheck=BUGCHECK,
               blobs=[(GUID_A, b"x" * 13)])
    parser = kdmp_parser.KernelDumpParser(path)
    with DumpFile(path) as dump:
        assert dump.bitmap_header.TotalPresentPages == len(pfns)
        for pfn in rng.sample(pfns, 200):
            assert dump.read_physical(pfn * P, P) == pages[pfn] == bytes(parser.read_physical_page(pfn * P))
        missing = next(p for p in range(1 << 16) if p not in pages)
        with pytest.raises(MemoryReadError):
            dump.read_physical(missing * P, 1)
        assert dump.read_tagged(GUID_A) == b"x" * 13
    assert len(parser.pages) == len(pfns)


def test_full_dump_without_blobs_has_no_secondary_data(tmp_path):
    path = str(tmp_path / "noblobs.dmp")
    size, pages = write_x64(path, "full", blobs=())
    assert size == 0x2000 + P * len(pages)
    with DumpFile(path) as dump:
        assert dump.blob_region_offset is None and dump.tagged() == []


def test_mapping_protocol_pages(tmp_path):
    """`pages` may be any object with present_pfns() and page(pfn) (dmfemu.memory snapshots)."""
    class Snapshot:
        def __init__(self, pages):
            self._pages = pages

        def present_pfns(self):
            return sorted(self._pages)

        def page(self, pfn):
            return self._pages[pfn]

    pages = x64_pages()
    path = str(tmp_path / "snap.dmp")
    write_dump(path, arch="x64", dump_type="full", pages=Snapshot(pages), dtb=P, blobs=BLOBS)
    with DumpFile(path) as dump:
        assert dump.read(VA_1G + 5 * P, 16) == pages[PA_1G // P + 5][:16]


# -- x86 PAE (full) -----------------------------------------------------------------------------

X86_VA = 0x80123000
X86_VA_2M = 0x80400000
X86_PDPT_PA = 0x1020            # 32-byte aligned inside PFN 1 (CR3 & ~0x1F)


def x86_pages():
    pages = Pages()
    pd, pt = 2, 3
    pages.entry(1, (X86_PDPT_PA & 0xFFF) // 8 + (X86_VA >> 30), pd * P | 1)
    pages.entry(pd, (X86_VA >> 21) & 0x1FF, pt * P | PRESENT_RW)
    pages.entry(pt, (X86_VA >> 12) & 0x1FF, 0x20 * P | PRESENT_RW)
    pages.entry(pt, ((X86_VA >> 12) + 1) & 0x1FF, 0x40 * P | PRESENT_RW)
    pages.entry(pd, (X86_VA_2M >> 21) & 0x1FF, 0x600000 | PRESENT_RW | LARGE)
    pages[0x20] = stamp(b"x86 page A ")
    pages[0x40] = stamp(b"x86 page B ")
    pages[0x600000 // P + 2] = stamp(b"x86 2M+2 ")
    return {pfn: bytes(data) for pfn, data in pages.items()}


def test_x86_pae_full_dump(tmp_path):
    pages = x86_pages()
    path = str(tmp_path / "x86.dmp")
    size = write_dump(path, arch="x86", dump_type="full", pages=pages, dtb=X86_PDPT_PA,
                      bugcheck=(0x7E, 1, 2, 3, 4), blobs=BLOBS[:3], build=7601,
                      context=dict(Eip=0x80123456, Esp=0x80124000))
    with open(path, "rb") as f:
        head = f.read(0x1000)
    # independent checks of the 32-bit header at spec §1.2 offsets
    assert head[:8] == b"PAGEDUMP"
    assert struct.unpack_from("<IIII", head, 0x8) == (0xF, 7601, X86_PDPT_PA, struct.unpack_from("<I", head, 0x14)[0])
    assert struct.unpack_from("<I", head, 0x20)[0] == 0x14C
    assert struct.unpack_from("<I", head, 0xF88)[0] == 1
    assert struct.unpack_from("<Q", head, 0xFA0)[0] == size
    assert struct.unpack_from("<II", head, 0x7D0) == (0x80000003, 1)
    assert struct.unpack_from("<I", head, 0x7D0 + 12)[0] == 0x80123456
    assert head[0x5C] == 1                                  # PaeEnabled
    assert struct.unpack_from("<II", head, 0x64) == (len(
        [p for i, p in enumerate(sorted(pages)) if i == 0 or sorted(pages)[i - 1] != p - 1]), len(pages))
    with DumpFile(path) as dump:
        assert (dump.arch, dump.pointer_size, dump.build) == ("x86", 4, 7601)
        assert dump.bugcheck().code == 0x7E and dump.bugcheck().parameters == (1, 2, 3, 4)
        assert dump.blob_region_offset == 0x1000 + P * len(pages)
        assert [dump.read_blob(b) for b in dump.tagged()] == [d for _, d in BLOBS[:3]]
        assert dump.read(X86_VA + 0x10, 8) == pages[0x20][0x10:0x18]
        assert dump.read(X86_VA + P - 4, 8) == pages[0x20][-4:] + pages[0x40][:4]
        assert dump.read(X86_VA_2M + 2 * P + 1, 5) == pages[0x600000 // P + 2][1:6]
        with pytest.raises(MemoryReadError):
            dump.read(0x10000000, 4)


@pytest.mark.parametrize("dump_type,type_value", [("bitmap", 5), ("bitmap-kernel", 6)])
def test_x86_pae_bitmap_dump(tmp_path, dump_type, type_value):
    """x86 bitmap: the `SDMP` sub-header right after the 0x1000-byte header (dbgeng agrees:
    tests/oracle/test_dbgeng_synthetic.py), pages in PFN order from FirstPage."""
    pages = x86_pages()
    path = str(tmp_path / "x86-bitmap.dmp")
    size = write_dump(path, arch="x86", dump_type=dump_type, pages=pages, dtb=X86_PDPT_PA,
                      bugcheck=(0x7E, 1, 2, 3, 4), blobs=BLOBS[:3], build=7601)
    with open(path, "rb") as f:
        raw = f.read()
    assert len(raw) == size and raw[:8] == b"PAGEDUMP"
    assert struct.unpack_from("<I", raw, 0xF88)[0] == type_value
    assert struct.unpack_from("<Q", raw, 0xFA0)[0] == size
    # independent reading of the sub-header at 0x1000 per spec §2.2 offsets
    assert raw[0x1000:0x1008] == b"SDMPDUMP"
    first_page, present, bits = struct.unpack_from("<QQQ", raw, 0x1020)
    pfns = sorted(pages)
    assert first_page % P == 0 and present == len(pfns) and bits % 64 == 0 and bits > pfns[-1]
    bitmap = raw[0x1038:0x1038 + bits // 8]
    assert [i for i in range(bits) if bitmap[i >> 3] >> (i & 7) & 1] == pfns
    for rank, pfn in enumerate(pfns):
        assert raw[first_page + rank * P:first_page + (rank + 1) * P] == pages[pfn]
    assert raw[first_page + len(pfns) * P:first_page + len(pfns) * P + 8] == b"DumpBlob"
    with DumpFile(path) as dump:
        assert (dump.arch, dump.dump_type, dump.build) == ("x86", type_value, 7601)
        assert dump.blob_region_offset == first_page + P * len(pfns)
        assert [dump.read_blob(b) for b in dump.tagged()] == [d for _, d in BLOBS[:3]]
        assert dump.read_physical(0x40 * P, P) == pages[0x40]
        assert dump.read(X86_VA + P - 4, 8) == pages[0x20][-4:] + pages[0x40][:4]
        assert dump.read(X86_VA_2M + 2 * P + 1, 5) == pages[0x600000 // P + 2][1:6]
        with pytest.raises(MemoryReadError):
            dump.read(0x10000000, 4)


def test_x86_triage_is_refused(tmp_path):
    with pytest.raises(ValueError):
        write_dump(str(tmp_path / "t.dmp"), arch="x86", dump_type="triage", pages=x86_pages(), dtb=X86_PDPT_PA)


# -- triage (type 4) ----------------------------------------------------------------------------

def test_triage_dump_written_and_read(tmp_path):
    pages = Pages(x64_pages())
    kdbg_va = VA_4K + 0x100
    kdbg = bytearray(0x80)
    kdbg[0x10:0x14] = b"KDBG"
    struct.pack_into("<I", kdbg, 0x14, 0x80)
    page = bytearray(pages[PFN_4K[0]])
    page[0x100:0x180] = kdbg
    pages[PFN_4K[0]] = bytes(page)
    blocks = [(0xFFFFE00000001000, b"triage block one"), (0xFFFFE00000005000, bytes(range(200)))]
    path = str(tmp_path / "triage.dmp")
    size = write_dump(path, arch="x64", dump_type="triage", pages=pages, dtb=P, bugcheck=BUGCHECK,
                      blobs=BLOBS, kdbg_va=kdbg_va, context=CONTEXT, triage_blocks=blocks)
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) == size
    size_of_dump = struct.unpack_from("<I", data, 0x2004)[0]
    assert data[size_of_dump - 4:size_of_dump] == b"TRGD"
    assert data[size_of_dump:size_of_dump + 8] == b"DumpBlob"
    context_off, exception_off, _, _, prcb_off = struct.unpack_from("<5I", data, 0x200C)
    call_stack_off = struct.unpack_from("<I", data, 0x2028)[0]
    assert all((context_off, exception_off, prcb_off, call_stack_off))
    with DumpFile(path) as dump:
        assert dump.dump_type == 4 and dump.blob_region_offset == size_of_dump
        assert [dump.read_blob(b) for b in dump.tagged()] == [d for _, d in BLOBS]
        for va, content in blocks:
            assert dump.read(va, len(content)) == content
        assert dump.read(kdbg_va, 0x80) == bytes(kdbg)
        rsp = CONTEXT["Rsp"]
        assert dump.read(rsp, 16) == pages[PFN_4K[0]][0x800:0x810]
        with pytest.raises(MemoryReadError):
            dump.read(0xFFFFE00000003000, 1)


# -- dmfemu.memory (helper H2's page tables, an independent table writer) -----------------------

@pytest.mark.parametrize("arch,dump_type", [("x64", "full"), ("x64", "bitmap"), ("x86", "full")])
def test_dmfemu_memory_address_space(tmp_path, arch, dump_type):
    memory = pytest.importorskip("dmfemu.memory")
    phys = memory.PhysicalMemory()
    space = memory.AddressSpace(phys, arch)
    va = 0xFFFFF80055550000 if arch == "x64" else 0x81230000
    pa = phys.allocate_pages(3)
    space.map(va, pa, 3 * P)
    payload = bytes(range(256)) * 40
    space.write(va + 0x10, payload)
    path = str(tmp_path / "mem.dmp")
    write_dump(path, arch=arch, dump_type=dump_type, pages=phys.snapshot(), dtb=space.dtb, blobs=BLOBS[:1])
    with DumpFile(path) as dump:
        assert dump.read(va + 0x10, len(payload)) == payload
        assert dump.translate(va + 0x1234) == space.translate(va + 0x1234)
        assert dump.read_tagged(GUID_A) == b"first copy"
    if arch == "x64":
        parser = kdmp_parser.KernelDumpParser(path)
        assert parser.translate_virtual(va + 0x1000) == space.translate(va + 0x1000)


def test_chunked_source_writes_the_same_file(tmp_path):
    """A source offering chunks() (whole contiguous stretches) gives byte-identical dumps."""
    pages = x64_pages()

    class Chunked:
        def present_pfns(self):
            return sorted(pages)

        def page(self, pfn):
            raise AssertionError("the writer should stream chunks, not pages")

        def chunks(self):
            pfns = sorted(pages)
            start = 0
            for i in range(1, len(pfns) + 1):
                if i == len(pfns) or pfns[i] != pfns[i - 1] + 1:
                    yield pfns[start], memoryview(b"".join(pages[p] for p in pfns[start:i]))
                    start = i

    for kind in ("full", "bitmap"):
        a, b = str(tmp_path / ("a-%s.dmp" % kind)), str(tmp_path / ("b-%s.dmp" % kind))
        write_dump(a, arch="x64", dump_type=kind, pages=pages, dtb=P, blobs=BLOBS)
        write_dump(b, arch="x64", dump_type=kind, pages=Chunked(), dtb=P, blobs=BLOBS)
        with open(a, "rb") as fa, open(b, "rb") as fb:
            assert fa.read() == fb.read()


def test_pcid_bits_in_dtb_and_transition_pte(tmp_path):
    """DTB low bits (PCID) are masked (§4); a transition PTE (present 0, bit 11 set, bit 10 clear)
    still names the page in RAM, as volatility3 reads it."""
    pages = Pages({pfn: bytearray(data) for pfn, data in x64_pages().items()})
    transition_va = VA_4K + 2 * P
    pages.entry(4, (transition_va >> 12) & 0x1FF, 0x50 * P | 0x800)
    prototype_va = VA_4K + 3 * P
    pages.entry(4, (prototype_va >> 12) & 0x1FF, 0x51 * P | 0x800 | 0x400)
    pages[0x50] = stamp(b"transition ")
    pages[0x51] = stamp(b"prototype ")
    frozen = {pfn: bytes(data) for pfn, data in pages.items()}
    path = str(tmp_path / "pcid.dmp")
    write_dump(path, arch="x64", dump_type="full", pages=frozen, dtb=P | 0x2, blobs=())
    with DumpFile(path) as dump:
        assert dump.dtb == P | 0x2
        assert dump.read(VA_4K, 8) == frozen[PFN_4K[0]][:8]
        assert dump.read(transition_va, 11) == b"transition "
        with pytest.raises(MemoryReadError):
            dump.read(prototype_va, 1)
    parser = kdmp_parser.KernelDumpParser(path)
    assert parser.directory_table_base == P
    assert parser.translate_virtual(VA_4K) == PFN_4K[0] * P


def test_x86_non_pae_full_dump(tmp_path):
    """PaeEnabled 0: 2-level tables of u32 entries, 4 MiB pages at the PDE."""
    pages = Pages()
    va, va_4m = 0x80123000, 0x80800000
    pages.entry(1, va >> 22, 2 * P | 3, size=4)
    pages.entry(2, (va >> 12) & 0x3FF, 0x20 * P | 3, size=4)
    pages.entry(1, va_4m >> 22, 0xC00000 | 0x83, size=4)
    pages[0x20] = stamp(b"non-PAE ")
    pages[0xC00000 // P + 1] = stamp(b"4M+1 ")
    frozen = {pfn: bytes(data) for pfn, data in pages.items()}
    path = str(tmp_path / "nopae.dmp")
    write_dump(path, arch="x86", dump_type="full", pages=frozen, dtb=P, blobs=BLOBS[:1])
    with open(path, "r+b") as f:
        f.seek(0x5C)
        f.write(b"\0")                                  # PaeEnabled = 0
    with DumpFile(path) as dump:
        assert dump.read(va + 3, 8) == frozen[0x20][3:11]
        assert dump.read(va_4m + P, 5) == b"4M+1 "
        with pytest.raises(MemoryReadError):
            dump.read(0x80400000, 4)
