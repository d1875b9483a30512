"""dmfkd.targets.paging.translate_arm64 on hand-written descriptors: the expected addresses follow from
the Arm ARM's VMSAv8-64 descriptor formats (4 KiB granule, 48-bit VA) and Windows' nt!_MMPTE_TRANSITION
on ARM64 (Valid bit 0, Prototype bit 10, Transition bit 11, PageFrameNumber bits 47:12)."""
import pytest

from dmfkd.targets.paging import translate_arm64

P = 0x1000
ROOT = 0x1000
VA = 0xFFFF8A1234567ABC              # L0 index 0x114, L1 0x48, L2 0x1A2, L3 0x167, offset 0xABC
IDX = (0x114, 0x48, 0x1A2, 0x167)


def test_indices_of_the_sample_address():
    assert [(VA >> shift) & 0x1FF for shift in (39, 30, 21, 12)] == list(IDX) and VA & 0xFFF == 0xABC


class Memory(dict):
    """Physical u64s by address; a missing address is "not in the dump" (None)."""

    def table(self, pa, index, value):
        self[pa + index * 8] = value

    def read_u64(self, pa):
        return self.get(pa)


def chain(l3_entry, upper_bits=0):
    """Root -> L1 (0x2000) -> L2 (0x3000) -> L3 (0x4000) tables for VA, with `l3_entry` at L3."""
    memory = Memory()
    memory.table(ROOT, IDX[0], 0x2000 | 0x3 | upper_bits)
    memory.table(0x2000, IDX[1], 0x3000 | 0x3 | upper_bits)
    memory.table(0x3000, IDX[2], 0x4000 | 0x3 | upper_bits)
    memory.table(0x4000, IDX[3], l3_entry)
    return memory


def walk(memory, va=VA, dtb=ROOT):
    return translate_arm64(memory.read_u64, dtb, va)


def test_page_descriptor_output_address_bits_47_to_12():
    # attribute bits around the output address (AF, SH, AP, nG, UXN/PXN, Windows' software bits 55-58,
    # contiguous hint 52) do not change the address
    attributes = 0x400 | 0x300 | 0x40 | 0x800 | (1 << 52) | (1 << 53) | (1 << 54) | (0xF << 55)
    memory = chain(0x0000_8765_4321_0000 | 0x3 | attributes)
    assert walk(memory) == 0x0000_8765_4321_0ABC
    # bits 51:48 (52-bit output addresses, not supported) are not address bits here
    memory = chain(0x000F_0000_1234_5000 | 0x3)
    assert walk(memory) == 0x1234_5ABC


def test_table_descriptor_attributes_are_not_address_bits():
    # APTable/UXNTable/PXNTable/NSTable (bits 59-63) set on every table descriptor
    memory = chain(0x9000 | 0x403, upper_bits=0xF8 << 56)
    assert walk(memory) == 0x9ABC


def test_dtb_low_bits_ignored():
    memory = chain(0x9000 | 0x403)
    assert walk(memory, dtb=ROOT | 0x800 | 0x1) == 0x9ABC


@pytest.mark.parametrize("level, shift, block_pa, expected", [
    (1, 30, 0x0000_0040_0000_0000, 0x0000_0040_0000_0000 | (VA & 0x3FFFFFFF)),   # 1 GiB
    (2, 21, 0x0000_0000_8020_0000, 0x0000_0000_8020_0000 | (VA & 0x1FFFFF)),     # 2 MiB
])
def test_blocks_at_l1_and_l2(level, shift, block_pa, expected):
    memory = Memory()
    tables = [ROOT, 0x2000, 0x3000]
    for i in range(level):
        memory.table(tables[i], IDX[i], tables[i + 1] | 0x3)
    memory.table(tables[level], IDX[level], block_pa | 0x401)
    assert walk(memory) == expected
    # output bits below the block size are RES0: they do not move the block
    memory.table(tables[level], IDX[level], block_pa | 0x1FF000 | 0x401)
    assert walk(memory) == expected


def test_block_at_l0_and_0b01_at_l3_are_reserved():
    memory = Memory()
    memory.table(ROOT, IDX[0], 0x0000_0080_0000_0000 | 0x401)   # "512 GiB block": not with a 4 KiB granule
    assert walk(memory) is None
    assert walk(chain(0x9000 | 0x401)) is None                    # bits[1:0] = 0b01 at L3


def test_invalid_descriptors_and_windows_transition_pte():
    assert walk(chain(0x9000 | 0x402)) is None                    # valid bit clear
    assert walk(chain(0x0)) is None
    # nt!_MMPTE_TRANSITION: Valid 0, Protection 4 (bits 1-5), Prototype 0, Transition 1, PFN 0x9
    assert walk(chain(0x9000 | 0x800 | (4 << 1))) == 0x9ABC
    assert walk(chain(0x9000 | 0x800 | 0x400)) is None            # prototype PTE: not resolvable here
    assert walk(chain(0x9000 | 0x400)) is None                    # software PTE (paged out)
    # a transition-looking entry above the last level is just invalid
    memory = chain(0x9000 | 0x403)
    memory.table(0x3000, IDX[2], 0x4000 | 0x800)
    assert walk(memory) is None


def test_addresses_outside_the_48_bit_halves():
    memory = chain(0x9000 | 0x403)
    for va in (VA & ~(1 << 63), 0x0000_8000_0000_0000, 0xFFFF_0000_0000_0000 | (VA & 0x7FFF_FFFF_FFFF),
               -1, 1 << 64, 0x00FF_8A12_3456_7ABC):     # the last: a tagged pointer (TBI not supported)
        assert walk(memory, va) is None


def test_user_half_shares_the_root():
    memory = Memory()
    va = 0x0000_7FF6_1234_5678
    memory.table(ROOT, (va >> 39) & 0x1FF, 0x2000 | 0x3)
    memory.table(0x2000, (va >> 30) & 0x1FF, 0x3000 | 0x3)
    memory.table(0x3000, (va >> 21) & 0x1FF, 0x4000 | 0x3)
    memory.table(0x4000, (va >> 12) & 0x1FF, 0x7000 | 0x443)
    assert (va >> 39) & 0x1FF < 256 <= IDX[0]
    assert walk(memory, va) == 0x7678


def test_missing_tables_and_loops_end():
    assert walk(Memory()) is None                                 # the root is not in the dump
    memory = Memory()
    memory.table(ROOT, IDX[0], 0x2000 | 0x3)                      # L1 table absent
    assert walk(memory) is None
    # every level points back at the root: four reads, then the root is taken as the page
    memory = Memory()
    for index in IDX:
        memory.table(ROOT, index, ROOT | 0x3)
    reads = []

    def counting(pa):
        reads.append(pa)
        return memory.read_u64(pa)

    assert translate_arm64(counting, ROOT, VA) == ROOT | 0xABC
    assert len(reads) == 4
