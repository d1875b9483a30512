"""dmfemu.pool: pool blocks behind POOL_HEADERs with their tags (read back through the page tables),
alignment, large pages, image regions."""
import struct

import pytest

from dmfkd.layouts.windows import PAGE_SIZE
from dmfemu.memory import AddressSpace, PhysicalMemory
from dmfemu.pool import KernelPool
from helpers.page_walks import hand_walk_x64


@pytest.mark.parametrize("arch, header, lo, hi", [
    ("x64", 16, 0xFFFFE00000000000, 0xFFFFE08000000000),
    ("x86", 8, 0x80000000, 0xC0000000),
])
def test_pool_blocks_and_tags(arch, header, lo, hi):
    phys = PhysicalMemory()
    space = AddressSpace(phys, arch)
    pool = KernelPool(space)
    blocks = [(pool.allocate(size, tag), size, tag) for size, tag in
              [(976, b"Dmf4"), (40, b"Dmf1"), (5000, b"RBMo"), (3000, b"CDMo"), (24, b"Dmf0")]]
    for va, size, tag in blocks:
        assert lo <= va < hi
        assert va % 16 == 0
        assert pool.tag_of(va) == tag
        assert pool.tag_of(va + size - 1) == tag
        header_pa = space.translate(va - header)
        assert phys.read(header_pa + 4, 4) == tag   # the tag as `!pool` prints it
        word = struct.unpack("<I", phys.read(header_pa, 4))[0]
        units = (word >> 16) & (0xFF if arch == "x64" else 0x1FF)     # BlockSize bitfield
        if header + size <= PAGE_SIZE:
            assert units * header >= header + size
            assert (va - header) // PAGE_SIZE == (va + size - 1) // PAGE_SIZE   # no straddling
        # physically contiguous: one view covers the block
        assert len(space.view(va, size)) == size
        assert space.read(va, size) == bytes(size)
    starts = sorted(va for va, _, _ in blocks)
    ends = {va: va + size for va, size, _ in blocks}
    for a, b in zip(starts, starts[1:]):
        assert ends[a] + header <= b                 # no overlap, room for the next header
    with pytest.raises(ValueError):
        pool.tag_of(lo + 0x7000000)


def test_pool_alignment_and_large_pages():
    phys = PhysicalMemory()
    space = AddressSpace(phys, "x64")
    pool = KernelPool(space, large_pages=True)
    va = pool.allocate(100, b"Dmf6", align=64)
    assert va % 64 == 0 and pool.tag_of(va) == b"Dmf6"
    _, kind = hand_walk_x64(phys, space.dtb, va)
    assert kind == "2M"


def test_map_image():
    phys = PhysicalMemory()
    space = AddressSpace(phys, "x64")
    pool = KernelPool(space)
    base = pool.map_image("dmfdemo", 0x3456)
    other = pool.map_image("nt", 0x1000)
    assert base >= 0xFFFFF80000000000 and base % PAGE_SIZE == 0
    assert other >= base + 0x4000
    space.write(base + 0x3450, b"global")
    assert space.read(base + 0x3450, 6) == b"global"
    assert pool.images["dmfdemo"] == (base, 0x3456)
    with pytest.raises(ValueError):
        pool.map_image("dmfdemo", 0x1000)


def test_page_aligned_pool_block():
    phys = PhysicalMemory()
    space = AddressSpace(phys, "x64")
    pool = KernelPool(space)
    pool.allocate(100)
    va = pool.allocate(PAGE_SIZE, tag=b"Emu0", align=PAGE_SIZE)
    assert va % PAGE_SIZE == 0 and pool.tag_of(va) == b"Emu0"
    space.view(va, PAGE_SIZE)[:] = b"\x5a" * PAGE_SIZE
    assert phys.read(space.translate(va), PAGE_SIZE) == b"\x5a" * PAGE_SIZE
    assert phys.read(space.translate(va - 16) + 4, 4) == b"Emu0"
