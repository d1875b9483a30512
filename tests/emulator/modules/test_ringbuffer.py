"""DMF_RingBuffer in emulated memory: the worked examples of spec/dmf.md §1.6 byte for byte, one
test per quirk Q-RB-1..10, and the method surface of §1.4. Ring state is always read back from the
emulated memory (the context parsed with the construct definition, the storage by VA), never from
the emulator object."""
import pytest

from dmfkd.layouts import dmf_structures

from dmfkd.layouts import windows
from dmfemu.machine import Machine
from dmfemu.modules.dmfobject import Dmf
from dmfemu.modules.ringbuffer import (RingBuffer, RingBufferCorruption, RingBufferCreateError,
                                       RingBufferError)

SUCCESS = windows.STATUS_SUCCESS
UNSUCCESSFUL = windows.STATUS_UNSUCCESSFUL
ARCHES = ("x64", "x86")


def make_ring(arch, count, size, mode=2, **kw):
    machine = Machine(arch)
    return machine, RingBuffer(Dmf(machine), count, size, mode, **kw)


def ctx(machine, ring):
    layout = dmf_structures.ring_buffer(machine.arch)
    return layout.parse(machine.space.read(ring.context_va, layout.size))


def storage(machine, ring, count, size):
    return machine.space.read(ring.items_va, (count + 1) * size)


def slots_hex(machine, ring, count, size):
    raw = storage(machine, ring, count, size)
    return [raw[i * size:(i + 1) * size].hex() for i in range(count + 1)]


def rwp(machine, ring, size):
    c = ctx(machine, ring)
    return ((c.ReadPointer - c.Items) // size, (c.WritePointer - c.Items) // size, c.ItemsPresentCount)


def item(n):
    """Items of §1.6: 11121314, 21222324, ..."""
    return bytes([16 * n + 1, 16 * n + 2, 16 * n + 3, 16 * n + 4])


# -- §1.6 worked examples --------------------------------------------------------------------------

MAIN_TABLE = [
    # slots 0..2, X, r, w, P after each step
    (["00000000", "00000000", "00000000", "00000000"], (0, 0, 0)),
    (["11121314", "00000000", "00000000", "00000000"], (0, 1, 1)),
    (["11121314", "21222324", "00000000", "00000000"], (0, 2, 2)),
    (["11121314", "21222324", "31323334", "00000000"], (0, 0, 3)),
    (["41424344", "21222324", "31323334", "00000000"], (1, 1, 3)),
    (["41424344", "51525354", "31323334", "00000000"], (2, 2, 3)),
]


@pytest.mark.parametrize("arch", ARCHES)
def test_spec_1_6_main_example(arch):
    machine, ring = make_ring(arch, 3, 4, 2)
    assert slots_hex(machine, ring, 3, 4) == MAIN_TABLE[0][0]
    assert rwp(machine, ring, 4) == MAIN_TABLE[0][1]
    for n, (slots, state) in enumerate(MAIN_TABLE[1:], start=1):
        assert ring.write(item(n)) == SUCCESS
        assert slots_hex(machine, ring, 3, 4) == slots, n
        assert rwp(machine, ring, 4) == state, n
    ring.reorder(True)
    assert slots_hex(machine, ring, 3, 4) == ["31323334", "41424344", "51525354", "51525354"]
    assert rwp(machine, ring, 4) == (0, 0, 3)
    c = ctx(machine, ring)
    assert c.BufferEnd == c.Items + 12 and c.TotalSize == 12 and c.ItemsCount == 3 and c.ItemSize == 4
    assert c.Mode == 2 and c.Items == ring.items_va


@pytest.mark.parametrize("arch", ARCHES)
def test_spec_1_6_partial_example(arch):
    machine, ring = make_ring(arch, 4, 4, 2)
    for value in ("a0a1a2a3", "b0b1b2b3", "c0c1c2c3"):
        assert ring.write(bytes.fromhex(value)) == SUCCESS
    assert ring.read() == (SUCCESS, bytes.fromhex("a0a1a2a3"))
    assert rwp(machine, ring, 4) == (1, 3, 2)
    assert slots_hex(machine, ring, 4, 4)[0] == "a0a1a2a3"
    ring.reorder(False)
    assert slots_hex(machine, ring, 4, 4) == ["b0b1b2b3", "c0c1c2c3", "00000000", "00000000", "a0a1a2a3"]
    assert rwp(machine, ring, 4) == (0, 2, 2)


@pytest.mark.parametrize("arch", ARCHES)
def test_spec_1_6_empty_example(arch):
    machine, ring = make_ring(arch, 3, 4, 2)
    assert ring.write(bytes.fromhex("a0a1a2a3")) == SUCCESS
    assert ring.read() == (SUCCESS, bytes.fromhex("a0a1a2a3"))
    assert slots_hex(machine, ring, 3, 4) == ["a0a1a2a3", "00000000", "00000000", "00000000"]
    assert rwp(machine, ring, 4) == (1, 1, 0)
    ring.reorder(True)
    assert slots_hex(machine, ring, 3, 4) == ["00000000"] * 4
    assert rwp(machine, ring, 4) == (1, 1, 0)


@pytest.mark.parametrize("arch", ARCHES)
def test_spec_1_6_fail_mode_example(arch):
    machine, ring = make_ring(arch, 3, 4, dmf_structures.RingBuffer_Mode_FailIfFullOnWrite)
    for n in (1, 2, 3):
        assert ring.write(item(n)) == SUCCESS
    before = (storage(machine, ring, 3, 4), machine.space.read(ring.context_va, 64 if arch == "x64" else 40))
    assert ring.write(item(4)) == UNSUCCESSFUL
    after = (storage(machine, ring, 3, 4), machine.space.read(ring.context_va, 64 if arch == "x64" else 40))
    assert before == after
    assert rwp(machine, ring, 4) == (0, 0, 3)


@pytest.mark.parametrize("arch", ARCHES)
def test_spec_1_6_short_write_to_full_mode2(arch):
    machine, ring = make_ring(arch, 3, 4, 2)
    for value in ("01010101", "02020202", "03030303"):
        assert ring.write(bytes.fromhex(value)) == SUCCESS
    before = storage(machine, ring, 3, 4)
    assert ring.write(b"\x09\x09") == UNSUCCESSFUL
    assert storage(machine, ring, 3, 4) == before
    assert rwp(machine, ring, 4) == (1, 0, 2)   # one item lost, w unchanged, w == r + P mod 3


# -- quirks ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [dmf_structures.RingBuffer_Mode_Invalid, 3, 7])
def test_q_rb_1_unvalidated_mode_overfills_then_reorder_refused(mode):
    machine, ring = make_ring("x64", 3, 4, mode)
    for n in (1, 2, 3, 4, 5):
        assert ring.write(item(n)) == SUCCESS      # written anyway at w == r
    c = ctx(machine, ring)
    assert c.ItemsPresentCount == 5                 # N+2
    assert c.ReadPointer == c.Items                 # r never moves
    assert c.WritePointer == c.Items + 2 * 4
    assert slots_hex(machine, ring, 3, 4)[:3] == ["41424344", "51525354", "31323334"]
    seen = []
    ring.enumerate(True, lambda h, va, view, size, cx: seen.append(bytes(view)) or True)
    assert len(seen) == 2                           # (w - r) mod N, unrelated to P
    ring.write(item(6))                             # w == 3 -> wraps to 0 == r; P = 6
    seen = []
    ring.enumerate(True, lambda h, va, view, size, cx: seen.append(bytes(view)) or True)
    assert len(seen) == 3                           # R == W -> N slots
    before_block = machine.space.read(ring.items_va - 64, 64)
    with pytest.raises(RingBufferCorruption, match="ItemsPresentCount=6 > ItemsCount=3"):
        ring.reorder(True)
    c = ctx(machine, ring)
    assert c.WritePointer == c.Items + 6 * 4         # past BufferEnd, as DMF leaves it
    assert c.WritePointer > c.BufferEnd
    assert machine.space.read(ring.items_va - 64, 64) == before_block
    # the next write trips the W+S > BufferEnd check (RB.c:403-408)
    assert ring.write(item(7)) == UNSUCCESSFUL


def test_q_rb_2_wrong_size_after_full_handling():
    machine, ring = make_ring("x64", 3, 4, 2)
    assert ring.write(b"\x01\x02\x03") == UNSUCCESSFUL          # short, not full: nothing happens
    assert ring.write(b"\x01\x02\x03\x04\x05") == UNSUCCESSFUL  # long
    assert rwp(machine, ring, 4) == (0, 0, 0)
    for n in (1, 2, 3):
        ring.write(item(n))
    assert ring.write(bytes(5)) == UNSUCCESSFUL
    assert rwp(machine, ring, 4) == (1, 0, 2)
    assert ring.read() == (SUCCESS, item(2))      # item 1 was silently dropped


def test_q_rb_3_read_and_read_all_keep_slot_bytes():
    machine, ring = make_ring("x86", 3, 4, 2)
    for n in (1, 2):
        ring.write(item(n))
    assert ring.read() == (SUCCESS, item(1))
    assert ring.read_all() == (SUCCESS, item(2))
    assert slots_hex(machine, ring, 3, 4)[:2] == [item(1).hex(), item(2).hex()]
    assert ring.read() == (UNSUCCESSFUL, None)


def test_q_rb_4_segments_write_keeps_other_bytes():
    machine, ring = make_ring("x64", 2, 8, 2)
    ring.write(bytes.fromhex("1111111111111111"))
    ring.write(bytes.fromhex("2222222222222222"))
    ring.read()
    # full? no: P=1, w=0 -> segments go into slot 0, which still holds the consumed item
    assert ring.segments_write([(b"\xaa\xbb", 1), (b"\xcc", 6)]) == SUCCESS
    assert slots_hex(machine, ring, 2, 8)[0] == "11aabb111111cc11"
    assert ring.segments_read([(0, 2), (6, 2)]) == (SUCCESS, [b"\x22\x22", b"\x22\x22"])
    assert ring.segments_read([(1, 2)]) == (SUCCESS, [b"\xaa\xbb"])
    assert ring.segments_read([(0, 1)]) == (UNSUCCESSFUL, None)
    with pytest.raises(RingBufferError):
        ring.segments_write([(b"\x00\x00", 7)])


def test_q_rb_5_enumerate_is_pointer_based():
    machine, ring = make_ring("x64", 3, 4, 2)
    for n in (1, 2, 3, 4):
        ring.write(item(n))
    visited = []
    ring.enumerate(False, lambda h, va, view, size, cx: visited.append((va, bytes(view), size, h, cx)) or True, "c")
    assert [v[1] for v in visited] == [item(2), item(3), item(4)]     # R == W: all N, oldest first
    assert [v[0] for v in visited] == [ring.items_va + 4, ring.items_va + 8, ring.items_va]
    assert all(v[2] == 4 and v[3] == ring.handle and v[4] == "c" for v in visited)
    # the callback's FALSE stops after the first item
    visited = []
    ring.enumerate(True, lambda h, va, view, size, cx: visited.append(va) and False)
    assert len(visited) == 1
    # empty: no call at all
    ring.read_all()
    ring.enumerate(True, lambda *a: pytest.fail("called on an empty ring"))


def test_enumerate_view_is_writable_memory():
    machine, ring = make_ring("x64", 3, 4, 2)
    ring.write(item(1))

    def xor(handle, va, view, size, cx):
        for i in range(size):
            view[i] ^= 0xFF
        return True
    ring.enumerate(False, xor)
    assert machine.space.read(ring.items_va, 4) == bytes(b ^ 0xFF for b in item(1))


def test_q_rb_6_reorder_empty_zeroes_keeps_pointers():
    machine, ring = make_ring("x64", 3, 4, 2)
    for n in (1, 2, 3, 4):
        ring.write(item(n))
    ring.read_all()
    before = rwp(machine, ring, 4)
    assert before == (1, 1, 0)
    ring.reorder(False)
    assert rwp(machine, ring, 4) == before
    assert storage(machine, ring, 3, 4)[:12] == bytes(12)


def test_q_rb_7_reorder_rotates_stale_slots_and_keeps_swap():
    machine, ring = make_ring("x64", 4, 4, 2)
    for n in (1, 2, 3):
        ring.write(item(n))
    ring.read()
    ring.read()                                    # r = 2, w = 3, P = 1; slots 0,1 stale
    ring.reorder(True)
    assert slots_hex(machine, ring, 4, 4) == [item(3).hex(), "00000000", "00000000", "00000000", item(2).hex()]
    ring.write(item(4))
    ring.reorder(True)                             # r == 0: swap slot untouched
    assert slots_hex(machine, ring, 4, 4)[4] == item(2).hex()


def test_q_rb_7_rotation_moves_stale_bytes_before_zeroing():
    # stale slot contents are rotated; with P == N nothing is zeroed, so all rotated bytes are visible
    machine, ring = make_ring("x64", 3, 4, 2)
    for n in (1, 2, 3, 4, 5, 6, 7):
        ring.write(item(n))                         # r = w = 1, slots 7 5 6
    ring.reorder(True)
    assert slots_hex(machine, ring, 3, 4) == [item(5).hex(), item(6).hex(), item(7).hex(), item(7).hex()]


def test_q_rb_8_read_all_ignores_target_size():
    machine, ring = make_ring("x64", 4, 4, 2)
    for n in (1, 2, 3):
        ring.write(item(n))
    assert ring.read_all(target_size=1) == (SUCCESS, item(1) + item(2) + item(3))
    assert ring.read_all(target_size=0) == (SUCCESS, b"")


def test_q_rb_9_total_size_field_and_huge_products():
    # TotalSize is a ULONG holding N*S; a product >= 2^32 would wrap (spec/dmf.md Q-RB-9) but needs
    # >= 4 GiB of storage, which the emulator refuses up front instead of allocating
    machine = Machine("x64")
    count, size = 0x10000001, 0x10
    status, ring = RingBuffer.create(Dmf(machine), count, size, 2)
    assert status == windows.STATUS_INSUFFICIENT_RESOURCES and ring is None
    machine, ring = make_ring("x64", 1000, 24, 2)
    assert ring.total_size_get() == 24000 == ctx(machine, ring).TotalSize
    assert dmf_structures.ring_buffer("x64").sizes["TotalSize"] == 4


def test_q_rb_10_close_nulls_only_memory_ring_and_items():
    machine, ring = make_ring("x64", 3, 4, 2)
    for n in (1, 2):
        ring.write(item(n))
    before = ctx(machine, ring)
    assert before.MemoryRing != 0
    ring.close()
    after = ctx(machine, ring)
    assert after.MemoryRing == 0 and after.Items == 0
    for field in ("ItemSize", "ReadPointer", "WritePointer", "BufferEnd", "TotalSize", "Mode", "ItemsCount",
                  "ItemsPresentCount"):
        assert after[field] == before[field], field
    with pytest.raises(RingBufferError):
        ring.write(item(3))
    with pytest.raises(RingBufferError):
        ring.read()


# -- creation / surface ----------------------------------------------------------------------------

@pytest.mark.parametrize("count,size", [(0, 4), (4, 0)])
def test_create_rejects_zero(count, size):
    machine = Machine("x64")
    status, ring = RingBuffer.create(Dmf(machine), count, size, 2)
    assert status == windows.STATUS_INVALID_PARAMETER and ring is None
    with pytest.raises(RingBufferCreateError, match="STATUS_INVALID_PARAMETER"):
        RingBuffer(Dmf(machine), count, size, 2)


@pytest.mark.parametrize("arch", ARCHES)
def test_storage_and_context_placement(arch):
    machine, ring = make_ring(arch, 5, 12, 2, instance_name="DataSourceRingBuffer")
    c = ctx(machine, ring)
    assert machine.pool.tag_of(ring.items_va) == b"RBMo"
    assert machine.pool.block_of(ring.items_va).size >= 6 * 12
    assert c.Items == ring.items_va and c.ReadPointer == c.Items and c.WritePointer == c.Items
    assert c.BufferEnd == c.Items + 60 and c.TotalSize == 60 and c.ItemsCount == 5 and c.ItemsPresentCount == 0
    from dmfemu.wdf import object_from_handle
    assert c.MemoryRing == ring.storage.handle
    assert object_from_handle(c.MemoryRing, arch) == ring.storage.fx_object_va
    module = ring.module
    obj = module.read()
    assert obj["ModuleContext"] == ring.context_va
    assert obj["MemoryDmfObject"] == ring.handle
    assert machine.space.read(obj["ModuleName"], 11) == b"RingBuffer\0"
    assert machine.space.read(obj["ClientModuleInstanceName"], 21) == b"DataSourceRingBuffer\0"
    assert obj["ModuleState"] == dmf_structures.module_state_values("1.1.154")["Opened"]
    config = dmf_structures.dmf_config_ring_buffer(arch).parse(machine.space.read(obj["ModuleConfig"], 12))
    assert (config.ItemCount, config.ItemSize, config.Mode) == (5, 12, 2)


def test_large_storage_is_separate_block():
    machine, ring = make_ring("x64", 100, 64, 2)
    assert machine.pool.tag_of(ring.items_va) == b"RBMo"
    assert ring.storage.separate_buffer
    for n in range(250):
        assert ring.write(bytes([n]) * 64) == SUCCESS
    assert ring.read() == (SUCCESS, bytes([150]) * 64)


def test_enumerate_to_find_item_prefix_every_match():
    machine, ring = make_ring("x64", 4, 4, 2)
    for value in ("aabb0001", "ccdd0002", "aabb0003", "aabc0004"):
        ring.write(bytes.fromhex(value))
    found = []
    ring.enumerate_to_find_item(lambda h, va, view, size, cx: found.append((bytes(view), size, cx)), "ctx",
                                bytes.fromhex("aabb"), 2)
    assert found == [(bytes.fromhex("aabb0001"), 4, "ctx"), (bytes.fromhex("aabb0003"), 4, "ctx")]
    with pytest.raises(RingBufferError):
        ring.enumerate_to_find_item(lambda *a: True, None, bytes(5), 5)


def test_struct_write_path_matches_fast_path():
    results = []
    for fast in (True, False):
        machine, ring = make_ring("x86", 3, 4, 2)
        write = ring.write if fast else ring._make_write_struct()
        statuses = [write(item(n)) for n in range(1, 6)] + [write(b"\x00")]
        results.append((statuses, storage(machine, ring, 3, 4), machine.space.read(ring.context_va, 40)))
    assert results[0] == results[1]


def test_methods_do_not_touch_neighbouring_memory():
    machine, ring = make_ring("x64", 3, 4, 2)
    block = machine.pool.block_of(ring.items_va)
    end = ring.items_va + 16

    def outside():
        # the rest of the storage's pool block (header, FxMemoryBuffer, trailing context header)
        return (machine.space.read(block.header_va, ring.items_va - block.header_va),
                machine.space.read(end, block.va + block.size - end))
    before = outside()
    for n in range(1, 9):
        ring.write(item(n))
        if n % 3 == 0:
            ring.read()
        ring.reorder(n % 2 == 0)
    ring.segments_write([(b"\x01", 3)])
    ring.enumerate(True, lambda *a: True)
    assert outside() == before
