"""DMF_CrashDump (kernel mode), byte-exact in emulated memory (spec/dmf.md §2).

Everything DMF keeps lives in emulated kernel memory and is read back from there: the module config
copy (flat <= v1.1.84, nested since v1.1.85), the context (V1/V3/V4/V5 by DMF version), the zeroed
DATA_SOURCE array and bug-check record array (tag CDMo; WDFMEMORY since v1.1.116), the keys, the
triage array, the data-source rings (real DMF_RingBuffer modules) and `g_DmfModuleCrashDump` in the
driver image. The Python objects here are the *code*; they hold no state the dump would not show,
except the map from ring handles to the ring modules' code objects.

Client callbacks (EvtCrashDumpQuery / EvtCrashDumpWrite / EvtCrashDumpStoreTriageDumpData) are Python
callables bound to routine addresses in the driver image; DMF calls them through the config copy.
"""
import uuid
from typing import Callable, Dict, List, Optional, Tuple

from dmfkd.errors import DmfkdError
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dmf_versions
from dmfkd.layouts import windows

from dmfemu import bugcheck as bc

STATUS_SUCCESS = windows.STATUS_SUCCESS
STATUS_BUFFER_OVERFLOW = windows.STATUS_BUFFER_OVERFLOW
STATUS_NO_MORE_FILES = windows.STATUS_NO_MORE_FILES
STATUS_UNSUCCESSFUL = windows.STATUS_UNSUCCESSFUL
STATUS_NOT_IMPLEMENTED = windows.STATUS_NOT_IMPLEMENTED
STATUS_INVALID_HANDLE = windows.STATUS_INVALID_HANDLE
STATUS_INVALID_PARAMETER = windows.STATUS_INVALID_PARAMETER
STATUS_ACCESS_DENIED = windows.STATUS_ACCESS_DENIED
STATUS_BUFFER_TOO_SMALL = windows.STATUS_BUFFER_TOO_SMALL
STATUS_NOT_SUPPORTED = windows.STATUS_NOT_SUPPORTED
STATUS_INVALID_ADDRESS = windows.STATUS_INVALID_ADDRESS

IOCTL_DATA_SOURCE_CREATE = dmf_structures.IOCTL_DATA_SOURCE_CREATE
IOCTL_DATA_SOURCE_DESTROY = dmf_structures.IOCTL_DATA_SOURCE_DESTROY
IOCTL_DATA_SOURCE_WRITE = dmf_structures.IOCTL_DATA_SOURCE_WRITE
IOCTL_CRASH_DRIVER = dmf_structures.IOCTL_CRASH_DRIVER
IOCTL_DATA_SOURCE_READ = dmf_structures.IOCTL_DATA_SOURCE_READ
IOCTL_DATA_SOURCE_OPEN = dmf_structures.IOCTL_DATA_SOURCE_OPEN
IOCTL_DATA_SOURCE_CAPTURE = dmf_structures.IOCTL_DATA_SOURCE_CAPTURE

MAXIMUM_NUMBER_OF_DATA_SOURCES = 8
INDEX_INVALID = -1
INDEX_SELF = 0
INDEX_CLIENT_FIRST = 1
BUG_CHECK_PRIVATE = 0xDEADDEAD
DataSourceModeWrite = 1
DataSourceModeRead = 2
RingBuffer_Mode_DeleteOldestIfFullOnWrite = 2
MEMORY_TAG = b"CDMo"
KEY_SIZE = 32

# routine names in the driver image (what `ln` would show for the record's CallbackRoutine)
ROUTINE_RING_BUFFER = "CrashDump_BugCheckSecondaryDumpDataCallbackRingBuffer"
ROUTINE_ADDITIONAL = "CrashDump_BugCheckSecondaryDumpDataCallbackAdditional"
ROUTINE_TRIAGE = "CrashDump_BugCheckTriageDumpDataCallback"

ZERO_GUID = uuid.UUID(int=0)


def nt_success(status: int) -> bool:
    return status < 0x80000000


def encryption_key(guid: uuid.UUID) -> bytes:
    """sprintf_s("%08X%04X%04X%02X...") of the numeric GUID fields (spec/dmf.md §2.7) + NUL."""
    return ("%08X%04X%04X" % (guid.fields[0], guid.fields[1], guid.fields[2])).encode("ascii") + \
        "".join("%02X" % b for b in guid.bytes[8:]).encode("ascii") + b"\0"


class AccessDenied(DmfkdError):
    """CreateFile on the CrashDump interface by a non-administrator (STATUS_ACCESS_DENIED)."""
    status = STATUS_ACCESS_DENIED

    def __init__(self):
        super().__init__("STATUS_ACCESS_DENIED: GUID_DEVINTERFACE_CrashDump is administrator-only (CD.c:3846-3906)")


class CrashDumpConfig(object):
    """DMF_CONFIG_CrashDump as the client fills it. Callbacks are Python callables (or None).

    evt_crash_dump_query(request) / evt_crash_dump_write(request): `request` is an
    AdditionalDataRequest; the callable may set request.out_buffer / request.length, call
    request.provide(bytes), or return bytes (= provide), an int (= length only) or (va, length).
    evt_crash_dump_store_triage_dump_data(crashdump, code, p1, p2, p3, p4).
    """

    def __init__(self, component_name: Optional[str] = "DmfDemo",
                 ring_buffer_data_guid: uuid.UUID = ZERO_GUID,
                 additional_data_guid: uuid.UUID = ZERO_GUID,
                 buffer_size: int = 0, buffer_count: int = 0, ring_buffer_maximum_size: int = 0,
                 evt_crash_dump_query: Optional[Callable] = None,
                 evt_crash_dump_write: Optional[Callable] = None,
                 data_source_count: int = 0, triage_dump_data_array_size: int = 0,
                 evt_crash_dump_store_triage_dump_data: Optional[Callable] = None):
        self.component_name = component_name
        self.ring_buffer_data_guid = ring_buffer_data_guid
        self.additional_data_guid = additional_data_guid
        self.buffer_size = buffer_size
        self.buffer_count = buffer_count
        self.ring_buffer_maximum_size = ring_buffer_maximum_size
        self.evt_crash_dump_query = evt_crash_dump_query
        self.evt_crash_dump_write = evt_crash_dump_write
        self.data_source_count = data_source_count
        self.triage_dump_data_array_size = triage_dump_data_array_size
        self.evt_crash_dump_store_triage_dump_data = evt_crash_dump_store_triage_dump_data


class AdditionalDataRequest(object):
    """The (&OutBuffer, &Length) pair DMF hands EvtCrashDumpQuery / EvtCrashDumpWrite."""

    def __init__(self, crashdump: "CrashDump", in_buffer: int, in_buffer_length: int,
                 maximum_allowed: int, out_buffer: int, length: int, is_query: bool):
        self.crashdump = crashdump
        self.in_buffer = in_buffer
        self.in_buffer_length = in_buffer_length
        self.maximum_allowed = maximum_allowed
        self.out_buffer = out_buffer
        self.length = length
        self.is_query = is_query

    def provide(self, data: bytes) -> None:
        """Point OutBuffer at a client-owned nonpaged buffer holding `data` (allocated once, reused)."""
        va = self.crashdump.driver.client_buffer("additional-data", len(data))
        if data:
            self.crashdump.space.write(va, bytes(data))
        self.out_buffer = va
        self.length = len(data)

    def apply(self, answer) -> None:
        if answer is None:
            return
        if isinstance(answer, (bytes, bytearray, memoryview)):
            self.provide(bytes(answer))
        elif isinstance(answer, int):
            self.length = answer
        else:
            self.out_buffer, self.length = int(answer[0]), int(answer[1])


class CrashDump(object):
    """One DMF_CrashDump module instance of an emulated driver (dmfemu.driver.Driver)."""

    # -- creation (DMF_CrashDump_Create + DMF_ModuleCreate + Open) --------------------------------
    def __init__(self, driver, config: CrashDumpConfig, *, dmf_version=None,
                 dynamic: bool = False, debug_build: bool = True,
                 triage_api: bool = True, crash_before_global_assignment: bool = False, parent=None):
        self.driver = driver
        self.machine = driver.machine
        self.space = driver.machine.space
        self.arch = driver.machine.arch
        self.ptr = driver.machine.pointer_size
        # DMF is a static library: the module has the version the driver was built with
        self.dmf_version = dmf_versions.parse_dmf_version(driver.dmf_version if dmf_version is None else dmf_version)
        self.nested = self.dmf_version >= dmf_versions.V1_1_85
        self.context_label = dmf_structures.crashdump_context_label_for_dmf(self.dmf_version)
        self.ctx_layout = dmf_structures.crashdump_context(self.arch, self.context_label)
        self.cfg_layout = dmf_structures.crashdump_config(self.arch, self.nested)
        self.ds_layout = dmf_structures.data_source(self.arch)
        self.rec_layout = windows.bugcheck_reason_callback_record(self.arch)
        self.sec_layout = windows.bugcheck_secondary_dump_data(self.arch)
        self.kernel = bc.BugCheckSystem.of(self.machine)
        self.debug_build = debug_build
        self.triage_api = triage_api
        self.dynamic = dynamic
        self.orphan = dmf_structures.file_object_orphan(self.arch)
        self.rings = {}  # type: Dict[int, object]  ring DMFMODULE handle -> ring module code object
        self.module = None
        self.parent = parent   # a parent DMF module (LiveKernelDump's ChildModulesAdd, spec/dmf.md §3.7)
        self.handle = 0
        self.create_status = None  # type: Optional[int]
        self.open_status = None    # type: Optional[int]
        self._bind_routines(config)
        self._create(config, crash_before_global_assignment)

    # config values of the client's struct -> the bytes DMF copies (CORE.c:400-405)
    def _config_values(self, config: CrashDumpConfig) -> dict:
        if not self.nested and (config.triage_dump_data_array_size or config.evt_crash_dump_store_triage_dump_data):
            raise DmfkdError("DMF %s has the flat CrashDump config: no TriageDumpData (spec/dmf.md §2.2)"
                             % dmf_versions.format_dmf_version(self.dmf_version))
        component = self.driver.string(config.component_name) if config.component_name is not None else 0
        secondary = {
            "RingBufferDataGuid": config.ring_buffer_data_guid,
            "AdditionalDataGuid": config.additional_data_guid,
            "BufferSize": config.buffer_size,
            "BufferCount": config.buffer_count,
            "RingBufferMaximumSize": config.ring_buffer_maximum_size,
            "EvtCrashDumpQuery": self._routine_of(config.evt_crash_dump_query, "Query"),
            "EvtCrashDumpWrite": self._routine_of(config.evt_crash_dump_write, "Write"),
            "DataSourceCount": config.data_source_count,
        }
        if not self.nested:
            values = dict(secondary)
            values["ComponentName"] = component
            return values
        values = {"ComponentName": component}
        for name, value in secondary.items():
            values["SecondaryData." + name] = value
        values["TriageDumpData.TriageDumpDataArraySize"] = config.triage_dump_data_array_size
        values["TriageDumpData.EvtCrashDumpStoreTriageDumpData"] = self._routine_of(
            config.evt_crash_dump_store_triage_dump_data, "StoreTriageDumpData")
        return values

    def _bind_routines(self, config: CrashDumpConfig) -> None:
        self._client = {}  # type: Dict[int, Callable]
        kernel = self.kernel
        kernel.bind_routine(self.driver.routine(ROUTINE_RING_BUFFER), self._bugcheck_ring_buffer)
        kernel.bind_routine(self.driver.routine(ROUTINE_ADDITIONAL), self._bugcheck_additional)
        kernel.bind_routine(self.driver.routine(ROUTINE_TRIAGE), self._bugcheck_triage)

    def _routine_of(self, fn: Optional[Callable], suffix: str) -> int:
        if fn is None:
            return 0
        name = getattr(fn, "routine_name", None) or "DmfDemo_EvtCrashDump%s" % suffix
        # the same callable used twice is the same routine (CD.c "Both Callbacks point to same function")
        for va, known in self._client.items():
            if known is fn:
                return va
        va = self.driver.routine(name)
        self._client[va] = fn
        return va

    def _create(self, config: CrashDumpConfig, crash_before_global_assignment: bool) -> None:
        driver = self.driver
        # CD.c:3959-3967 - one instance per driver image (Q-CD-7)
        if driver.read_global_crashdump() != 0:
            self.create_status = STATUS_INVALID_PARAMETER
            return
        config_bytes = self.cfg_layout.pack(self._config_values(config))
        self.module = driver.create_module("CrashDump", config_bytes, self.ctx_layout.size, dynamic=self.dynamic,
                                           parent=self.parent)
        self.handle = self.module.handle
        self.ctx = self.module.context_va
        self.cfg = self.module.config_va
        driver.crashdump = self
        if config.data_source_count > 0:
            # ChildModulesAdd (CD.c:3846-3906): a DMF_IoctlHandler child exposes the IOCTLs. Its own
            # config/context are not modelled (not in the spec); the tree link is.
            self.ioctl_handler = driver.create_module("IoctlHandler", b"", 0, dynamic=False,
                                                      parent=self.module)
        else:
            self.ioctl_handler = None
        if self.dynamic:
            # dynamic modules are opened inside DMF_ModuleCreate, before CD.c:4007 assigns the
            # global (Q-CD-7): callbacks registered by Open see a NULL g_DmfModuleCrashDump until then
            self.open_status = self._open()
            if crash_before_global_assignment:
                self.kernel.ke_bugcheck_ex(BUG_CHECK_PRIVATE, 0, 0, 0, 0)
            ok = nt_success(self.open_status)
            driver.write_global_crashdump(self.handle if ok else 0)
            self.create_status = self.open_status
        else:
            driver.write_global_crashdump(self.handle)
            self.open_status = self._open()
            self.create_status = self.open_status
            if not nt_success(self.open_status):
                driver.write_global_crashdump(0)
        if nt_success(self.open_status):
            self.module.set_state("Opened")

    # -- memory accessors --------------------------------------------------------------------------
    def _cfg(self, name: str) -> int:
        layout = self.cfg_layout
        if self.nested and name not in ("ComponentName",):
            full = ("TriageDumpData." if name.startswith("TriageDump") or name.startswith("EvtCrashDumpStore")
                    else "SecondaryData.") + name
        else:
            full = name
        if full not in layout.offsets:
            return 0  # flat config: no TriageDumpData members (v1.0-v1.1.84)
        va = self.cfg + layout.offsets[full]
        return self.space.read_u32(va) if layout.sizes[full] == 4 else self.space.read_ptr(va)

    def _cfg_guid(self, name: str) -> uuid.UUID:
        full = ("SecondaryData." + name) if self.nested else name
        return uuid.UUID(bytes_le=self.space.read(self.cfg + self.cfg_layout.offsets[full], 16))

    def _ctx_off(self, name: str) -> int:
        return self.ctx + self.ctx_layout.offsets[name]

    def _ctx_ptr(self, name: str) -> int:
        return self.space.read_ptr(self._ctx_off(name))

    def pool_tag(self, va: int) -> bytes:
        """The pool tag of the block holding `va` (CDMo for DMF_CrashDump's own allocations)."""
        return self.machine.pool.tag_of(va)

    @property
    def data_source_count(self) -> int:
        return self.space.read_u32(self._ctx_off("DataSourceCount"))

    def data_source_va(self, index: int) -> int:
        return self._ctx_ptr("DataSource") + index * self.ds_layout.size

    def record_va(self, index: int) -> int:
        return self._ctx_ptr("BugCheckCallbackRecordRingBuffer") + index * self.rec_layout.size

    def _ds(self, index: int, field: str) -> int:
        return self.data_source_va(index) + self.ds_layout.offsets[field]

    def ds_read(self, index: int) -> dict:
        """The DATA_SOURCE slot as DMF left it in memory (flat field names)."""
        return self.ds_layout.unpack_from(self.space.read(self.data_source_va(index), self.ds_layout.size))

    def _fo(self, index: int, mode: int) -> int:
        return self.space.read_ptr(self._ds(index, "FileObject[%d]" % mode))

    def _set_fo(self, index: int, mode: int, value: int) -> None:
        self.space.write_ptr(self._ds(index, "FileObject[%d]" % mode), value)

    def _guid(self, index: int) -> uuid.UUID:
        return uuid.UUID(bytes_le=self.space.read(self._ds(index, "RingBufferGuid"), 16))

    def _ring_handle(self, index: int) -> int:
        return self.space.read_ptr(self._ds(index, "DmfModuleDataSourceRingBuffer"))

    def ring_of(self, index: int):
        """The ring module object of slot `index` (None when the slot has no ring)."""
        return self.rings.get(self._ring_handle(index))

    def _ring_for_call(self, handle: int, what: str):
        if handle == 0:
            # use after destroy: DMF passes a NULL DMFMODULE to the ring (spec/dmf.md Q-CD-5)
            raise bc.KernelFault("%s called DMF_RingBuffer with a NULL DMFMODULE (destroyed data source, "
                                 "spec/dmf.md Q-CD-5)" % what)
        return self.rings[handle]

    # -- Open (CD.c:3299-3564, spec/dmf.md §2.6) ---------------------------------------------------
    def _open(self) -> int:
        count = self._cfg("DataSourceCount")
        query = self._cfg("EvtCrashDumpQuery")
        write = self._cfg("EvtCrashDumpWrite")
        buffer_count = self._cfg("BufferCount")
        buffer_size = self._cfg("BufferSize")
        triage_size = self._cfg("TriageDumpDataArraySize")
        if count > MAXIMUM_NUMBER_OF_DATA_SOURCES:
            return STATUS_INVALID_PARAMETER
        if write and not query:
            return STATUS_INVALID_PARAMETER
        if not write and count == 0 and (buffer_count == 0 or buffer_size == 0) and triage_size == 0:
            return STATUS_INVALID_PARAMETER
        if query != write and (not query or not write):
            return STATUS_INVALID_PARAMETER
        n = count + 1
        self.space.write_u32(self._ctx_off("DataSourceCount"), n)
        ds_va, ds_mem = self._allocate_array(self.ds_layout.size * n)
        self.space.write_ptr(self._ctx_off("DataSource"), ds_va)
        if "DataSourceMemory" in self.ctx_layout.offsets:
            self.space.write_ptr(self._ctx_off("DataSourceMemory"), ds_mem)
        rec_va, rec_mem = self._allocate_array(self.rec_layout.size * n)
        self.space.write_ptr(self._ctx_off("BugCheckCallbackRecordRingBuffer"), rec_va)
        if "BugCheckCallbackRecordRingBufferMemory" in self.ctx_layout.offsets:
            self.space.write_ptr(self._ctx_off("BugCheckCallbackRecordRingBufferMemory"), rec_mem)
        if buffer_count > 0:
            status = self._data_source_create_internal(INDEX_SELF, buffer_count, buffer_size,
                                                       self._cfg_guid("RingBufferDataGuid"))
            if not nt_success(status):
                return status  # Open never frees what it allocated (CD.c:3559-3561, Q-CD-8)
        if write:
            record = self._ctx_off("BugCheckCallbackRecordAdditional")
            self.kernel.initialize_record(record)
            if not self.kernel.register(record, self.driver.routine(ROUTINE_ADDITIONAL),
                                        windows.KbCallbackSecondaryDumpData, self._cfg("ComponentName")):
                return STATUS_INVALID_PARAMETER
        if triage_size > 0:
            if not self._cfg("ComponentName"):
                return STATUS_INVALID_PARAMETER
            status = self._triage_data_create()
            if not nt_success(status):
                return status
        return STATUS_SUCCESS

    def _allocate_array(self, size: int) -> Tuple[int, int]:
        """Zeroed CDMo array: WDFMEMORY parented to the module since v1.1.116 (V4+), ExAllocatePool
        before (spec/dmf.md §2.3). Returns (buffer VA, WDFMEMORY handle or 0)."""
        if "DataSourceMemory" in self.ctx_layout.offsets:
            return self.driver.wdf_memory(size, MEMORY_TAG, parent=self.handle)
        return self.machine.pool.allocate(size, tag=MEMORY_TAG), 0

    def _triage_data_create(self) -> int:
        """CrashDump_TriageDataCreateInternal (CD.c:1874-1997, spec/dmf.md §2.13)."""
        size = self._cfg("TriageDumpDataArraySize")
        if "DumpDataBlock" in self.ctx_layout.offsets:
            # v1.1.154+ caches KeAddTriageDumpDataBlock in the context (Q-CD-11)
            self.space.write_ptr(self._ctx_off("DumpDataBlock"),
                                 self.driver.kernel_routine("KeAddTriageDumpDataBlock") if self.triage_api else 0)
        if size == 0:
            return STATUS_INVALID_PARAMETER
        length = windows.ktriage_dump_data_array_size(self.arch, size)
        # parent = g_DmfModuleCrashDump, still NULL while a dynamic module opens (Q-CD-7)
        parent = self.driver.read_global_crashdump()
        va, mem = self.driver.wdf_memory(length, MEMORY_TAG, parent=parent)
        self.space.write_ptr(self._ctx_off("TriageDumpDataArrayMemory"), mem)
        self.space.write_ptr(self._ctx_off("TriageDumpDataArray"), va)
        status = STATUS_NOT_IMPLEMENTED
        if self.triage_api:
            status = self.kernel.initialize_triage_dump_data_array(va, length)
        if nt_success(status):
            record = self._ctx_off("BugCheckCallbackRecordTriageDumpData")
            if not self.kernel.register(record, self.driver.routine(ROUTINE_TRIAGE), windows.KbCallbackTriageDumpData,
                                        self._cfg("ComponentName")):
                status = STATUS_INVALID_PARAMETER
        if not nt_success(status):
            # the WDFMEMORY is deleted and its handle cleared; the array pointer stays stale (CD.c Exit path)
            self.space.write_ptr(self._ctx_off("TriageDumpDataArrayMemory"), 0)
        return status

    # -- data sources (CD.c:1227-1589) -------------------------------------------------------------
    def _data_source_create_internal(self, index: int, count: int, size: int, guid: uuid.UUID) -> int:
        if self._ring_handle(index) != 0:
            return STATUS_INVALID_PARAMETER
        status = self._create_ring(index, count, size)
        if not nt_success(status):
            return status
        self.space.write(self._ds(index, "RingBufferGuid"), guid.bytes_le)
        self.space.write_u32(self._ds(index, "RingBufferEncryptionKeySize"), KEY_SIZE)
        self.space.write(self._ds(index, "RingBufferEncryptionKey"), encryption_key(guid))
        record = self.record_va(index)
        self.kernel.initialize_record(record)
        if not self.kernel.register(record, self.driver.routine(ROUTINE_RING_BUFFER),
                                    windows.KbCallbackSecondaryDumpData, self._cfg("ComponentName")):
            self._destroy_ring(index)
            return STATUS_INVALID_PARAMETER
        return STATUS_SUCCESS

    def _create_ring(self, index: int, count: int, size: int) -> int:
        """CrashDump_DmfCreate_RingBuffer (CD.c:1227-1349)."""
        if count == 0 or size == 0:
            return STATUS_INVALID_PARAMETER
        if index != INDEX_SELF:
            # 32-bit product, as DMF computes it (Q-RB-9)
            if (count * size) & 0xFFFFFFFF > self._cfg("RingBufferMaximumSize"):
                return STATUS_INVALID_PARAMETER
        status, ring = self.driver.create_ring_buffer(count, size, RingBuffer_Mode_DeleteOldestIfFullOnWrite,
                                                      instance_name="DataSourceRingBuffer")
        if not nt_success(status):
            return status
        self.rings[ring.handle] = ring
        self.space.write_ptr(self._ds(index, "DmfModuleDataSourceRingBuffer"), ring.handle)
        self.space.write_u32(self._ds(index, "RingBufferSize"), ring.total_size_get())
        self.space.write_u32(self._ds(index, "RingBufferSizeOfEachEntry"), size)
        return STATUS_SUCCESS

    def _destroy_ring(self, index: int) -> None:
        """CrashDump_DmfDestroy_RingBuffer: delete the ring, NULL the handle, zero only the GUID -
        key, sizes and RingBufferData stay stale (Q-CD-8)."""
        handle = self._ring_handle(index)
        if handle:
            ring = self.rings.pop(handle, None)
            if ring is not None:
                self.driver.delete_ring_buffer(ring)
            self.space.write_ptr(self._ds(index, "DmfModuleDataSourceRingBuffer"), 0)
        self.space.write(self._ds(index, "RingBufferGuid"), bytes(16))

    def _data_source_destroy_internal(self, index: int) -> int:
        """CrashDump_DataSourceDestroyInternal (CD.c:1537-1589)."""
        record = self.record_va(index)
        self.kernel.deregister(record)
        self._destroy_ring(index)
        return STATUS_SUCCESS

    # -- file-object slot table (CD.c FileHandleSlot*) ---------------------------------------------
    def _slot_find(self, fo: int, mode: int) -> int:
        for index in range(INDEX_CLIENT_FIRST, self.data_source_count):
            if self._fo(index, mode) == fo:
                return index
        return INDEX_INVALID

    def _slot_find_for_destroy(self, fo: int) -> int:
        for index in range(INDEX_CLIENT_FIRST, self.data_source_count):
            if self._fo(index, DataSourceModeRead) == fo or self._fo(index, DataSourceModeWrite) == fo:
                return index
        return INDEX_INVALID

    def _slot_find_by_guid(self, fo: int, mode: int, guid: uuid.UUID, reuse: bool) -> int:
        if guid == ZERO_GUID:
            return INDEX_INVALID
        for index in range(INDEX_CLIENT_FIRST, self.data_source_count):
            if self._guid(index) != guid:
                continue
            if reuse and self._fo(index, mode) not in (0, self.orphan):
                continue
            self._set_fo(index, mode, fo)
            return index
        return INDEX_INVALID

    def _slot_allocate(self, fo: int) -> int:
        if self._slot_find(fo, DataSourceModeWrite) != INDEX_INVALID:
            return INDEX_INVALID
        for index in range(INDEX_CLIENT_FIRST, self.data_source_count):
            if self._fo(index, DataSourceModeWrite) == 0:
                self._set_fo(index, DataSourceModeWrite, fo)
                return index
        return INDEX_INVALID

    def _slot_free(self, fo: int) -> int:
        index = self._slot_find_for_destroy(fo)
        if index == INDEX_INVALID:
            return index
        # the reader role is checked first (CD.c FileHandleSlotFree)
        if self._fo(index, DataSourceModeRead) == fo:
            self._set_fo(index, DataSourceModeRead, 0)
        else:
            self._set_fo(index, DataSourceModeWrite, 0)
        return index

    # -- auxiliary operations ----------------------------------------------------------------------
    def data_source_create_auxiliary(self, fo: int, count: int, size: int, guid: uuid.UUID) -> int:
        index = self._slot_find_by_guid(fo, DataSourceModeWrite, guid, reuse=True)
        if index != INDEX_INVALID:
            # Q-CD-4: the old ring (its N, S and contents) is reused; count/size are ignored
            return STATUS_SUCCESS
        index = self._slot_allocate(fo)
        if index == INDEX_INVALID:
            return STATUS_NO_MORE_FILES
        status = self._data_source_create_internal(index, count, size, guid)
        if not nt_success(status):
            self._set_fo(index, DataSourceModeWrite, 0)
        return status

    def data_source_open_auxiliary(self, fo: int, guid: uuid.UUID) -> Tuple[int, int]:
        # Q-CD-5: OPEN overwrites any previous reader
        index = self._slot_find_by_guid(fo, DataSourceModeRead, guid, reuse=False)
        if index == INDEX_INVALID:
            return STATUS_UNSUCCESSFUL, index
        return STATUS_SUCCESS, index

    def data_source_destroy_auxiliary(self, fo: int) -> int:
        index = self._slot_free(fo)
        if index == INDEX_INVALID:
            return STATUS_INVALID_HANDLE
        # Q-CD-5: the whole data source goes, even if the other role still points at the slot
        return self._data_source_destroy_internal(index)

    def data_source_write_auxiliary(self, fo: int, data: bytes) -> int:
        index = self._slot_find(fo, DataSourceModeWrite)
        if index == INDEX_INVALID:
            return STATUS_INVALID_HANDLE
        if len(data) > self.space.read_u32(self._ds(index, "RingBufferSizeOfEachEntry")):
            return STATUS_BUFFER_OVERFLOW
        return self._ring_for_call(self._ring_handle(index), "IOCTL_DATA_SOURCE_WRITE").write(data)

    def data_source_read_auxiliary(self, fo: int, length: int) -> Tuple[int, bytes]:
        index = self._slot_find(fo, DataSourceModeRead)
        if index == INDEX_INVALID:
            return STATUS_INVALID_HANDLE, b""
        if length < self.space.read_u32(self._ds(index, "RingBufferSizeOfEachEntry")):
            return STATUS_BUFFER_OVERFLOW, b""
        status, data = self._ring_for_call(self._ring_handle(index), "IOCTL_DATA_SOURCE_READ").read(length)
        return status, (data or b"")

    def data_source_capture_auxiliary(self, fo: int, length: int) -> Tuple[int, bytes]:
        index = self._slot_find(fo, DataSourceModeRead)
        if index == INDEX_INVALID:
            return STATUS_INVALID_HANDLE, b""
        if length < self.space.read_u32(self._ds(index, "RingBufferSize")):
            return STATUS_BUFFER_OVERFLOW, b""
        status, data = self._ring_for_call(self._ring_handle(index), "IOCTL_DATA_SOURCE_CAPTURE").read_all(length)
        return status, data

    def data_source_orphan_create(self, fo: int) -> None:
        """CrashDump_DataSourceOrphanCreate (CD.c:2376-2445, spec/dmf.md §2.8)."""
        index = self._slot_find_for_destroy(fo)
        if index == INDEX_INVALID:
            return
        if self._fo(index, DataSourceModeRead) == fo:
            self._set_fo(index, DataSourceModeRead, 0)  # readers never orphan
            return
        if self._fo(index, DataSourceModeWrite) == fo:
            self._set_fo(index, DataSourceModeWrite, self.orphan)

    # -- public methods ----------------------------------------------------------------------------
    def write_self(self, data: bytes) -> int:
        """DMF_CrashDump_DataSourceWriteSelf: trusted, no size check beyond the ring's own (Q-RB-2)."""
        return self._ring_for_call(self._ring_handle(INDEX_SELF), "DataSourceWriteSelf").write(bytes(data))

    def triage_dump_data_add(self, address: int, length: int) -> int:
        """DMF_CrashDump_TriageDumpDataAdd (CD.c:4088-4147): records the range, copies nothing."""
        array = self._ctx_ptr("TriageDumpDataArray") if "TriageDumpDataArray" in self.ctx_layout.offsets else 0
        if not array:
            return STATUS_INVALID_PARAMETER
        if not self.triage_api:
            return STATUS_NOT_IMPLEMENTED
        return self.kernel.add_triage_dump_data_block(array, address, length)

    def surprise_removal(self) -> None:
        self.space.write_u8(self._ctx_off("SurpriseRemoved"), 1)

    # -- files and IOCTLs --------------------------------------------------------------------------
    def file_create(self, administrator: bool = True) -> int:
        """A user-mode handle to GUID_DEVINTERFACE_CrashDump: a new WDFFILEOBJECT handle.
        IoctlHandler_AccessModeFilterAdministratorOnly refuses the open itself for non-administrators."""
        if self._cfg("DataSourceCount") == 0:
            raise DmfkdError("no GUID_DEVINTERFACE_CrashDump interface: config DataSourceCount is 0 (CD.c:3846-3906)")
        if not administrator:
            raise AccessDenied()
        return self.driver.file_object()

    def file_close(self, fo: int) -> None:
        """EvtFileClose (CD.c:3187-3213): orphan rules unless surprise-removed."""
        if not self.space.read_u8(self._ctx_off("SurpriseRemoved")):
            self.data_source_orphan_create(fo)

    def ioctl(self, code: int, input_bytes: bytes = b"", output_size: int = 0,
              file_object: int = 0) -> Tuple[int, int, bytes]:
        """One METHOD_BUFFERED DeviceIoControl: (NTSTATUS, Information, bytes copied back to the caller).

        The I/O manager copies min(Information, output_size) bytes of the system buffer back unless
        the status is an error (warnings such as BUFFER_OVERFLOW still copy)."""
        input_bytes = bytes(input_bytes)
        if self._cfg("DataSourceCount") == 0:
            raise DmfkdError("no GUID_DEVINTERFACE_CrashDump interface: config DataSourceCount is 0")
        known = (IOCTL_DATA_SOURCE_CREATE, IOCTL_DATA_SOURCE_DESTROY, IOCTL_DATA_SOURCE_WRITE,
                 IOCTL_DATA_SOURCE_READ, IOCTL_DATA_SOURCE_OPEN, IOCTL_DATA_SOURCE_CAPTURE)
        if self.debug_build:
            known += (IOCTL_CRASH_DRIVER,)
        if code not in known:
            return STATUS_NOT_SUPPORTED, 0, b""
        system_buffer = bytearray(max(len(input_bytes), output_size))
        system_buffer[:len(input_bytes)] = input_bytes
        status, information = self._dispatch(code, input_bytes, output_size, file_object, system_buffer)
        if status >= 0xC0000000:
            return status, information, b""
        return status, information, bytes(system_buffer[:min(information, output_size)])

    def _dispatch(self, code: int, input_bytes: bytes, output_size: int, fo: int,
                  system_buffer: bytearray) -> Tuple[int, int]:
        create = dmf_structures.data_source_create()
        if code == IOCTL_DATA_SOURCE_CREATE:
            # WdfRequestRetrieveInputMemory fails on a zero-length buffer (BUFFER_TOO_SMALL)
            if len(input_bytes) < create.size:
                return STATUS_BUFFER_TOO_SMALL, 0
            if not fo:
                return STATUS_INVALID_ADDRESS, 0
            req = create.unpack_from(input_bytes)
            status = self.data_source_create_auxiliary(fo, req["EntriesCount"], req["EntrySize"], req["Guid"])
            return status, (len(input_bytes) if nt_success(status) else 0)
        if code == IOCTL_DATA_SOURCE_OPEN:
            if len(input_bytes) < create.size or output_size < create.size:
                return STATUS_BUFFER_TOO_SMALL, 0
            if not fo:
                return STATUS_INVALID_ADDRESS, 0
            req = create.unpack_from(input_bytes)
            status, index = self.data_source_open_auxiliary(fo, req["Guid"])
            if not nt_success(status):
                return status, 0
            size = self.space.read_u32(self._ds(index, "RingBufferSizeOfEachEntry"))
            total = self.space.read_u32(self._ds(index, "RingBufferSize"))
            create.pack_into(system_buffer, 0, {"EntriesCount": total // size, "EntrySize": size,
                                                "Guid": req["Guid"]})
            return STATUS_SUCCESS, create.size
        if code == IOCTL_DATA_SOURCE_WRITE:
            if not input_bytes:
                return STATUS_BUFFER_TOO_SMALL, 0
            if not fo:
                return STATUS_INVALID_PARAMETER, 0
            # Information is set before the write, so even a failed write reports it (Q-CD-6)
            return self.data_source_write_auxiliary(fo, input_bytes), len(input_bytes)
        if code == IOCTL_DATA_SOURCE_READ:
            if output_size == 0:
                return STATUS_BUFFER_TOO_SMALL, 0
            if not fo:
                return STATUS_INVALID_ADDRESS, 0
            status, data = self.data_source_read_auxiliary(fo, output_size)
            system_buffer[:len(data)] = data
            # the whole output length, not S, on success and failure alike (Q-CD-6)
            return status, output_size
        if code == IOCTL_DATA_SOURCE_CAPTURE:
            if output_size == 0:
                return STATUS_BUFFER_TOO_SMALL, 0
            if not fo:
                return STATUS_INVALID_ADDRESS, 0
            status, data = self.data_source_capture_auxiliary(fo, output_size)
            if not nt_success(status):
                return status, 0
            system_buffer[:len(data)] = data
            return status, len(data)
        if code == IOCTL_DATA_SOURCE_DESTROY:
            if not fo:
                return STATUS_INVALID_ADDRESS, 0
            self.data_source_destroy_auxiliary(fo)  # the internal status is dropped (Q-CD-5)
            return STATUS_SUCCESS, 0
        if code == IOCTL_CRASH_DRIVER:
            # p1 is the CrashDump DMFMODULE handle (CD.c:3123-3144, spec/dmf.md §2.14)
            self.kernel.ke_bugcheck_ex(BUG_CHECK_PRIVATE, self.handle, 0, 0, 0)
        return STATUS_NOT_SUPPORTED, 0

    # -- Close (CD.c:3617-3778) ----------------------------------------------------------------------
    def close(self) -> None:
        if self._cfg("EvtCrashDumpWrite"):
            self.kernel.deregister(self._ctx_off("BugCheckCallbackRecordAdditional"))
        if self._ctx_ptr("DataSource") and self._ring_handle(INDEX_SELF):
            self._data_source_destroy_internal(INDEX_SELF)
        if self._ctx_ptr("DataSource"):
            for index in range(INDEX_CLIENT_FIRST, self.data_source_count):
                for mode in (DataSourceModeWrite, DataSourceModeRead):
                    fo = self._fo(index, mode)
                    if fo:
                        self.data_source_destroy_auxiliary(fo)
        if "TriageDumpDataArray" in self.ctx_layout.offsets and self._ctx_ptr("TriageDumpDataArray"):
            record = self._ctx_off("BugCheckCallbackRecordTriageDumpData")
            if self.space.read_u32(record + self.rec_layout.offsets["Reason"]) != windows.KbCallbackInvalid:
                self.kernel.deregister(record)
            self.space.write_ptr(self._ctx_off("TriageDumpDataArrayMemory"), 0)
        for name in ("BugCheckCallbackRecordRingBuffer", "DataSource"):
            self.space.write_ptr(self._ctx_off(name), 0)
        self.space.write_u32(self._ctx_off("DataSourceCount"), 0)

    # -- bug-check callbacks (run by dmfemu.bugcheck, find the module via the global) ---------------
    def _global_module(self) -> Tuple[int, int]:
        """(context VA, config VA) of g_DmfModuleCrashDump, read from the driver image."""
        handle = self.driver.read_global_crashdump()
        if handle == 0:
            # Q-CD-7: the callbacks dereference the global; NULL faults in the bug-check path
            raise bc.KernelFault("bug-check callback dereferenced a NULL g_DmfModuleCrashDump (spec/dmf.md Q-CD-7)")
        return self.driver.module_context_and_config(handle)

    def _bugcheck_ring_buffer(self, reason: int, record_va: int, sdd_va: int, sdd_len: int) -> None:
        """CrashDump_BugCheckSecondaryDumpDataCallbackRingBuffer (CD.c:313-425, spec/dmf.md §2.11)."""
        space = self.space
        ctx, _cfg = self._global_module()
        lay = self.ctx_layout
        records = space.read_ptr(ctx + lay.offsets["BugCheckCallbackRecordRingBuffer"])
        index = (record_va - records) // self.rec_layout.size
        ds_va = space.read_ptr(ctx + lay.offsets["DataSource"]) + index * self.ds_layout.size
        dso = self.ds_layout.offsets
        ring = self._ring_for_call(space.read_ptr(ds_va + dso["DmfModuleDataSourceRingBuffer"]), "bug-check callback")
        sec = self.sec_layout.offsets
        out_buffer = space.read_ptr(sdd_va + sec["OutBuffer"])
        in_buffer = space.read_ptr(sdd_va + sec["InBuffer"])
        if out_buffer == 0:
            # size query: already mutates the ring (Q-CD-3)
            ring.reorder(False)
            space.write_ptr(ds_va + dso["RingBufferData"], 0)

            def first_item(_module, item_va: int, _view, item_size: int, _ctx) -> bool:
                space.write_ptr(ds_va + dso["RingBufferData"], item_va)
                return False

            ring.enumerate(False, first_item, None)
        elif out_buffer == in_buffer:
            space.write(sdd_va + sec["Guid"], space.read(ds_va + dso["RingBufferGuid"], 16))
            space.write_u32(ds_va + dso["CurrentRingBufferIndex"], 0)

            def xor_item(_module, item_va: int, view, item_size: int, _ctx) -> bool:
                # Q-CD-1: the cursor is compared against the per-item size and never reset, so only
                # the first enumerated item is XOR-ed
                cursor = space.read_u32(ds_va + dso["CurrentRingBufferIndex"])
                if cursor < item_size:
                    key_size = space.read_u32(ds_va + dso["RingBufferEncryptionKeySize"])
                    key = space.read(ds_va + dso["RingBufferEncryptionKey"], max(key_size, 1))
                    if key_size == 0:
                        raise bc.KernelFault("XOR with a zero key size divides by zero (CD.c:297-304)")
                    for j in range(cursor, item_size):
                        view[j] ^= key[j % key_size]
                    space.write_u32(ds_va + dso["CurrentRingBufferIndex"], item_size)
                return True

            ring.enumerate(False, xor_item, None)
            space.write_u32(ds_va + dso["CurrentRingBufferIndex"], 0)
        data = space.read_ptr(ds_va + dso["RingBufferData"])
        if data:
            total = min(space.read_u32(ds_va + dso["RingBufferSize"]), space.read_u32(sdd_va + sec["MaximumAllowed"]))
            space.write_ptr(sdd_va + sec["OutBuffer"], data)
            space.write_u32(sdd_va + sec["OutBufferLength"], total)
        else:
            space.write_ptr(sdd_va + sec["OutBuffer"], 0)
            space.write_u32(sdd_va + sec["OutBufferLength"], 0)

    def _client_routine(self, cfg_field: str) -> Optional[Callable]:
        va = self._cfg(cfg_field)
        fn = self._client.get(va)
        if va and fn is None:
            raise bc.KernelFault("%s = 0x%x is no emulated client routine" % (cfg_field, va))
        return fn

    def _bugcheck_additional(self, reason: int, record_va: int, sdd_va: int, sdd_len: int) -> None:
        """CrashDump_BugCheckSecondaryDumpDataCallbackAdditional (CD.c:430-506, spec/dmf.md §2.12)."""
        space = self.space
        self._global_module()
        sec = self.sec_layout.offsets
        out_buffer = space.read_ptr(sdd_va + sec["OutBuffer"])
        in_buffer = space.read_ptr(sdd_va + sec["InBuffer"])
        in_length = space.read_u32(sdd_va + sec["InBufferLength"])
        maximum = space.read_u32(sdd_va + sec["MaximumAllowed"])
        if out_buffer == 0:
            # the query's length is not clamped (Q-CD-10)
            request = AdditionalDataRequest(self, in_buffer, in_length, maximum, out_buffer,
                                            space.read_u32(sdd_va + sec["OutBufferLength"]), True)
            request.apply(self._client_routine("EvtCrashDumpQuery")(request))
            space.write_ptr(sdd_va + sec["OutBuffer"], request.out_buffer)
            space.write_u32(sdd_va + sec["OutBufferLength"], request.length & 0xFFFFFFFF)
        elif out_buffer == in_buffer:
            space.write(sdd_va + sec["Guid"], self._cfg_guid("AdditionalDataGuid").bytes_le)
            # the length starts at MaximumAllowed: a client that does not set it emits that much (Q-CD-10)
            request = AdditionalDataRequest(self, in_buffer, in_length, maximum, out_buffer, maximum, False)
            request.apply(self._client_routine("EvtCrashDumpWrite")(request))
            space.write_ptr(sdd_va + sec["OutBuffer"], request.out_buffer)
            space.write_u32(sdd_va + sec["OutBufferLength"], min(request.length & 0xFFFFFFFF, maximum))

    def _bugcheck_triage(self, reason: int, record_va: int, data_va: int, data_len: int) -> None:
        """CrashDump_BugCheckTriageDumpDataCallback (CD.c:511-573)."""
        space = self.space
        tdd = self.kernel.triage_data.offsets
        if not space.read_u32(data_va + tdd["Flags"]) & windows.KB_TRIAGE_DUMP_DATA_FLAG_BUGCHECK_ACTIVE:
            return
        ctx, _cfg = self._global_module()
        store = self._client_routine("EvtCrashDumpStoreTriageDumpData")
        if store is not None:
            rd = space.read_ptr
            store(self, space.read_u32(data_va + tdd["BugCheckCode"]), rd(data_va + tdd["BugCheckParameter1"]),
                  rd(data_va + tdd["BugCheckParameter2"]), rd(data_va + tdd["BugCheckParameter3"]),
                  rd(data_va + tdd["BugCheckParameter4"]))
        space.write_ptr(data_va + tdd["DataArray"], space.read_ptr(ctx + self.ctx_layout.offsets["TriageDumpDataArray"]))


def pack_data_source_create(entries_count: int, entry_size: int, guid: uuid.UUID) -> bytes:
    """The 24-byte pack(1) DATA_SOURCE_CREATE / DATA_SOURCE_OPEN input buffer (spec/dmf.md §2.7)."""
    return dmf_structures.data_source_create().pack({"EntriesCount": entries_count, "EntrySize": entry_size, "Guid": guid})


def unpack_data_source_open(data: bytes) -> dict:
    return dmf_structures.data_source_open().unpack_from(data)
