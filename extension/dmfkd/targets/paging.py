"""Kernel virtual -> physical translation through the page tables stored in a dump.

One function per paging format, each reading table entries through a callback (`read_u64(pa)` /
`read_u32(pa)` returns the entry, or None when that physical address is not in the dump) and
returning the physical address, or None when the VA is not mapped. DumpFile picks the walk by the
dump's architecture; dmfemu.dumpwriter uses the same walks to copy memory into triage dumps.

Every walk has a fixed number of levels, so hostile entries (a table pointing at itself or at an
ancestor, output addresses past the end of memory) end in a wrong or missing page, never a loop.
"""
from typing import Callable, Optional

ReadEntry = Callable[[int], Optional[int]]

X64_PFN_MASK = 0x000FFFFFFFFFF000      # entry bits 51..12 (spec/dump-format.md §4)
ARM64_OUTPUT_MASK = 0x0000FFFFFFFFF000  # descriptor bits 47..12: the output address (48-bit PA)


# -- x64 and x86 (spec/dump-format.md §4) -----------------------------------------------------------

def translate_x64(read_u64: ReadEntry, dtb: int, va: int) -> Optional[int]:
    """x64 4-level walk (2 MiB and 1 GiB pages; transition PTEs count as present, like vol3).
    `read_u64(pa)` returns the entry or None. Returns the PA or None when not mapped."""
    if va < 0 or va >= 1 << 64:
        return None
    top = va >> 47
    if top not in (0, 0x1FFFF):         # non-canonical
        return None
    table = dtb & X64_PFN_MASK
    for level, shift in enumerate((39, 30, 21, 12)):
        entry = read_u64(table + ((va >> shift) & 0x1FF) * 8)
        if entry is None:
            return None
        if not entry & 1:
            # Windows transition PTE: not present, bit 11 set, bit 10 (prototype) clear (§4)
            if level == 3 and entry & 0x800 and not entry & 0x400:
                return (entry & X64_PFN_MASK) | (va & 0xFFF)
            return None
        if level in (1, 2) and entry & 0x80:
            size_mask = (1 << shift) - 1
            return ((entry & X64_PFN_MASK) & ~size_mask) | (va & size_mask)
        table = entry & X64_PFN_MASK
    return table | (va & 0xFFF)


def translate_pae(read_u64: ReadEntry, dtb: int, va: int) -> Optional[int]:
    """x86 PAE walk: 4-entry PDPT at CR3 & ~0x1F, PD, PT; 2 MiB pages at the PDE."""
    if va < 0 or va >= 1 << 32:
        return None
    pdpte = read_u64((dtb & 0xFFFFFFE0) + (va >> 30) * 8)
    if pdpte is None or not pdpte & 1:
        return None
    pde = read_u64((pdpte & X64_PFN_MASK) + ((va >> 21) & 0x1FF) * 8)
    if pde is None or not pde & 1:
        return None
    if pde & 0x80:
        return ((pde & X64_PFN_MASK) & ~0x1FFFFF) | (va & 0x1FFFFF)
    pte = read_u64((pde & X64_PFN_MASK) + ((va >> 12) & 0x1FF) * 8)
    if pte is None:
        return None
    if not pte & 1 and not (pte & 0x800 and not pte & 0x400):
        return None
    return (pte & X64_PFN_MASK) | (va & 0xFFF)


def translate_x86(read_u32: ReadEntry, dtb: int, va: int) -> Optional[int]:
    """x86 non-PAE 2-level walk (4 MiB pages at the PDE)."""
    if va < 0 or va >= 1 << 32:
        return None
    pde = read_u32((dtb & 0xFFFFF000) + (va >> 22) * 4)
    if pde is None or not pde & 1:
        return None
    if pde & 0x80:
        return (pde & 0xFFC00000) | (va & 0x3FFFFF)
    pte = read_u32((pde & 0xFFFFF000) + ((va >> 12) & 0x3FF) * 4)
    if pte is None or not pte & 1:
        return None
    return (pte & 0xFFFFF000) | (va & 0xFFF)


# -- ARM64 (Windows on ARM) -------------------------------------------------------------------------
#
# What Windows does, and where that comes from:
# - One 4 KiB root table of 512 entries serves both halves of the address space: user VAs use entries
#   0..255, kernel VAs 256..511, indexed by VA[47:39] like x64's PML4. The dump header's
#   DirectoryTableBase is that root's physical address (page aligned; the real Windows 11 22000 ARM64
#   triage dump in tests/data says 0x946aa000). Sources: MemProcFS vmm/mm/mm_arm64.c (ufrisk) walks
#   kernel and user VAs from the one process DTB with index (va >> 39) & 0x1ff and expects a
#   self-referencing entry in it; memflow issue #11 ("ARM supports splitting page tables between
#   usermode and supervisor, but Windows currently does not make use of the feature"); a Windows 11
#   ARM64 TCR_EL1 quoted in volatility3 issue #161 (0x00000605b5513511: T0SZ = T1SZ = 17, i.e. two
#   47-bit halves, TG0/TG1 = 4 KiB, IPS = 48-bit physical addresses) is consistent with TTBR0 at the
#   root and TTBR1 at its upper half (root + 0x800), which is the same 512-entry view. Microsoft's
#   dbgeng 10.0.15063 reads kernel and user VAs of an ARM64 dump through that one root too
#   (tests/oracle/test_dbgeng_arm64.py).
# - Descriptors are the VMSAv8-64 ones for a 4 KiB granule (Arm ARM, "VMSAv8-64 translation table
#   format descriptors"): bit 0 valid; bits 1:0 = 0b11 is a table at L0-L2 and a page at L3, 0b01 a
#   block at L1 (1 GiB) and L2 (2 MiB); 0b01 at L0 (no FEAT_LPA2 here) and at L3 is invalid. The output
#   address is bits 47:12. Windows' own view of a valid entry agrees (nt!_MMPTE_HARDWARE on ARM64,
#   ntdiff/headers ARM64 ntoskrnl: Valid bit 0, NotLargePage bit 1, PageFrameNumber bits 47:12).
#   dbgeng agrees on every case tested except 0b01 at L3, which it reads as a page; the MMU would fault
#   there, so dmfkd says unreadable (Windows sets NotLargePage on every valid PTE: only a corrupt table
#   has such an entry).
# - Transition PTE (page still in RAM, not valid): nt!_MMPTE_TRANSITION on ARM64 has Valid bit 0 = 0,
#   Prototype bit 10 = 0, Transition bit 11 = 1, PageFrameNumber bits 47:12 - the same test as x64
#   (MemProcFS: (pte & 0xc01) == 0x800 at the last level). Like the x64 walk, it counts as present.
#
# Not supported (not used by Windows on ARM64, or not needed to read a crash dump):
# - 16 KiB and 64 KiB granules, 52-bit VAs or PAs (FEAT_LPA/LPA2: output bits 51:48), L0 blocks;
# - tagged addresses (TBI): the top byte is part of the address, so bits 63:47 must all be equal;
# - permissions and attributes (AP, UXN/PXN, AF, the contiguous hint bit 52, table attributes):
#   a debugger reads a page whatever its permissions, and the contiguous hint only tells a TLB that
#   16 neighbouring entries agree - each entry still carries its own output address;
# - separate TTBR0/TTBR1 roots and stage-2 (hypervisor) translation.

ARM64_VALID = 0x1
ARM64_TABLE_OR_PAGE = 0x2               # bits 1:0 = 0b11 table (L0-L2) / page (L3), 0b01 block (L1, L2)


def translate_arm64(read_u64: ReadEntry, dtb: int, va: int) -> Optional[int]:
    """ARM64 4-level walk, 4 KiB granule, 48-bit VA (L0 VA[47:39] .. L3 VA[20:12]); 1 GiB blocks at
    L1 and 2 MiB blocks at L2; a Windows transition PTE at L3 counts as present. `read_u64(pa)`
    returns the descriptor or None. Returns the PA or None when not mapped. 16/64 KiB granules,
    52-bit addresses and TBI are not supported (see the notes above)."""
    if va < 0 or va >= 1 << 64:
        return None
    if (va >> 47) not in (0, 0x1FFFF):     # not a 48-bit sign-extended address: no TTBR covers it
        return None
    table = dtb & ARM64_OUTPUT_MASK
    for level, shift in enumerate((39, 30, 21, 12)):
        entry = read_u64(table + ((va >> shift) & 0x1FF) * 8)
        if entry is None:
            return None
        if not entry & ARM64_VALID:
            # Windows transition PTE: bit 11 (transition) set, bit 10 (prototype) clear
            if level == 3 and entry & 0xC00 == 0x800:
                return (entry & ARM64_OUTPUT_MASK) | (va & 0xFFF)
            return None
        if not entry & ARM64_TABLE_OR_PAGE:
            if level in (1, 2):         # block: output address bits below the block size are RES0
                size_mask = (1 << shift) - 1
                return (entry & ARM64_OUTPUT_MASK & ~size_mask) | (va & size_mask)
            return None                 # a block at L0 / 0b01 at L3: reserved, the MMU faults
        table = entry & ARM64_OUTPUT_MASK
    return table | (va & 0xFFF)

