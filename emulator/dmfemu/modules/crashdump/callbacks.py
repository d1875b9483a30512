"""DMF_CrashDump's bug-check callbacks (spec/dmf.md §2.10-§2.13): the routines it registers with
KeRegisterBugCheckReasonCallback and what they do when nt calls them during a bug check
(dmfemu.bugcheck runs the calls). Like DMF's, they find the module through the driver's
`g_DmfModuleCrashDump` global, not through the object that registered them.
"""
from typing import Callable, Optional, Tuple

from dmfkd.layouts import windows

from dmfemu.bugcheck import KernelFault
from dmfemu.modules.crashdump.config import AdditionalDataRequest

# routine names in the driver image (what `ln` would show for a record's CallbackRoutine)
ROUTINE_RING_BUFFER = "CrashDump_BugCheckSecondaryDumpDataCallbackRingBuffer"
ROUTINE_ADDITIONAL = "CrashDump_BugCheckSecondaryDumpDataCallbackAdditional"
ROUTINE_TRIAGE = "CrashDump_BugCheckTriageDumpDataCallback"


class BugCheckCallbacks(object):
    """The three callbacks of one CrashDump module (dmfemu.modules.crashdump.module.CrashDump)."""

    def __init__(self, crashdump):
        self.crashdump = crashdump
        self.driver = crashdump.driver
        self.kernel = crashdump.kernel
        self.space = crashdump.space
        self.state = crashdump.state
        self.secondary_layout = windows.bugcheck_secondary_dump_data(crashdump.arch)

    def bind(self) -> None:
        """Give the three routines their addresses in the driver image and their implementations."""
        kernel, driver = self.kernel, self.driver
        kernel.bind_routine(driver.routine(ROUTINE_RING_BUFFER), self.ring_buffer)
        kernel.bind_routine(driver.routine(ROUTINE_ADDITIONAL), self.additional)
        kernel.bind_routine(driver.routine(ROUTINE_TRIAGE), self.triage)

    # -- KeRegisterBugCheckReasonCallback ---------------------------------------------------------------
    def _register(self, record_va: int, routine: str, reason: int) -> bool:
        return self.kernel.register(record_va, self.driver.routine(routine), reason,
                                    self.state.config_value("ComponentName"))

    def register_ring_buffer(self, record_va: int) -> bool:
        """A data source's record (registered when the data source is created)."""
        return self._register(record_va, ROUTINE_RING_BUFFER, windows.KbCallbackSecondaryDumpData)

    def register_additional(self, record_va: int) -> bool:
        return self._register(record_va, ROUTINE_ADDITIONAL, windows.KbCallbackSecondaryDumpData)

    def register_triage(self, record_va: int) -> bool:
        return self._register(record_va, ROUTINE_TRIAGE, windows.KbCallbackTriageDumpData)

    # -- what the callbacks share -----------------------------------------------------------------------
    def _global_module(self) -> Tuple[int, int]:
        """(context VA, config VA) of g_DmfModuleCrashDump, read from the driver image."""
        handle = self.driver.read_global_crashdump()
        if handle == 0:
            # the callbacks dereference the global; NULL faults in the bug-check path (spec/dmf.md Q-CD-7)
            raise KernelFault("bug-check callback dereferenced a NULL g_DmfModuleCrashDump")
        return self.driver.module_context_and_config(handle)

    def _client_routine(self, config_field: str) -> Optional[Callable]:
        va = self.state.config_value(config_field)
        function = self.crashdump.client_routines.at(va)
        if va and function is None:
            raise KernelFault("%s = 0x%x is no emulated client routine" % (config_field, va))
        return function

    # -- the callbacks ------------------------------------------------------------------------------------
    def ring_buffer(self, reason: int, record_va: int, sdd_va: int, sdd_len: int) -> None:
        """CrashDump_BugCheckSecondaryDumpDataCallbackRingBuffer (CD.c:313-425, spec/dmf.md §2.11)."""
        space = self.space
        ctx, _cfg = self._global_module()
        context = self.state.context_layout.offsets
        records = space.read_ptr(ctx + context["BugCheckCallbackRecordRingBuffer"])
        index = (record_va - records) // self.state.record_layout.size
        ds_va = space.read_ptr(ctx + context["DataSource"]) + index * self.state.data_source_layout.size
        dso = self.state.data_source_layout.offsets
        ring = self.state.ring_for_call(space.read_ptr(ds_va + dso["DmfModuleDataSourceRingBuffer"]),
                                        "bug-check callback")
        sec = self.secondary_layout.offsets
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
                        # the XOR loop takes the index modulo the key size (CD.c:297-304)
                        raise KernelFault("XOR with a zero key size divides by zero")
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

    def additional(self, reason: int, record_va: int, sdd_va: int, sdd_len: int) -> None:
        """CrashDump_BugCheckSecondaryDumpDataCallbackAdditional (CD.c:430-506, spec/dmf.md §2.12)."""
        space = self.space
        self._global_module()
        sec = self.secondary_layout.offsets
        out_buffer = space.read_ptr(sdd_va + sec["OutBuffer"])
        in_buffer = space.read_ptr(sdd_va + sec["InBuffer"])
        in_length = space.read_u32(sdd_va + sec["InBufferLength"])
        maximum = space.read_u32(sdd_va + sec["MaximumAllowed"])
        if out_buffer == 0:
            # the query's length is not clamped (Q-CD-10)
            request = AdditionalDataRequest(self.crashdump, in_buffer, in_length, maximum, out_buffer,
                                            space.read_u32(sdd_va + sec["OutBufferLength"]), True)
            request.apply(self._client_routine("EvtCrashDumpQuery")(request))
            space.write_ptr(sdd_va + sec["OutBuffer"], request.out_buffer)
            space.write_u32(sdd_va + sec["OutBufferLength"], request.length & 0xFFFFFFFF)
        elif out_buffer == in_buffer:
            space.write(sdd_va + sec["Guid"], self.state.config_guid("AdditionalDataGuid").bytes_le)
            # the length starts at MaximumAllowed: a client that does not set it emits that much (Q-CD-10)
            request = AdditionalDataRequest(self.crashdump, in_buffer, in_length, maximum, out_buffer, maximum,
                                            False)
            request.apply(self._client_routine("EvtCrashDumpWrite")(request))
            space.write_ptr(sdd_va + sec["OutBuffer"], request.out_buffer)
            space.write_u32(sdd_va + sec["OutBufferLength"], min(request.length & 0xFFFFFFFF, maximum))

    def triage(self, reason: int, record_va: int, data_va: int, data_len: int) -> None:
        """CrashDump_BugCheckTriageDumpDataCallback (CD.c:511-573)."""
        space = self.space
        tdd = self.kernel.triage_data.offsets
        if not space.read_u32(data_va + tdd["Flags"]) & windows.KB_TRIAGE_DUMP_DATA_FLAG_BUGCHECK_ACTIVE:
            return
        ctx, _cfg = self._global_module()
        store = self._client_routine("EvtCrashDumpStoreTriageDumpData")
        if store is not None:
            read = space.read_ptr
            store(self.crashdump, space.read_u32(data_va + tdd["BugCheckCode"]),
                  read(data_va + tdd["BugCheckParameter1"]), read(data_va + tdd["BugCheckParameter2"]),
                  read(data_va + tdd["BugCheckParameter3"]), read(data_va + tdd["BugCheckParameter4"]))
        space.write_ptr(data_va + tdd["DataArray"],
                        space.read_ptr(ctx + self.state.context_layout.offsets["TriageDumpDataArray"]))
