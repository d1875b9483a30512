"""The bug-check flow (dmfemu.bugcheck) with DMF_CrashDump as its client: records in memory and their
list, MaximumAllowed, duplicate GUIDs, deregistered records, the private bug check, and Q-CD-9
(the dump holds memory as it was before the secondary-data callbacks ran)."""
import pytest

from dmfkd.layouts.dmf_structures import (IOCTL_CRASH_DRIVER, IOCTL_DATA_SOURCE_CREATE, IOCTL_DATA_SOURCE_DESTROY,
                                          IOCTL_DATA_SOURCE_WRITE)
from dmfkd.targets.dumpfile import DumpFile
from dmfemu import bugcheck
from dmfemu.modules import crashdump

from helpers.emulated_drivers import G, G2, KEY, WORKED_EXAMPLE_BLOB, crashdump_module, ring_storage, worked_example


def test_records_written_in_memory_in_registration_order():
    def cb(request):
        return b"add"
    cd = crashdump_module(ring_buffer_data_guid=G, buffer_size=4, buffer_count=3, data_source_count=1,
                          ring_buffer_maximum_size=64, evt_crash_dump_query=cb, evt_crash_dump_write=cb,
                          triage_dump_data_array_size=2)
    fo = cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, crashdump.pack_data_source_create(2, 4, G2), 0, fo)
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


@pytest.mark.parametrize("maximum,blob", [
    (12, WORKED_EXAMPLE_BLOB), (100, WORKED_EXAMPLE_BLOB), (8, WORKED_EXAMPLE_BLOB[:8]), (6, WORKED_EXAMPLE_BLOB[:6]),
    (1, WORKED_EXAMPLE_BLOB[:1])])
def test_maximum_allowed_truncates_newest_first(maximum, blob):
    cd = worked_example()
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle, maximum_allowed=maximum)
    assert result.blobs == [(G, blob)]
    assert result.calls[0].query_length == min(12, maximum)


def test_duplicate_guids_kept_in_registration_order(tmp_path):
    def cb(request):
        return b"additional"
    cd = crashdump_module(ring_buffer_data_guid=G, additional_data_guid=G, buffer_size=4, buffer_count=3,
                          data_source_count=1, ring_buffer_maximum_size=64, evt_crash_dump_query=cb,
                          evt_crash_dump_write=cb)
    for b in (0x11, 0x21, 0x31, 0x41, 0x51):
        cd.write_self(bytes([b, b + 1, b + 2, b + 3]))
    fo = cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, crashdump.pack_data_source_create(2, 4, G), 0, fo)
    cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"ZZZZ", 0, fo)
    path = str(tmp_path / "dup.dmp")
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle, path=path)
    aux = bytes(x ^ k for x, k in zip(b"ZZZZ", KEY)) + bytes(4)
    assert result.blobs == [(G, WORKED_EXAMPLE_BLOB), (G, b"additional"), (G, aux)]
    dump = DumpFile(path)
    assert [(b.guid, dump.read_blob(b)) for b in dump.tagged()] == result.blobs
    assert dump.read_tagged(G) == WORKED_EXAMPLE_BLOB   # ReadTagged sees the first of duplicates


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_q_cd_9_dump_pages_hold_the_pre_crash_ring_while_the_blob_is_transformed(tmp_path, arch):
    cd = worked_example(arch)
    items = cd.state.ring_of(0).items_va
    path = str(tmp_path / "q9.dmp")
    cd.kernel.bugcheck(0xDEADDEAD, cd.handle, path=path)
    dump = DumpFile(path)
    assert dump.read(items, 16) == bytes.fromhex("41424344 51525354 31323334 00000000")
    assert dump.read_tagged(G) == WORKED_EXAMPLE_BLOB
    assert ring_storage(cd) == bytes.fromhex("77067201 41424344 51525354 51525354")   # live memory after


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
        cd.ioctl(IOCTL_CRASH_DRIVER, b"", 0, cd.file_create())
    assert crashed.value.result.file_size > 0
    dump = DumpFile(kernel.crash_path)
    assert dump.bugcheck() == (0xDEADDEAD, (cd.handle, 0, 0, 0))
    assert [(b.guid, dump.read_blob(b)) for b in dump.tagged()] == [(G, WORKED_EXAMPLE_BLOB)]
    assert kernel.crashed is crashed.value.result


def test_records_are_linked_from_the_list_head_in_registration_order():
    def cb(request):
        return b"x"
    cd = crashdump_module(ring_buffer_data_guid=G, buffer_size=4, buffer_count=3, data_source_count=2,
                          ring_buffer_maximum_size=64, evt_crash_dump_query=cb, evt_crash_dump_write=cb)
    fo1, fo2 = cd.file_create(), cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, crashdump.pack_data_source_create(2, 4, G2), 0, fo1)
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, crashdump.pack_data_source_create(2, 4, G), 0, fo2)
    kernel = cd.kernel
    additional = cd.state.context_field_va("BugCheckCallbackRecordAdditional")
    assert kernel.walk_list() == kernel.registered() == [
        cd.state.record_va(0), additional, cd.state.record_va(1), cd.state.record_va(2)]
    assert cd.machine.symbol("nt!KeBugCheckReasonCallbackListHead") == kernel.list_head
    cd.ioctl(IOCTL_DATA_SOURCE_DESTROY, b"", 0, fo1)
    assert kernel.walk_list() == [cd.state.record_va(0), cd.state.context_field_va("BugCheckCallbackRecordAdditional"),
                                  cd.state.record_va(2)]
    # the list is circular both ways: Blink of the head is the last record's Entry
    assert cd.space.read_ptr(kernel.list_head + 8) == cd.state.record_va(2)
