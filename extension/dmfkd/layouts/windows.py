"""Windows kernel and WDF structures and constants DMF's structures are built from or handed to:
NTSTATUS values, CTL_CODE, bug-check callback records and reasons, triage data arrays, WDF typed
context headers, KEVENT, LIST_ENTRY; PAGE_SIZE."""
from dmfkd.layouts.engine import Layout, Spec, align_up, cached_layout, memory_allocation_alignment

PAGE_SIZE = 0x1000

# NTSTATUS values used by RingBuffer / CrashDump / LiveKernelDump (spec/dmf.md §2.7).
STATUS_SUCCESS = 0x00000000
STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_NO_MORE_FILES = 0x80000006
STATUS_UNSUCCESSFUL = 0xC0000001
STATUS_NOT_IMPLEMENTED = 0xC0000002
STATUS_INVALID_HANDLE = 0xC0000008
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_INSUFFICIENT_RESOURCES = 0xC000009A
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_NOT_SUPPORTED = 0xC00000BB
STATUS_INVALID_ADDRESS = 0xC0000141

NTSTATUS_NAMES = {
    STATUS_SUCCESS: "STATUS_SUCCESS",
    STATUS_BUFFER_OVERFLOW: "STATUS_BUFFER_OVERFLOW",
    STATUS_NO_MORE_FILES: "STATUS_NO_MORE_FILES",
    STATUS_UNSUCCESSFUL: "STATUS_UNSUCCESSFUL",
    STATUS_NOT_IMPLEMENTED: "STATUS_NOT_IMPLEMENTED",
    STATUS_INVALID_HANDLE: "STATUS_INVALID_HANDLE",
    STATUS_INVALID_PARAMETER: "STATUS_INVALID_PARAMETER",
    STATUS_ACCESS_DENIED: "STATUS_ACCESS_DENIED",
    STATUS_INSUFFICIENT_RESOURCES: "STATUS_INSUFFICIENT_RESOURCES",
    STATUS_BUFFER_TOO_SMALL: "STATUS_BUFFER_TOO_SMALL",
    STATUS_NOT_SUPPORTED: "STATUS_NOT_SUPPORTED",
    STATUS_INVALID_ADDRESS: "STATUS_INVALID_ADDRESS",
}


def nt_success(status: int) -> bool:
    """NT_SUCCESS: severity bits 00 or 01 (warnings such as BUFFER_OVERFLOW fail it)."""
    return (status & 0xFFFFFFFF) < 0x80000000


# CTL_CODE(device type, function, method, access) (winioctl.h).
FILE_DEVICE_UNKNOWN = 0x22
METHOD_BUFFERED = 0
FILE_ANY_ACCESS = 0
FILE_READ_ACCESS = 1
FILE_WRITE_ACCESS = 2


def ctl_code(device_type: int, function: int, method: int, access: int) -> int:
    return (device_type << 16) | (access << 14) | (function << 2) | method

# Bug-check callback reasons (wdm.h order, spec/dmf.md §2.10) and states.
KbCallbackInvalid = 0
KbCallbackReserved1 = 1
KbCallbackSecondaryDumpData = 2
KbCallbackDumpIo = 3
KbCallbackAddPages = 4
KbCallbackSecondaryMultiPartDumpData = 5
KbCallbackRemovePages = 6
KbCallbackTriageDumpData = 7
BufferEmpty = 0
BufferInserted = 1
KB_TRIAGE_DUMP_DATA_FLAG_BUGCHECK_ACTIVE = 0x1

# guiddef.h: a GUID as its four numeric fields (the engine's "guid" field type packs the same 16 bytes)
GUID = Spec("GUID", [("Data1", "u32"), ("Data2", "u16"), ("Data3", "u16"), ("Data4", ("bytes", 8))])
# wdm.h (spec/dmf.md §2.4, §2.10, §2.13)
LIST_ENTRY = Spec("LIST_ENTRY", [("Flink", "ptr"), ("Blink", "ptr")])
KBUGCHECK_REASON_CALLBACK_RECORD = Spec("KBUGCHECK_REASON_CALLBACK_RECORD", [
    ("Entry", ("struct", LIST_ENTRY)),
    ("CallbackRoutine", "ptr"),
    ("Component", "ptr"),
    ("Checksum", "ptr"),
    ("Reason", "enum"),
    ("State", "u8"),
])
KBUGCHECK_SECONDARY_DUMP_DATA = Spec("KBUGCHECK_SECONDARY_DUMP_DATA", [
    ("InBuffer", "ptr"),
    ("InBufferLength", "u32"),
    ("MaximumAllowed", "u32"),
    ("Guid", "guid"),
    ("OutBuffer", "ptr"),
    ("OutBufferLength", "u32"),
])
KADDRESS_RANGE = Spec("KADDRESS_RANGE", [("Address", "ptr"), ("Size", "ptr")])
KTRIAGE_DUMP_DATA_ARRAY = Spec("KTRIAGE_DUMP_DATA_ARRAY", [
    ("List", ("struct", LIST_ENTRY)),
    ("NumBlocksUsed", "u32"),
    ("NumBlocksTotal", "u32"),
    ("DataSize", "u32"),
    ("MaxDataSize", "u32"),
    ("ComponentNameBufferLength", "u32"),
    ("ComponentName", "ptr"),
])
# What nt hands a KbCallbackTriageDumpData callback (wdm.h); the callback sets DataArray.
KBUGCHECK_TRIAGE_DUMP_DATA = Spec("KBUGCHECK_TRIAGE_DUMP_DATA", [
    ("DataArray", "ptr"),
    ("Flags", "u32"),
    ("MaxVirtMemSize", "u32"),
    ("BugCheckCode", "u32"),
    ("BugCheckParameter1", "ptr"),
    ("BugCheckParameter2", "ptr"),
    ("BugCheckParameter3", "ptr"),
    ("BugCheckParameter4", "ptr"),
])
# wdfobject.h / fxhandle.h (spec/dmf.md §4.2)
WDF_OBJECT_CONTEXT_TYPE_INFO = Spec("WDF_OBJECT_CONTEXT_TYPE_INFO", [
    ("Size", "u32"),
    ("ContextName", "ptr"),
    ("ContextSize", "ptr"),
    ("UniqueType", "ptr"),
    ("EvtDriverGetUniqueContextType", "ptr"),
])
WDF_CONTEXT_HEADER = Spec("FxContextHeader", [
    ("Object", "ptr"),
    ("NextHeader", "ptr"),
    ("EvtCleanupCallback", "ptr"),
    ("EvtDestroyCallback", "ptr"),
    ("ContextTypeInfo", "ptr"),
])
# KEVENT = DISPATCHER_HEADER {Lock, SignalState, WaitListHead} (24 / 16 bytes, spec/dmf.md §0.2).
KEVENT = Spec("KEVENT", [("Lock", "i32"), ("SignalState", "i32"), ("WaitListHead", ("struct", LIST_ENTRY))])


def bugcheck_reason_callback_record(arch: str) -> Layout:
    return cached_layout(KBUGCHECK_REASON_CALLBACK_RECORD, arch)


def bugcheck_secondary_dump_data(arch: str) -> Layout:
    return cached_layout(KBUGCHECK_SECONDARY_DUMP_DATA, arch)


def ktriage_dump_data_array(arch: str) -> Layout:
    """The KTRIAGE_DUMP_DATA_ARRAY header; Blocks[] (KADDRESS_RANGE) start at ``.size``."""
    return cached_layout(KTRIAGE_DUMP_DATA_ARRAY, arch)


def kbugcheck_triage_dump_data(arch: str) -> Layout:
    """KBUGCHECK_TRIAGE_DUMP_DATA: 56 bytes on x64 (BugCheckParameter1 @24), 32 on x86."""
    return cached_layout(KBUGCHECK_TRIAGE_DUMP_DATA, arch)


def kaddress_range(arch: str) -> Layout:
    return cached_layout(KADDRESS_RANGE, arch)


def ktriage_dump_data_array_size(arch: str, blocks: int) -> int:
    """FIELD_OFFSET(KTRIAGE_DUMP_DATA_ARRAY, Blocks) + n * sizeof(KADDRESS_RANGE) (spec/dmf.md §2.13)."""
    return ktriage_dump_data_array(arch).size + blocks * kaddress_range(arch).size


def wdf_object_context_type_info(arch: str) -> Layout:
    return cached_layout(WDF_OBJECT_CONTEXT_TYPE_INFO, arch)


def wdf_context_header(arch: str) -> Layout:
    """FxContextHeader without its Context[] tail (40 / 20 bytes, spec/dmf.md §4.2)."""
    return cached_layout(WDF_CONTEXT_HEADER, arch)


def wdf_context_offset(arch: str) -> int:
    """Offset of the context bytes from their header: ALIGN_UP(40, 16) = 48 / ALIGN_UP(20, 8) = 24."""
    return align_up(wdf_context_header(arch).size, memory_allocation_alignment(arch))
