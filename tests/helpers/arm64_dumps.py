"""Synthetic ARM64 (MachineImageType 0xAA64) full and bitmap dumps, built straight from the layouts in
dmfkd.layouts.dump_format (dmfemu's dump writer writes x64 and x86 only, for now), and hand-built
ARM64 translation tables for them, written from the Arm ARM descriptor formats."""
import struct

from dmfemu.dumpwriter import blob_region
from dmfkd.layouts import dump_format

P = 0x1000

# descriptor bits (Arm ARM VMSAv8-64, 4 KiB granule)
TABLE = 0x3                 # valid + table (L0-L2) / page (L3)
BLOCK = 0x1                 # valid + block (L1: 1 GiB, L2: 2 MiB)
AF = 0x400                  # access flag
SH_INNER = 0x300
UXN = 1 << 54
PXN = 1 << 53
CONTIGUOUS = 1 << 52        # a TLB hint only: the output address is still the entry's own
PAGE_RW = TABLE | AF | SH_INNER | UXN | PXN
BLOCK_RW = BLOCK | AF | SH_INNER | UXN | PXN

ROOT_PFN = 1
VA_4K = 0xFFFFF80312345000          # two 4 KiB pages, physically apart; the second with the contiguous hint
VA_2M = 0xFFFFF80340000000          # a 2 MiB block at PA 0x200000
VA_1G = 0xFFFFF88000000000          # a 1 GiB block at PA 0x40000000
VA_TRANSITION = VA_4K + 2 * P       # a Windows transition PTE (bit 11 set, bits 10 and 0 clear)
VA_RESERVED_L3 = VA_4K + 3 * P      # bits[1:0] = 0b01 at L3: reserved, the MMU faults
VA_USER = 0x00007FF612340000        # user half of the same root (entries 0..255)
PFN_4K = (0x10, 0x31)
PFN_TRANSITION = 0x33
PFN_RESERVED = 0x34
PFN_USER = 0x35
PA_2M = 0x200000
PA_1G = 0x40000000

CONTEXT = dict(X=list(range(100, 129)), Fp=VA_4K + 0x900, Lr=0xFFFFF80312345400, Sp=VA_4K + 0x800,
               Pc=0xFFFFF80312345678, Cpsr=0x60000005)
BUGCHECK = (0xDEADDEAD, 0x11, 0x22, 0x33, 0x44)


def stamp(tag: bytes) -> bytes:
    return (tag * (P // len(tag) + 1))[:P]


class Tables(dict):
    """{pfn: bytearray} with descriptor writes by table PFN and index."""

    def entry(self, table_pfn, index, value):
        struct.pack_into("<Q", self.setdefault(table_pfn, bytearray(P)), index * 8, value)


def index(va, level):
    return (va >> (39 - 9 * level)) & 0x1FF


def arm64_pages():
    """Root (L0) at PFN 1, kernel 4 KiB pages through L1 (2), L2 (3), L3 (4); a 2 MiB block in a
    second L2 (6), a 1 GiB block in a second L1 (5); a user page through its own L1/L2/L3 (7, 8, 9).
    Data pages carry their own names."""
    pages = Tables()
    l1, l2, l3, l1_hi, l2_block = 2, 3, 4, 5, 6
    pages.entry(ROOT_PFN, index(VA_4K, 0), l1 * P | TABLE | AF)
    pages.entry(l1, index(VA_4K, 1), l2 * P | TABLE | AF)
    pages.entry(l2, index(VA_4K, 2), l3 * P | TABLE | AF)
    pages.entry(l3, index(VA_4K, 3), PFN_4K[0] * P | PAGE_RW)
    pages.entry(l3, index(VA_4K, 3) + 1, PFN_4K[1] * P | PAGE_RW | CONTIGUOUS)
    pages.entry(l3, index(VA_TRANSITION, 3), PFN_TRANSITION * P | 0x800 | (6 << 1))
    pages.entry(l3, index(VA_RESERVED_L3, 3), PFN_RESERVED * P | BLOCK_RW)
    assert index(VA_2M, 1) != index(VA_4K, 1) and index(VA_2M, 0) == index(VA_4K, 0)
    pages.entry(l1, index(VA_2M, 1), l2_block * P | TABLE | AF)
    pages.entry(l2_block, index(VA_2M, 2), PA_2M | BLOCK_RW)
    assert index(VA_1G, 0) != index(VA_4K, 0)
    pages.entry(ROOT_PFN, index(VA_1G, 0), l1_hi * P | TABLE | AF)
    pages.entry(l1_hi, index(VA_1G, 1), PA_1G | BLOCK_RW)
    pages.entry(ROOT_PFN, index(VA_USER, 0), 7 * P | TABLE | AF)
    pages.entry(7, index(VA_USER, 1), 8 * P | TABLE | AF)
    pages.entry(8, index(VA_USER, 2), 9 * P | TABLE | AF)
    pages.entry(9, index(VA_USER, 3), PFN_USER * P | TABLE | AF | 0x40)     # AP[1]: EL0 access
    pages[PFN_4K[0]] = stamp(b"4K-page-zero ")
    pages[PFN_4K[1]] = stamp(b"4K-page-one ")
    pages[PFN_TRANSITION] = stamp(b"transition ")
    pages[PFN_RESERVED] = stamp(b"reserved-l3 ")
    pages[PFN_USER] = stamp(b"user ")
    pages[PA_2M // P + 3] = stamp(b"2M+3 ")
    pages[PA_1G // P + 5] = stamp(b"1G+5 ")
    return {pfn: bytes(data) for pfn, data in pages.items()}


def context_record(context=None) -> bytes:
    raw = dump_format.CONTEXT_ARM64.build(dict(context or {}))
    fill = dump_format.PAGE * (dump_format.CONTEXT_RECORD64_SIZE // 4 + 1)
    return raw + fill[:dump_format.CONTEXT_RECORD64_SIZE - len(raw)]


def _pfns_and_page(pages):
    if hasattr(pages, "present_pfns"):
        return sorted(pages.present_pfns()), pages.page
    return sorted(pages), pages.__getitem__


def _runs(pfns):
    runs = []
    for pfn in pfns:
        if runs and runs[-1][0] + runs[-1][1] == pfn:
            runs[-1][1] += 1
        else:
            runs.append([pfn, 1])
    return runs


def write_arm64_dump(path, dump_type, pages, dtb=ROOT_PFN * P, blobs=(), context=CONTEXT, bugcheck=BUGCHECK,
                     build=22000, kdbg_va=0, ps_loaded_module_list=0, ps_active_process_head=0):
    """Write an ARM64 dump of `dump_type` "full" (1), "bitmap" (5) or "bitmap-kernel" (6) holding
    `pages` ({pfn: 4096 bytes} or a dmfemu PhysicalSnapshot); returns the file size."""
    pfns, page = _pfns_and_page(pages)
    runs = _runs(pfns)
    assert len(runs) <= dump_format.MAX_RUNS64
    region = blob_region(blobs, build)
    fields = context_record(context)
    pc = dump_format.CONTEXT_ARM64.parse(fields).Pc
    header = dict(
        MajorVersion=0xF, MinorVersion=build, DirectoryTableBase=dtb, PfnDataBase=0xFFFFDE0000000000,
        PsLoadedModuleList=ps_loaded_module_list, PsActiveProcessHead=ps_active_process_head,
        MachineImageType=dump_format.MACHINE_ARM64,
        NumberProcessors=1, BugCheckCode=bugcheck[0], BugCheckParameter1=bugcheck[1],
        BugCheckParameter2=bugcheck[2], BugCheckParameter3=bugcheck[3], BugCheckParameter4=bugcheck[4],
        KdDebuggerDataBlock=kdbg_va, ContextRecord=fields,
        Exception=dict(ExceptionCode=dump_format.STATUS_BREAKPOINT, ExceptionFlags=1, ExceptionRecord=0,
                       ExceptionAddress=pc, NumberParameters=0, _pad=0, ExceptionInformation=[0] * 15),
        DumpType={"full": 1, "bitmap": 5, "bitmap-kernel": 6}[dump_type], SystemTime=133485408000000000,
        SystemUpTime=6000000000, SecondaryDataState=0, ProductType=1, SuiteMask=0x110, WriterStatus=0,
        KdSecondaryVersion=0,
        PhysicalMemoryBlock=dict(NumberOfRuns=len(runs), NumberOfPages=len(pfns),
                                 Run=[dict(BasePage=b, PageCount=c) for b, c in runs]
                                 + dump_format.unused_runs(dump_format.MAX_RUNS64 - len(runs))))
    if dump_type == "full":
        body_start = dump_format.HEADER64_SIZE
        head = b""
    else:
        bits = -(-(pfns[-1] + 1) // 64) * 64
        bitmap = bytearray(bits // 8)
        for pfn in pfns:
            bitmap[pfn >> 3] |= 1 << (pfn & 7)
        body_start = -(-(dump_format.HEADER64_SIZE + dump_format.BITMAP_HEADER_SIZE + len(bitmap)) // P) * P
        head = dump_format.BITMAP_DUMP_HEADER.build(dict(FirstPage=body_start, TotalPresentPages=len(pfns),
                                                         Pages=bits)) + bytes(bitmap)
    size = body_start + P * len(pfns) + len(region)
    header["RequiredDumpSpace"] = size
    with open(str(path), "wb") as out:
        out.write(dump_format.DUMP_HEADER64.build(header))
        out.write(head.ljust(body_start - dump_format.HEADER64_SIZE, b"\0"))
        for pfn in pfns:                # run order = ascending PFN for both bodies
            out.write(bytes(page(pfn)))
        out.write(region)
    return size
