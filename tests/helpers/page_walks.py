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


ARM64_OUTPUT_MASK = 0x0000FFFFFFFFF000     # descriptor bits 47..12


def hand_walk_arm64(phys, root, va):
    """VMSAv8-64 stage-1 walk, 4 KiB granule, 48-bit VA, written out from the Arm ARM descriptor
    formats independently of AddressSpace.walk and dmfkd's translate_arm64: L0 and L3 accept only
    bits[1:0] = 0b11 (table / page), L1 and L2 also 0b01 (1 GiB / 2 MiB block)."""
    assert va >> 47 in (0, 0x1FFFF), "not a 48-bit sign-extended VA"
    l0 = u64_at(phys, (root & ARM64_OUTPUT_MASK) + ((va >> 39) & 0x1FF) * 8)
    assert l0 & 3 == 3, "L0 descriptor is not a table"
    l1 = u64_at(phys, (l0 & ARM64_OUTPUT_MASK) + ((va >> 30) & 0x1FF) * 8)
    assert l1 & 1, "L1 descriptor invalid"
    if l1 & 3 == 1:
        assert (l1 & ARM64_OUTPUT_MASK) % (1 << 30) == 0, "1 GiB block not aligned"
        return (l1 & ARM64_OUTPUT_MASK) + (va & 0x3FFFFFFF), "1G"
    l2 = u64_at(phys, (l1 & ARM64_OUTPUT_MASK) + ((va >> 21) & 0x1FF) * 8)
    assert l2 & 1, "L2 descriptor invalid"
    if l2 & 3 == 1:
        assert (l2 & ARM64_OUTPUT_MASK) % 0x200000 == 0, "2 MiB block not aligned"
        return (l2 & ARM64_OUTPUT_MASK) + (va & 0x1FFFFF), "2M"
    l3 = u64_at(phys, (l2 & ARM64_OUTPUT_MASK) + ((va >> 12) & 0x1FF) * 8)
    assert l3 & 3 == 3, "L3 descriptor is not a valid page"
    assert l3 & 0x400, "access flag clear: the first access would fault"
    return (l3 & ARM64_OUTPUT_MASK) + (va & 0xFFF), "4K"
