"""Driving the emulator as a library (issue 9): any ring's crash blob without a bug check, one tuple order for
ring segments, a bug check on a corrupt ring that reports instead of raising, and machines that do not
outlive their use."""
import gc
import resource
import sys

import pytest

from dmfkd.layouts import dmf_structures
from dmfemu.bugcheck import SystemCrash
from dmfemu.modules.ringbuffer import RingBufferCorruption
from dmfemu.scenarios.crashdump_demo import demo_scenario
from dmfemu.scenarios.crashdump_replay import ScenarioRun

from helpers.emulated_drivers import G, WORKED_EXAMPLE_BLOB, crashdump_module, ring_storage, worked_example


def test_crash_blob_of_the_worked_example_without_a_bug_check():
    module = worked_example()
    before = ring_storage(module)
    assert module.crash_blob(G) == WORKED_EXAMPLE_BLOB          # spec/dmf.md's bytes
    assert module.crash_blob(str(G), maximum_allowed=6) == WORKED_EXAMPLE_BLOB[:6]
    assert ring_storage(module) == before                       # nothing in memory moved
    with pytest.raises(KeyError):
        module.crash_blob("11111111-2222-3333-4444-555555555555")


def test_crash_blob_of_the_partial_example():
    """spec/dmf.md §2.11's partial example: N=4, S=4, live items b..., c... after a wrap and a read."""
    module = crashdump_module(ring_buffer_data_guid=G, buffer_size=4, buffer_count=4)
    ring = module.state.ring_of(0)
    for first in (0xA0, 0xB0, 0xC0):
        assert module.write_self(bytes(range(first, first + 4))) == 0
    assert ring.read()[0] == 0
    assert module.crash_blob(G) == bytes.fromhex("f6 85 f3 86 c0 c1 c2 c3 00 00 00 00 00 00 00 00")


@pytest.mark.parametrize("maximum", [None, 100, 7])
def test_crash_blob_equals_what_the_bug_check_writes(maximum):
    """The pure computation against the emulated DMF callbacks that run during a real bug check."""
    run = ScenarioRun(demo_scenario())
    scenario = demo_scenario()
    for op in scenario["operations"]:
        run.run(op)
    module = run.crashdump
    state = module.state
    guids = [state.data_source_guid(i) for i in range(state.data_source_count) if state.ring_of(i) is not None]
    predicted = {g: module.crash_blob(g, maximum) for g in guids}
    result = module.kernel.bugcheck(0xE2, maximum_allowed=maximum)
    written = {guid: data for guid, data in result.blobs if guid in predicted}
    assert written == {g: b for g, b in predicted.items() if b}


def test_segments_take_offset_first_both_ways():
    module = crashdump_module(ring_buffer_data_guid=G, buffer_size=8, buffer_count=2)
    ring = module.state.ring_of(0)
    assert ring.segments_write([(2, b"\xaa\xbb"), (7, b"\xcc")]) == 0
    assert ring.segments_read([(2, 2), (7, 1)]) == (0, [b"\xaa\xbb", b"\xcc"])


def test_bug_check_on_a_ring_with_a_corrupt_count_reports_it():
    """Q-RB-1: a ring whose Mode was never validated holds P > N; the crash's Reorder would zero memory
    past the ring. The bug check goes on, writes no blob for it, and its result says why."""
    module = crashdump_module(ring_buffer_data_guid=G, buffer_size=4, buffer_count=3)
    ring = module.state.ring_of(0)
    mode_va = ring.context_va + dmf_structures.ring_buffer("x64").offsets["Mode"]
    module.space.write_u32(mode_va, dmf_structures.RingBuffer_Mode_Invalid)
    for n in range(5):
        assert module.write_self(bytes([n] * 4)) == 0
    with pytest.raises(RingBufferCorruption):
        module.crash_blob(G)
    result = module.kernel.bugcheck(0xE2)
    assert [f.call for f in result.faults] == ["size query"]
    assert "ItemsPresentCount=5 > ItemsCount=3" in result.faults[0].message
    assert all(guid != G for guid, _ in result.blobs)


@pytest.mark.skipif(sys.platform != "linux", reason="reads the resident size from /proc")
def test_a_thousand_crashing_machines_do_not_accumulate():
    """Each machine (pool, page tables, ~6 MB) must go when its last user lets go of it, bug check or not."""
    def crash_one():
        module = worked_example()
        try:
            module.kernel.bugcheck(0xE2)
        except SystemCrash:
            pass

    def resident_mb():
        gc.collect()
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize() / 2 ** 20

    for _ in range(50):
        crash_one()
    start = resident_mb()
    for _ in range(1000):
        crash_one()
    grown = resident_mb() - start
    # a leak of one machine each would be several gigabytes; allocator noise is a few megabytes
    assert grown < 64, "resident size grew by %.0f MB over 1000 machines" % grown
