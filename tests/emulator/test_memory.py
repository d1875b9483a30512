"""dmfemu.memory: physical RAM, page tables (checked by walking the table bytes by hand, per
spec/dump-format.md §4 and the Intel PAE format), snapshots. The kernel pool on top: test_pool.py."""
import struct

import pytest

from dmfkd.errors import MemoryReadError
from dmfkd.layouts.windows import PAGE_SIZE
from dmfemu.memory import AddressSpace, PhysicalMemory, X64_SELF_MAP_INDEX
from dmfemu.pool import KernelPool
from helpers.page_walks import PFN_MASK, hand_walk_pae, hand_walk_x64, u64_at  # noqa: F401


@pytest.fixture
def x64():
    phys = PhysicalMemory()
    space = AddressSpace(phys, "x64")
    return phys, space, KernelPool(space)


# -- physical memory ---------------------------------------------------------------------------
def test_allocations_are_zeroed_contiguous_and_present():
    phys = PhysicalMemory()
    a = phys.allocate_pages(3)
    b = phys.allocate_pages(2)
    assert a % PAGE_SIZE == 0 and b % PAGE_SIZE == 0
    assert phys.read(a, 3 * PAGE_SIZE) == bytes(3 * PAGE_SIZE)
    phys.write(a + PAGE_SIZE - 2, b"abcd")           # crosses a page inside one allocation
    assert phys.read(a + PAGE_SIZE - 2, 4) == b"abcd"
    assert phys.page((a >> 12) + 1)[:2] == b"cd"
    pfns = phys.present_pfns()
    assert pfns == sorted(pfns)
    for pfn in list(range(a >> 12, (a >> 12) + 3)) + [b >> 12, (b >> 12) + 1]:
        assert pfn in pfns
    assert 0 not in pfns                              # RAM starts at PFN 1 as on Windows


def test_view_is_writable_and_shared():
    phys = PhysicalMemory()
    pa = phys.allocate_pages(4)
    view = phys.view(pa + 100, 3 * PAGE_SIZE)
    view[PAGE_SIZE:PAGE_SIZE + 3] = b"xyz"
    assert phys.read(pa + 100 + PAGE_SIZE, 3) == b"xyz"
    phys.write(pa + 100, b"Q")
    assert view[0:1] == b"Q"


def test_big_allocation_gets_its_own_arena_and_reads_span_arenas():
    phys = PhysicalMemory(arena_pages=8)
    phys.allocate_pages(6)
    big = phys.allocate_pages(600)                    # cannot fit the first arena
    view = phys.view(big, 600 * PAGE_SIZE)            # one allocation = one memoryview
    view[-1:] = b"Z"
    assert phys.read(big + 600 * PAGE_SIZE - 1, 1) == b"Z"
    # RAM is one run even across arenas; a physical read can span the arena boundary
    runs = phys.present_runs()
    assert runs == [(1, (big >> 12) + 600 - 1)]
    phys.write(big, b"B")
    tail = phys.allocate_pages(1)                     # first-fit: back in the first arena
    assert tail < big
    data = phys.read(big - 3 * PAGE_SIZE, 3 * PAGE_SIZE + 1)
    assert data == bytes(3 * PAGE_SIZE) + b"B"
    with pytest.raises(MemoryReadError):
        phys.view(big - 8, 16)                        # a view cannot span two arenas


def test_large_alignment():
    phys = PhysicalMemory()
    phys.allocate_pages(1)
    pa = phys.allocate_pages(512, align_pages=512)
    assert pa % 0x200000 == 0


def test_unpresent_physical_read_raises():
    phys = PhysicalMemory()
    phys.allocate_pages(1)
    with pytest.raises(MemoryReadError) as info:
        phys.read(0x40000000, 8)
    assert info.value.physical and info.value.address == 0x40000000
    with pytest.raises(MemoryReadError):
        phys.read(0, 8)                               # PFN 0 is not RAM here


def test_snapshot_is_frozen():
    phys = PhysicalMemory()
    pa = phys.allocate_pages(2)
    phys.write(pa, b"before")
    snap = phys.snapshot()
    phys.write(pa, b"after!")
    later = phys.allocate_pages(1)                    # new pages after the snapshot
    assert snap.read(pa, 6) == b"before"
    assert snap.page(pa >> 12)[:6] == b"before"
    assert phys.read(pa, 6) == b"after!"
    assert (later >> 12) not in snap.present_pfns()
    assert (later >> 12) in phys.present_pfns()
    with pytest.raises(TypeError):
        snap.view(pa, 4)[0:1] = b"x"                  # read-only


# -- x64 page tables ---------------------------------------------------------------------------
def test_x64_pml4_self_map(x64):
    phys, space, _ = x64
    entry = u64_at(phys, space.dtb + X64_SELF_MAP_INDEX * 8)
    assert entry & PFN_MASK == space.dtb and entry & 1
    # through the self-map, the PML4 is readable at its classic VA
    self_va = 0xFFFF000000000000 | (X64_SELF_MAP_INDEX << 39) | (X64_SELF_MAP_INDEX << 30) \
        | (X64_SELF_MAP_INDEX << 21) | (X64_SELF_MAP_INDEX << 12)
    assert self_va == 0xFFFFF6FB7DBED000
    assert space.read(self_va, PAGE_SIZE) == phys.read(space.dtb, PAGE_SIZE)


def test_x64_translation_matches_hand_walk(x64):
    phys, space, _ = x64
    pa = phys.allocate_pages(5)
    va = 0xFFFFF80412345000
    space.map(va, pa, 5 * PAGE_SIZE)
    for offset in (0, 0x123, PAGE_SIZE * 4 + 0xFFF):
        walked, kind = hand_walk_x64(phys, space.dtb, va + offset)
        assert kind == "4K"
        assert walked == pa + offset
        assert space.translate(va + offset) == walked


def test_x64_mapping_across_table_boundaries(x64):
    phys, space, _ = x64
    count = 600                                       # crosses a PT (512 entries) boundary
    pa = phys.allocate_pages(count)
    va = 0xFFFFE0003FF00000 + 0xF0000                 # ends past a 1 GiB (PD) boundary too
    space.map(va, pa, count * PAGE_SIZE)
    for i in (0, 15, 16, 17, 511, 512, count - 1):
        assert hand_walk_x64(phys, space.dtb, va + i * PAGE_SIZE)[0] == pa + i * PAGE_SIZE


def test_x64_large_pages(x64):
    phys, space, _ = x64
    pa = phys.allocate_pages(1024, align_pages=512)
    va = 0xFFFFE00000400000
    space.map(va, pa, 0x400000, large=True)
    walked, kind = hand_walk_x64(phys, space.dtb, va + 0x212345)
    assert kind == "2M" and walked == pa + 0x212345
    space.write(va + 0x1FFFFE, b"wxyz")              # spans the two 2 MiB pages
    assert phys.read(pa + 0x1FFFFE, 4) == b"wxyz"
    with pytest.raises(ValueError):
        space.map(va, pa + 0x1000, 0x200000, large=True)   # unaligned PA
    with pytest.raises(ValueError):
        space.map(va + 0x1000, phys.allocate_pages(1), PAGE_SIZE)  # inside a large page


def test_x64_non_canonical_and_unmapped(x64):
    _, space, _ = x64
    with pytest.raises(MemoryReadError) as info:
        space.translate(0xFFFF7FFF00001000)
    assert info.value.address == 0xFFFF7FFF00001000
    with pytest.raises(MemoryReadError) as info:
        space.read(0xFFFFE12300000040, 16)
    assert info.value.address == 0xFFFFE12300000040 and info.value.size == 16
    assert "0xffffe12300000040" in str(info.value)


def test_reads_and_writes_spanning_pages_and_partial_mapping(x64):
    phys, space, _ = x64
    pa1 = phys.allocate_pages(1)
    phys.allocate_pages(3)                            # make the second page non-adjacent
    pa2 = phys.allocate_pages(1)
    va = 0xFFFFE00000700000
    space.map(va, pa1, PAGE_SIZE)
    space.map(va + PAGE_SIZE, pa2, PAGE_SIZE)
    payload = bytes(range(200))
    space.write(va + PAGE_SIZE - 100, payload)
    assert phys.read(pa1 + PAGE_SIZE - 100, 100) == payload[:100]
    assert phys.read(pa2, 100) == payload[100:]
    assert space.read(va + PAGE_SIZE - 100, 200) == payload
    with pytest.raises(ValueError):
        space.view(va + PAGE_SIZE - 100, 200)        # not physically contiguous
    # all-or-nothing: a write running into an unmapped page changes nothing
    with pytest.raises(MemoryReadError):
        space.write(va + 2 * PAGE_SIZE - 4, b"12345678")
    assert phys.read(pa2 + PAGE_SIZE - 4, 4) == bytes(4)
    with pytest.raises(MemoryReadError):
        space.read(va + 2 * PAGE_SIZE - 4, 8)


def test_typed_helpers(x64):
    phys, space, pool = x64
    va = pool.allocate(64)
    space.write_u8(va, 0xAB)
    space.write_u16(va + 2, 0xBEEF)
    space.write_u32(va + 4, 0xDEADBEEF)
    space.write_u64(va + 8, 0x1122334455667788)
    space.write_ptr(va + 16, 0xFFFFE00012345678)
    raw = phys.read(space.translate(va), 24)
    assert raw == (b"\xab\x00" + struct.pack("<HIQQ", 0xBEEF, 0xDEADBEEF, 0x1122334455667788,
                                             0xFFFFE00012345678))
    assert space.read_u8(va) == 0xAB and space.read_u16(va + 2) == 0xBEEF
    assert space.read_u32(va + 4) == 0xDEADBEEF and space.read_u64(va + 8) == 0x1122334455667788
    assert space.read_ptr(va + 16) == 0xFFFFE00012345678
    assert space.pointer_size == 8


def test_typed_helpers_across_a_page_boundary(x64):
    phys, space, _ = x64
    pa = phys.allocate_pages(2)
    va = 0xFFFFE00000900000
    space.map(va, pa, 2 * PAGE_SIZE)
    space.write_u64(va + PAGE_SIZE - 3, 0x0102030405060708)
    assert phys.read(pa + PAGE_SIZE - 3, 8) == struct.pack("<Q", 0x0102030405060708)
    assert space.read_u64(va + PAGE_SIZE - 3) == 0x0102030405060708


def test_view_writes_land_in_memory(x64):
    phys, space, pool = x64
    va = pool.allocate(3 * PAGE_SIZE, tag=b"RBMo")
    view = space.view(va, 3 * PAGE_SIZE)
    view[PAGE_SIZE * 2:PAGE_SIZE * 2 + 4] = b"ring"
    assert space.read(va + PAGE_SIZE * 2, 4) == b"ring"
    assert hand_walk_x64(phys, space.dtb, va + PAGE_SIZE * 2)[0] == space.translate(va) + 2 * PAGE_SIZE


def test_remap_is_seen_after_translation_was_cached(x64):
    phys, space, _ = x64
    pa1, pa2 = phys.allocate_pages(1), phys.allocate_pages(1)
    va = 0xFFFFE00000A00000
    space.map(va, pa1, PAGE_SIZE)
    assert space.translate(va) == pa1
    space.map(va, pa2, PAGE_SIZE)
    assert space.translate(va) == pa2 == hand_walk_x64(phys, space.dtb, va)[0]


# -- x86 PAE -----------------------------------------------------------------------------------
def test_x86_pae_translation_matches_hand_walk():
    phys = PhysicalMemory()
    space = AddressSpace(phys, "x86")
    assert space.pointer_size == 4 and space.dtb % 32 == 0
    pa = phys.allocate_pages(3)
    va = 0x8A3FF000                                   # crosses a PD-entry (2 MiB) boundary
    space.map(va, pa, 3 * PAGE_SIZE)
    for i in range(3):
        assert hand_walk_pae(phys, space.dtb, va + i * PAGE_SIZE + 5) == (pa + i * PAGE_SIZE + 5, "4K")
        assert space.translate(va + i * PAGE_SIZE + 5) == pa + i * PAGE_SIZE + 5
    space.write_ptr(va + PAGE_SIZE - 2, 0x8A3FF010)
    assert phys.read(pa + PAGE_SIZE - 2, 2) + phys.read(pa + PAGE_SIZE, 2) == struct.pack("<I", 0x8A3FF010)
    assert space.read_ptr(va + PAGE_SIZE - 2) == 0x8A3FF010
    # PTE self-map: the PTE of `va` is visible at 0xC0000000 + (va >> 12) * 8
    pte = space.read_u64(0xC0000000 + (va >> 12) * 8)
    assert pte & PFN_MASK == pa and pte & 1
    with pytest.raises(MemoryReadError):
        space.read(0x1_0000_0000, 4)


def test_x86_pae_large_pages():
    phys = PhysicalMemory()
    space = AddressSpace(phys, "x86")
    pa = phys.allocate_pages(512, align_pages=512)
    space.map(0x86000000, pa, 0x200000, large=True)
    assert hand_walk_pae(phys, space.dtb, 0x86012345) == (pa + 0x12345, "2M")


def test_chunks_and_runs_cover_present_pages_once():
    phys = PhysicalMemory(arena_pages=8)
    phys.allocate_pages(3)
    phys.allocate_pages(700)
    pa = phys.allocate_pages(2)
    phys.write(pa + PAGE_SIZE, b"last")
    covered = []
    for first_pfn, view in phys.chunks():
        assert len(view) % PAGE_SIZE == 0
        for i in range(len(view) // PAGE_SIZE):
            assert bytes(view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]) == phys.page(first_pfn + i)
            covered.append(first_pfn + i)
    assert covered == phys.present_pfns()
    (base, count), = phys.present_runs()
    assert list(range(base, base + count)) == covered
    snap = phys.snapshot()
    assert [(pfn, bytes(v)) for pfn, v in snap.chunks()] == [(pfn, bytes(v)) for pfn, v in phys.chunks()]
