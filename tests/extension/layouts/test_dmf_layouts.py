"""Sizes and offsets of every DMF layout against the tables of spec/dmf.md (typed in here from the
spec, the independent source), plus parse/build/pack symmetry and the version accessors."""
import struct
import uuid

import pytest

from dmfkd.errors import LayoutError
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dmf_versions
from dmfkd.layouts import engine
from dmfkd.layouts import windows

ARCHES = ("x64", "x86")


def check(layout, arch, table, size):
    """table: {field: (x64 offset, x86 offset)}"""
    col = 0 if arch == "x64" else 1
    for field, offs in table.items():
        assert layout.offsets[field] == offs[col], (layout.name, arch, field)
    assert layout.size == size[col], (layout.name, arch)
    assert layout.sizeof() == size[col]
    assert len(layout.build({})) == size[col]
    assert len(layout.pack({})) == size[col]


@pytest.mark.parametrize("arch", ARCHES)
def test_ring_buffer_spec_1_2(arch):
    check(dmf_structures.ring_buffer(arch), arch, {
        "MemoryRing": (0, 0), "ItemSize": (8, 4), "Items": (16, 8), "ReadPointer": (24, 12),
        "WritePointer": (32, 16), "BufferEnd": (40, 20), "TotalSize": (48, 24), "Mode": (52, 28),
        "ItemsCount": (56, 32), "ItemsPresentCount": (60, 36),
    }, (64, 40))
    assert dmf_structures.ring_buffer(arch).align == (8 if arch == "x64" else 4)


@pytest.mark.parametrize("arch", ARCHES)
def test_config_ring_buffer_spec_1_1(arch):
    check(dmf_structures.dmf_config_ring_buffer(arch), arch,
          {"ItemCount": (0, 0), "ItemSize": (4, 4), "Mode": (8, 8)}, (12, 12))


@pytest.mark.parametrize("arch", ARCHES)
def test_data_source_spec_2_3(arch):
    check(dmf_structures.data_source(arch), arch, {
        "DmfModuleDataSourceRingBuffer": (0, 0), "FileObject": (8, 4), "FileObject[1]": (16, 8),
        "FileObject[2]": (24, 12), "RingBufferGuid": (32, 16), "RingBufferEncryptionKey": (48, 32),
        "RingBufferEncryptionKeySize": (84, 68), "RingBufferData": (88, 72), "RingBufferSize": (96, 76),
        "RingBufferSizeOfEachEntry": (100, 80), "CurrentRingBufferIndex": (104, 84),
    }, (112, 88))
    assert dmf_structures.data_source(arch).sizes["RingBufferEncryptionKey"] == 33


@pytest.mark.parametrize("arch", ARCHES)
def test_bugcheck_record_spec_2_4(arch):
    check(windows.bugcheck_reason_callback_record(arch), arch, {
        "Entry": (0, 0), "CallbackRoutine": (16, 8), "Component": (24, 12), "Checksum": (32, 16),
        "Reason": (40, 20), "State": (44, 24),
    }, (48, 28))


CONTEXT_TABLE = {
    # field: {label: (x64, x86)}
    "DataSourceCount": {"V1": (0, 0), "V3": (0, 0), "V4": (0, 0), "V5": (0, 0)},
    "BugCheckCallbackRecordAdditional": {"V1": (8, 4), "V3": (8, 4), "V4": (8, 4), "V5": (8, 4)},
    "DataSource": {"V1": (56, 32), "V3": (56, 32), "V4": (56, 32), "V5": (56, 32)},
    "DataSourceMemory": {"V4": (64, 36), "V5": (64, 36)},
    "BugCheckCallbackRecordRingBuffer": {"V1": (64, 36), "V3": (64, 36), "V4": (72, 40), "V5": (72, 40)},
    "BugCheckCallbackRecordRingBufferMemory": {"V4": (80, 44), "V5": (80, 44)},
    "TriageDumpDataArrayMemory": {"V3": (72, 40), "V4": (88, 48), "V5": (88, 48)},
    "TriageDumpDataArray": {"V3": (80, 44), "V4": (96, 52), "V5": (96, 52)},
    "DumpDataBlock": {"V5": (104, 56)},
    "BugCheckCallbackRecordTriageDumpData": {"V3": (88, 48), "V4": (104, 56), "V5": (112, 60)},
    "SurpriseRemoved": {"V1": (72, 40), "V3": (136, 76), "V4": (152, 84), "V5": (160, 88)},
}
CONTEXT_SIZES = {"V1": (80, 44), "V3": (144, 80), "V4": (160, 88), "V5": (168, 92)}


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("label", ["V1", "V3", "V4", "V5"])
def test_crashdump_context_spec_2_4(arch, label):
    table = {f: per[label] for f, per in CONTEXT_TABLE.items() if label in per}
    layout = dmf_structures.crashdump_context(arch, label)
    check(layout, arch, table, CONTEXT_SIZES[label])
    absent = [f for f, per in CONTEXT_TABLE.items() if label not in per]
    for f in absent:
        assert f not in layout.offsets
    col = 0 if arch == "x64" else 1
    assert dmf_structures.crashdump_context_version(arch, CONTEXT_SIZES[label][col]) == label


def test_crashdump_context_version_unknown():
    with pytest.raises(LayoutError) as err:
        dmf_structures.crashdump_context_version("x64", 200)
    assert str(err.value) == "DMF CrashDump context of 200 bytes: unknown layout"


@pytest.mark.parametrize("version,label", [
    ("1.0", "V1"), ("1.1.84", "V1"), ("1.1.85", "V3"), ("1.1.115", "V3"), ("1.1.116", "V4"),
    ("1.1.153", "V4"), ("1.1.154", "V5"), ((1, 1, 200), "V5"),
])
def test_crashdump_context_by_dmf_version(version, label):
    assert dmf_structures.crashdump_context_label_for_dmf(version) == label
    assert dmf_structures.crashdump_context_for_dmf("x64", version) is dmf_structures.crashdump_context("x64", label)


@pytest.mark.parametrize("arch", ARCHES)
def test_crashdump_config_flat_spec_2_2a(arch):
    check(dmf_structures.crashdump_config(arch, False), arch, {
        "ComponentName": (0, 0), "RingBufferDataGuid": (8, 4), "AdditionalDataGuid": (24, 20),
        "BufferSize": (40, 36), "BufferCount": (44, 40), "RingBufferMaximumSize": (48, 44),
        "EvtCrashDumpQuery": (56, 48), "EvtCrashDumpWrite": (64, 52), "DataSourceCount": (72, 56),
    }, (80, 60))


@pytest.mark.parametrize("arch", ARCHES)
def test_crashdump_config_nested_spec_2_2b(arch):
    layout = dmf_structures.crashdump_config(arch, True)
    check(layout, arch, {
        "ComponentName": (0, 0), "SecondaryData.RingBufferDataGuid": (8, 4),
        "SecondaryData.AdditionalDataGuid": (24, 20), "SecondaryData.BufferSize": (40, 36),
        "SecondaryData.BufferCount": (44, 40), "SecondaryData.RingBufferMaximumSize": (48, 44),
        "SecondaryData.EvtCrashDumpQuery": (56, 48), "SecondaryData.EvtCrashDumpWrite": (64, 52),
        "SecondaryData.DataSourceCount": (72, 56), "TriageDumpData.TriageDumpDataArraySize": (80, 60),
        "TriageDumpData.EvtCrashDumpStoreTriageDumpData": (88, 64),
    }, (96, 68))
    col = 0 if arch == "x64" else 1
    assert layout.sizes["SecondaryData"] == (72, 56)[col]
    assert layout.sizes["TriageDumpData"] == (16, 8)[col]
    # spec/dmf.md §2.2: nested is a binary superset of flat
    flat = dmf_structures.crashdump_config(arch, False)
    for name, off in flat.offsets.items():
        nested_name = name if name == "ComponentName" else "SecondaryData." + name
        assert layout.offsets[nested_name] == off


@pytest.mark.parametrize("arch,size,nested", [
    ("x64", 80, False), ("x64", 96, True), ("x86", 60, False), ("x86", 68, True)])
def test_crashdump_config_nested_detection(arch, size, nested):
    assert dmf_structures.crashdump_config_nested(arch, size) is nested


@pytest.mark.parametrize("size", [0, 88, 72, 200])
def test_crashdump_config_nested_unknown(size):
    with pytest.raises(LayoutError, match="DMF CrashDump config of %d bytes: unknown layout" % size):
        dmf_structures.crashdump_config_nested("x64", size)


@pytest.mark.parametrize("arch", ARCHES)
def test_secondary_dump_data_spec_2_10(arch):
    check(windows.bugcheck_secondary_dump_data(arch), arch, {
        "InBuffer": (0, 0), "InBufferLength": (8, 4), "MaximumAllowed": (12, 8), "Guid": (16, 12),
        "OutBuffer": (32, 28), "OutBufferLength": (40, 32),
    }, (48, 36))


@pytest.mark.parametrize("layout", [dmf_structures.data_source_create(), dmf_structures.data_source_open()])
def test_data_source_create_open_pack1_spec_2_7(layout):
    assert layout.size == 24
    assert layout.offsets == {"EntriesCount": 0, "EntrySize": 4, "Guid": 8}
    raw = bytes(range(24))
    values = layout.unpack_from(raw)
    assert values["EntriesCount"] == 0x03020100
    assert values["Guid"] == uuid.UUID(bytes_le=raw[8:24])
    assert layout.build(layout.parse(raw)) == raw


@pytest.mark.parametrize("arch", ARCHES)
def test_triage_array_spec_2_13(arch):
    check(windows.ktriage_dump_data_array(arch), arch, {
        "List": (0, 0), "NumBlocksUsed": (16, 8), "NumBlocksTotal": (20, 12), "DataSize": (24, 16),
        "MaxDataSize": (28, 20), "ComponentNameBufferLength": (32, 24), "ComponentName": (40, 28),
    }, (48, 32))
    check(windows.kaddress_range(arch), arch, {"Address": (0, 0), "Size": (8, 4)}, (16, 8))
    assert windows.ktriage_dump_data_array_size(arch, 5) == ((48 + 16 * 5) if arch == "x64" else (32 + 8 * 5))


@pytest.mark.parametrize("arch", ARCHES)
def test_wdf_structures_spec_4_2(arch):
    check(windows.wdf_object_context_type_info(arch), arch, {
        "Size": (0, 0), "ContextName": (8, 4), "ContextSize": (16, 8), "UniqueType": (24, 12),
        "EvtDriverGetUniqueContextType": (32, 16)}, (40, 20))
    check(windows.wdf_context_header(arch), arch, {
        "Object": (0, 0), "NextHeader": (8, 4), "EvtCleanupCallback": (16, 8),
        "EvtDestroyCallback": (24, 12), "ContextTypeInfo": (32, 16)}, (40, 20))
    assert windows.wdf_context_offset(arch) == (48 if arch == "x64" else 24)
    assert engine.memory_allocation_alignment(arch) == (16 if arch == "x64" else 8)


DMF_OBJECT_HEAD_TABLE = {
    "ChildListEntry": (0, 0), "ModuleConfig": (16, 8), "ModuleConfigSize": (24, 12),
    "ModuleContext": (32, 16), "ReferenceCount": (40, 20), "ReferenceCountLock": (48, 24),
    "ParentDevice": (56, 28), "MemoryDmfObject": (64, 32), "ModuleState": (72, 36),
    "ModuleOpenedDuring": (76, 40), "ModuleNotificationRegisteredDuring": (80, 44),
    "ModuleName": (88, 48), "ClientModuleInstanceName": (96, 52),
    "ClientModuleInstanceNameSizeBytes": (104, 56), "Signature": (112, 64),
    "InternalCallbacksDmf": (120, 72), "InternalCallbacksWdf": (184, 104),
    "InternalCallbacksInternal": (424, 224), "ModuleDescriptor": (464, 244),
    "ModuleAttributes": (600, 332), "Callbacks": (680, 372), "IsClosePending": (696, 380),
    "NeedToCallPreClose": (697, 381), "DynamicModuleImmediate": (698, 382),
    "ChildObjectList": (704, 384), "NumberOfChildModules": (720, 392),
    "NeedToCleanupInterfaceBindings": (724, 396), "InterfaceBindings": (728, 400),
    "InterfaceBindingsLock": (736, 404), "TransportModule": (744, 408), "DmfObjectParent": (752, 412),
    "ModuleCollection": (760, 416), "Synchronizations": (768, 420), "InFlightRecorder": (888, 480),
    "UsingDefaultInFlightRecorder": (896, 484), "ClientEvtCleanupCallback": (904, 488),
    "IsTransport": (912, 492), "DesiredTransportInterfaceGuid": (916, 496),
    "ObjectToDereference": (936, 512), "ModuleCanBeDeletedEvent": (944, 516),
    "ModuleClosed": (968, 532), "AddedToParentChildModuleList": (969, 533),
    # ModuleDescriptor members, absolute (spec/dmf.md §4.3 nested-struct sources)
    "ModuleDescriptor.ModuleName": (472, 248), "ModuleDescriptor.ModuleOptions": (480, 252),
    "ModuleDescriptor.OpenOption": (484, 256), "ModuleDescriptor.ModuleConfigSize": (488, 260),
    "ModuleDescriptor.ModuleLiveKernelDumpInitialize": (464 + 64, 244 + 36),
}
DMF_OBJECT_HEAD_SIZES = {
    "ChildListEntry": (16, 8), "InternalCallbacksDmf": (64, 32), "InternalCallbacksWdf": (240, 120),
    "InternalCallbacksInternal": (40, 20), "ModuleDescriptor": (136, 88), "ModuleAttributes": (80, 40),
    "Callbacks": (16, 8), "Synchronizations": (120, 60), "ModuleCanBeDeletedEvent": (24, 16),
    "DesiredTransportInterfaceGuid": (16, 16), "Signature": (8, 8),
}


@pytest.mark.parametrize("arch", ARCHES)
def test_dmf_object_head_spec_4_3(arch):
    layout = dmf_structures.dmf_object(arch, "1.1.154")
    assert layout is dmf_structures.dmf_object_head(arch)
    assert layout.complete
    check(layout, arch, DMF_OBJECT_HEAD_TABLE, (976, 536))
    col = 0 if arch == "x64" else 1
    for f, sizes in DMF_OBJECT_HEAD_SIZES.items():
        assert layout.sizes[f] == sizes[col], f
    assert layout.align == 8  # ULONGLONG Signature: 8-aligned on x86 too (spec/dmf.md §0.2)
    assert dmf_structures.dmf_object(arch, "1.1.146") is layout


PREFIX_TABLE = {
    # field: (x64 <=80, x64 >=81, x86 <=80, x86 >=81) from the "stable prefix" table
    "ChildListEntry": (0, 0, 0, 0), "ModuleConfig": (16, 16, 8, 8), "ModuleContext": (32, 32, 16, 16),
    "ParentDevice": (48, 56, 24, 28), "MemoryDmfObject": (56, 64, 28, 32),
    "ModuleState": (64, 72, 32, 36), "ModuleName": (80, 88, 44, 48), "Signature": (104, 112, 56, 64),
}


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("version", ["1.0", "1.1.80", "1.1.81", "1.1.134", "1.1.135", "1.1.145"])
def test_dmf_object_prefix_spec_4_3(arch, version):
    layout = dmf_structures.dmf_object(arch, version)
    assert not layout.complete
    v = dmf_versions.parse_dmf_version(version)
    col = (0 if v <= (1, 1, 80) else 1) + (0 if arch == "x64" else 2)
    for f, offs in PREFIX_TABLE.items():
        assert layout.offsets[f] == offs[col], (f, version)
    # ModuleConfigMemory (<=1.1.134) / ModuleConfigSize (>=1.1.135) at 24 / 12
    config_field = "ModuleConfigSize" if v >= (1, 1, 135) else "ModuleConfigMemory"
    assert layout.offsets[config_field] == (24 if arch == "x64" else 12)
    if v <= (1, 1, 80):
        assert layout.offsets["ClientModuleInstanceName"] == (96 if arch == "x64" else 52)
        assert layout.offsets["ClientModuleInstanceNameMemory"] == (88 if arch == "x64" else 48)
    elif v < (1, 1, 135):
        assert layout.offsets["ClientModuleInstanceName"] == (104 if arch == "x64" else 56)
    else:
        assert layout.offsets["ClientModuleInstanceName"] == (96 if arch == "x64" else 52)
        assert "ClientModuleInstanceNameMemory" not in layout.offsets
    assert layout.size == layout.offsets["Signature"] + 8


@pytest.mark.parametrize("arch", ARCHES)
def test_module_collection_and_device_context_spec_4_4(arch):
    check(dmf_structures.dmf_module_collection(arch), arch, {
        "ModuleCollectionHandleMemory": (0, 0), "ClientDriverDmfModules": (8, 4),
        "ClientDriverDmfModulesMemory": (16, 8), "NumberOfClientDriverDmfModules": (24, 12),
        "ManualCallToD0EntrySucceeded": (28, 16), "DmfObjectFeature": (32, 20),
        "DmfCallbacksWdfCheck": (56, 32), "ManualDestroyCallbackIsPending": (92, 68),
        "ClientDevice": (96, 72)}, (104, 76))
    assert dmf_structures.dmf_module_collection(arch).sizes["DmfCallbacksWdfCheck"] == 36
    check(dmf_structures.dmf_device_context(arch), arch, {
        "WdfDevice": (0, 0), "ClientImplementsEvtWdfDriverDeviceAdd": (8, 4), "DmfCollection": (16, 8),
        "WdfControlDevice": (24, 12), "WdfClientDriverDevice": (32, 16), "IsFilterDevice": (40, 20),
        "EvtDmfDeviceLog": (48, 24)}, (56, 28))


@pytest.mark.parametrize("arch", ARCHES)
def test_livekerneldump_structures_spec_3(arch):
    check(dmf_structures.livekerneldump_config(arch), arch, {
        "LiveKernelDumpFeatureInitialize": (0, 0), "GuidDeviceInterface": (8, 4), "ReportType": (24, 20),
        "GuidSecondaryData": (48, 44), "IncludeDmfDataInBugCheckTriageDump": (64, 60)}, (72, 64))
    assert dmf_structures.livekerneldump_config(arch, "1.1.84").size == (64 if arch == "x64" else 60)
    check(dmf_structures.livekerneldump_context(arch), arch, {
        "DataBufferSource": (0, 0), "BugCheckParameterDmfCollection": (8, 4), "DmfDataSize": (16, 8),
        "LiveKernelDumpIoctlHandler": (24, 12), "BufferQueue": (32, 16), "CrashDumpModule": (40, 20),
        "NumberOfDataBuffers": (48, 24), "TelemetryDataSize": (52, 28)}, (56, 32))
    col = 0 if arch == "x64" else 1
    assert dmf_structures.livekerneldump_context(arch, "1.1.154", rs3=False).size == (32, 20)[col]
    assert dmf_structures.livekerneldump_context(arch, "1.1.84", rs3=True).size == (40, 20)[col]
    check(dmf_structures.livekerneldump_data_buffer(arch), arch,
          {"Address": (0, 0), "Size": (8, 4), "Valid": (12, 8)}, (13, 9))
    check(dmf_structures.livekerneldump_client_structure(arch), arch, {"Address": (0, 0), "Size": (8, 4)}, (12, 8))
    check(dmf_structures.livekerneldump_input_buffer(arch), arch, {
        "BugCheckCode": (0, 0), "BugCheckParameter": (4, 4), "ExcludeDmfData": (12, 8),
        "NumberOfClientStructures": (13, 9), "ArrayOfClientStructures": (17, 13),
        "SizeOfSecondaryData": (25, 17), "SecondaryDataBuffer": (29, 21)}, (37, 25))


def test_constants():
    assert dmf_structures.IOCTL_DATA_SOURCE_CREATE == 0x0022A000
    assert dmf_structures.IOCTL_DATA_SOURCE_DESTROY == 0x0022A004
    assert dmf_structures.IOCTL_DATA_SOURCE_WRITE == 0x0022A008
    assert dmf_structures.IOCTL_CRASH_DRIVER == 0x0022A00C
    assert dmf_structures.IOCTL_DATA_SOURCE_READ == 0x00226010
    assert dmf_structures.IOCTL_DATA_SOURCE_OPEN == 0x00226014
    assert dmf_structures.IOCTL_DATA_SOURCE_CAPTURE == 0x00226018
    assert dmf_structures.IOCTL_LIVEKERNELDUMP_CREATE == 0x0022CB00
    assert dmf_structures.file_object_orphan("x64") == 0xFFFFFFFFFFFFFFFF
    assert dmf_structures.file_object_orphan("x86") == 0xFFFFFFFF
    assert not windows.nt_success(windows.STATUS_BUFFER_OVERFLOW)
    assert windows.nt_success(windows.STATUS_SUCCESS)
    assert dmf_structures.module_state_values("1.1.135")["Created"] == 1
    assert dmf_structures.module_state_values("1.1.136")["Created"] == 2
    assert dmf_structures.module_state_values("1.1.136")["Destroying"] == 7
    assert dmf_structures.module_state_values("1.1.135")["Destroying"] == 6


@pytest.mark.parametrize("text,expected", [
    ("1.1.154", (1, 1, 154)), ("v1.1.81", (1, 1, 81)), ("1.0", (1, 0, 0)), ((1, 1, 85), (1, 1, 85)),
    (0x0101009A, (1, 1, 154))])
def test_parse_dmf_version(text, expected):
    assert dmf_versions.parse_dmf_version(text) == expected


@pytest.mark.parametrize("bad", ["", "1.x", "1.2.3.4", None, "-1.0"])
def test_parse_dmf_version_rejects(bad):
    with pytest.raises(LayoutError):
        dmf_versions.parse_dmf_version(bad)


def test_unknown_arch():
    with pytest.raises(LayoutError):
        dmf_structures.ring_buffer("mips")


@pytest.mark.parametrize("arch", ARCHES)
def test_parse_build_pack_symmetry(arch):
    layouts = [dmf_structures.ring_buffer(arch), dmf_structures.data_source(arch), dmf_structures.dmf_object_head(arch),
               dmf_structures.crashdump_config(arch, True), dmf_structures.crashdump_context(arch, "V5"),
               dmf_structures.dmf_module_collection(arch), dmf_structures.livekerneldump_input_buffer(arch)]
    for layout in layouts:
        # a pattern with no zero bytes in fields; padding must come back as zero
        raw = bytes((i * 7 + 1) % 251 + 1 for i in range(layout.size))
        parsed = layout.parse(raw)
        rebuilt = layout.build(parsed)
        values = layout.unpack_from(raw)
        packed = layout.pack(values)
        assert rebuilt == packed
        assert layout.unpack_from(packed) == values
        # every field byte survives, every padding byte becomes zero
        for i in range(layout.size):
            assert packed[i] in (raw[i], 0)


@pytest.mark.parametrize("arch", ARCHES)
def test_fast_field_formats_match_offsets(arch):
    layout = dmf_structures.ring_buffer(arch)
    raw = layout.pack({"Items": 0x1000, "TotalSize": 48, "ItemsPresentCount": 3})
    assert struct.unpack_from(layout.fmt("Items"), raw, layout.offsets["Items"])[0] == 0x1000
    assert struct.unpack_from(layout.fmt("TotalSize"), raw, layout.offsets["TotalSize"])[0] == 48
    assert layout.parse(raw).ItemsPresentCount == 3


def test_pack_rejects_unknown_field():
    with pytest.raises(LayoutError):
        dmf_structures.ring_buffer("x64").pack({"NoSuchField": 1})


def test_unpack_and_parse_short_buffer():
    with pytest.raises(LayoutError):
        dmf_structures.ring_buffer("x64").unpack_from(b"\0" * 63)
    with pytest.raises(LayoutError, match="RING_BUFFER \\(x86\\) needs 40 bytes, 39 available"):
        dmf_structures.ring_buffer("x86").parse(b"\0" * 39)
    assert dmf_structures.ring_buffer("x86").parse(b"\0" * 41).ItemSize == 0
