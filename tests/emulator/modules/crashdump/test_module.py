"""DMF_CrashDump's creation, Open and Close (dmfemu.modules.crashdump.module): context and config by
DMF version, the §2.6 Open validation order, the triage array, one instance per driver (Q-CD-7)
and the IoctlHandler child - read back from emulated memory through the layouts."""
import pytest

from dmfkd.layouts.dmf_structures import IOCTL_DATA_SOURCE_CREATE
from dmfkd.layouts import windows
from dmfemu import bugcheck
from dmfemu.driver import Driver
from dmfemu.machine import Machine
from dmfemu.modules import crashdump
from dmfemu.modules.crashdump import callbacks

from helpers.emulated_drivers import G, G2, crashdump_module, crashdump_with_data_sources, source_input
from helpers.ntstatus import SUCCESS, NOT_IMPLEMENTED, INVALID_PARAMETER


@pytest.mark.parametrize("arch,version,label,ctx_size,cfg_size", [
    ("x64", "1.1.84", "V1", 80, 80), ("x86", "1.1.84", "V1", 44, 60),
    ("x64", "1.1.100", "V3", 144, 96), ("x86", "1.1.100", "V3", 80, 68),
    ("x64", "1.1.130", "V4", 160, 96), ("x86", "1.1.130", "V4", 88, 68),
    ("x64", "1.1.154", "V5", 168, 96), ("x86", "1.1.154", "V5", 92, 68),
])
def test_context_and_config_layout_by_version(arch, version, label, ctx_size, cfg_size):
    cd = crashdump_module(arch, version, ring_buffer_data_guid=G, buffer_size=8, buffer_count=2, data_source_count=1,
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
        crashdump_module("x64", "1.1.84", buffer_size=4, buffer_count=2, triage_dump_data_array_size=4)


def test_config_copy_keeps_client_pointers_and_values():
    def query(request):
        return b"x"
    cd = crashdump_module(ring_buffer_data_guid=G, additional_data_guid=G2, buffer_size=8, buffer_count=4,
                          ring_buffer_maximum_size=128, data_source_count=3, evt_crash_dump_query=query,
                          evt_crash_dump_write=query, triage_dump_data_array_size=5)
    cfg = cd.state.config_layout.unpack_from(cd.space.read(cd.state.config_va, cd.state.config_layout.size))
    assert cfg["SecondaryData.RingBufferDataGuid"] == G
    assert cfg["SecondaryData.AdditionalDataGuid"] == G2
    assert (cfg["SecondaryData.BufferSize"], cfg["SecondaryData.BufferCount"]) == (8, 4)
    assert cfg["SecondaryData.EvtCrashDumpQuery"] == cfg["SecondaryData.EvtCrashDumpWrite"] != 0
    assert cfg["TriageDumpData.TriageDumpDataArraySize"] == 5
    assert cd.space.read(cfg["ComponentName"], 8) == b"DmfDemo\0"


def test_open_rejects_more_than_eight_sources_before_allocating():
    cd = crashdump_module(data_source_count=9, ring_buffer_maximum_size=64)
    assert cd.create_status == INVALID_PARAMETER
    assert cd.space.read_u32(cd.state.context_va) == 0 and cd.state.context_pointer("DataSource") == 0
    assert cd.driver.read_global_crashdump() == 0


def test_open_rejects_write_without_query():
    cd = crashdump_module(buffer_size=4, buffer_count=2, evt_crash_dump_write=lambda r: None)
    assert cd.create_status == INVALID_PARAMETER
    assert cd.state.context_pointer("DataSource") == 0


def test_open_rejects_nothing_requested():
    cd = crashdump_module(buffer_size=4, buffer_count=0)
    assert cd.create_status == INVALID_PARAMETER
    assert cd.state.context_pointer("DataSource") == 0


def test_open_rejects_query_without_write():
    cd = crashdump_module(buffer_size=4, buffer_count=2, evt_crash_dump_query=lambda r: None)
    assert cd.create_status == INVALID_PARAMETER
    assert cd.state.context_pointer("DataSource") == 0


def test_open_fails_self_creation_after_allocating_and_keeps_allocations():
    # BufferSize 0 with BufferCount > 0 passes the "nothing requested" test thanks to a data source,
    # then the SELF ring creation fails: the arrays stay allocated (Q-CD-8 "Open never frees")
    cd = crashdump_module(buffer_size=0, buffer_count=3, data_source_count=1, ring_buffer_maximum_size=64)
    assert cd.create_status == INVALID_PARAMETER
    assert cd.space.read_u32(cd.state.context_va) == 2
    data_source = cd.state.context_pointer("DataSource")
    assert data_source != 0 and cd.pool_tag(data_source) == b"CDMo"
    assert cd.driver.read_global_crashdump() == 0


def test_open_triage_without_component_name_fails_after_self_and_additional():
    def cb(request):
        return None
    cd = crashdump_module(component_name=None, ring_buffer_data_guid=G, buffer_size=4, buffer_count=2,
                          evt_crash_dump_query=cb, evt_crash_dump_write=cb, triage_dump_data_array_size=2)
    assert cd.create_status == INVALID_PARAMETER
    registered = cd.kernel.registered()
    assert registered == [cd.state.record_va(0), cd.state.context_field_va("BugCheckCallbackRecordAdditional")]
    assert cd.state.context_pointer("TriageDumpDataArray") == 0


def test_triage_array_and_record_in_memory():
    cd = crashdump_module(ring_buffer_data_guid=G, buffer_size=4, buffer_count=2, triage_dump_data_array_size=3)
    assert cd.create_status == SUCCESS
    array = cd.state.context_pointer("TriageDumpDataArray")
    assert cd.pool_tag(array) == b"CDMo"
    header = windows.ktriage_dump_data_array("x64")
    fields = header.unpack_from(cd.space.read(array, header.size))
    assert (fields["NumBlocksUsed"], fields["NumBlocksTotal"]) == (0, 3)
    cached = cd.space.read_ptr(cd.state.context_field_va("DumpDataBlock"))
    assert cached == cd.driver.kernel_routine("KeAddTriageDumpDataBlock")
    assert cd.triage_dump_data_add(0x1234, 16) == SUCCESS
    fields = header.unpack_from(cd.space.read(array, header.size + 16))
    assert fields["NumBlocksUsed"] == 1
    assert cd.space.read(array + header.size, 16) == (0x1234).to_bytes(8, "little") + (16).to_bytes(8, "little")
    record = cd.kernel.record_fields(cd.state.context_field_va("BugCheckCallbackRecordTriageDumpData"))
    assert record["Reason"] == 7 and record["State"] == 1
    assert record["CallbackRoutine"] == cd.driver.routine(callbacks.ROUTINE_TRIAGE)


def test_triage_add_without_array_or_api():
    cd = crashdump_module(ring_buffer_data_guid=G, buffer_size=4, buffer_count=2)
    assert cd.triage_dump_data_add(0x1000, 4) == INVALID_PARAMETER
    machine = Machine("x64")
    config = crashdump.CrashDumpConfig(buffer_size=4, buffer_count=2, triage_dump_data_array_size=2)
    cd = crashdump.CrashDump(Driver(machine), config, triage_api=False)
    assert cd.create_status == NOT_IMPLEMENTED
    assert cd.state.context_pointer("TriageDumpDataArrayMemory") == 0
    assert cd.state.context_pointer("TriageDumpDataArray") != 0
    assert cd.state.context_pointer("DumpDataBlock") == 0


def test_q_cd_7_single_instance_per_driver():
    cd = crashdump_module(buffer_size=4, buffer_count=2)
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
    config = crashdump.CrashDumpConfig(buffer_size=4, buffer_count=2, triage_dump_data_array_size=2)
    cd = crashdump.CrashDump(driver, config, dynamic=True)
    assert cd.create_status == SUCCESS
    assert parents[-1] == 0 and parents[0] == cd.handle   # arrays: the module; triage array: NULL global
    assert driver.read_global_crashdump() == cd.handle


def test_close_destroys_everything_and_zeroes_count():
    def cb(request):
        return b"zz"
    cd = crashdump_module(ring_buffer_data_guid=G, buffer_size=4, buffer_count=2, data_source_count=2,
                          ring_buffer_maximum_size=64, evt_crash_dump_query=cb, evt_crash_dump_write=cb,
                          triage_dump_data_array_size=2)
    writer = cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G2), 0, writer)
    cd.file_close(writer)
    cd.close()
    assert cd.kernel.registered() == []
    assert cd.space.read_u32(cd.state.context_va) == 0 and cd.state.context_pointer("DataSource") == 0


def test_ioctl_handler_child_and_collection():
    cd = crashdump_with_data_sources(count=1)
    child = cd.ioctl_handler
    assert child.parent is cd.module and cd.module.children == [child]
    assert child.field("DmfObjectParent") == cd.module.object_va
    assert cd.module.field("NumberOfChildModules") == 1
    collection = cd.driver.create_collection()
    assert collection.modules == [cd.module]
    assert cd.module.field("ModuleCollection") == child.field("ModuleCollection") == collection.va
    assert crashdump_module(buffer_size=4, buffer_count=2).ioctl_handler is None
