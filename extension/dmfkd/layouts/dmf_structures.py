"""DMF's own structures per architecture and per DMF version (spec/dmf.md §0.2, §1.2, §2.1-2.4, §2.7,
§3.1-3.4, §4.3-4.4), defined once and used both ways: the extension parses with them, the emulator
(dmfemu) builds with them. Laid out by layouts/engine.py; the Windows/WDF structures they embed are in
layouts/windows.py, DMF versions in layouts/dmf_versions.py.

Accessors (all cached; ``version`` is anything ``dmf_versions.parse_dmf_version`` accepts):

    ring_buffer(arch), dmf_config_ring_buffer(arch), data_source(arch)
    crashdump_context(arch, version_label)            # "V1" | "V3" | "V4" | "V5"
    crashdump_context_for_dmf(arch, dmf_version)      # explicit DMF-version dispatch
    crashdump_context_version(arch, context_size) -> "V1"|"V3"|"V4"|"V5"   (LayoutError otherwise)
    crashdump_config(arch, nested), crashdump_config_nested(arch, config_size) -> bool
    crashdump_config_for_dmf(arch, dmf_version)
    dmf_object(arch, dmf_version)                     # full HEAD layout (>= 1.1.146) or a prefix layout
    dmf_object_head(arch), dmf_object_prefix(arch, dmf_version)
    module_state_values(dmf_version) -> {name: value}
    data_source_create(), data_source_open()          # pack 1, 24 bytes, arch independent
    dmf_module_collection(arch, dmf_version), dmf_module_collection_sizes(arch)
    dmf_device_context(arch, dmf_version)
    livekerneldump_config(arch, dmf_version), livekerneldump_context(arch, dmf_version, rs3=True)
    livekerneldump_data_buffer(arch), livekerneldump_client_structure(arch),
    livekerneldump_input_buffer(arch)
    file_object_orphan(arch)

The architecture-independent field lists (``RING_BUFFER``, ``DATA_SOURCE``,
``CRASHDUMP_CONTEXT_SPECS[label]``, ``DMF_OBJECT_HEAD``, ...; each an ``engine.Spec``) are public too:
dmfemu.isf turns them into ISF types.
"""
import uuid
from typing import Dict

from dmfkd.errors import LayoutError
from dmfkd.layouts.dmf_versions import (HEAD_VERSION, V1_1_0, V1_1_3, V1_1_49, V1_1_80, V1_1_85, V1_1_116, V1_1_135, V1_1_136, V1_1_146,
                                        V1_1_154, parse_dmf_version)
from dmfkd.layouts.engine import Layout, Spec, cached_layout, pointer_size
from dmfkd.layouts.windows import (FILE_DEVICE_UNKNOWN, FILE_READ_ACCESS, FILE_WRITE_ACCESS, KBUGCHECK_REASON_CALLBACK_RECORD,
                                   KEVENT, LIST_ENTRY, METHOD_BUFFERED, ctl_code)

#: DMF_OBJECT.Signature (spec/dmf.md §4.3), an 8-byte ULONGLONG.
DMF_OBJECT_SIGNATURE = 0x12345678

# DMF's IOCTL codes: CTL_CODE(FILE_DEVICE_UNKNOWN=0x22, function, METHOD_BUFFERED, access) (spec/dmf.md §2.7).
IOCTL_DATA_SOURCE_CREATE = ctl_code(FILE_DEVICE_UNKNOWN, 2048, METHOD_BUFFERED, FILE_WRITE_ACCESS)
IOCTL_DATA_SOURCE_DESTROY = ctl_code(FILE_DEVICE_UNKNOWN, 2049, METHOD_BUFFERED, FILE_WRITE_ACCESS)
IOCTL_DATA_SOURCE_WRITE = ctl_code(FILE_DEVICE_UNKNOWN, 2050, METHOD_BUFFERED, FILE_WRITE_ACCESS)
IOCTL_CRASH_DRIVER = ctl_code(FILE_DEVICE_UNKNOWN, 2051, METHOD_BUFFERED, FILE_WRITE_ACCESS)
IOCTL_DATA_SOURCE_READ = ctl_code(FILE_DEVICE_UNKNOWN, 2052, METHOD_BUFFERED, FILE_READ_ACCESS)
IOCTL_DATA_SOURCE_OPEN = ctl_code(FILE_DEVICE_UNKNOWN, 2053, METHOD_BUFFERED, FILE_READ_ACCESS)
IOCTL_DATA_SOURCE_CAPTURE = ctl_code(FILE_DEVICE_UNKNOWN, 2054, METHOD_BUFFERED, FILE_READ_ACCESS)
IOCTL_LIVEKERNELDUMP_CREATE = ctl_code(FILE_DEVICE_UNKNOWN, 4800, METHOD_BUFFERED, FILE_WRITE_ACCESS)

# RingBuffer (spec/dmf.md §1.1).
RingBuffer_Mode_Invalid = 0
RingBuffer_Mode_FailIfFullOnWrite = 1
RingBuffer_Mode_DeleteOldestIfFullOnWrite = 2
RingBuffer_Mode_Maximum = 3

# CrashDump (spec/dmf.md §2.1).
CrashDump_MAXIMUM_NUMBER_OF_DATA_SOURCES = 8
CrashDump_MINIMUM_NUMBER_OF_DATA_SOURCES = 1
CrashDump_COMPONENT_NAME_STRING = 256
RINGBUFFER_INDEX_INVALID = -1
RINGBUFFER_INDEX_SELF = 0
RINGBUFFER_INDEX_CLIENT_FIRST = 1
BUG_CHECK_PRIVATE = 0xDEADDEAD
ENCRYPTION_KEY_STRING_SIZE = 32
DATA_SOURCE_KEY_BUFFER_SIZE = ENCRYPTION_KEY_STRING_SIZE + 1
GUID_DEVINTERFACE_CrashDump = uuid.UUID("F4A58486-FD91-4BF9-96BC-DDA5CF571EDF")
DataSourceMode_Invalid = 0
DataSourceMode_Write = 1
DataSourceMode_Read = 2
DataSourceMode_Maximum = 3


def file_object_orphan(arch: str) -> int:
    """FILE_OBJECT_ORPHAN = (WDFFILEOBJECT)-1 at the pointer width (spec/dmf.md §2.1)."""
    return (1 << (8 * pointer_size(arch))) - 1


# Pool tags as they appear in memory (spec/dmf.md §0.2, §4.1).
TAG_RINGBUFFER = b"RBMo"
TAG_CRASHDUMP = b"CDMo"
TAG_LIVEKERNELDUMP = b"LKmD"
TAG_INSTANCE_NAME = b"Dmf0"
TAG_MODULE_CONFIG = b"Dmf1"
TAG_CALLBACKS_DMF = b"Dmf2"
TAG_CALLBACKS_WDF = b"Dmf3"
TAG_DMF_OBJECT = b"Dmf4"
TAG_COLLECTION = b"Dmf6"
TAG_COLLECTION_ARRAY = b"Dmf8"

# ModuleOpenedDuringType (spec/dmf.md §4.3).
MODULE_OPENED_DURING = {
    "Invalid": 0, "Manual": 1, "Create": 2, "PrepareHardware": 3, "D0Entry": 4,
    "D0EntrySystemPowerUp": 5,
}

# DmfFeature index into DMF_MODULE_COLLECTION.DmfObjectFeature (spec/dmf.md §4.4).
DmfFeature_Invalid = 0
DmfFeature_BranchTrack = 1
DmfFeature_LiveKernelDump = 2
DmfFeature_NumberOfFeatures = 3

# LiveKernelDump (spec/dmf.md §3.1, §3.3).
LIVEKERNELDUMP_REPORT_TYPE_CHARS = 12
LIVEKERNELDUMP_DATA_BUFFER_COUNT = 256
LIVEKERNELDUMP_TRIAGE_BLOCK_OVERHEAD = 8


def module_state_values(dmf_version) -> Dict[str, int]:
    """ModuleStateType by DMF version: ModuleState_PreCreate exists since v1.1.136 and shifts every
    later value by one (spec/dmf.md §4.3)."""
    names = ["Invalid", "Created", "Opening", "Opened", "Closing", "Closed", "Destroying"]
    if parse_dmf_version(dmf_version) >= V1_1_136:
        names.insert(1, "PreCreate")
    return {name: value for value, name in enumerate(names)}


# spec/dmf.md §1.1
DMF_CONFIG_RingBuffer = Spec("DMF_CONFIG_RingBuffer", [
    ("ItemCount", "u32"), ("ItemSize", "u32"), ("Mode", "enum"),
])

# spec/dmf.md §1.2 - DMF_CONTEXT_RingBuffer is exactly one RING_BUFFER.
RING_BUFFER = Spec("RING_BUFFER", [
    ("MemoryRing", "ptr"),
    ("ItemSize", "u32"),
    ("Items", "ptr"),
    ("ReadPointer", "ptr"),
    ("WritePointer", "ptr"),
    ("BufferEnd", "ptr"),
    ("TotalSize", "u32"),
    ("Mode", "enum"),
    ("ItemsCount", "u32"),
    ("ItemsPresentCount", "u32"),
])

# spec/dmf.md §2.3
DATA_SOURCE = Spec("DATA_SOURCE", [
    ("DmfModuleDataSourceRingBuffer", "ptr"),
    ("FileObject", ("array", "ptr", 3)),
    ("RingBufferGuid", "guid"),
    ("RingBufferEncryptionKey", ("bytes", DATA_SOURCE_KEY_BUFFER_SIZE)),
    ("RingBufferEncryptionKeySize", "u32"),
    ("RingBufferData", "ptr"),
    ("RingBufferSize", "u32"),
    ("RingBufferSizeOfEachEntry", "u32"),
    ("CurrentRingBufferIndex", "u32"),
])

# The V1 source spells the first record "BugCheckCallbacRecordAdditional" (spec/dmf.md §2.4); one
# name is used for all versions so readers need no per-version spelling.
_RECORD = ("struct", KBUGCHECK_REASON_CALLBACK_RECORD)
CRASHDUMP_CONTEXT_SPECS = {
    "V1": Spec("DMF_CONTEXT_CrashDump_V1", [
        ("DataSourceCount", "u32"),
        ("BugCheckCallbackRecordAdditional", _RECORD),
        ("DataSource", "ptr"),
        ("BugCheckCallbackRecordRingBuffer", "ptr"),
        ("SurpriseRemoved", "bool"),
    ]),
    "V3": Spec("DMF_CONTEXT_CrashDump_V3", [
        ("DataSourceCount", "u32"),
        ("BugCheckCallbackRecordAdditional", _RECORD),
        ("DataSource", "ptr"),
        ("BugCheckCallbackRecordRingBuffer", "ptr"),
        ("TriageDumpDataArrayMemory", "ptr"),
        ("TriageDumpDataArray", "ptr"),
        ("BugCheckCallbackRecordTriageDumpData", _RECORD),
        ("SurpriseRemoved", "bool"),
    ]),
    "V4": Spec("DMF_CONTEXT_CrashDump_V4", [
        ("DataSourceCount", "u32"),
        ("BugCheckCallbackRecordAdditional", _RECORD),
        ("DataSource", "ptr"),
        ("DataSourceMemory", "ptr"),
        ("BugCheckCallbackRecordRingBuffer", "ptr"),
        ("BugCheckCallbackRecordRingBufferMemory", "ptr"),
        ("TriageDumpDataArrayMemory", "ptr"),
        ("TriageDumpDataArray", "ptr"),
        ("BugCheckCallbackRecordTriageDumpData", _RECORD),
        ("SurpriseRemoved", "bool"),
    ]),
    "V5": Spec("DMF_CONTEXT_CrashDump_V5", [
        ("DataSourceCount", "u32"),
        ("BugCheckCallbackRecordAdditional", _RECORD),
        ("DataSource", "ptr"),
        ("DataSourceMemory", "ptr"),
        ("BugCheckCallbackRecordRingBuffer", "ptr"),
        ("BugCheckCallbackRecordRingBufferMemory", "ptr"),
        ("TriageDumpDataArrayMemory", "ptr"),
        ("TriageDumpDataArray", "ptr"),
        ("DumpDataBlock", "ptr"),
        ("BugCheckCallbackRecordTriageDumpData", _RECORD),
        ("SurpriseRemoved", "bool"),
    ]),
}

# spec/dmf.md §2.2 (a) flat, v1.0 - v1.1.84
DMF_CONFIG_CrashDump_Flat = Spec("DMF_CONFIG_CrashDump_Flat", [
    ("ComponentName", "ptr"),
    ("RingBufferDataGuid", "guid"),
    ("AdditionalDataGuid", "guid"),
    ("BufferSize", "u32"),
    ("BufferCount", "u32"),
    ("RingBufferMaximumSize", "u32"),
    ("EvtCrashDumpQuery", "ptr"),
    ("EvtCrashDumpWrite", "ptr"),
    ("DataSourceCount", "u32"),
])
# spec/dmf.md §2.2 (b) nested, v1.1.85 - HEAD
CrashDump_SecondaryData = Spec("CrashDump_SecondaryData", [
    ("RingBufferDataGuid", "guid"),
    ("AdditionalDataGuid", "guid"),
    ("BufferSize", "u32"),
    ("BufferCount", "u32"),
    ("RingBufferMaximumSize", "u32"),
    ("EvtCrashDumpQuery", "ptr"),
    ("EvtCrashDumpWrite", "ptr"),
    ("DataSourceCount", "u32"),
])
CrashDump_TriageDumpData = Spec("CrashDump_TriageDumpData", [
    ("TriageDumpDataArraySize", "u32"),
    ("EvtCrashDumpStoreTriageDumpData", "ptr"),
])
DMF_CONFIG_CrashDump_Nested = Spec("DMF_CONFIG_CrashDump_Nested", [
    ("ComponentName", "ptr"),
    ("SecondaryData", ("struct", CrashDump_SecondaryData)),
    ("TriageDumpData", ("struct", CrashDump_TriageDumpData)),
])

# spec/dmf.md §2.7 - pack(1), identical for CREATE and OPEN, 24 bytes on both architectures
DATA_SOURCE_CREATE = Spec("DATA_SOURCE_CREATE", [
    ("EntriesCount", "u32"), ("EntrySize", "u32"), ("Guid", "guid"),
], pack=1)
DATA_SOURCE_OPEN = Spec("DATA_SOURCE_OPEN", DATA_SOURCE_CREATE.fields, pack=1)

# spec/dmf.md §4.3 nested members of DMF_OBJECT (names from MOD.h / INT.h / DEF.h)
DMF_CALLBACKS_DMF = Spec("DMF_CALLBACKS_DMF", [("Size", "u32"), ("Callbacks", ("array", "ptr", 7))])
DMF_CALLBACKS_WDF = Spec("DMF_CALLBACKS_WDF", [("Size", "u32"), ("Callbacks", ("array", "ptr", 29))])
DMF_CALLBACKS_INTERNAL = Spec("DMF_CALLBACKS_INTERNAL", [("Size", "u32"), ("Callbacks", ("array", "ptr", 4))])
DMF_MODULE_DESCRIPTOR = Spec("DMF_MODULE_DESCRIPTOR", [
    ("Size", "u32"),
    ("ModuleName", "ptr"),
    ("ModuleOptions", "u32"),
    ("OpenOption", "enum"),
    ("ModuleConfigSize", "u32"),
    ("CallbacksDmf", "ptr"),
    ("CallbacksWdf", "ptr"),
    ("ModuleTransportMethod", "ptr"),
    ("ModuleBranchTrackInitialize", "ptr"),
    ("ModuleLiveKernelDumpInitialize", "ptr"),
    ("NumberOfAuxiliaryLocks", "u32"),
    ("ModuleContextAttributes", "ptr"),
    ("InFlightRecorderSize", "u32"),
    ("SupportedTransportInterfaceGuid", "guid"),
    ("RequiredTransportInterfaceGuid", "guid"),
    ("WdfAddCustomType", "ptr"),
])
DMF_MODULE_ATTRIBUTES = Spec("DMF_MODULE_ATTRIBUTES", [
    ("SizeOfHeader", "u32"),
    ("ModuleConfigPointer", "ptr"),
    ("SizeOfModuleSpecificConfig", "u32"),
    ("InstanceCreator", "ptr"),
    ("ClientCallbacks", "ptr"),
    ("ResultantDmfModule", "ptr"),
    ("ClientModuleInstanceName", "ptr"),
    ("DynamicModuleImmediate", "bool"),
    ("DynamicModule", "bool"),
    ("TransportModuleAdd", "ptr"),
    ("PassiveLevel", "bool"),
    ("IsTransportModule", "bool"),
])
DMF_MODULE_EVENT_CALLBACKS = Spec("DMF_MODULE_EVENT_CALLBACKS", [
    ("EvtModuleOnDeviceNotificationPostOpen", "ptr"),
    ("EvtModuleOnDeviceNotificationPreClose", "ptr"),
])
DMF_SYNCHRONIZATION = Spec("DMF_SYNCHRONIZATION", [
    ("SynchronizationDispatchSpinLock", "ptr"),
    ("SynchronizationPassiveWaitLock", "ptr"),
    ("LockHeldByThread", "ptr"),
])

# HEAD (v1.1.146+) full layout, spec/dmf.md §4.3
DMF_OBJECT_HEAD = Spec("DMF_OBJECT", [
    ("ChildListEntry", ("struct", LIST_ENTRY)),
    ("ModuleConfig", "ptr"),
    ("ModuleConfigSize", "ptr"),
    ("ModuleContext", "ptr"),
    ("ReferenceCount", "i32"),
    ("ReferenceCountLock", "ptr"),
    ("ParentDevice", "ptr"),
    ("MemoryDmfObject", "ptr"),
    ("ModuleState", "enum"),
    ("ModuleOpenedDuring", "enum"),
    ("ModuleNotificationRegisteredDuring", "enum"),
    ("ModuleName", "ptr"),
    ("ClientModuleInstanceName", "ptr"),
    ("ClientModuleInstanceNameSizeBytes", "ptr"),
    ("Signature", "u64"),
    ("InternalCallbacksDmf", ("struct", DMF_CALLBACKS_DMF)),
    ("InternalCallbacksWdf", ("struct", DMF_CALLBACKS_WDF)),
    ("InternalCallbacksInternal", ("struct", DMF_CALLBACKS_INTERNAL)),
    ("ModuleDescriptor", ("struct", DMF_MODULE_DESCRIPTOR)),
    ("ModuleAttributes", ("struct", DMF_MODULE_ATTRIBUTES)),
    ("Callbacks", ("struct", DMF_MODULE_EVENT_CALLBACKS)),
    ("IsClosePending", "bool"),
    ("NeedToCallPreClose", "bool"),
    ("DynamicModuleImmediate", "bool"),
    ("ChildObjectList", ("struct", LIST_ENTRY)),
    ("NumberOfChildModules", "u32"),
    ("NeedToCleanupInterfaceBindings", "bool"),
    ("InterfaceBindings", "ptr"),
    ("InterfaceBindingsLock", "ptr"),
    ("TransportModule", "ptr"),
    ("DmfObjectParent", "ptr"),
    ("ModuleCollection", "ptr"),
    ("Synchronizations", ("structs", DMF_SYNCHRONIZATION, 5)),
    ("InFlightRecorder", "ptr"),
    ("UsingDefaultInFlightRecorder", "bool"),
    ("ClientEvtCleanupCallback", "ptr"),
    ("IsTransport", "bool"),
    ("DesiredTransportInterfaceGuid", "guid"),
    ("ObjectToDereference", "ptr"),
    ("ModuleCanBeDeletedEvent", ("struct", KEVENT)),
    ("ModuleClosed", "bool"),
    ("AddedToParentChildModuleList", "bool"),
])

# Prefix layouts: only the fields up to Signature are known for older versions (spec/dmf.md §4.3
# "stable prefix"); the tail moved in 14 revisions and is not described.
DMF_OBJECT_PREFIX_V1_1_80 = Spec("DMF_OBJECT_prefix_le_1_1_80", [
    ("ChildListEntry", ("struct", LIST_ENTRY)),
    ("ModuleConfig", "ptr"),
    ("ModuleConfigMemory", "ptr"),
    ("ModuleContext", "ptr"),
    ("ReferenceCount", "i32"),
    ("ParentDevice", "ptr"),
    ("MemoryDmfObject", "ptr"),
    ("ModuleState", "enum"),
    ("ModuleOpenedDuring", "enum"),
    ("ModuleNotificationRegisteredDuring", "enum"),
    ("ModuleName", "ptr"),
    ("ClientModuleInstanceNameMemory", "ptr"),
    ("ClientModuleInstanceName", "ptr"),
    ("Signature", "u64"),
])
DMF_OBJECT_PREFIX_V1_1_81 = Spec("DMF_OBJECT_prefix_1_1_81_to_134", [
    ("ChildListEntry", ("struct", LIST_ENTRY)),
    ("ModuleConfig", "ptr"),
    ("ModuleConfigMemory", "ptr"),
    ("ModuleContext", "ptr"),
    ("ReferenceCount", "i32"),
    ("ReferenceCountLock", "ptr"),
    ("ParentDevice", "ptr"),
    ("MemoryDmfObject", "ptr"),
    ("ModuleState", "enum"),
    ("ModuleOpenedDuring", "enum"),
    ("ModuleNotificationRegisteredDuring", "enum"),
    ("ModuleName", "ptr"),
    ("ClientModuleInstanceNameMemory", "ptr"),
    ("ClientModuleInstanceName", "ptr"),
    ("Signature", "u64"),
])
DMF_OBJECT_PREFIX_V1_1_135 = Spec("DMF_OBJECT_prefix_1_1_135_to_145", DMF_OBJECT_HEAD.fields[:15])

# spec/dmf.md §4.4
DMF_CALLBACKS_WDF_CHECK = Spec("DMF_CALLBACKS_WDF_CHECK", [
    ("Size", "u32"), ("Checks", ("bytes", 29)),
])
# Both only grew at their end: every version has its fields at HEAD's offsets (DmfIncludeInternal.h history).
# DMF_MODULE_COLLECTION: v1.0 (b6ae401, 2018-08) ends with DmfCallbacksWdfCheck, 96 / 68 bytes; microsoft/DMF
# pull request 43 (2018-12-19, the Client's pending DMF_Invoke_DeviceCallbacksDestroy) appended
# ManualDestroyCallbackIsPending and ClientDevice: 104 / 76 from v1.1.3 (each release's headers compiled).
# LiveKernelDump records the collection with this size (FLKD.c:173-175): how readers recognise it.
# DMF_DEVICE_CONTEXT: 40 / 20 in v1.0; IsFilterDevice appended with the 2018 filter-driver work (in fb4eed4,
# whose collection is still 96 bytes; placed at v1.1.0 - inferred, the history does not pin the release):
# 48 / 24; EvtDmfDeviceLog (the Client's event-log callback) appended at v1.1.49: 56 / 28.
_COLLECTION_FIELDS_V1_0 = [
    ("ModuleCollectionHandleMemory", "ptr"),
    ("ClientDriverDmfModules", "ptr"),
    ("ClientDriverDmfModulesMemory", "ptr"),
    ("NumberOfClientDriverDmfModules", "i32"),
    ("ManualCallToD0EntrySucceeded", "bool"),
    ("DmfObjectFeature", ("array", "ptr", DmfFeature_NumberOfFeatures)),
    ("DmfCallbacksWdfCheck", ("struct", DMF_CALLBACKS_WDF_CHECK)),
]
DMF_MODULE_COLLECTION_V1_0 = Spec("DMF_MODULE_COLLECTION_le_1_1_2", _COLLECTION_FIELDS_V1_0)
DMF_MODULE_COLLECTION = Spec("DMF_MODULE_COLLECTION", _COLLECTION_FIELDS_V1_0 + [
    ("ManualDestroyCallbackIsPending", "bool"),
    ("ClientDevice", "ptr"),
])
_DEVICE_CONTEXT_FIELDS_V1_0 = [
    ("WdfDevice", "ptr"),
    ("ClientImplementsEvtWdfDriverDeviceAdd", "bool"),
    ("DmfCollection", "ptr"),
    ("WdfControlDevice", "ptr"),
    ("WdfClientDriverDevice", "ptr"),
]
DMF_DEVICE_CONTEXT_V1_0 = Spec("DMF_DEVICE_CONTEXT_1_0", _DEVICE_CONTEXT_FIELDS_V1_0)
DMF_DEVICE_CONTEXT_V1_1_0 = Spec("DMF_DEVICE_CONTEXT_1_1_0_to_48", _DEVICE_CONTEXT_FIELDS_V1_0 + [
    ("IsFilterDevice", "bool"),
])
DMF_DEVICE_CONTEXT = Spec("DMF_DEVICE_CONTEXT", _DEVICE_CONTEXT_FIELDS_V1_0 + [
    ("IsFilterDevice", "bool"),
    ("EvtDmfDeviceLog", "ptr"),
])

# spec/dmf.md §3.1 - §3.4
_LKD_CONFIG_FIELDS = [
    ("LiveKernelDumpFeatureInitialize", "ptr"),
    ("GuidDeviceInterface", "guid"),
    ("ReportType", ("bytes", 2 * LIVEKERNELDUMP_REPORT_TYPE_CHARS)),
    ("GuidSecondaryData", "guid"),
]
DMF_CONFIG_LiveKernelDump_V1_0 = Spec("DMF_CONFIG_LiveKernelDump_le_1_1_84", _LKD_CONFIG_FIELDS)
DMF_CONFIG_LiveKernelDump = Spec("DMF_CONFIG_LiveKernelDump", _LKD_CONFIG_FIELDS + [
    ("IncludeDmfDataInBugCheckTriageDump", "bool"),
])
_LKD_CTX_BASE = [
    ("DataBufferSource", "ptr"),            # DataBufferSource.DmfModuleRingBuffer
    ("BugCheckParameterDmfCollection", "ptr"),
    ("DmfDataSize", "u32"),
]
_LKD_CTX_RS3 = [
    ("LiveKernelDumpIoctlHandler", "ptr"),
    ("BufferQueue", "ptr"),
]
_LKD_CTX_85_RS3 = [("CrashDumpModule", "ptr")]
_LKD_CTX_85 = [("NumberOfDataBuffers", "u32"), ("TelemetryDataSize", "u32")]
LKD_CONTEXT_SPECS = {
    (False, False): Spec("DMF_CONTEXT_LiveKernelDump_le_1_1_84_noRS3", _LKD_CTX_BASE),
    (False, True): Spec("DMF_CONTEXT_LiveKernelDump_le_1_1_84", _LKD_CTX_BASE + _LKD_CTX_RS3),
    (True, False): Spec("DMF_CONTEXT_LiveKernelDump_noRS3", _LKD_CTX_BASE + _LKD_CTX_85),
    (True, True): Spec("DMF_CONTEXT_LiveKernelDump", _LKD_CTX_BASE + _LKD_CTX_RS3 + _LKD_CTX_85_RS3 + _LKD_CTX_85),
}
LKD_DATA_BUFFER = Spec("DATA_BUFFER", [
    ("Address", "ptr"), ("Size", "u32"), ("Valid", "bool"),
], pack=1)
LIVEKERNELDUMP_CLIENT_STRUCTURE = Spec("LIVEKERNELDUMP_CLIENT_STRUCTURE", [
    ("Address", "ptr"), ("Size", "u32"),
], pack=1)
LIVEKERNELDUMP_INPUT_BUFFER = Spec("LIVEKERNELDUMP_INPUT_BUFFER", [
    ("BugCheckCode", "u32"),
    ("BugCheckParameter", "ptr"),
    ("ExcludeDmfData", "bool"),
    ("NumberOfClientStructures", "u32"),
    ("ArrayOfClientStructures", "ptr"),
    ("SizeOfSecondaryData", "u32"),
    ("SecondaryDataBuffer", "ptr"),
], pack=1)


def ring_buffer(arch: str) -> Layout:
    """RING_BUFFER = DMF_CONTEXT_RingBuffer (spec/dmf.md §1.2)."""
    return cached_layout(RING_BUFFER, arch)


def dmf_config_ring_buffer(arch: str) -> Layout:
    return cached_layout(DMF_CONFIG_RingBuffer, arch)


def data_source(arch: str) -> Layout:
    return cached_layout(DATA_SOURCE, arch)


CRASHDUMP_CONTEXT_LABELS = ("V1", "V3", "V4", "V5")


def crashdump_context(arch: str, version: str) -> Layout:
    """DMF_CONTEXT_CrashDump for a context label "V1" | "V3" | "V4" | "V5" (spec/dmf.md §2.4)."""
    spec = CRASHDUMP_CONTEXT_SPECS.get(version)
    if spec is None:
        raise LayoutError("DMF CrashDump context %r: unknown layout (known: V1, V3, V4, V5)" % (version,))
    return cached_layout(spec, arch)


def crashdump_context_label_for_dmf(dmf_version) -> str:
    """Context label by release range: V1 <= 1.1.84 < V3 <= 1.1.115 < V4 <= 1.1.153 < V5."""
    v = parse_dmf_version(dmf_version)
    if v < V1_1_85:
        return "V1"
    if v < V1_1_116:
        return "V3"
    if v < V1_1_154:
        return "V4"
    return "V5"


def crashdump_context_for_dmf(arch: str, dmf_version) -> Layout:
    return crashdump_context(arch, crashdump_context_label_for_dmf(dmf_version))


def crashdump_context_version(arch: str, context_size: int) -> str:
    """Context label from `_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO.ContextSize` (spec/dmf.md §2.4)."""
    for label in CRASHDUMP_CONTEXT_LABELS:
        if crashdump_context(arch, label).size == context_size:
            return label
    raise LayoutError("DMF CrashDump context of %d bytes: unknown layout" % (context_size,))


def crashdump_config(arch: str, nested: bool) -> Layout:
    """Flat (v1.0-v1.1.84) or nested (v1.1.85+) DMF_CONFIG_CrashDump (spec/dmf.md §2.2)."""
    return cached_layout(DMF_CONFIG_CrashDump_Nested if nested else DMF_CONFIG_CrashDump_Flat, arch)


def crashdump_config_nested(arch: str, config_size: int) -> bool:
    """Variant from ModuleConfigSize: 80/60 flat, 96/68 nested. x64 88 is the never-released
    dev-branch variant (spec/dmf.md §2.2) and reported as unknown; on x86 that variant is 68 bytes
    and layout-identical to the nested one."""
    if config_size == crashdump_config(arch, False).size:
        return False
    if config_size == crashdump_config(arch, True).size:
        return True
    raise LayoutError("DMF CrashDump config of %d bytes: unknown layout" % (config_size,))


def crashdump_config_for_dmf(arch: str, dmf_version) -> Layout:
    return crashdump_config(arch, parse_dmf_version(dmf_version) >= V1_1_85)


def dmf_object_head(arch: str) -> Layout:
    """Full DMF_OBJECT of v1.1.146+ (976 / 536 bytes, spec/dmf.md §4.3)."""
    return cached_layout(DMF_OBJECT_HEAD, arch)


def dmf_object_prefix(arch: str, dmf_version) -> Layout:
    """The known prefix (ChildListEntry .. Signature) for a DMF version (spec/dmf.md §4.3)."""
    v = parse_dmf_version(dmf_version)
    if v <= V1_1_80:
        spec = DMF_OBJECT_PREFIX_V1_1_80
    elif v < V1_1_135:
        spec = DMF_OBJECT_PREFIX_V1_1_81
    else:
        spec = DMF_OBJECT_PREFIX_V1_1_135
    return cached_layout(spec, arch, complete=False,
                   note="prefix only: fields after Signature are version specific")


def dmf_object_is_complete(dmf_version) -> bool:
    return parse_dmf_version(dmf_version) >= V1_1_146


def dmf_object(arch: str, dmf_version) -> Layout:
    """HEAD full layout for v1.1.146+, otherwise the prefix layout of that version
    (``layout.complete`` is False: ChildObjectList, DmfObjectParent, ModuleCollection... unknown)."""
    if dmf_object_is_complete(dmf_version):
        return dmf_object_head(arch)
    return dmf_object_prefix(arch, dmf_version)


def data_source_create() -> Layout:
    return cached_layout(DATA_SOURCE_CREATE, "x64")


def data_source_open() -> Layout:
    return cached_layout(DATA_SOURCE_OPEN, "x64")


def dmf_module_collection(arch: str, dmf_version=HEAD_VERSION) -> Layout:
    """DMF_MODULE_COLLECTION of a DMF version: 96 / 68 bytes up to v1.1.2, 104 / 76 from v1.1.3."""
    spec = DMF_MODULE_COLLECTION if parse_dmf_version(dmf_version) >= V1_1_3 else DMF_MODULE_COLLECTION_V1_0
    return cached_layout(spec, arch)


def dmf_module_collection_sizes(arch: str) -> tuple:
    """Every sizeof(DMF_MODULE_COLLECTION) a release had on `arch`, HEAD's first (for an unknown version)."""
    return (cached_layout(DMF_MODULE_COLLECTION, arch).size, cached_layout(DMF_MODULE_COLLECTION_V1_0, arch).size)


def dmf_device_context(arch: str, dmf_version=HEAD_VERSION) -> Layout:
    """DMF_DEVICE_CONTEXT of a DMF version: 40 / 20 bytes in v1.0, 48 / 24 in v1.1.0-v1.1.48, 56 / 28 after."""
    v = parse_dmf_version(dmf_version)
    spec = DMF_DEVICE_CONTEXT if v >= V1_1_49 else DMF_DEVICE_CONTEXT_V1_1_0 if v >= V1_1_0 else DMF_DEVICE_CONTEXT_V1_0
    return cached_layout(spec, arch)


def livekerneldump_config(arch: str, dmf_version=HEAD_VERSION) -> Layout:
    if parse_dmf_version(dmf_version) >= V1_1_85:
        return cached_layout(DMF_CONFIG_LiveKernelDump, arch)
    return cached_layout(DMF_CONFIG_LiveKernelDump_V1_0, arch)


def livekerneldump_context(arch: str, dmf_version=HEAD_VERSION, rs3: bool = True) -> Layout:
    """DMF_CONTEXT_LiveKernelDump; ``rs3`` = built with IS_WIN10_RS3_OR_LATER (spec/dmf.md §3.2)."""
    return cached_layout(LKD_CONTEXT_SPECS[(parse_dmf_version(dmf_version) >= V1_1_85, bool(rs3))], arch)


def livekerneldump_data_buffer(arch: str) -> Layout:
    """LiveKernelDump DATA_BUFFER, pack 1, 13 / 9 bytes (spec/dmf.md §3.3)."""
    return cached_layout(LKD_DATA_BUFFER, arch)


def livekerneldump_client_structure(arch: str) -> Layout:
    return cached_layout(LIVEKERNELDUMP_CLIENT_STRUCTURE, arch)


def livekerneldump_input_buffer(arch: str) -> Layout:
    """pack 1, 37 / 25 bytes: pointer-size dependent (spec/dmf.md Q-LKD-6)."""
    return cached_layout(LIVEKERNELDUMP_INPUT_BUFFER, arch)
