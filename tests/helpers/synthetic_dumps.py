"""Hand-built x64 page tables and a synthetic dump writer call shared by the dump-file tests and the dbgeng oracle."""
import struct
import uuid

from dmfemu.dumpwriter import write_dump

P = 0x1000
PRESENT_RW = 0x3
LARGE = 0x80

VA_4K = 0xFFFFF80012345000          # two 4 KiB pages, physically apart
VA_2M = 0xFFFFF80040000000          # a 2 MiB page at PA 0x200000
VA_1G = 0xFFFFF88000000000          # a 1 GiB page at PA 0x40000000
PFN_4K = (0x10, 0x31)
PA_2M = 0x200000
PA_1G = 0x40000000

GUID_A = uuid.UUID("f4a58486-fd91-4bf9-96bc-dda5cf571edf")
GUID_B = uuid.UUID("11111111-2222-3333-4444-555555555555")
BLOBS = [(GUID_A, b"first copy"), (uuid.UUID(int=0), b""), (GUID_B, bytes(range(256)) * 16 + b"xyz"),
         (GUID_A, b"second copy, hidden")]


def stamp(tag: bytes) -> bytes:
    return (tag * (P // len(tag) + 1))[:P]


class Pages(dict):
    def table(self, pfn):
        if pfn not in self:
            self[pfn] = bytearray(P)
        return self[pfn]

    def entry(self, table_pfn, index, value, size=8):
        struct.pack_into("<Q" if size == 8 else "<I", self.table(table_pfn), index * size, value)


def x64_pages():
    """DTB at PFN 1; PML4 -> PDPT (PFN 2) -> PD (PFN 3) -> PT (PFN 4) for the 4 KiB pages; a 2 MiB PDE
    and a 1 GiB PDPTE (second PDPT at PFN 5); data pages stamped with their own names."""
    pages = Pages()
    pml4, pdpt, pd, pt, pdpt_hi = 1, 2, 3, 4, 5
    pages.entry(pml4, (VA_4K >> 39) & 0x1FF, pdpt * P | PRESENT_RW)
    pages.entry(pdpt, (VA_4K >> 30) & 0x1FF, pd * P | PRESENT_RW)
    pages.entry(pd, (VA_4K >> 21) & 0x1FF, pt * P | PRESENT_RW)
    pages.entry(pt, (VA_4K >> 12) & 0x1FF, PFN_4K[0] * P | PRESENT_RW)
    pages.entry(pt, ((VA_4K >> 12) + 1) & 0x1FF, PFN_4K[1] * P | PRESENT_RW | (1 << 63))   # NX set
    assert (VA_2M >> 30) & 0x1FF != (VA_4K >> 30) & 0x1FF
    pd2 = 6
    pages.entry(pdpt, (VA_2M >> 30) & 0x1FF, pd2 * P | PRESENT_RW)
    pages.entry(pd2, (VA_2M >> 21) & 0x1FF, PA_2M | PRESENT_RW | LARGE)
    pages.entry(pml4, (VA_1G >> 39) & 0x1FF, pdpt_hi * P | PRESENT_RW)
    pages.entry(pdpt_hi, (VA_1G >> 30) & 0x1FF, PA_1G | PRESENT_RW | LARGE)
    pages[PFN_4K[0]] = stamp(b"4K-page-zero ")
    pages[PFN_4K[1]] = stamp(b"4K-page-one ")
    pages[PA_2M // P + 3] = stamp(b"2M+3 ")
    pages[PA_1G // P + 5] = stamp(b"1G+5 ")
    return {pfn: bytes(data) for pfn, data in pages.items()}


CONTEXT = dict(Rip=0xFFFFF80012345678, Rsp=VA_4K + 0x800, Rax=0x1234, MxCsr=0x1F80)
BUGCHECK = (0xDEADDEAD, 0x11, 0x22, 0x33, 0x44)


def write_x64(path, dump_type, pages=None, blobs=BLOBS):
    pages = x64_pages() if pages is None else pages
    size = write_dump(str(path), arch="x64", dump_type=dump_type, pages=pages, dtb=P, bugcheck=BUGCHECK,
                      blobs=blobs, build=19041, kdbg_va=VA_4K + 0x100, ps_loaded_module_list=VA_4K + 0x200,
                      ps_active_process_head=VA_4K + 0x300, context=CONTEXT, processors=4)
    return size, pages
