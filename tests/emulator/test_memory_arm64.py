"""dmfemu.memory's ARM64 address space: real VMSAv8-64 translation tables (4 KiB granule, 48-bit VA, four
levels, 2 MiB blocks) checked by walking the table bytes by hand (tests/helpers/page_walks.py), the
ARM64 kernel pool, and DumpFile reading every mapped page back from ARM64 full and bitmap dumps."""
import struct

import pytest

from dmfkd.errors import MemoryReadError
from dmfkd.targets.dumpfile import DumpFile
from dmfkd.layouts.windows import PAGE_SIZE
from dmfemu.memory import ARM64_PTE_BASE, ARM64_SELF_MAP_INDEX, AddressSpace, PhysicalMemory
from dmfemu.pool import KernelPool

from helpers.arm64_dumps import write_arm64_dump
from helpers.page_walks import ARM64_OUTPUT_MASK, hand_walk_arm64, u64_at

KERNEL_VA = 0xFFFFA81234500000
AF, SH_INNER, PXN, UXN, WINDOWS_WRITABLE = 0x400, 0x300, 1 << 53, 1 << 54, 1 << 55


@pytest.fixture
def arm64():
    phys = PhysicalMemory()
    space = AddressSpace(phys, "arm64")
    return phys, space, KernelPool(space)


def descriptor(phys, table_pa, va, level):
    return u64_at(phys, table_pa + ((va >> (39 - 9 * level)) & 0x1FF) * 8)


def test_root_self_map(arm64):
    phys, space, _ = arm64
    assert space.pointer_size == 8 and space.dtb % PAGE_SIZE == 0
    entry = u64_at(phys, space.dtb + ARM64_SELF_MAP_INDEX * 8)
    # a valid table descriptor to the root itself, never executable (what MemProcFS looks for:
    # bits 1:0 = 0b11, bits 6:4 clear, PXN and UXN set)
    assert entry & ARM64_OUTPUT_MASK == space.dtb and entry & 3 == 3
    assert entry & 0x70 == 0 and entry & (PXN | UXN) == PXN | UXN
    assert ARM64_PTE_BASE == 0xFFFFA88000000000      # the real ARM64 dump's KDBG PteBase (slot 0x151)
    self_va = 0xFFFF000000000000 | sum(ARM64_SELF_MAP_INDEX << shift for shift in (39, 30, 21, 12))
    assert hand_walk_arm64(phys, space.dtb, self_va) == (space.dtb, "4K")
    assert space.read(self_va, PAGE_SIZE) == phys.read(space.dtb, PAGE_SIZE)


def test_translation_matches_hand_walk_and_descriptor_bits(arm64):
    phys, space, _ = arm64
    pa = phys.allocate_pages(5)
    space.map(KERNEL_VA, pa, 5 * PAGE_SIZE)
    for offset in (0, 0x123, PAGE_SIZE * 4 + 0xFFF):
        assert hand_walk_arm64(phys, space.dtb, KERNEL_VA + offset) == (pa + offset, "4K")
        assert space.translate(KERNEL_VA + offset) == pa + offset
    table = space.dtb
    for level in range(3):
        entry = descriptor(phys, table, KERNEL_VA, level)
        assert entry & 3 == 3 and entry >> 48 == 0        # table descriptor, no table attributes
        table = entry & ARM64_OUTPUT_MASK
    page = descriptor(phys, table, KERNEL_VA, 3)
    # kernel read/write data page: valid page, AF, inner shareable, AP = EL1 RW, never EL0 executable,
    # Windows' software Writable bit; nothing else
    assert page == pa | 0x3 | AF | SH_INNER | UXN | WINDOWS_WRITABLE


def test_kernel_and_user_halves_share_the_root(arm64):
    phys, space, _ = arm64
    user_va = 0x00007FF612340000
    pa_user, pa_kernel = phys.allocate_pages(1), phys.allocate_pages(1)
    space.map(user_va, pa_user, PAGE_SIZE)
    space.map(KERNEL_VA, pa_kernel, PAGE_SIZE)
    assert (user_va >> 39) & 0x1FF < 256 <= (KERNEL_VA >> 39) & 0x1FF
    assert hand_walk_arm64(phys, space.dtb, user_va)[0] == pa_user
    assert hand_walk_arm64(phys, space.dtb, KERNEL_VA)[0] == pa_kernel


def test_mapping_across_table_boundaries(arm64):
    phys, space, _ = arm64
    count = 600                                       # crosses an L3 table (512 entries)
    pa = phys.allocate_pages(count)
    va = 0xFFFFA8003FF00000 + 0xF0000                 # and an L1 entry (1 GiB) boundary
    space.map(va, pa, count * PAGE_SIZE)
    for i in (0, 15, 16, 17, 511, 512, count - 1):
        assert hand_walk_arm64(phys, space.dtb, va + i * PAGE_SIZE)[0] == pa + i * PAGE_SIZE


def test_2mib_blocks(arm64):
    phys, space, _ = arm64
    pa = phys.allocate_pages(1024, align_pages=512)
    va = 0xFFFFA80000400000
    space.map(va, pa, 0x400000, large=True)
    assert hand_walk_arm64(phys, space.dtb, va + 0x212345) == (pa + 0x212345, "2M")
    l1 = descriptor(phys, space.dtb, va, 0) & ARM64_OUTPUT_MASK
    l2 = descriptor(phys, l1, va, 1) & ARM64_OUTPUT_MASK
    assert descriptor(phys, l2, va, 2) == pa | 0x1 | AF | SH_INNER | UXN | WINDOWS_WRITABLE   # block: bits 1:0 = 0b01
    space.write(va + 0x1FFFFE, b"wxyz")              # spans the two blocks
    assert phys.read(pa + 0x1FFFFE, 4) == b"wxyz"
    with pytest.raises(ValueError):
        space.map(va, pa + 0x1000, 0x200000, large=True)           # unaligned PA
    with pytest.raises(ValueError):
        space.map(va + 0x1000, phys.allocate_pages(1), PAGE_SIZE)  # inside a block
    small = 0xFFFFA80000A00000
    space.map(small, phys.allocate_pages(1), PAGE_SIZE)
    with pytest.raises(ValueError):
        space.map(small, pa, 0x200000, large=True)                  # already an L3 table there


def test_reserved_descriptors_do_not_translate(arm64):
    phys, space, _ = arm64
    pa = phys.allocate_pages(2)
    space.map(KERNEL_VA, pa, 2 * PAGE_SIZE)
    assert space.translate(KERNEL_VA + PAGE_SIZE) == pa + PAGE_SIZE
    l1 = descriptor(phys, space.dtb, KERNEL_VA, 0) & ARM64_OUTPUT_MASK
    l2 = descriptor(phys, l1, KERNEL_VA, 1) & ARM64_OUTPUT_MASK
    l3 = descriptor(phys, l2, KERNEL_VA, 2) & ARM64_OUTPUT_MASK
    # bits[1:0] = 0b01 at L3 is reserved: the MMU faults, so the emulator's own walk must too
    entry_pa = l3 + (((KERNEL_VA + PAGE_SIZE) >> 12) & 0x1FF) * 8
    phys.write_u64(entry_pa, (pa + PAGE_SIZE) | 0x401)
    space.map(KERNEL_VA, pa, PAGE_SIZE)               # any map() flushes the translation cache
    assert space.walk(KERNEL_VA + PAGE_SIZE) is None
    with pytest.raises(MemoryReadError):
        space.read(KERNEL_VA + PAGE_SIZE, 4)
    # a "block" at L0 is reserved with a 4 KiB granule
    phys.write_u64(space.dtb + 0x1F0 * 8, 0x1 | AF)
    assert space.walk(0xFFFFF80000000000) is None


def test_non_canonical_and_unmapped(arm64):
    _, space, _ = arm64
    with pytest.raises(MemoryReadError) as info:
        space.read(0x0000800000000000, 8)
    assert "non-canonical" in str(info.value)
    with pytest.raises(MemoryReadError) as info:
        space.read(0xFFFFBBFF00000040, 16)
    assert info.value.address == 0xFFFFBBFF00000040 and info.value.size == 16


def test_pool_blocks_images_and_large_pages():
    phys = PhysicalMemory()
    space = AddressSpace(phys, "arm64")
    pool = KernelPool(space)
    assert pool.header_size == 16
    for size, tag in [(976, b"Dmf4"), (40, b"Dmf1"), (5000, b"RBMo")]:
        va = pool.allocate(size, tag)
        assert 0xFFFFBB8000000000 <= va < 0xFFFFBC0000000000 and va % 16 == 0
        word, raw_tag = struct.unpack("<I4s", phys.read(space.translate(va - 16), 8))
        assert raw_tag == tag == pool.tag_of(va)
        units = (word >> 16) & 0xFF                  # the x64 POOL_HEADER bitfield (BlockSize)
        assert word >> 24 == KernelPool.POOL_TYPE_NONPAGED
        if size + 16 <= PAGE_SIZE:
            assert units * 16 >= size + 16
    base = pool.map_image("dmfdemo", 0x3456)
    assert 0xFFFFF80000000000 <= base < 0xFFFFF88000000000
    space.write_ptr(base + 8, 0xFFFFBB8EB1690080)
    assert space.read_ptr(base + 8) == 0xFFFFBB8EB1690080
    large = KernelPool(AddressSpace(PhysicalMemory(), "arm64"), large_pages=True)
    va = large.allocate(100, b"Dmf6")
    assert hand_walk_arm64(large.phys, large.space.dtb, va)[1] == "2M"


@pytest.mark.parametrize("kind", ["full", "bitmap", "bitmap-kernel"])
@pytest.mark.parametrize("large_pages", [False, True], ids=["4k", "2m"])
def test_dump_reader_reads_every_mapped_page(tmp_path, kind, large_pages):
    """Every page the emulator maps (pool slabs, an image, a block of 4 KiB mappings, the self-map)
    reads back through DumpFile's translate_arm64 from a dump of the physical pages and the root."""
    phys = PhysicalMemory()
    space = AddressSpace(phys, "arm64")
    pool = KernelPool(space, large_pages=large_pages)
    mapped = []
    for i, size in enumerate((0x180, 0x2100, 0x30, 0x9000, 0x41000)):     # the last one: a slab of its own
        va = pool.allocate(size, tag=b"Dmf%d" % i)
        space.write(va, bytes((i * 37 + j) & 0xFF for j in range(size)))
        mapped += list(range((va - pool.header_size) & ~0xFFF, va + size, PAGE_SIZE))
    image = pool.map_image("dmfdemo", 0x6000)
    space.write(image, b"MZ" + bytes(range(256)) * 16)
    mapped += list(range(image, image + 0x6000, PAGE_SIZE))
    scattered = 0xFFFFBBF000000000
    frames = [phys.allocate_pages(1) for _ in range(3)]
    for i, frame in enumerate(reversed(frames)):
        space.map(scattered + i * PAGE_SIZE, frame, PAGE_SIZE)
        phys.write(frame, b"scattered %d" % i)
        mapped.append(scattered + i * PAGE_SIZE)
    mapped.append(0xFFFF000000000000 | sum(ARM64_SELF_MAP_INDEX << shift for shift in (39, 30, 21, 12)))  # the root
    path = tmp_path / ("arm64-%s.dmp" % kind)
    write_arm64_dump(path, kind, phys.snapshot(), dtb=space.dtb)
    with DumpFile(str(path)) as dump:
        assert dump.arch == "arm64"
        for va in mapped:
            assert dump.translate(va) == space.translate(va), hex(va)
            assert dump.read(va, PAGE_SIZE) == space.read(va, PAGE_SIZE), hex(va)
        with pytest.raises(MemoryReadError):
            dump.read(image - PAGE_SIZE, 8)          # the guard page below the image
