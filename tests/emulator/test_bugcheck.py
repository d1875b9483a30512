"""The bug-check flow (dmfemu.bugcheck) with DMF_CrashDump's callbacks: records in memory, the
two-call secondary-data protocol, MaximumAllowed, duplicate GUIDs, triage-data callbacks, the
private bug check, and quirks Q-CD-1, Q-CD-2, Q-CD-3, Q-CD-9, Q-CD-10 (spec/dmf.md §2.10-§2.14)."""
import uuid

import pytest

from dmfkd.layouts import dmf_structures
from dmfkd.layouts.engine import ZERO_GUID
from dmfkd.targets.dumpfile import DumpFile

from dmfemu import bugcheck
from dmfemu.driver import Driver
from dmfemu.machine import Machine
from dmfemu.modules import crashdump

G = uuid.UUID("F4A58486-FD91-4BF9-96BC-DDA5CF571EDF")
G2 = uuid.UUID("11111111-2222-3333-4444-555555555555")
KEY = b"F4A58486FD914BF996BCDDA5CF571EDF"
WORKED = bytes.fromhex("77 06 72 01 41 42 43 44 51 52 53 54")


def make(arch="x64", version="1.1.154", **config):
    machine = Machine(arch)
    return crashdump.CrashDump(Driver(machine, dmf_version=version), crashdump.CrashDumpConfig(**config))


def worked_example(arch="x64", **extra):
    cd = make(arch, ring_buffer_data_guid=G, buffer_size=4, buffer_count=3, **extra)
    for b in (0x11, 0x21, 0x31, 0x41, 0x51):
        assert cd.write_self(bytes([b, b + 1, b + 2, b + 3])) == 0
    return cd


def items_of(cd, index=0):
    ring = cd.state.ring_of(index)
    return cd.space.read(ring.items_va, (ring.item_count + 1) * ring.item_size)


def test_records_written_in_memory_in_registration_order():
    def cb(request):
        return b"add"
    cd = make(ring_buffer_data_guid=G, buffer_size=4, buffer_count=3, data_source_count=1,
              ring_buffer_maximum_size=64, evt_crash_dump_query=cb, evt_crash_dump_write=cb,
              triage_dump_data_array_size=2)
    fo = cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, crashdump.pack_data_source_create(2, 4, G2), 0, fo)
    additional = cd.state.context_field_va("BugCheckCallbackRecordAdditional")
    triage = cd.state.context_field_va("BugCheckCallbackRecordTriageDumpData")
    assert cd.kernel.registered() == [cd.state.record_va(0), additional, triage, cd.state.record_va(1)]
    rec = cd.state.record_layout
    raw = rec.unpack_from(cd.space.read(cd.state.record_va(0), rec.size))
    assert (raw["State"], raw["Reason"]) == (1, 2)
    assert raw["CallbackRoutine"] == cd.driver.routine("CrashDump_BugCheckSecondaryDumpDataCallbackRingBuffer")
    assert cd.space.read(raw["Component"], 8) == b"DmfDemo\0"
    raw = rec.unpack_from(cd.space.read(additional, rec.size))
    assert raw["CallbackRoutine"] == cd.driver.routine("CrashDump_BugCheckSecondaryDumpDataCallbackAdditional")
    raw = rec.unpack_from(cd.space.read(triage, rec.size))
    assert (raw["Reason"], raw["State"]) == (7, 1)
    assert not cd.kernel.register(cd.state.record_va(0), raw["CallbackRoutine"], 2, 0)   # already inserted


def test_two_call_protocol_and_worked_example():
    cd = worked_example()
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle)
    items = cd.state.ring_of(0).items_va
    (call,) = result.calls
    assert (call.query_out_buffer, call.query_length) == (items, 12)
    assert (call.guid, call.out_buffer, call.length) == (G, items, 12)
    assert result.blobs == [(G, WORKED)]


@pytest.mark.parametrize("maximum,blob", [
    (12, WORKED), (100, WORKED), (8, WORKED[:8]), (6, WORKED[:6]), (1, WORKED[:1])])
def test_maximum_allowed_truncates_newest_first(maximum, blob):
    cd = worked_example()
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle, maximum_allowed=maximum)
    assert result.blobs == [(G, blob)]
    assert result.calls[0].query_length == min(12, maximum)


def test_duplicate_guids_kept_in_registration_order(tmp_path):
    def cb(request):
        return b"additional"
    cd = make(ring_buffer_data_guid=G, additional_data_guid=G, buffer_size=4, buffer_count=3,
              data_source_count=1, ring_buffer_maximum_size=64, evt_crash_dump_query=cb, evt_crash_dump_write=cb)
    for b in (0x11, 0x21, 0x31, 0x41, 0x51):
        cd.write_self(bytes([b, b + 1, b + 2, b + 3]))
    fo = cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, crashdump.pack_data_source_create(2, 4, G), 0, fo)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"ZZZZ", 0, fo)
    path = str(tmp_path / "dup.dmp")
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle, path=path)
    aux = bytes(x ^ k for x, k in zip(b"ZZZZ", KEY)) + bytes(4)
    assert result.blobs == [(G, WORKED), (G, b"additional"), (G, aux)]
    dump = DumpFile(path)
    assert [(b.guid, dump.read_blob(b)) for b in dump.tagged()] == result.blobs
    assert dump.read_tagged(G) == WORKED   # ReadTagged sees the first of duplicates


def test_q_cd_1_only_first_item_xored_and_key_wraps_past_32_bytes():
    cd = make(ring_buffer_data_guid=G, buffer_size=40, buffer_count=3)
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
    cd = make(ring_buffer_data_guid=G, buffer_size=4, buffer_count=4)
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle)
    assert result.blobs == []
    assert (result.calls[0].query_out_buffer, result.calls[0].query_length) == (0, 0)
    assert result.calls[0].out_buffer == 0
    cd.write_self(b"\x01\x02\x03\x04")
    (guid, blob), = cd.kernel.bugcheck(0xDEADDEAD, cd.handle).blobs
    assert blob == bytes(x ^ k for x, k in zip(b"\x01\x02\x03\x04", KEY)) + bytes(12)


def test_q_cd_3_the_size_query_alone_reorders_and_zeroes_the_tail():
    cd = worked_example()
    assert items_of(cd) == bytes.fromhex("41424344 51525354 31323334 00000000")
    sec = cd.callbacks.secondary_layout
    data = cd.machine.pool.allocate(sec.size)
    in_buffer = cd.machine.pool.allocate(0x1000)
    cd.space.write(data, sec.pack({"InBuffer": in_buffer, "InBufferLength": 0x1000, "MaximumAllowed": 0x1000}))
    cd.kernel.invoke(cd.state.record_va(0), 2, data, sec.size)
    assert items_of(cd) == bytes.fromhex("31323334 41424344 51525354 51525354")   # not XOR-ed
    out = sec.unpack_from(cd.space.read(data, sec.size))
    assert (out["OutBuffer"], out["OutBufferLength"]) == (cd.state.ring_of(0).items_va, 12)
    assert out["Guid"] == ZERO_GUID
    assert (cd.state.ring_of(0).read_index, cd.state.ring_of(0).items_present) == (0, 3)


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_q_cd_9_dump_pages_hold_the_pre_crash_ring_while_the_blob_is_transformed(tmp_path, arch):
    cd = worked_example(arch)
    items = cd.state.ring_of(0).items_va
    path = str(tmp_path / "q9.dmp")
    cd.kernel.bugcheck(0xDEADDEAD, cd.handle, path=path)
    dump = DumpFile(path)
    assert dump.read(items, 16) == bytes.fromhex("41424344 51525354 31323334 00000000")
    assert dump.read_tagged(G) == WORKED
    assert items_of(cd) == bytes.fromhex("77067201 41424344 51525354 51525354")   # live memory after


def test_q_cd_10_additional_length_defaults_to_maximum_and_query_is_not_clamped():
    seen = []

    def query(request):
        seen.append(("query", request.out_buffer, request.length))
        return 0x10000          # only the length

    def write(request):
        seen.append(("write", request.out_buffer == request.in_buffer, request.length))
        return None             # leaves OutBuffer (= InBuffer) and the length (= MaximumAllowed)

    cd = make(additional_data_guid=G2, evt_crash_dump_query=query, evt_crash_dump_write=write)
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

    cd = make(additional_data_guid=G2, evt_crash_dump_query=query, evt_crash_dump_write=write)
    assert cd.kernel.bugcheck(1, maximum_allowed=0x100).blobs == [(G2, b"from-own-")]

    def provide(request):
        return b"client-bytes"
    cd = make(additional_data_guid=G2, evt_crash_dump_query=provide, evt_crash_dump_write=provide)
    assert cd.kernel.bugcheck(1, maximum_allowed=5).blobs == [(G2, b"clien")]


def test_triage_callback_runs_with_bugcheck_active_and_hands_over_the_array(tmp_path):
    stored = []

    def store(crashdump, code, p1, p2, p3, p4):
        stored.append((code, p1, p2, p3, p4))
        ring = crashdump.state.ring_of(0)
        assert crashdump.triage_dump_data_add(ring.items_va, 16) == 0

    cd = make(ring_buffer_data_guid=G, buffer_size=4, buffer_count=3, triage_dump_data_array_size=4,
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
    assert [(b.guid, dump.read_blob(b)) for b in dump.tagged()] == [(G, WORKED)]


def test_triage_callback_ignores_calls_without_bugcheck_active():
    stored = []
    cd = make(buffer_size=4, buffer_count=2, triage_dump_data_array_size=1,
              evt_crash_dump_store_triage_dump_data=lambda *a: stored.append(a))
    tdd = cd.kernel.triage_data
    data = cd.machine.pool.allocate(tdd.size)
    cd.kernel.invoke(cd.state.context_field_va("BugCheckCallbackRecordTriageDumpData"), 7, data, tdd.size)
    assert stored == [] and cd.space.read_ptr(data) == 0


def test_deregistered_records_are_not_called():
    cd = worked_example()
    assert cd.kernel.deregister(cd.state.record_va(0))
    assert not cd.kernel.deregister(cd.state.record_va(0))
    assert cd.kernel.bugcheck(1).calls == []


def test_record_with_unknown_routine_faults():
    cd = worked_example()
    cd.space.write_ptr(cd.state.record_va(0) + cd.state.record_layout.offsets["CallbackRoutine"], 0x1234)
    with pytest.raises(bugcheck.KernelFault):
        cd.kernel.bugcheck(1)


@pytest.mark.parametrize("arch,dump_type", [("x64", "full"), ("x64", "bitmap"), ("x86", "full")])
def test_ioctl_crash_driver_writes_the_private_bug_check(tmp_path, arch, dump_type):
    cd = worked_example(arch, data_source_count=1, ring_buffer_maximum_size=64)
    kernel = bugcheck.BugCheckSystem.of(cd.machine)
    kernel.crash_path = str(tmp_path / "MEMORY.DMP")
    kernel.crash_dump_type = dump_type
    with pytest.raises(bugcheck.SystemCrash) as crashed:
        cd.ioctl(dmf_structures.IOCTL_CRASH_DRIVER, b"", 0, cd.file_create())
    assert crashed.value.result.file_size > 0
    dump = DumpFile(kernel.crash_path)
    assert dump.bugcheck() == (0xDEADDEAD, (cd.handle, 0, 0, 0))
    assert [(b.guid, dump.read_blob(b)) for b in dump.tagged()] == [(G, WORKED)]
    assert kernel.crashed is crashed.value.result


def test_records_are_linked_from_the_list_head_in_registration_order():
    def cb(request):
        return b"x"
    cd = make(ring_buffer_data_guid=G, buffer_size=4, buffer_count=3, data_source_count=2,
              ring_buffer_maximum_size=64, evt_crash_dump_query=cb, evt_crash_dump_write=cb)
    fo1, fo2 = cd.file_create(), cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, crashdump.pack_data_source_create(2, 4, G2), 0, fo1)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, crashdump.pack_data_source_create(2, 4, G), 0, fo2)
    kernel = cd.kernel
    assert kernel.walk_list() == kernel.registered() == [
        cd.state.record_va(0), cd.state.context_field_va("BugCheckCallbackRecordAdditional"), cd.state.record_va(1), cd.state.record_va(2)]
    assert cd.machine.symbol("nt!KeBugCheckReasonCallbackListHead") == kernel.list_head
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_DESTROY, b"", 0, fo1)
    assert kernel.walk_list() == [cd.state.record_va(0), cd.state.context_field_va("BugCheckCallbackRecordAdditional"),
                                  cd.state.record_va(2)]
    # the list is circular both ways: Blink of the head is the last record's Entry
    assert cd.space.read_ptr(kernel.list_head + 8) == cd.state.record_va(2)
