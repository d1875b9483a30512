"""One DMF_CrashDump module instance (kernel mode), byte-exact in emulated memory (spec/dmf.md §2):
its creation (DMF_CrashDump_Create + DMF_ModuleCreate), Open (§2.6), Close and the methods a
client driver calls. The parts it is made of:

    state.CrashDumpState         config copy, context, DATA_SOURCE and record arrays, in memory
    data_sources.DataSources     the SELF ring and the client data sources (+ slots.FileObjectSlots)
    ioctls.IoctlSurface          CreateFile / CloseHandle / DeviceIoControl from user mode
    callbacks.BugCheckCallbacks  what runs during a bug check
    config.ClientRoutines        the client's callbacks as routines of its image

Everything DMF keeps lives in emulated kernel memory and is read back from there: the module config
copy, the context, the zeroed DATA_SOURCE array and bug-check record array (tag CDMo; WDFMEMORY
since v1.1.116), the keys, the triage array, the data-source rings (real DMF_RingBuffer modules)
and `g_DmfModuleCrashDump` in the driver image.
"""
from typing import Optional, Tuple

from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dmf_versions
from dmfkd.layouts import windows
from dmfkd.layouts.dmf_structures import RINGBUFFER_INDEX_CLIENT_FIRST, RINGBUFFER_INDEX_SELF
from dmfkd.layouts.windows import nt_success

from dmfemu.bugcheck import BugCheckSystem
from dmfemu.modules.crashdump.callbacks import BugCheckCallbacks
from dmfemu.modules.crashdump.config import ClientRoutines, CrashDumpConfig, config_values
from dmfemu.modules.crashdump.data_sources import DataSources
from dmfemu.modules.crashdump.ioctls import IoctlSurface
from dmfemu.modules.crashdump.state import CrashDumpState


class CrashDump(object):
    """One DMF_CrashDump module instance of an emulated driver (dmfemu.driver.Driver)."""

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
        self.state = CrashDumpState(self.space, self.arch, self.dmf_version)
        self.nested = self.state.nested
        self.context_label = self.state.context_label
        self.kernel = BugCheckSystem.of(self.machine)
        self.debug_build = debug_build
        self.triage_api = triage_api
        self.dynamic = dynamic
        self.orphan = dmf_structures.file_object_orphan(self.arch)
        self.module = None
        self.parent = parent   # a parent DMF module (LiveKernelDump's ChildModulesAdd, spec/dmf.md §3.7)
        self.handle = 0
        self.ioctl_handler = None
        self.create_status = None  # type: Optional[int]
        self.open_status = None    # type: Optional[int]
        self.client_routines = ClientRoutines(driver)
        self.callbacks = BugCheckCallbacks(self)
        self.data_sources = DataSources(self)
        self.ioctls = IoctlSurface(self)
        self.callbacks.bind()
        self._create(config, crash_before_global_assignment)

    def _create(self, config: CrashDumpConfig, crash_before_global_assignment: bool) -> None:
        driver = self.driver
        # CD.c:3959-3967 - one instance per driver image (Q-CD-7)
        if driver.read_global_crashdump() != 0:
            self.create_status = windows.STATUS_INVALID_PARAMETER
            return
        component = driver.string(config.component_name) if config.component_name is not None else 0
        config_bytes = self.state.config_layout.pack(config_values(config, self.nested, self.dmf_version, component,
                                                                   self.client_routines))
        self.module = driver.create_module("CrashDump", config_bytes, self.state.context_layout.size,
                                           dynamic=self.dynamic, parent=self.parent)
        self.handle = self.module.handle
        self.state.context_va = self.module.context_va
        self.state.config_va = self.module.config_va
        driver.crashdump = self
        if config.data_source_count > 0:
            # ChildModulesAdd (CD.c:3846-3906): a DMF_IoctlHandler child exposes the IOCTLs. Its own
            # config/context are not modelled (not in the spec); the tree link is.
            self.ioctl_handler = driver.create_module("IoctlHandler", b"", 0, dynamic=False, parent=self.module)
        if self.dynamic:
            # dynamic modules are opened inside DMF_ModuleCreate, before CD.c:4007 assigns the
            # global (Q-CD-7): callbacks registered by Open see a NULL g_DmfModuleCrashDump until then
            self.open_status = self._open()
            if crash_before_global_assignment:
                self.kernel.ke_bugcheck_ex(dmf_structures.BUG_CHECK_PRIVATE, 0, 0, 0, 0)
            driver.write_global_crashdump(self.handle if nt_success(self.open_status) else 0)
            self.create_status = self.open_status
        else:
            driver.write_global_crashdump(self.handle)
            self.open_status = self._open()
            self.create_status = self.open_status
            if not nt_success(self.open_status):
                driver.write_global_crashdump(0)
        if nt_success(self.open_status):
            self.module.set_state("Opened")

    # -- Open (CD.c:3299-3564, spec/dmf.md §2.6) ---------------------------------------------------
    def _open(self) -> int:
        state, space = self.state, self.space
        count = state.config_value("DataSourceCount")
        query = state.config_value("EvtCrashDumpQuery")
        write = state.config_value("EvtCrashDumpWrite")
        buffer_count = state.config_value("BufferCount")
        buffer_size = state.config_value("BufferSize")
        triage_size = state.config_value("TriageDumpDataArraySize")
        if count > dmf_structures.CrashDump_MAXIMUM_NUMBER_OF_DATA_SOURCES:
            return windows.STATUS_INVALID_PARAMETER
        if write and not query:
            return windows.STATUS_INVALID_PARAMETER
        if not write and count == 0 and (buffer_count == 0 or buffer_size == 0) and triage_size == 0:
            return windows.STATUS_INVALID_PARAMETER
        if query != write and (not query or not write):
            return windows.STATUS_INVALID_PARAMETER
        slots = count + 1
        space.write_u32(state.context_field_va("DataSourceCount"), slots)
        ds_va, ds_memory = self._allocate_array(state.data_source_layout.size * slots)
        space.write_ptr(state.context_field_va("DataSource"), ds_va)
        if state.has_context_field("DataSourceMemory"):
            space.write_ptr(state.context_field_va("DataSourceMemory"), ds_memory)
        records_va, records_memory = self._allocate_array(state.record_layout.size * slots)
        space.write_ptr(state.context_field_va("BugCheckCallbackRecordRingBuffer"), records_va)
        if state.has_context_field("BugCheckCallbackRecordRingBufferMemory"):
            space.write_ptr(state.context_field_va("BugCheckCallbackRecordRingBufferMemory"), records_memory)
        if buffer_count > 0:
            status = self.data_sources.create_internal(RINGBUFFER_INDEX_SELF, buffer_count, buffer_size,
                                                       state.config_guid("RingBufferDataGuid"))
            if not nt_success(status):
                return status  # Open never frees what it allocated (CD.c:3559-3561, Q-CD-8)
        if write:
            record = state.context_field_va("BugCheckCallbackRecordAdditional")
            self.kernel.initialize_record(record)
            if not self.callbacks.register_additional(record):
                return windows.STATUS_INVALID_PARAMETER
        if triage_size > 0:
            if not state.config_value("ComponentName"):
                return windows.STATUS_INVALID_PARAMETER
            status = self._triage_data_create()
            if not nt_success(status):
                return status
        return windows.STATUS_SUCCESS

    def _allocate_array(self, size: int) -> Tuple[int, int]:
        """Zeroed CDMo array: WDFMEMORY parented to the module since v1.1.116 (V4+), ExAllocatePool
        before (spec/dmf.md §2.3). Returns (buffer VA, WDFMEMORY handle or 0)."""
        if self.state.has_context_field("DataSourceMemory"):
            return self.driver.wdf_memory(size, dmf_structures.TAG_CRASHDUMP, parent=self.handle)
        return self.machine.pool.allocate(size, tag=dmf_structures.TAG_CRASHDUMP), 0

    def _triage_data_create(self) -> int:
        """CrashDump_TriageDataCreateInternal (CD.c:1874-1997, spec/dmf.md §2.13)."""
        state, space = self.state, self.space
        size = state.config_value("TriageDumpDataArraySize")
        if state.has_context_field("DumpDataBlock"):
            # v1.1.154+ caches KeAddTriageDumpDataBlock in the context (Q-CD-11)
            space.write_ptr(state.context_field_va("DumpDataBlock"),
                            self.driver.kernel_routine("KeAddTriageDumpDataBlock") if self.triage_api else 0)
        if size == 0:
            return windows.STATUS_INVALID_PARAMETER
        length = windows.ktriage_dump_data_array_size(self.arch, size)
        # parent = g_DmfModuleCrashDump, still NULL while a dynamic module opens (Q-CD-7)
        parent = self.driver.read_global_crashdump()
        va, memory = self.driver.wdf_memory(length, dmf_structures.TAG_CRASHDUMP, parent=parent)
        space.write_ptr(state.context_field_va("TriageDumpDataArrayMemory"), memory)
        space.write_ptr(state.context_field_va("TriageDumpDataArray"), va)
        status = windows.STATUS_NOT_IMPLEMENTED
        if self.triage_api:
            status = self.kernel.initialize_triage_dump_data_array(va, length)
        if nt_success(status):
            if not self.callbacks.register_triage(state.context_field_va("BugCheckCallbackRecordTriageDumpData")):
                status = windows.STATUS_INVALID_PARAMETER
        if not nt_success(status):
            # the WDFMEMORY is deleted and its handle cleared; the array pointer stays stale (CD.c Exit path)
            space.write_ptr(state.context_field_va("TriageDumpDataArrayMemory"), 0)
        return status

    # -- Close (CD.c:3617-3778) ----------------------------------------------------------------------
    def close(self) -> None:
        state, space = self.state, self.space
        if state.config_value("EvtCrashDumpWrite"):
            self.kernel.deregister(state.context_field_va("BugCheckCallbackRecordAdditional"))
        if state.context_pointer("DataSource") and state.ring_handle(RINGBUFFER_INDEX_SELF):
            self.data_sources.destroy_internal(RINGBUFFER_INDEX_SELF)
        if state.context_pointer("DataSource"):
            for index in range(RINGBUFFER_INDEX_CLIENT_FIRST, state.data_source_count):
                for mode in (dmf_structures.DataSourceMode_Write, dmf_structures.DataSourceMode_Read):
                    fo = state.file_object(index, mode)
                    if fo:
                        self.data_sources.destroy_auxiliary(fo)
        if state.has_context_field("TriageDumpDataArray") and state.context_pointer("TriageDumpDataArray"):
            record = state.context_field_va("BugCheckCallbackRecordTriageDumpData")
            if space.read_u32(record + state.record_layout.offsets["Reason"]) != windows.KbCallbackInvalid:
                self.kernel.deregister(record)
            space.write_ptr(state.context_field_va("TriageDumpDataArrayMemory"), 0)
        for name in ("BugCheckCallbackRecordRingBuffer", "DataSource"):
            space.write_ptr(state.context_field_va(name), 0)
        space.write_u32(state.context_field_va("DataSourceCount"), 0)

    # -- what the client driver calls ----------------------------------------------------------------
    def write_self(self, data: bytes) -> int:
        """DMF_CrashDump_DataSourceWriteSelf: trusted, no size check beyond the ring's own (Q-RB-2)."""
        ring = self.state.ring_for_call(self.state.ring_handle(RINGBUFFER_INDEX_SELF), "DataSourceWriteSelf")
        return ring.write(bytes(data))

    def triage_dump_data_add(self, address: int, length: int) -> int:
        """DMF_CrashDump_TriageDumpDataAdd (CD.c:4088-4147): records the range, copies nothing."""
        state = self.state
        array = state.context_pointer("TriageDumpDataArray") if state.has_context_field("TriageDumpDataArray") else 0
        if not array:
            return windows.STATUS_INVALID_PARAMETER
        if not self.triage_api:
            return windows.STATUS_NOT_IMPLEMENTED
        return self.kernel.add_triage_dump_data_block(array, address, length)

    def surprise_removal(self) -> None:
        self.space.write_u8(self.state.context_field_va("SurpriseRemoved"), 1)

    def pool_tag(self, va: int) -> bytes:
        """The pool tag of the block holding `va` (CDMo for DMF_CrashDump's own allocations)."""
        return self.machine.pool.tag_of(va)

    # -- what user mode calls (ioctls.IoctlSurface) --------------------------------------------------
    def file_create(self, administrator: bool = True) -> int:
        return self.ioctls.file_create(administrator)

    def file_close(self, fo: int) -> None:
        self.ioctls.file_close(fo)

    def ioctl(self, code: int, input_bytes: bytes = b"", output_size: int = 0,
              file_object: int = 0) -> Tuple[int, int, bytes]:
        return self.ioctls.ioctl(code, input_bytes, output_size, file_object)
