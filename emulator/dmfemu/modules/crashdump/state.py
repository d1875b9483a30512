"""Where DMF_CrashDump keeps its state, read and written field by field in emulated memory: the module
config copy (flat <= v1.1.84, nested since v1.1.85), the context (V1/V3/V4/V5 by DMF version), the
DATA_SOURCE array and the bug-check record array (spec/dmf.md §2.2-§2.5).

The only state kept in Python is the map from a data source's ring DMFMODULE handle to the ring
module's code object (dmfemu.modules.ringbuffer.RingBuffer) - the dump shows the handle, the code
object is how the emulator runs DMF_RingBuffer on it.
"""
import uuid

from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dmf_versions
from dmfkd.layouts import windows

from dmfemu.bugcheck import KernelFault


class CrashDumpState(object):
    """Field access to one CrashDump module's config copy, context and data-source slots."""

    def __init__(self, space, arch: str, dmf_version):
        self.space = space
        self.nested = dmf_version >= dmf_versions.V1_1_85
        self.config_layout = dmf_structures.crashdump_config(arch, self.nested)
        self.context_label = dmf_structures.crashdump_context_label_for_dmf(dmf_version)
        self.context_layout = dmf_structures.crashdump_context(arch, self.context_label)
        self.data_source_layout = dmf_structures.data_source(arch)
        self.record_layout = windows.bugcheck_reason_callback_record(arch)
        self.context_va = 0     # set once DMF_ModuleCreate allocated them
        self.config_va = 0
        self.rings = {}         # type: Dict[int, object]  ring DMFMODULE handle -> RingBuffer

    # -- the config copy ---------------------------------------------------------------------------
    def config_value(self, name: str) -> int:
        """A scalar config field by its flat name (nested configs: the member of SecondaryData or
        TriageDumpData); 0 for the TriageDumpData members a flat config (v1.0-v1.1.84) lacks."""
        layout = self.config_layout
        if self.nested and name != "ComponentName":
            full = ("TriageDumpData." if name.startswith("TriageDump") or name.startswith("EvtCrashDumpStore")
                    else "SecondaryData.") + name
        else:
            full = name
        if full not in layout.offsets:
            return 0
        va = self.config_va + layout.offsets[full]
        return self.space.read_u32(va) if layout.sizes[full] == 4 else self.space.read_ptr(va)

    def config_guid(self, name: str) -> uuid.UUID:
        """RingBufferDataGuid / AdditionalDataGuid of the config copy."""
        full = ("SecondaryData." + name) if self.nested else name
        return uuid.UUID(bytes_le=self.space.read(self.config_va + self.config_layout.offsets[full], 16))

    # -- the context -------------------------------------------------------------------------------
    def has_context_field(self, name: str) -> bool:
        """Whether this DMF version's context has `name` (DataSourceMemory since V4, ...)."""
        return name in self.context_layout.offsets

    def context_field_va(self, name: str) -> int:
        return self.context_va + self.context_layout.offsets[name]

    def context_pointer(self, name: str) -> int:
        return self.space.read_ptr(self.context_field_va(name))

    @property
    def data_source_count(self) -> int:
        """DataSourceCount of the context: the config's count + 1 (SELF) once Open ran."""
        return self.space.read_u32(self.context_field_va("DataSourceCount"))

    # -- the DATA_SOURCE array and the bug-check record array ---------------------------------------
    def data_source_va(self, index: int) -> int:
        return self.context_pointer("DataSource") + index * self.data_source_layout.size

    def data_source_field_va(self, index: int, field: str) -> int:
        return self.data_source_va(index) + self.data_source_layout.offsets[field]

    def data_source(self, index: int) -> dict:
        """The DATA_SOURCE slot as DMF left it in memory (flat field names)."""
        return self.data_source_layout.unpack_from(self.space.read(self.data_source_va(index),
                                                                   self.data_source_layout.size))

    def record_va(self, index: int) -> int:
        """The bug-check callback record of data source `index`."""
        return self.context_pointer("BugCheckCallbackRecordRingBuffer") + index * self.record_layout.size

    def file_object(self, index: int, mode: int) -> int:
        """FileObject[mode] of slot `index` (DataSourceMode_Write / DataSourceMode_Read)."""
        return self.space.read_ptr(self.data_source_field_va(index, "FileObject[%d]" % mode))

    def set_file_object(self, index: int, mode: int, value: int) -> None:
        self.space.write_ptr(self.data_source_field_va(index, "FileObject[%d]" % mode), value)

    def data_source_guid(self, index: int) -> uuid.UUID:
        return uuid.UUID(bytes_le=self.space.read(self.data_source_field_va(index, "RingBufferGuid"), 16))

    def ring_handle(self, index: int) -> int:
        return self.space.read_ptr(self.data_source_field_va(index, "DmfModuleDataSourceRingBuffer"))

    # -- the rings behind the handles ----------------------------------------------------------------
    def ring_of(self, index: int):
        """The ring module object of slot `index` (None when the slot has no ring)."""
        return self.rings.get(self.ring_handle(index))

    def ring_for_call(self, handle: int, what: str):
        """The ring DMF calls `what` on; a NULL handle (a destroyed data source) faults as the NULL
        DMFMODULE would in DMF_RingBuffer (spec/dmf.md Q-CD-5)."""
        if handle == 0:
            raise KernelFault("%s called DMF_RingBuffer with a NULL DMFMODULE (a destroyed data source)" % what)
        ring = self.rings.get(handle)
        if ring is None:
            # a stale or garbage handle (read through a freed array): no RingBuffer module there
            raise KernelFault("%s called DMF_RingBuffer with 0x%x, which is no RingBuffer module" % (what, handle))
        return ring
