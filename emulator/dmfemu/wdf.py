"""The WDF (KMDF) pieces DMF relies on, laid out in emulated kernel memory (spec/dmf.md §4.1-4.2).

* Handles: a WDF handle is the FxObject address XOR ``FxHandleValueMask`` = ~7 at the pointer
  width; the low 3 bits are flags (bit 0 = offset handle). :func:`handle_from_object` /
  :func:`object_from_handle` implement that both ways.
* ``WDFMEMORY`` (:class:`WdfMemory`, made by :meth:`Wdf.memory_create`): below PAGE_SIZE the object
  is an ``FxMemoryBuffer`` whose data follows it in the same pool block (tag = the caller's tag) at
  ``FxObject + ALIGN_UP(sizeof(FxMemoryBuffer), MEMORY_ALLOCATION_ALIGNMENT)``; at PAGE_SIZE and
  above it is an ``FxMemoryBufferFromPool`` (object in a pool block with WDF's own tag) and the data
  is a separate pool block with the caller's tag. ``sizeof(FxMemoryBuffer)`` is WDF-build specific
  (spec/dmf.md §7); it is a constructor parameter here (default 0x70 / 0x40, an arbitrary but
  plausible value - readers must not depend on it).
* Object contexts: an FxContextHeader {Object, NextHeader, EvtCleanupCallback, EvtDestroyCallback,
  ContextTypeInfo} (40 / 20 bytes) sits at ``FxObject + m_ObjectSize`` with ``m_ObjectSize =
  ALIGN_UP(sizeof(object)) + ALIGN_UP(extra buffer)``; its context bytes follow at
  ALIGN_UP(header, 16 / 8). Every handle object carries that first header (ContextTypeInfo NULL
  when the object was created without a context type). ``WdfObjectAllocateContext``
  (:meth:`Wdf.allocate_context`) adds a header + zeroed context in a new pool block and links it at
  the end of the ``NextHeader`` chain; its ContextTypeInfo points at a WDF_OBJECT_CONTEXT_TYPE_INFO
  global (:meth:`Wdf.context_type`).
* Globals and string literals of the emulated driver live in a :class:`StaticArea` (a bump
  allocator over a mapped image region).

All structures are built with ``dmfkd.layouts`` (the layouts the extension parses with).

API::

    handle_from_object(fx_object_va, arch) -> int
    object_from_handle(handle, arch) -> int
    is_offset_handle(handle) -> bool
    StaticArea(space, base, size); StaticArea.map(pool, name, size)
        .allocate(size, align=8) -> va ; .string(text) -> va (NUL-terminated ASCII, cached)
    Wdf(machine, fx_memory_buffer_size=None, object_pool_tag=b"FxDr", static_area=None)
        .memory_create(size, tag, context_type_info_va=0, context_size=0) -> WdfMemory
        .allocate_context(obj, type_info_va, context_size) -> context_va
        .context_type(name, context_size, va=None) -> type-info va (one global per name)
        .find_context(obj, type_info_va) -> context_va or 0 (walks the chain in memory)
        .memory_from_handle(handle) -> WdfMemory
    WdfMemory: .fx_object_va .handle .buffer_va .size .tag .first_header_va .contexts
               .buffer_view() -> writable memoryview of the data

``machine`` is anything with ``.space`` (dmfemu.memory.AddressSpace), ``.pool``
(dmfemu.pool.KernelPool) and ``.arch`` - a dmfemu.machine.Machine.
"""
from typing import Optional

from dmfkd.layouts import engine
from dmfkd.layouts import windows
from dmfkd.layouts.engine import align_up
from dmfkd.layouts.windows import PAGE_SIZE

#: default sizeof(FxMemoryBuffer) per architecture (WDF-build specific, spec/dmf.md §7)
DEFAULT_FX_MEMORY_BUFFER_SIZE = {"x64": 0x70, "x86": 0x40, "arm64": 0x70}


def _mask(arch: str) -> int:
    return (1 << (8 * engine.pointer_size(arch))) - 1


def handle_from_object(fx_object_va: int, arch: str) -> int:
    """WDF handle of an FxObject: address XOR ~7 within the pointer width (spec/dmf.md §4.2)."""
    width = _mask(arch)
    if fx_object_va & 7:
        raise ValueError("FxObject 0x%x is not 8-byte aligned" % fx_object_va)
    return (fx_object_va ^ (width & ~7)) & width


def object_from_handle(handle: int, arch: str) -> int:
    """FxObject = (handle & ~7) XOR ~7 within the pointer width (spec/dmf.md §4.2)."""
    width = _mask(arch)
    return ((handle & width & ~7) ^ (width & ~7)) & width


def is_offset_handle(handle: int) -> bool:
    """Bit 0 marks an offset handle (request memory only; never a DMF handle)."""
    return bool(handle & 1)


class StaticArea:
    """Bump allocator over a mapped image region: driver globals and string literals (.rdata)."""

    def __init__(self, space, base: int, size: int):
        self.space = space
        self.base = base
        self.size = size
        self._next = base
        self._strings = {}  # type: Dict[bytes, int]

    @classmethod
    def map(cls, pool, name: str, size: int = 0x4000) -> "StaticArea":
        base = pool.map_image(name, size)
        return cls(pool.space, base, size)

    def allocate(self, size: int, align: int = 8) -> int:
        va = align_up(self._next, align)
        if va + size > self.base + self.size:
            raise MemoryError("static area at 0x%x (%d bytes) is full" % (self.base, self.size))
        self._next = va + size
        return va

    def string(self, text) -> int:
        raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
        va = self._strings.get(raw)
        if va is None:
            va = self.allocate(len(raw) + 1, 1)
            self.space.write(va, raw + b"\0")
            self._strings[raw] = va
        return va


class WdfMemory:
    """One emulated WDFMEMORY (see module docstring)."""

    __slots__ = ("wdf", "fx_object_va", "handle", "buffer_va", "size", "tag", "first_header_va",
                 "contexts", "object_size", "separate_buffer")

    def __init__(self, wdf, fx_object_va, handle, buffer_va, size, tag, first_header_va, object_size,
                 separate_buffer):
        self.wdf = wdf
        self.fx_object_va = fx_object_va
        self.handle = handle
        self.buffer_va = buffer_va
        self.size = size
        self.tag = tag
        self.first_header_va = first_header_va
        self.object_size = object_size
        self.separate_buffer = separate_buffer
        #: [(header_va, context_va, type_info_va, context_size)] in chain order
        self.contexts = []  # type: List[Tuple[int, int, int, int]]

    def buffer_view(self) -> memoryview:
        return self.wdf.space.view(self.buffer_va, self.size)

    def __repr__(self):
        return "<WdfMemory handle=0x%x buffer=0x%x size=%d tag=%r>" % (
            self.handle, self.buffer_va, self.size, self.tag)


class Wdf:
    """WDF object factory bound to one emulated machine."""

    def __init__(self, machine, fx_memory_buffer_size: Optional[int] = None,
                 object_pool_tag: bytes = b"FxDr", static_area: Optional[StaticArea] = None):
        self.machine = machine
        self.space = machine.space
        self.pool = machine.pool
        self.arch = machine.arch
        self.pointer_size = engine.pointer_size(self.arch)
        self.alignment = engine.memory_allocation_alignment(self.arch)
        self.fx_memory_buffer_size = (DEFAULT_FX_MEMORY_BUFFER_SIZE[self.arch]
                                      if fx_memory_buffer_size is None else fx_memory_buffer_size)
        self.object_pool_tag = object_pool_tag
        self._static = static_area
        self._header = windows.wdf_context_header(self.arch)
        self._type_info = windows.wdf_object_context_type_info(self.arch)
        self.context_offset = windows.wdf_context_offset(self.arch)
        self._types = {}    # type: Dict[str, Tuple[int, int]]  name -> (va, context size)
        self._memories = {}  # type: Dict[int, WdfMemory]  handle -> object

    @property
    def static(self) -> StaticArea:
        if self._static is None:
            name, n = "wdfglobals", 1
            while name in self.pool.images:   # one area per Wdf instance on a shared machine
                n += 1
                name = "wdfglobals%d" % n
            self._static = StaticArea.map(self.pool, name, 0x4000)
        return self._static

    # -- objects ---------------------------------------------------------------------------------
    def _object_size(self, raw_size: int, extra: int) -> int:
        """COMPUTE_OBJECT_SIZE: aligned raw object size plus aligned extra buffer (fxhandle.h)."""
        return align_up(raw_size, self.alignment) + align_up(extra, self.alignment)

    def _write_header(self, header_va: int, fx_object_va: int, type_info_va: int = 0) -> None:
        self.space.write(header_va, self._header.pack({"Object": fx_object_va, "ContextTypeInfo": type_info_va}))

    def memory_create(self, size: int, tag: bytes, context_type_info_va: int = 0,
                      context_size: int = 0) -> WdfMemory:
        """WdfMemoryCreate(NonPagedPoolNx, tag, size): zeroed data; optional context type from the
        object attributes goes into the first context header."""
        if size <= 0:
            raise ValueError("WDFMEMORY size must be positive")
        fx_size = self.fx_memory_buffer_size
        first_context = self.context_offset + (align_up(context_size, self.alignment) if context_type_info_va else 0)
        if size < PAGE_SIZE:
            object_size = self._object_size(fx_size, size)
            block = self.pool.allocate(object_size + first_context, tag=tag, align=self.alignment)
            fx = block
            buffer_va = fx + align_up(fx_size, self.alignment)
            separate = False
        else:
            # FxMemoryBufferFromPool: object (WDF's tag) and data (caller's tag) in separate blocks
            object_size = self._object_size(fx_size, 0)
            fx = self.pool.allocate(object_size + first_context, tag=self.object_pool_tag, align=self.alignment)
            buffer_va = self.pool.allocate(size, tag=tag, align=self.alignment)
            separate = True
        header_va = fx + object_size
        self._write_header(header_va, fx, context_type_info_va)
        memory = WdfMemory(self, fx, handle_from_object(fx, self.arch), buffer_va, size, bytes(tag), header_va,
                           object_size, separate)
        if context_type_info_va:
            memory.contexts.append((header_va, header_va + self.context_offset, context_type_info_va, context_size))
        self._memories[memory.handle] = memory
        return memory

    def memory_from_handle(self, handle: int) -> WdfMemory:
        try:
            return self._memories[handle]
        except KeyError:
            raise KeyError("0x%x is not a WDFMEMORY handle of this emulator" % handle) from None

    def allocate_context(self, obj: WdfMemory, type_info_va: int, context_size: int,
                         tag: Optional[bytes] = None) -> int:
        """WdfObjectAllocateContext: new header + zeroed context, appended to the chain."""
        block = self.pool.allocate(self.context_offset + max(context_size, 1),
                                   tag=tag or self.object_pool_tag, align=self.alignment)
        self._write_header(block, obj.fx_object_va, type_info_va)
        last = obj.contexts[-1][0] if obj.contexts else obj.first_header_va
        self.space.write_ptr(last + self._header.offsets["NextHeader"], block)
        context_va = block + self.context_offset
        obj.contexts.append((block, context_va, type_info_va, context_size))
        return context_va

    def find_context(self, obj: WdfMemory, type_info_va: int) -> int:
        """Walk the header chain in memory (as a debugger would) for a context of that type."""
        header = obj.first_header_va
        next_off = self._header.offsets["NextHeader"]
        info_off = self._header.offsets["ContextTypeInfo"]
        seen = 0
        while header and seen < 64:
            if self.space.read_ptr(header + info_off) == type_info_va:
                return header + self.context_offset
            header = self.space.read_ptr(header + next_off)
            seen += 1
        return 0

    # -- context types ---------------------------------------------------------------------------
    def context_type(self, name: str, context_size: int, va: Optional[int] = None) -> int:
        """The WDF_OBJECT_CONTEXT_TYPE_INFO global for a context type name (created once):
        Size = sizeof(info), ContextName -> the name literal, ContextSize, UniqueType = itself."""
        found = self._types.get(name)
        if found is not None:
            if found[1] != context_size:
                raise ValueError("context type %s already declared with size %d" % (name, found[1]))
            return found[0]
        if va is None:
            va = self.static.allocate(self._type_info.size, self.pointer_size)
        name_va = self.static.string(name)
        self.space.write(va, self._type_info.pack({
            "Size": self._type_info.size, "ContextName": name_va, "ContextSize": context_size,
            "UniqueType": va}))
        self._types[name] = (va, context_size)
        return va
