"""An emulated client driver built on DMF: its image in kernel VA (code addresses for its routines,
globals such as `g_DmfModuleCrashDump` and `_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO`, string
literals), its WDFDEVICE, its file objects, and its own event-record type (DMFDEMO_EVENT) used by the
demo to show decoded records (spec/dmf.md §4.5 entry points).

Image map (RVA): 0x0 header page (PE headers written by dmfemu.kernel when present), 0x1000 .text
(one 0x40-byte slot per routine, filled with breakpoint instructions), 0x4000 .data/.rdata (globals and strings, a
dmfemu.wdf.StaticArea).
With a native image (``Driver(native_image=...)``: a dmfemu.native_image.NativeImage, a real PE +
PDB built from this driver's ISF by dmfemu.native_build) the header page holds that PE's headers and
the image grows by the linker's sections above IMAGE_SIZE (its debug directory naming the PDB);
nothing below IMAGE_SIZE changes.
"""
import struct
from typing import Callable, Dict, Optional, Tuple

from dmfkd.layouts import dmf_versions
from dmfkd.layouts import engine
from dmfkd.layouts.engine import Spec, cached_layout

from dmfemu import kernel
from dmfemu import wdf
from dmfemu.modules.dmfobject import Dmf
from dmfemu.modules.ringbuffer import RingBuffer
from dmfemu.native_image import NativeBuildError, NativeImage

IMAGE_SIZE = 0x10000
TEXT_RVA = 0x1000
TEXT_SIZE = 0x3000
DATA_RVA = 0x4000
ROUTINE_SLOT = 0x40
# what a routine slot is filled with: a breakpoint instruction (x86/x64 INT3, ARM64 `brk #0xf000`)
ROUTINE_FILL = {"x64": b"\xcc", "x86": b"\xcc", "arm64": struct.pack("<I", kernel.ARM64_BRK_F000)}

# The demo client's own record type: what its SELF ring and data sources carry (64 bytes). EventId and
# Level are C enums (4 bytes with MSVC and clang-cl alike), so the symbols can name their values.
DMFDEMO_EVENT = Spec("DMFDEMO_EVENT", [
    ("Timestamp", "u64"),
    ("Sequence", "u32"),
    ("EventId", "enum"),               # DMFDEMO_EVENT_ID
    ("Level", "enum"),                 # DMFDEMO_LEVEL
    ("Message", ("bytes", 44)),        # char[44], NUL-padded
])
MESSAGE_SIZE = 44
#: the enum type of each enum field of DMFDEMO_EVENT
DMFDEMO_EVENT_ENUMS = {"EventId": "DMFDEMO_EVENT_ID", "Level": "DMFDEMO_LEVEL"}
#: the demo driver's enums: name -> {constant: value} (Level follows evntrace.h's TRACE_LEVEL_* values)
DMFDEMO_ENUMS = {
    "DMFDEMO_EVENT_ID": {
        "DmfDemoDeviceAdd": 1, "DmfDemoD0Entry": 2, "DmfDemoD0Exit": 3, "DmfDemoIoctlReceived": 4,
        "DmfDemoIoctlCompleted": 5, "DmfDemoReadStarted": 6, "DmfDemoReadCompleted": 7, "DmfDemoWriteStarted": 8,
        "DmfDemoWriteCompleted": 9, "DmfDemoTimeout": 10, "DmfDemoRetry": 11, "DmfDemoPowerUp": 12,
        "DmfDemoPowerDown": 13, "DmfDemoSurpriseRemoval": 14, "DmfDemoResetStarted": 15,
        "DmfDemoResetCompleted": 16, "DmfDemoQueueStopped": 17, "DmfDemoQueueStarted": 18, "DmfDemoHeartbeat": 19,
    },
    "DMFDEMO_LEVEL": {
        "DmfDemoLevelCritical": 1, "DmfDemoLevelError": 2, "DmfDemoLevelWarning": 3,
        "DmfDemoLevelInformation": 4, "DmfDemoLevelVerbose": 5,
    },
}


def dmfdemo_event():
    """The DMFDEMO_EVENT layout (the same on every architecture)."""
    return cached_layout(DMFDEMO_EVENT, "x64")


def pack_event(timestamp: int, sequence: int, event_id: int, level: int, message: str) -> bytes:
    """One DMFDEMO_EVENT: u64 Timestamp, u32 Sequence, enum EventId, enum Level, char Message[44]."""
    raw = message.encode("ascii")[:MESSAGE_SIZE - 1]
    return dmfdemo_event().pack({"Timestamp": timestamp, "Sequence": sequence, "EventId": event_id,
                                 "Level": level, "Message": raw + bytes(MESSAGE_SIZE - len(raw))})


class Driver(object):
    """One driver image on an emulated machine (dmfemu.machine.Machine)."""

    def __init__(self, machine, name: str = "dmfdemo", dmf_version=dmf_versions.HEAD_VERSION,
                 ring_factory: Optional[Callable] = None, pool_tag: bytes = b"Demo",
                 native_image: Optional[NativeImage] = None):
        self.machine = machine
        self.space = machine.space
        self.arch = machine.arch
        self.ptr = machine.pointer_size
        self.name = name
        self.dmf_version = dmf_versions.parse_dmf_version(dmf_version)
        self.pool_tag = pool_tag
        if native_image is not None and (native_image.module.lower() != name.lower() or native_image.arch != self.arch):
            raise NativeBuildError("%s is the native image of %s (%s), not of driver %s (%s)" % (
                native_image.path, native_image.module, native_image.arch, name, self.arch))
        self.native_image = native_image
        self.base = machine.add_image(name, _image_size(native_image))
        if native_image is not None:
            # the native PE headers (with its RSDS debug record) and its sections above IMAGE_SIZE; the
            # emulator's code and data below IMAGE_SIZE are laid out at the RVAs the PDB names
            native_image.install(self.space, self.base, machine.images[name][1], keep_below=IMAGE_SIZE,
                                 timestamp=kernel.DRIVER_TIMESTAMP, checksum=kernel.DRIVER_CHECKSUM)
        self.static = wdf.StaticArea(self.space, self.base + DATA_RVA, IMAGE_SIZE - DATA_RVA)
        self.wdf = wdf.Wdf(machine, static_area=self.static)
        self.dmf = Dmf(machine, self.dmf_version, wdf=self.wdf, static_area=self.static)
        self._routines = {}     # type: Dict[str, int]
        self._next_routine = self.base + TEXT_RVA
        self._buffers = {}      # type: Dict[str, Tuple[int, int]]
        self._ring_factory = ring_factory
        self.crashdump = None
        self.modules = []       # type: List[object]
        self._dynamic = []      # type: List[object]
        self.collection = None
        # globals (CD.c:204; MOD.h:444-446)
        self.g_crashdump = self.global_variable("g_DmfModuleCrashDump", self.ptr)
        self.device = self._wdf_object(0x100)
        # the client keeps its WDFDEVICE in a global, as small drivers do (a debugger entry point)
        self.space.write_ptr(self.global_variable("g_DmfDemoDevice", self.ptr), self.device)

    # -- image contents ------------------------------------------------------------------------
    def add_symbol(self, name: str, va: int) -> None:
        self.machine.add_symbol(self.name, name, va)

    def global_variable(self, name: str, size: int, align: int = 8) -> int:
        va = self.static.allocate(size, align)
        self.add_symbol(name, va)
        return va

    def string(self, text) -> int:
        return self.static.string(text)

    def routine(self, name: str) -> int:
        """Code address of a routine of this driver (allocated on first use, named in the symbols)."""
        va = self._routines.get(name)
        if va is None:
            va = self._next_routine
            if va + ROUTINE_SLOT > self.base + TEXT_RVA + TEXT_SIZE:
                raise MemoryError("driver %s: .text is full" % self.name)
            self._next_routine += ROUTINE_SLOT
            self.space.write(va, ROUTINE_FILL[self.arch] * (ROUTINE_SLOT // len(ROUTINE_FILL[self.arch])))
            self._routines[name] = va
            self.add_symbol(name, va)
        return va

    def routines(self) -> Dict[str, int]:
        return dict(self._routines)

    def kernel_routine(self, name: str) -> int:
        """What MmGetSystemRoutineAddress(name) gives this driver: the kernel's symbol when the machine
        already has one, else a thunk routine in this image named `nt_<name>` (dmfemu.kernel maps
        the kernel image only when a dump is taken, so no address inside it exists earlier)."""
        try:
            return self.machine.symbol("nt!" + name)
        except Exception:
            return self.routine("nt_" + name)

    def read_global_crashdump(self) -> int:
        return self.space.read_ptr(self.g_crashdump)

    def write_global_crashdump(self, handle: int) -> None:
        self.space.write_ptr(self.g_crashdump, handle)

    # -- WDF objects ---------------------------------------------------------------------------
    def _wdf_object(self, size: int) -> int:
        fx = self.machine.pool.allocate(size, tag=self.wdf.object_pool_tag,
                                        align=engine.memory_allocation_alignment(self.arch))
        return wdf.handle_from_object(fx, self.arch)

    def file_object(self) -> int:
        """A new WDFFILEOBJECT handle (user-mode CreateFile on the device interface)."""
        return self._wdf_object(0x80)

    def wdf_memory(self, size: int, tag: bytes, parent: int = 0) -> Tuple[int, int]:
        """WdfMemoryCreate: (buffer VA, WDFMEMORY handle). The parent only matters for deletion."""
        memory = self.wdf.memory_create(size, tag)
        return memory.buffer_va, memory.handle

    def client_buffer(self, key: str, size: int) -> int:
        """A nonpaged buffer the client owns (tag = the driver's), reused while large enough."""
        found = self._buffers.get(key)
        if found is None or found[1] < size:
            va = self.machine.pool.allocate(max(size, 1), tag=self.pool_tag)
            self._buffers[key] = (va, size)
            return va
        return found[0]

    def allocate(self, size: int, tag: Optional[bytes] = None) -> int:
        return self.machine.pool.allocate(size, tag=tag or self.pool_tag)

    # -- DMF modules (dmfemu.modules.dmfobject / ringbuffer) ------------------------------------
    def create_module(self, module_name: str, config_bytes: bytes, context_size: int, *,
                      dynamic: bool = False, instance_name: str = "", passive: bool = True, parent=None):
        """DMF_ModuleCreate of a module of this driver, parented to its WDFDEVICE (or a child of
        `parent`); names the `_WDF_DMF_CONTEXT_<Name>_TYPE_INFO` global (ContextSize identifies the
        layout, spec/dmf.md §2.4)."""
        module = self.dmf.create_module(module_name, config=config_bytes, context_size=context_size,
                                        instance_name=instance_name, parent_device=self.device,
                                        passive=passive, dynamic=dynamic, parent=parent)
        if module.type_info_va:
            self.add_symbol("_WDF_DMF_CONTEXT_%s_TYPE_INFO" % module_name, module.type_info_va)
        if parent is None:
            self.modules.append(module)
            if dynamic:
                self._dynamic.append(module)
        return module

    def create_collection(self):
        """DMF_MODULE_COLLECTION of the driver's static top-level modules (dynamic ones excluded,
        spec/dmf.md §4.4)."""
        static = [m for m in self.modules if m not in self._dynamic]
        self.collection = self.dmf.create_collection(static, client_device=self.device)
        return self.collection

    def module_context_and_config(self, handle: int) -> Tuple[int, int]:
        """DMF_CONTEXT_GET / DMF_CONFIG_GET: handle -> WDFMEMORY buffer (the DMF_OBJECT) -> fields."""
        object_va = self.wdf.memory_from_handle(handle).buffer_va
        layout = self.dmf.object_layout
        return (self.space.read_ptr(object_va + layout.offsets["ModuleContext"]),
                self.space.read_ptr(object_va + layout.offsets["ModuleConfig"]))

    def create_ring_buffer(self, item_count: int, item_size: int, mode: int, *, instance_name: str):
        """A dynamic DMF_RingBuffer parented to the WDFDEVICE: (NTSTATUS, ring or None)."""
        if self._ring_factory is not None:
            return self._ring_factory(self, item_count, item_size, mode, instance_name)
        # DMF_RingBuffer_Create with the WDFDEVICE as WDF parent: not linked into any module list (§4.4)
        return RingBuffer.create(self.dmf, item_count, item_size, mode, instance_name=instance_name,
                                 parent_device=self.device)

    def delete_ring_buffer(self, ring) -> None:
        """WdfObjectDelete of the ring module: Close (Q-RB-10) then the object goes away."""
        ring.close()


def _image_size(native_image: Optional[NativeImage]) -> int:
    if native_image is None:
        return IMAGE_SIZE
    return max(IMAGE_SIZE, native_image.size_of_image)
