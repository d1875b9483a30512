"""DMF_CrashDump emulation (dmfemu.modules.crashdump): spec/dmf.md §2 worked examples, one test per
IOCTL row of the §2.7 table, the §2.6 Open validation order and quirks Q-CD-4..Q-CD-8 - asserting
NTSTATUS, Information and the bytes left in emulated memory (read back through the layouts)."""
import uuid

import pytest

from dmfkd.layouts import dmf_structures
from dmfkd.layouts import windows
from dmfkd.layouts.engine import ZERO_GUID

from dmfemu import bugcheck
from dmfemu.driver import Driver
from dmfemu.machine import Machine
from dmfemu.modules import crashdump
from dmfemu.modules.crashdump import callbacks

G = uuid.UUID("F4A58486-FD91-4BF9-96BC-DDA5CF571EDF")   # spec/dmf.md §2.11 example GUID
G2 = uuid.UUID("11111111-2222-3333-4444-555555555555")
G3 = uuid.UUID("99999999-8888-7777-6666-555555555555")
KEY = b"F4A58486FD914BF996BCDDA5CF571EDF"

SUCCESS = 0x00000000
BUFFER_OVERFLOW = 0x80000005
NO_MORE_FILES = 0x80000006
UNSUCCESSFUL = 0xC0000001
NOT_IMPLEMENTED = 0xC0000002
INVALID_HANDLE = 0xC0000008
INVALID_PARAMETER = 0xC000000D
ACCESS_DENIED = 0xC0000022
BUFFER_TOO_SMALL = 0xC0000023
NOT_SUPPORTED = 0xC00000BB
INVALID_ADDRESS = 0xC0000141


def make(arch="x64", version="1.1.154", **config):
    machine = Machine(arch)
    driver = Driver(machine, dmf_version=version)
    return crashdump.CrashDump(driver, crashdump.CrashDumpConfig(**config))


def aux(arch="x64", version="1.1.154", count=2, maximum=4096, **config):
    """A CrashDump hosting `count` user-mode data sources and no SELF ring."""
    return make(arch, version, data_source_count=count, ring_buffer_maximum_size=maximum, **config)


def create_input(entries, size, guid):
    return crashdump.pack_data_source_create(entries, size, guid)


def slot(cd, index):
    return cd.state.data_source(index)


def storage(cd, index):
    ring = cd.state.ring_of(index)
    return cd.space.read(ring.items_va, (ring.item_count + 1) * ring.item_size)


# -- §2.11 worked examples ------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_self_blob_worked_example_bytes(arch):
    cd = make(arch, ring_buffer_data_guid=G, buffer_size=4, buffer_count=3)
    assert cd.create_status == SUCCESS
    for b in (0x11, 0x21, 0x31, 0x41, 0x51):
        assert cd.write_self(bytes([b, b + 1, b + 2, b + 3])) == SUCCESS
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle)
    assert result.blobs == [(G, bytes.fromhex("77 06 72 01 41 42 43 44 51 52 53 54"))]
    # the transformation happened in place on the live storage (spec §2.11 "side effects")
    assert storage(cd, 0) == bytes.fromhex("77067201 41424344 51525354 51525354")
    ds = slot(cd, 0)
    assert ds["RingBufferData"] == cd.state.ring_of(0).items_va
    assert ds["CurrentRingBufferIndex"] == 0


def test_partial_blob_worked_example_bytes():
    cd = aux(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(4, 4, G), 0, writer)[:2] == (SUCCESS, 24)
    for item in ("a0a1a2a3", "b0b1b2b3", "c0c1c2c3"):
        assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, bytes.fromhex(item), 0, writer)[0] == SUCCESS
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, create_input(0, 0, G), 24, reader)[0] == SUCCESS
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_READ, b"", 4, reader) == (SUCCESS, 4, bytes.fromhex("a0a1a2a3"))
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle)
    assert result.blobs == [(G, bytes.fromhex("f6 85 f3 86 c0 c1 c2 c3 00 00 00 00 00 00 00 00"))]
    # the consumed item survives in the swap slot (Q-RB-7)
    assert storage(cd, 1)[16:] == bytes.fromhex("a0a1a2a3")


def test_key_is_upper_case_hex_of_numeric_fields_with_nul_and_zero_pad():
    cd = make(ring_buffer_data_guid=G, buffer_size=4, buffer_count=3)
    raw = cd.space.read(cd.state.data_source_va(0), cd.state.data_source_layout.size)
    off = cd.state.data_source_layout.offsets["RingBufferEncryptionKey"]
    assert raw[off:off + 36] == KEY + b"\0" + b"\0\0\0"
    assert slot(cd, 0)["RingBufferEncryptionKeySize"] == 32
    assert raw[cd.state.data_source_layout.offsets["RingBufferGuid"]:][:16] == G.bytes_le


# -- configuration and context by version -----------------------------------------------------------

@pytest.mark.parametrize("arch,version,label,ctx_size,cfg_size", [
    ("x64", "1.1.84", "V1", 80, 80), ("x86", "1.1.84", "V1", 44, 60),
    ("x64", "1.1.100", "V3", 144, 96), ("x86", "1.1.100", "V3", 80, 68),
    ("x64", "1.1.130", "V4", 160, 96), ("x86", "1.1.130", "V4", 88, 68),
    ("x64", "1.1.154", "V5", 168, 96), ("x86", "1.1.154", "V5", 92, 68),
])
def test_context_and_config_layout_by_version(arch, version, label, ctx_size, cfg_size):
    cd = make(arch, version, ring_buffer_data_guid=G, buffer_size=8, buffer_count=2, data_source_count=1,
              ring_buffer_maximum_size=64)
    assert cd.context_label == label
    assert cd.module.context_size == ctx_size
    assert cd.module.config_size == cfg_size
    info = cd.driver.machine.symbol("dmfdemo!_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO")
    tinfo = windows.wdf_object_context_type_info(arch)
    fields = tinfo.unpack_from(cd.space.read(info, tinfo.size))
    assert fields["ContextSize"] == ctx_size
    assert cd.space.read(fields["ContextName"], 22) == b"DMF_CONTEXT_CrashDump\0"
    assert cd.driver.read_global_crashdump() == cd.handle
    ctx = cd.state.context_layout.unpack_from(cd.space.read(cd.state.context_va, ctx_size))
    assert ctx["DataSourceCount"] == 2
    assert cd.pool_tag(ctx["DataSource"]) == b"CDMo"
    assert cd.pool_tag(ctx["BugCheckCallbackRecordRingBuffer"]) == b"CDMo"
    if label in ("V4", "V5"):
        assert ctx["DataSourceMemory"] != 0 and ctx["BugCheckCallbackRecordRingBufferMemory"] != 0


def test_flat_config_rejects_triage_fields():
    with pytest.raises(Exception):
        make("x64", "1.1.84", buffer_size=4, buffer_count=2, triage_dump_data_array_size=4)


def test_config_copy_keeps_client_pointers_and_values():
    def query(request):
        return b"x"
    cd = make(ring_buffer_data_guid=G, additional_data_guid=G2, buffer_size=8, buffer_count=4,
              ring_buffer_maximum_size=128, data_source_count=3, evt_crash_dump_query=query,
              evt_crash_dump_write=query, triage_dump_data_array_size=5)
    cfg = cd.state.config_layout.unpack_from(cd.space.read(cd.state.config_va, cd.state.config_layout.size))
    assert cfg["SecondaryData.RingBufferDataGuid"] == G
    assert cfg["SecondaryData.AdditionalDataGuid"] == G2
    assert (cfg["SecondaryData.BufferSize"], cfg["SecondaryData.BufferCount"]) == (8, 4)
    assert cfg["SecondaryData.EvtCrashDumpQuery"] == cfg["SecondaryData.EvtCrashDumpWrite"] != 0
    assert cfg["TriageDumpData.TriageDumpDataArraySize"] == 5
    assert cd.space.read(cfg["ComponentName"], 8) == b"DmfDemo\0"


# -- Open validation order (§2.6) ------------------------------------------------------------------

def test_open_rejects_more_than_eight_sources_before_allocating():
    cd = make(data_source_count=9, ring_buffer_maximum_size=64)
    assert cd.create_status == INVALID_PARAMETER
    assert cd.space.read_u32(cd.state.context_va) == 0 and cd.state.context_pointer("DataSource") == 0
    assert cd.driver.read_global_crashdump() == 0


def test_open_rejects_write_without_query():
    cd = make(buffer_size=4, buffer_count=2, evt_crash_dump_write=lambda r: None)
    assert cd.create_status == INVALID_PARAMETER
    assert cd.state.context_pointer("DataSource") == 0


def test_open_rejects_nothing_requested():
    cd = make(buffer_size=4, buffer_count=0)
    assert cd.create_status == INVALID_PARAMETER
    assert cd.state.context_pointer("DataSource") == 0


def test_open_rejects_query_without_write():
    cd = make(buffer_size=4, buffer_count=2, evt_crash_dump_query=lambda r: None)
    assert cd.create_status == INVALID_PARAMETER
    assert cd.state.context_pointer("DataSource") == 0


def test_open_fails_self_creation_after_allocating_and_keeps_allocations():
    # BufferSize 0 with BufferCount > 0 passes the "nothing requested" test thanks to a data source,
    # then the SELF ring creation fails: the arrays stay allocated (Q-CD-8 "Open never frees")
    cd = make(buffer_size=0, buffer_count=3, data_source_count=1, ring_buffer_maximum_size=64)
    assert cd.create_status == INVALID_PARAMETER
    assert cd.space.read_u32(cd.state.context_va) == 2
    assert cd.state.context_pointer("DataSource") != 0 and cd.pool_tag(cd.state.context_pointer("DataSource")) == b"CDMo"
    assert cd.driver.read_global_crashdump() == 0


def test_open_triage_without_component_name_fails_after_self_and_additional():
    def cb(request):
        return None
    cd = make(component_name=None, ring_buffer_data_guid=G, buffer_size=4, buffer_count=2,
              evt_crash_dump_query=cb, evt_crash_dump_write=cb, triage_dump_data_array_size=2)
    assert cd.create_status == INVALID_PARAMETER
    registered = cd.kernel.registered()
    assert registered == [cd.state.record_va(0), cd.state.context_field_va("BugCheckCallbackRecordAdditional")]
    assert cd.state.context_pointer("TriageDumpDataArray") == 0


def test_triage_array_and_record_in_memory():
    cd = make(ring_buffer_data_guid=G, buffer_size=4, buffer_count=2, triage_dump_data_array_size=3)
    assert cd.create_status == SUCCESS
    array = cd.state.context_pointer("TriageDumpDataArray")
    assert cd.pool_tag(array) == b"CDMo"
    header = windows.ktriage_dump_data_array("x64")
    fields = header.unpack_from(cd.space.read(array, header.size))
    assert (fields["NumBlocksUsed"], fields["NumBlocksTotal"]) == (0, 3)
    assert cd.space.read_ptr(cd.state.context_field_va("DumpDataBlock")) == cd.driver.kernel_routine("KeAddTriageDumpDataBlock")
    assert cd.triage_dump_data_add(0x1234, 16) == SUCCESS
    fields = header.unpack_from(cd.space.read(array, header.size + 16))
    assert fields["NumBlocksUsed"] == 1
    assert cd.space.read(array + header.size, 16) == (0x1234).to_bytes(8, "little") + (16).to_bytes(8, "little")
    record = cd.kernel.record_fields(cd.state.context_field_va("BugCheckCallbackRecordTriageDumpData"))
    assert record["Reason"] == 7 and record["State"] == 1
    assert record["CallbackRoutine"] == cd.driver.routine(callbacks.ROUTINE_TRIAGE)


def test_triage_add_without_array_or_api():
    cd = make(ring_buffer_data_guid=G, buffer_size=4, buffer_count=2)
    assert cd.triage_dump_data_add(0x1000, 4) == INVALID_PARAMETER
    machine = Machine("x64")
    cd = crashdump.CrashDump(Driver(machine), crashdump.CrashDumpConfig(buffer_size=4, buffer_count=2,
                                                            triage_dump_data_array_size=2), triage_api=False)
    assert cd.create_status == NOT_IMPLEMENTED
    assert cd.state.context_pointer("TriageDumpDataArrayMemory") == 0 and cd.state.context_pointer("TriageDumpDataArray") != 0
    assert cd.state.context_pointer("DumpDataBlock") == 0


# -- IOCTL rows (§2.7) ------------------------------------------------------------------------------

def test_ioctl_codes():
    assert (dmf_structures.IOCTL_DATA_SOURCE_CREATE, dmf_structures.IOCTL_DATA_SOURCE_DESTROY, dmf_structures.IOCTL_DATA_SOURCE_WRITE,
            dmf_structures.IOCTL_CRASH_DRIVER, dmf_structures.IOCTL_DATA_SOURCE_READ, dmf_structures.IOCTL_DATA_SOURCE_OPEN,
            dmf_structures.IOCTL_DATA_SOURCE_CAPTURE) == (0x0022A000, 0x0022A004, 0x0022A008, 0x0022A00C,
                                               0x00226010, 0x00226014, 0x00226018)
    assert crashdump.pack_data_source_create(3, 4, G) == b"\x03\0\0\0\x04\0\0\0" + G.bytes_le


def test_ioctl_create():
    cd = aux(count=2, maximum=64)
    fo = cd.file_create()
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(4, 8, G)[:23], 0, fo) == (BUFFER_TOO_SMALL, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(4, 8, G), 0, 0) == (INVALID_ADDRESS, 0, b"")
    # N*S > RingBufferMaximumSize: INVALID_PARAMETER and the slot is released
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(9, 8, G), 0, fo) == (INVALID_PARAMETER, 0, b"")
    assert slot(cd, 1)["FileObject"] == (0, 0, 0)
    # a longer input buffer is accepted; Information = the whole input size
    status, info, out = cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(4, 8, G) + b"\xee" * 8, 0, fo)
    assert (status, info, out) == (SUCCESS, 32, b"")
    ds = slot(cd, 1)
    ring = cd.state.ring_of(1)
    assert ds["FileObject"] == (0, fo, 0)
    assert ds["RingBufferGuid"] == G and ds["RingBufferEncryptionKey"] == KEY + b"\0"
    assert (ds["RingBufferSize"], ds["RingBufferSizeOfEachEntry"]) == (32, 8)
    assert ds["DmfModuleDataSourceRingBuffer"] == ring.handle
    assert (ring.item_count, ring.item_size, ring.mode) == (4, 8, 2)
    rb = cd.driver.dmf.module_from_handle(ring.handle)
    assert rb.instance_name == "DataSourceRingBuffer" and rb.field("ParentDevice") == cd.driver.device
    # a dynamic module parented to the WDFDEVICE: in no module list (spec/dmf.md §4.4)
    assert rb.field("DynamicModuleImmediate") == 1 and rb.parent is None and rb.field("DmfObjectParent") == 0
    assert rb.module_name == "RingBuffer" and cd.pool_tag(ring.items_va) == b"RBMo"
    record = cd.kernel.record_fields(cd.state.record_va(1))
    assert (record["State"], record["Reason"]) == (1, 2)
    assert record["CallbackRoutine"] == cd.driver.machine.symbol(
        "dmfdemo!CrashDump_BugCheckSecondaryDumpDataCallbackRingBuffer")
    assert record["Component"] == cd.state.config_value("ComponentName")
    # slots are exhausted: NO_MORE_FILES
    other, third = cd.file_create(), cd.file_create()
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 8, G2), 0, other)[:2] == (SUCCESS, 24)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 8, G3), 0, third) == (NO_MORE_FILES, 0, b"")


def test_ioctl_open():
    cd = aux(count=2)
    writer, reader = cd.file_create(), cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(5, 12, G), 0, writer)
    request = create_input(0, 0, G)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, request[:20], 24, reader) == (BUFFER_TOO_SMALL, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, request, 23, reader) == (BUFFER_TOO_SMALL, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, request, 24, 0) == (INVALID_ADDRESS, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, create_input(0, 0, ZERO_GUID), 24, reader) == (UNSUCCESSFUL, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, create_input(0, 0, G2), 24, reader) == (UNSUCCESSFUL, 0, b"")
    status, info, out = cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, request, 40, reader)
    assert (status, info) == (SUCCESS, 24)
    assert out == b"\x05\0\0\0\x0c\0\0\0" + G.bytes_le
    assert slot(cd, 1)["FileObject"] == (0, writer, reader)


def test_ioctl_write():
    cd = aux(count=1)
    writer, stranger = cd.file_create(), cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, G), 0, writer)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"", 0, writer) == (BUFFER_TOO_SMALL, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, 0) == (INVALID_PARAMETER, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, stranger) == (INVALID_HANDLE, 4, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"abcde", 0, writer) == (BUFFER_OVERFLOW, 5, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"abc", 0, writer) == (UNSUCCESSFUL, 3, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, writer) == (SUCCESS, 4, b"")
    assert storage(cd, 1) == b"abcd" + bytes(8)
    assert cd.state.ring_of(1).items_present == 1


def test_ioctl_read():
    cd = aux(count=1)
    writer, reader, stranger = cd.file_create(), cd.file_create(), cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(3, 4, G), 0, writer)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, create_input(0, 0, G), 24, reader)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_READ, b"", 0, reader) == (BUFFER_TOO_SMALL, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_READ, b"", 4, 0) == (INVALID_ADDRESS, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_READ, b"", 4, stranger) == (INVALID_HANDLE, 4, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_READ, b"", 3, reader) == (BUFFER_OVERFLOW, 3, bytes(3))
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_READ, b"", 4, reader) == (UNSUCCESSFUL, 4, b"")
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"wxyz", 0, writer)
    # Information is the whole output buffer, not S (Q-CD-6)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_READ, b"", 10, reader) == (SUCCESS, 10, b"wxyz" + bytes(6))
    assert cd.state.ring_of(1).items_present == 0
    assert storage(cd, 1)[:4] == b"wxyz"   # the consumed slot keeps its bytes (Q-RB-3)


def test_ioctl_capture():
    cd = aux(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(3, 4, G), 0, writer)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, create_input(0, 0, G), 24, reader)
    for item in (b"1111", b"2222", b"3333", b"4444"):
        cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, item, 0, writer)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CAPTURE, b"", 4, 0) == (INVALID_ADDRESS, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CAPTURE, b"", 11, reader) == (BUFFER_OVERFLOW, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CAPTURE, b"", 12, writer) == (INVALID_HANDLE, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CAPTURE, b"", 16, reader) == (SUCCESS, 12, b"222233334444")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CAPTURE, b"", 16, reader) == (SUCCESS, 0, b"")   # drained


def test_ioctl_destroy():
    cd = aux(count=1)
    writer, stranger = cd.file_create(), cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(3, 4, G), 0, writer)
    record = cd.state.record_va(1)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_DESTROY, b"", 0, 0) == (INVALID_ADDRESS, 0, b"")
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_DESTROY, b"", 0, stranger) == (SUCCESS, 0, b"")
    assert cd.state.ring_of(1) is not None
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_DESTROY, b"", 0, writer) == (SUCCESS, 0, b"")
    ds = slot(cd, 1)
    assert ds["DmfModuleDataSourceRingBuffer"] == 0 and ds["FileObject"] == (0, 0, 0)
    assert ds["RingBufferGuid"] == ZERO_GUID
    assert cd.kernel.record_fields(record)["State"] == 0 and record not in cd.kernel.registered()


def test_ioctl_crash_driver_debug_and_release():
    cd = aux(count=1)
    fo = cd.file_create()
    with pytest.raises(bugcheck.SystemCrash) as crashed:
        cd.ioctl(dmf_structures.IOCTL_CRASH_DRIVER, b"", 0, fo)
    assert (crashed.value.result.code, crashed.value.result.params) == (0xDEADDEAD, (cd.handle, 0, 0, 0))
    machine = Machine("x64")
    release = crashdump.CrashDump(Driver(machine), crashdump.CrashDumpConfig(data_source_count=1, ring_buffer_maximum_size=64),
                            debug_build=False)
    assert release.ioctl(dmf_structures.IOCTL_CRASH_DRIVER, b"", 0, release.file_create()) == (NOT_SUPPORTED, 0, b"")


def test_ioctl_unknown_code_and_non_administrator():
    cd = aux(count=1)
    fo = cd.file_create()
    assert cd.ioctl(0x0022A010, b"", 0, fo) == (NOT_SUPPORTED, 0, b"")
    with pytest.raises(crashdump.AccessDenied) as denied:
        cd.file_create(administrator=False)
    assert denied.value.status == ACCESS_DENIED


def test_no_interface_without_data_sources():
    cd = make(buffer_size=4, buffer_count=2)
    with pytest.raises(Exception):
        cd.file_create()


# -- file close / orphans (§2.8) --------------------------------------------------------------------

def test_file_close_orphans_writer_and_clears_reader():
    cd = aux(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(3, 4, G), 0, writer)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, create_input(0, 0, G), 24, reader)
    cd.file_close(reader)
    assert slot(cd, 1)["FileObject"] == (0, writer, 0)
    cd.file_close(writer)
    orphan = (1 << 64) - 1
    assert slot(cd, 1)["FileObject"] == (0, orphan, 0)
    assert cd.state.ring_of(1) is not None and cd.state.record_va(1) in cd.kernel.registered()


def test_file_close_x86_orphan_is_all_ones_32():
    cd = aux("x86", count=1)
    writer = cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(3, 4, G), 0, writer)
    cd.file_close(writer)
    assert slot(cd, 1)["FileObject"] == (0, 0xFFFFFFFF, 0)


def test_file_close_after_surprise_removal_changes_nothing():
    cd = aux(count=1)
    writer = cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(3, 4, G), 0, writer)
    cd.surprise_removal()
    assert cd.space.read_u8(cd.state.context_field_va("SurpriseRemoved")) == 1
    cd.file_close(writer)
    assert slot(cd, 1)["FileObject"] == (0, writer, 0)


def test_orphan_slots_limit_distinct_guids():
    cd = aux(count=2)
    for guid in (G, G2):
        fo = cd.file_create()
        assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, guid), 0, fo)[0] == SUCCESS
        cd.file_close(fo)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, G3), 0, cd.file_create())[0] == NO_MORE_FILES


# -- quirks Q-CD-4 .. Q-CD-8 -------------------------------------------------------------------------

def test_q_cd_4_create_reuses_orphaned_ring_ignoring_sizes():
    cd = aux(count=2)
    first = cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(3, 4, G), 0, first)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"keep", 0, first)
    ring = cd.state.ring_of(1)
    cd.file_close(first)
    second = cd.file_create()
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(10, 16, G), 0, second)[:2] == (SUCCESS, 24)
    ds = slot(cd, 1)
    assert ds["FileObject"] == (0, second, 0) and cd.state.ring_of(1) is ring
    assert (ds["RingBufferSize"], ds["RingBufferSizeOfEachEntry"]) == (12, 4)
    assert storage(cd, 1)[:4] == b"keep" and slot(cd, 2)["DmfModuleDataSourceRingBuffer"] == 0
    # a 16-byte write now overflows the reused 4-byte entries
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, bytes(16), 0, second)[0] == BUFFER_OVERFLOW


def test_q_cd_4_zero_guid_create_accepted_but_never_opened():
    cd = aux(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, ZERO_GUID), 0, writer)[0] == SUCCESS
    assert slot(cd, 1)["RingBufferEncryptionKey"] == b"0" * 32 + b"\0"
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, create_input(0, 0, ZERO_GUID), 24, reader)[0] == UNSUCCESSFUL


def test_q_cd_4_writer_handle_cannot_create_twice():
    cd = aux(count=2)
    fo = cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, G), 0, fo)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, G2), 0, fo) == (NO_MORE_FILES, 0, b"")
    assert slot(cd, 2)["FileObject"] == (0, 0, 0)


def test_q_cd_5_open_replaces_reader():
    cd = aux(count=1)
    writer, reader1, reader2 = cd.file_create(), cd.file_create(), cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, G), 0, writer)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, create_input(0, 0, G), 24, reader1)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, create_input(0, 0, G), 24, reader2)
    assert slot(cd, 1)["FileObject"] == (0, writer, reader2)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_READ, b"", 4, reader1)[0] == INVALID_HANDLE


def test_q_cd_5_reader_destroy_kills_writer_source_and_leaks_slot():
    cd = aux(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, G), 0, writer)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, create_input(0, 0, G), 24, reader)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_DESTROY, b"", 0, reader) == (SUCCESS, 0, b"")
    ds = slot(cd, 1)
    assert ds["FileObject"] == (0, writer, 0) and ds["DmfModuleDataSourceRingBuffer"] == 0
    assert ds["RingBufferGuid"] == ZERO_GUID
    # the writer still maps to the slot: its next write hands DMF_RingBuffer a NULL module
    with pytest.raises(bugcheck.KernelFault):
        cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, writer)
    # and the slot can never be allocated again (writer FO still set)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, G2), 0, cd.file_create())[0] == NO_MORE_FILES


def test_q_cd_5_stale_reader_reads_a_new_source_in_the_same_slot():
    cd = aux(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, G), 0, writer)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, create_input(0, 0, G), 24, reader)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_DESTROY, b"", 0, writer)[0] == SUCCESS
    assert slot(cd, 1)["FileObject"] == (0, 0, reader)
    with pytest.raises(bugcheck.KernelFault):
        cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_READ, b"", 4, reader)
    newcomer = cd.file_create()
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, G2), 0, newcomer)[0] == SUCCESS
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"NEW!", 0, newcomer)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_READ, b"", 4, reader) == (SUCCESS, 4, b"NEW!")


def test_q_cd_6_information_values_and_consuming_reads_empty_the_blob():
    cd = aux(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, G), 0, writer)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"toolong", 0, writer)[:2] == (BUFFER_OVERFLOW, 7)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, writer)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, create_input(0, 0, G), 24, reader)
    assert cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CAPTURE, b"", 64, reader)[:2] == (SUCCESS, 4)
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle)
    assert result.blobs == []


def test_q_cd_7_single_instance_per_driver():
    cd = make(buffer_size=4, buffer_count=2)
    second = crashdump.CrashDump(cd.driver, crashdump.CrashDumpConfig(buffer_size=4, buffer_count=2))
    assert second.create_status == INVALID_PARAMETER and second.module is None
    assert cd.driver.read_global_crashdump() == cd.handle


def test_q_cd_7_dynamic_module_crash_before_global_assignment_faults():
    machine = Machine("x64")
    driver = Driver(machine)
    with pytest.raises(bugcheck.KernelFault):
        crashdump.CrashDump(driver, crashdump.CrashDumpConfig(ring_buffer_data_guid=G, buffer_size=4, buffer_count=2),
                      dynamic=True, crash_before_global_assignment=True)


def test_q_cd_7_dynamic_triage_array_parent_is_the_null_global():
    machine = Machine("x64")
    driver = Driver(machine)
    parents = []
    original = driver.wdf_memory

    def spy(size, tag, parent=0):
        parents.append(parent)
        return original(size, tag, parent)
    driver.wdf_memory = spy
    cd = crashdump.CrashDump(driver, crashdump.CrashDumpConfig(buffer_size=4, buffer_count=2, triage_dump_data_array_size=2),
                       dynamic=True)
    assert cd.create_status == SUCCESS
    assert parents[-1] == 0 and parents[0] == cd.handle   # arrays: the module; triage array: NULL global
    assert driver.read_global_crashdump() == cd.handle


def test_q_cd_8_destroy_leaves_key_sizes_and_ring_data_stale():
    cd = aux(count=1)
    writer = cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, G), 0, writer)
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, writer)
    cd.kernel.bugcheck(0xDEADDEAD, cd.handle)    # sets RingBufferData
    items = slot(cd, 1)["RingBufferData"]
    assert items != 0
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_DESTROY, b"", 0, writer)
    ds = slot(cd, 1)
    assert ds["RingBufferGuid"] == ZERO_GUID and ds["DmfModuleDataSourceRingBuffer"] == 0
    assert ds["RingBufferEncryptionKey"] == KEY + b"\0" and ds["RingBufferEncryptionKeySize"] == 32
    assert (ds["RingBufferSize"], ds["RingBufferSizeOfEachEntry"], ds["RingBufferData"]) == (8, 4, items)


def test_close_destroys_everything_and_zeroes_count():
    def cb(request):
        return b"zz"
    cd = make(ring_buffer_data_guid=G, buffer_size=4, buffer_count=2, data_source_count=2,
              ring_buffer_maximum_size=64, evt_crash_dump_query=cb, evt_crash_dump_write=cb,
              triage_dump_data_array_size=2)
    writer = cd.file_create()
    cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, create_input(2, 4, G2), 0, writer)
    cd.file_close(writer)
    cd.close()
    assert cd.kernel.registered() == []
    assert cd.space.read_u32(cd.state.context_va) == 0 and cd.state.context_pointer("DataSource") == 0


def test_ioctl_handler_child_and_collection():
    cd = aux(count=1)
    child = cd.ioctl_handler
    assert child.parent is cd.module and cd.module.children == [child]
    assert child.field("DmfObjectParent") == cd.module.object_va
    assert cd.module.field("NumberOfChildModules") == 1
    collection = cd.driver.create_collection()
    assert collection.modules == [cd.module]
    assert cd.module.field("ModuleCollection") == child.field("ModuleCollection") == collection.va
    assert make(buffer_size=4, buffer_count=2).ioctl_handler is None
