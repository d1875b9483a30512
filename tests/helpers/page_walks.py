"""Page-table walks written out by hand, independently of the emulator's and the reader's own walks."""
import struct

PFN_MASK = 0x000FFFFFFFFFF000


def u64_at(phys, pa):
    return struct.unpack("<Q", phys.read(pa, 8))[0]


def hand_walk_x64(phys, dtb, va):
    """spec/dump-format.md §4, written out independently of AddressSpace.walk."""
    pml4e = u64_at(phys, (dtb & ~0xFFF) + ((va >> 39) & 0x1FF) * 8)
    assert pml4e & 1, "PML4E not present"
    pdpte = u64_at(phys, (pml4e & PFN_MASK) + ((va >> 30) & 0x1FF) * 8)
    assert pdpte & 1, "PDPTE not present"
    assert not pdpte & 0x80
    pde = u64_at(phys, (pdpte & PFN_MASK) + ((va >> 21) & 0x1FF) * 8)
    assert pde & 1, "PDE not present"
    if pde & 0x80:
        # 2 MiB page: the base must itself be 2 MiB aligned (kdmp-parser does not mask it)
        assert (pde & PFN_MASK) % 0x200000 == 0
        return (pde & PFN_MASK) + (va & 0x1FFFFF), "2M"
    pte = u64_at(phys, (pde & PFN_MASK) + ((va >> 12) & 0x1FF) * 8)
    assert pte & 1, "PTE not present"
    return (pte & PFN_MASK) + (va & 0xFFF), "4K"


def hand_walk_pae(phys, cr3, va):
    pdpte = u64_at(phys, cr3 + ((va >> 30) & 3) * 8)
    assert pdpte & 1
    # bits 1, 2, 5-8 are reserved in a PAE PDPTE: a real CPU faults on them
    assert pdpte & 0x1E6 == 0
    pde = u64_at(phys, (pdpte & PFN_MASK) + ((va >> 21) & 0x1FF) * 8)
    assert pde & 1
    if pde & 0x80:
        return (pde & PFN_MASK) + (va & 0x1FFFFF), "2M"
    pte = u64_at(phys, (pde & PFN_MASK) + ((va >> 12) & 0x1FF) * 8)
    assert pte & 1
    return (pte & PFN_MASK) + (va & 0xFFF), "4K"
