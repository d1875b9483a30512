"""DMF_CrashDump's bug-check callbacks (dmfemu.modules.crashdump.callbacks) run by the bug-check flow:
spec/dmf.md §2.11 worked examples, the two-call secondary-data protocol, the triage-data callback,
additional data and quirks Q-CD-1, Q-CD-2, Q-CD-3, Q-CD-10 - asserting blobs and the bytes left in
emulated memory."""
import pytest

from dmfkd.layouts.dmf_structures import (IOCTL_DATA_SOURCE_CREATE, IOCTL_DATA_SOURCE_OPEN, IOCTL_DATA_SOURCE_READ,
                                          IOCTL_DATA_SOURCE_WRITE)
from dmfkd.layouts.engine import ZERO_GUID
from dmfkd.targets.dumpfile import DumpFile

from helpers.emulated_drivers import (G, G2, KEY, WORKED_EXAMPLE_BLOB, crashdump_module, crashdump_with_data_sources,
                                      source_input, ring_storage, worked_example)
from helpers.ntstatus import SUCCESS


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_self_blob_worked_example_bytes(arch):
    cd = crashdump_module(arch, ring_buffer_data_guid=G, buffer_size=4, buffer_count=3)
    assert cd.create_status == SUCCESS
    for b in (0x11, 0x21, 0x31, 0x41, 0x51):
        assert cd.write_self(bytes([b, b + 1, b + 2, b + 3])) == SUCCESS
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle)
    assert result.blobs == [(G, bytes.fromhex("77 06 72 01 41 42 43 44 51 52 53 54"))]
    # the transformation happened in place on the live storage (spec §2.11 "side effects")
    assert ring_storage(cd, 0) == bytes.fromhex("77067201 41424344 51525354 51525354")
    ds = cd.state.data_source(0)
    assert ds["RingBufferData"] == cd.state.ring_of(0).items_va
    assert ds["CurrentRingBufferIndex"] == 0


def test_partial_blob_worked_example_bytes():
    cd = crashdump_with_data_sources(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(4, 4, G), 0, writer)[:2] == (SUCCESS, 24)
    for item in ("a0a1a2a3", "b0b1b2b3", "c0c1c2c3"):
        assert cd.ioctl(IOCTL_DATA_SOURCE_WRITE, bytes.fromhex(item), 0, writer)[0] == SUCCESS
    assert cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G), 24, reader)[0] == SUCCESS
    assert cd.ioctl(IOCTL_DATA_SOURCE_READ, b"", 4, reader) == (SUCCESS, 4, bytes.fromhex("a0a1a2a3"))
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle)
    assert result.blobs == [(G, bytes.fromhex("f6 85 f3 86 c0 c1 c2 c3 00 00 00 00 00 00 00 00"))]
    # the consumed item survives in the swap slot (Q-RB-7)
    assert ring_storage(cd, 1)[16:] == bytes.fromhex("a0a1a2a3")


def test_two_call_protocol_and_worked_example():
    cd = worked_example()
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle)
    items = cd.state.ring_of(0).items_va
    (call,) = result.calls
    assert (call.query_out_buffer, call.query_length) == (items, 12)
    assert (call.guid, call.out_buffer, call.length) == (G, items, 12)
    assert result.blobs == [(G, WORKED_EXAMPLE_BLOB)]


def test_q_cd_1_only_first_item_xored_and_key_wraps_past_32_bytes():
    cd = crashdump_module(ring_buffer_data_guid=G, buffer_size=40, buffer_count=3)
    first, second = bytes(range(40)), bytes(range(100, 140))
    cd.write_self(first)
    cd.write_self(second)
    (guid, blob), = cd.kernel.bugcheck(0xDEADDEAD, cd.handle).blobs
    assert blob[:40] == bytes(b ^ KEY[j % 32] for j, b in enumerate(first))
    assert blob[40:80] == second and blob[80:] == bytes(40)


def test_q_cd_1_a_second_data_call_toggles_the_xor_back():
    cd = worked_example()
    cd.kernel.bugcheck(0xDEADDEAD, cd.handle)
    again = cd.kernel.bugcheck(0xDEADDEAD, cd.handle)
    assert again.blobs == [(G, bytes.fromhex("31323334 41424344 51525354"))]


def test_q_cd_2_empty_ring_gives_no_blob_and_partial_ring_a_full_length_blob():
    cd = crashdump_module(ring_buffer_data_guid=G, buffer_size=4, buffer_count=4)
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle)
    assert result.blobs == []
    assert (result.calls[0].query_out_buffer, result.calls[0].query_length) == (0, 0)
    assert result.calls[0].out_buffer == 0
    cd.write_self(b"\x01\x02\x03\x04")
    (guid, blob), = cd.kernel.bugcheck(0xDEADDEAD, cd.handle).blobs
    assert blob == bytes(x ^ k for x, k in zip(b"\x01\x02\x03\x04", KEY)) + bytes(12)


def test_q_cd_3_the_size_query_alone_reorders_and_zeroes_the_tail():
    cd = worked_example()
    assert ring_storage(cd) == bytes.fromhex("41424344 51525354 31323334 00000000")
    sec = cd.callbacks.secondary_layout
    data = cd.machine.pool.allocate(sec.size)
    in_buffer = cd.machine.pool.allocate(0x1000)
    cd.space.write(data, sec.pack({"InBuffer": in_buffer, "InBufferLength": 0x1000, "MaximumAllowed": 0x1000}))
    cd.kernel.invoke(cd.state.record_va(0), 2, data, sec.size)
    assert ring_storage(cd) == bytes.fromhex("31323334 41424344 51525354 51525354")   # not XOR-ed
    out = sec.unpack_from(cd.space.read(data, sec.size))
    assert (out["OutBuffer"], out["OutBufferLength"]) == (cd.state.ring_of(0).items_va, 12)
    assert out["Guid"] == ZERO_GUID
    assert (cd.state.ring_of(0).read_index, cd.state.ring_of(0).items_present) == (0, 3)


def test_q_cd_10_additional_length_defaults_to_maximum_and_query_is_not_clamped():
    seen = []

    def query(request):
        seen.append(("query", request.out_buffer, request.length))
        return 0x10000          # only the length

    def write(request):
        seen.append(("write", request.out_buffer == request.in_buffer, request.length))
        return None             # leaves OutBuffer (= InBuffer) and the length (= MaximumAllowed)

    cd = crashdump_module(additional_data_guid=G2, evt_crash_dump_query=query, evt_crash_dump_write=write)
    assert cd.create_status == 0
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle, maximum_allowed=0x100)
    assert seen == [("query", 0, 0), ("write", True, 0x100)]
    (call,) = result.calls
    assert call.query_length == 0x10000
    assert result.blobs == [(G2, bytes(0x100))]


def test_additional_data_forms():
    holder = {}

    def query(request):
        return 9

    def write(request):
        if "va" not in holder:
            holder["va"] = request.crashdump.driver.allocate(16)
            request.crashdump.space.write(holder["va"], b"from-own-buffer!")
        return (holder["va"], 9)

    cd = crashdump_module(additional_data_guid=G2, evt_crash_dump_query=query, evt_crash_dump_write=write)
    assert cd.kernel.bugcheck(1, maximum_allowed=0x100).blobs == [(G2, b"from-own-")]

    def provide(request):
        return b"client-bytes"
    cd = crashdump_module(additional_data_guid=G2, evt_crash_dump_query=provide, evt_crash_dump_write=provide)
    assert cd.kernel.bugcheck(1, maximum_allowed=5).blobs == [(G2, b"clien")]


def test_triage_callback_runs_with_bugcheck_active_and_hands_over_the_array(tmp_path):
    stored = []

    def store(crashdump, code, p1, p2, p3, p4):
        stored.append((code, p1, p2, p3, p4))
        ring = crashdump.state.ring_of(0)
        assert crashdump.triage_dump_data_add(ring.items_va, 16) == 0

    cd = crashdump_module(ring_buffer_data_guid=G, buffer_size=4, buffer_count=3, triage_dump_data_array_size=4,
                          evt_crash_dump_store_triage_dump_data=store)
    for b in (0x11, 0x21, 0x31, 0x41, 0x51):
        cd.write_self(bytes([b, b + 1, b + 2, b + 3]))
    own = cd.driver.allocate(8)
    cd.space.write(own, b"TRIAGE!!")
    assert cd.triage_dump_data_add(own, 8) == 0
    path = str(tmp_path / "triage.dmp")
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle, 2, 3, 4, dump_type="triage", path=path)
    assert stored == [(0xDEADDEAD, cd.handle, 2, 3, 4)]
    items = cd.state.ring_of(0).items_va
    assert result.triage_ranges == [(own, 8), (items, 16)]
    dump = DumpFile(path)
    assert dump.dump_type == 4
    assert dump.read(own, 8) == b"TRIAGE!!"
    assert dump.read(items, 16) == bytes.fromhex("41424344 51525354 31323334 00000000")   # pre-crash
    assert [(b.guid, dump.read_blob(b)) for b in dump.tagged()] == [(G, WORKED_EXAMPLE_BLOB)]


def test_triage_callback_ignores_calls_without_bugcheck_active():
    stored = []
    cd = crashdump_module(buffer_size=4, buffer_count=2, triage_dump_data_array_size=1,
                          evt_crash_dump_store_triage_dump_data=lambda *a: stored.append(a))
    tdd = cd.kernel.triage_data
    data = cd.machine.pool.allocate(tdd.size)
    cd.kernel.invoke(cd.state.context_field_va("BugCheckCallbackRecordTriageDumpData"), 7, data, tdd.size)
    assert stored == [] and cd.space.read_ptr(data) == 0
