"""DMF_RingBuffer with all of its state in emulated kernel memory (spec/dmf.md §1).

The module is a DMF_OBJECT (dmfobject) whose WDF typed context ``DMF_CONTEXT_RingBuffer`` is
exactly one RING_BUFFER (64 / 40 bytes); the item storage is a WDFMEMORY of (N+1)*S bytes, tag
``RBMo``, the last slot being the private swap slot used by Reorder. Every method reads
r / w / P / N / S / Mode / Items from the context bytes in memory and writes them back there:
the Python object only caches the memoryviews of the context and of the storage block (both
contiguous), so a debugger-eye view of the emulated memory is always the whole truth.

Methods and results follow spec/dmf.md §1.4 (RB.c), including the quirks:

* Q-RB-1  Mode is not validated: a full buffer in Mode 0 / >= 3 is written anyway (P grows past
  N). A later Reorder sets WritePointer = Items + P*S (past BufferEnd) and would then zero memory
  outside the block; the emulator performs the state changes up to that point and raises
  :class:`RingBufferCorruption` instead of writing outside the block.
* Q-RB-2  the size check comes after the full-buffer handling (Mode 2 drops the oldest item, then
  fails a wrong-size write); shorter writes fail.
* Q-RB-3  Read / ReadAll never clear consumed slots.
* Q-RB-4  SegmentsWrite leaves the bytes outside the segments as they were.
* Q-RB-5  Enumerate stops on pointers (p == w), not on P; R == W enumerates N slots.
* Q-RB-6  Reorder on an empty buffer zeroes all N slots and leaves r, w untouched.
* Q-RB-7  Reorder rotates stale slots too; the swap slot keeps old slot r-1.
* Q-RB-8  ReadAll ignores the target size and always returns STATUS_SUCCESS.
* Q-RB-9  TotalSize is the 32-bit product N*S; the allocation and BufferEnd use the full product.
* Q-RB-10 Close NULLs MemoryRing and Items only.

Where DMF only *asserts* (segment offsets, EnumerateToFindItem sizes) and a release build would
read or write outside the slot, the emulator raises :class:`RingBufferError` instead.

API::

    RingBuffer(dmf, item_count, item_size, mode=RingBuffer_Mode_DeleteOldestIfFullOnWrite,
               instance_name="", parent=None, parent_device=0)        # raises RingBufferCreateError
    RingBuffer.create(dmf, item_count, item_size, mode=2, ...) -> (NTSTATUS, RingBuffer or None)
    .write(data) -> NTSTATUS
    .read(target_size=None) -> (NTSTATUS, bytes or None)
    .read_all(target_size=None) -> (NTSTATUS, bytes)                 # bytes written = len(bytes)
    .segments_write(segments: [(data, offset)]) -> NTSTATUS
    .segments_read(segments: [(offset, size)]) -> (NTSTATUS, [bytes] or None)
    .enumerate(lock, callback, context=None) -> None
    .enumerate_to_find_item(callback, context, item, item_size=None) -> None
        callback(module_handle, item_va, item_view, item_size, context) -> bool (continue)
        item_view is a writable memoryview of the slot in emulated memory
    .reorder(lock) -> None
    .total_size_get() -> int
    .close() -> None
    .handle .module .context_va .items_va (cached at creation) .storage (WdfMemory)
    properties read back from memory: .item_size .item_count .items_present .mode .total_size
        .read_index .write_index .read_pointer .write_pointer .buffer_end .items_pointer
        .memory_ring
    .state() -> dict (RING_BUFFER fields), .slot(i) -> bytes, .swap_slot() -> bytes,
    .storage_bytes() -> bytes ((N+1)*S)
"""
import struct
import sys
from typing import Callable, List, Optional, Sequence, Tuple

from dmfkd.errors import DmfkdError
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import windows
from dmfkd.layouts.dmf_structures import RingBuffer_Mode_DeleteOldestIfFullOnWrite, RingBuffer_Mode_FailIfFullOnWrite
from dmfkd.layouts.windows import STATUS_INVALID_PARAMETER, STATUS_SUCCESS, STATUS_UNSUCCESSFUL
from dmfemu.modules.dmfobject import DMF_MODULE_OPTIONS_DISPATCH, Dmf, DmfModule


#: the emulator refuses ring storage larger than this (WdfMemoryCreate would fail on a real
#: machine long before; here it keeps a hostile N*S from eating the host's memory)
MAX_STORAGE_BYTES = 256 * 1024 * 1024

EnumerateCallback = Callable[[int, int, memoryview, int, object], bool]


class RingBufferError(DmfkdError):
    """An operation real DMF would only assert on and then run outside the ring; refused."""


class RingBufferCorruption(RingBufferError):
    """Q-RB-1: Reorder with ItemsPresentCount > ItemsCount would zero memory outside the block."""


class RingBufferCreateError(DmfkdError):
    def __init__(self, status: int, what: str):
        self.status = status
        super().__init__("DMF_RingBuffer create failed: %s (%s)" % (
            what, windows.NTSTATUS_NAMES.get(status, "0x%08X" % status)))


def make_room(mode: int, read_pointer: int, present: int, size: int, items: int, end: int):
    """What Write and SegmentsWrite do with a full ring (RB.c:360-380), in one place: Mode
    FailIfFullOnWrite -> None (the write fails, nothing changes); DeleteOldestIfFullOnWrite -> the
    oldest item is dropped (ReadPointer moves on, wrapping at BufferEnd; ItemsPresentCount - 1; its
    bytes stay); any other Mode is only asserted on, and the write goes ahead (spec/dmf.md Q-RB-1).
    Returns (ReadPointer, ItemsPresentCount) to continue the write with, or None."""
    if mode == RingBuffer_Mode_FailIfFullOnWrite:
        return None
    if mode == RingBuffer_Mode_DeleteOldestIfFullOnWrite:
        read_pointer += size
        return (items if read_pointer >= end else read_pointer), present - 1
    return read_pointer, present


def _state_struct(layout) -> Tuple[struct.Struct, int]:
    """One struct covering ItemSize .. ItemsPresentCount (everything but MemoryRing)."""
    names = ["ItemSize", "Items", "ReadPointer", "WritePointer", "BufferEnd", "TotalSize", "Mode",
             "ItemsCount", "ItemsPresentCount"]
    start = layout.offsets["ItemSize"]
    pos = start
    fmt = "<"
    for name in names:
        off = layout.offsets[name]
        if off > pos:
            fmt += "%dx" % (off - pos)
        fmt += layout.fmt(name)[1:]
        pos = off + layout.sizes[name]
    return struct.Struct(fmt), start


class RingBuffer:
    """An open DMF_RingBuffer module (see module docstring)."""

    MODULE_NAME = "RingBuffer"

    def __init__(self, dmf: Dmf, item_count: int, item_size: int,
                 mode: int = dmf_structures.RingBuffer_Mode_DeleteOldestIfFullOnWrite, instance_name: str = "",
                 parent: Optional[DmfModule] = None, parent_device: int = 0):
        status, what = self._construct(dmf, item_count, item_size, mode, instance_name, parent, parent_device)
        if status != STATUS_SUCCESS:
            raise RingBufferCreateError(status, what)

    @classmethod
    def create(cls, dmf: Dmf, item_count: int, item_size: int,
               mode: int = dmf_structures.RingBuffer_Mode_DeleteOldestIfFullOnWrite, instance_name: str = "",
               parent: Optional[DmfModule] = None, parent_device: int = 0):
        """DMF_RingBuffer_Create + Open: (NTSTATUS, RingBuffer or None)."""
        ring = cls.__new__(cls)
        status, _ = ring._construct(dmf, item_count, item_size, mode, instance_name, parent, parent_device)
        return status, (ring if status == STATUS_SUCCESS else None)

    def _construct(self, dmf, item_count, item_size, mode, instance_name, parent, parent_device):
        self.dmf = dmf
        arch = dmf.arch
        self.layout = dmf_structures.ring_buffer(arch)
        config = dmf_structures.dmf_config_ring_buffer(arch).pack({
            "ItemCount": item_count & 0xFFFFFFFF, "ItemSize": item_size & 0xFFFFFFFF, "Mode": mode & 0xFFFFFFFF})
        # RB.c:830-834: DISPATCH module (spin-lock module lock)
        self.module = dmf.create_module(self.MODULE_NAME, config=config, context_size=self.layout.size,
                                        instance_name=instance_name, parent=parent,
                                        parent_device=parent_device, module_options=DMF_MODULE_OPTIONS_DISPATCH,
                                        passive=False)
        self.handle = self.module.handle
        self.context_va = self.module.context_va
        self.storage = None
        self.items_va = 0
        # RingBuffer_Create (RB.c:549-561): zero size or count is rejected
        if item_size == 0 or item_count == 0:
            self.module.set_state("Closed")
            return STATUS_INVALID_PARAMETER, "ItemSize or ItemCount is 0"
        total = (item_count + 1) * item_size  # size_t since a1426f1 (spec/dmf.md Q-RB-9)
        if total > MAX_STORAGE_BYTES:
            self.module.set_state("Closed")
            return windows.STATUS_INSUFFICIENT_RESOURCES, "storage of %d bytes exceeds the emulator's limit" % total
        self.storage = dmf.wdf.memory_create(total, dmf_structures.TAG_RINGBUFFER)   # zeroed (RB.c:585-586)
        items = self.storage.buffer_va
        self.items_va = items
        self._ctx = dmf.space.view(self.context_va, self.layout.size)
        self._items = dmf.space.view(items, total)
        self._state, self._state_off = _state_struct(self.layout)
        self.write = self._make_write()
        self._mode_off = self.layout.offsets["Mode"]
        self._items_off = self.layout.offsets["Items"]
        self._ptr_fmt = self.layout.fmt("Items")
        self.layout.pack_into(self._ctx, 0, {
            "MemoryRing": self.storage.handle,
            "ItemSize": item_size,
            "Items": items,
            "ReadPointer": items,
            "WritePointer": items,
            "BufferEnd": items + item_count * item_size,
            "TotalSize": (item_count * item_size) & 0xFFFFFFFF,   # 32-bit product (Q-RB-9)
            "Mode": mode & 0xFFFFFFFF,                              # not validated (Q-RB-1)
            "ItemsCount": item_count,
            "ItemsPresentCount": 0,
        })
        self.module.set_state("Opened")
        return STATUS_SUCCESS, ""

    def __repr__(self):
        return "<RingBuffer handle=0x%x items=0x%x>" % (self.handle, self.items_va)

    # -- state in memory -------------------------------------------------------------------------
    def _load(self):
        values = self._state.unpack_from(self._ctx, self._state_off)
        if not values[1]:
            raise RingBufferError("RingBuffer 0x%x used after Close (Items is NULL)" % self.handle)
        return values

    def state(self) -> dict:
        return self.layout.unpack_from(self._ctx)

    def _field(self, name: str) -> int:
        return struct.unpack_from(self.layout.fmt(name), self._ctx, self.layout.offsets[name])[0]

    @property
    def item_size(self) -> int:
        return self._field("ItemSize")

    @property
    def item_count(self) -> int:
        return self._field("ItemsCount")

    @property
    def items_present(self) -> int:
        return self._field("ItemsPresentCount")

    @property
    def mode(self) -> int:
        return self._field("Mode")

    @property
    def total_size(self) -> int:
        return self._field("TotalSize")

    @property
    def memory_ring(self) -> int:
        return self._field("MemoryRing")

    @property
    def items_pointer(self) -> int:
        return self._field("Items")

    @property
    def read_pointer(self) -> int:
        return self._field("ReadPointer")

    @property
    def write_pointer(self) -> int:
        return self._field("WritePointer")

    @property
    def buffer_end(self) -> int:
        return self._field("BufferEnd")

    @property
    def read_index(self) -> int:
        return (self.read_pointer - self.items_va) // self.item_size

    @property
    def write_index(self) -> int:
        return (self.write_pointer - self.items_va) // self.item_size

    def storage_bytes(self) -> bytes:
        return bytes(self._items)

    def slot(self, index: int) -> bytes:
        size = self.item_size
        return bytes(self._items[index * size:(index + 1) * size])

    def swap_slot(self) -> bytes:
        return self.slot(self.item_count)

    # -- methods ---------------------------------------------------------------------------------
    def write(self, data) -> int:
        """DMF_RingBuffer_Write (RB.c:324-435), steps in DMF's order. An open ring replaces this
        method by the closure of :meth:`_make_write` (same behaviour, fewer lookups)."""
        return self._make_write()(data)

    def _make_write(self):
        """Write is the hot path (a million writes per second scale): a closure with everything
        bound as locals, reading and writing the RING_BUFFER fields in emulated memory through
        typed memoryviews of the context (native order = little-endian on the hosts that run this;
        other hosts use the struct path), one slice copy into the storage."""
        storage = self._items
        handle = self.handle
        if sys.byteorder != "little":
            return self._make_write_struct()
        offs = self.layout.offsets
        ptr_size = self.dmf.pointer_size
        ptrs = self._ctx.cast("Q" if ptr_size == 8 else "I")
        u32 = self._ctx.cast("I")
        i_size, i_mode = offs["ItemSize"] // 4, offs["Mode"] // 4
        i_count, i_present = offs["ItemsCount"] // 4, offs["ItemsPresentCount"] // 4
        p_items, p_read = offs["Items"] // ptr_size, offs["ReadPointer"] // ptr_size
        p_write, p_end = offs["WritePointer"] // ptr_size, offs["BufferEnd"] // ptr_size

        def write(data):
            items = ptrs[p_items]
            if not items:
                raise RingBufferError("RingBuffer 0x%x used after Close (Items is NULL)" % handle)
            size = u32[i_size]
            wp = ptrs[p_write]
            end = ptrs[p_end]
            present = u32[i_present]
            if present == u32[i_count]:
                room = make_room(u32[i_mode], ptrs[p_read], present, size, items, end)
                if room is None:
                    return STATUS_UNSUCCESSFUL
                ptrs[p_read], present = room
                u32[i_present] = present
            if len(data) != size or wp + size > end:
                # the size check comes after the full handling: Mode 2 has already dropped one
                # item (spec/dmf.md Q-RB-2); W+S > BufferEnd never holds in a consistent state
                return STATUS_UNSUCCESSFUL
            offset = wp - items
            storage[offset:offset + size] = data
            wp += size
            ptrs[p_write] = items if wp >= end else wp
            u32[i_present] = (present + 1) & 0xFFFFFFFF
            return STATUS_SUCCESS

        return write

    def _make_write_struct(self):
        unpack_state = self._state.unpack_from
        pack_state = self._state.pack_into
        ctx = self._ctx
        state_off = self._state_off
        storage = self._items
        handle = self.handle

        def write(data):
            size, items, rp, wp, end, total, mode, count, present = unpack_state(ctx, state_off)
            if not items:
                raise RingBufferError("RingBuffer 0x%x used after Close (Items is NULL)" % handle)
            if present == count:
                room = make_room(mode, rp, present, size, items, end)
                if room is None:
                    return STATUS_UNSUCCESSFUL
                rp, present = room
            if len(data) != size or wp + size > end:
                pack_state(ctx, state_off, size, items, rp, wp, end, total, mode, count, present)
                return STATUS_UNSUCCESSFUL
            offset = wp - items
            storage[offset:offset + size] = data
            wp += size
            if wp >= end:
                wp = items
            pack_state(ctx, state_off, size, items, rp, wp, end, total, mode, count, (present + 1) & 0xFFFFFFFF)
            return STATUS_SUCCESS

        return write

    def read(self, target_size: Optional[int] = None) -> Tuple[int, Optional[bytes]]:
        """DMF_RingBuffer_Read: one item, oldest first; the slot keeps its bytes (Q-RB-3).
        target_size is only asserted equal to S by DMF and ignored here too."""
        size, items, rp, wp, end, total, mode, count, present = self._load()
        if present == 0:
            return STATUS_UNSUCCESSFUL, None
        offset = rp - items
        data = bytes(self._items[offset:offset + size])
        rp += size
        if rp >= end:
            rp = items
        self._state.pack_into(self._ctx, self._state_off, size, items, rp, wp, end, total, mode, count, present - 1)
        return STATUS_SUCCESS, data

    def read_all(self, target_size: Optional[int] = None) -> Tuple[int, bytes]:
        """DMF_RingBuffer_ReadAll: drains every item; target size ignored, always STATUS_SUCCESS
        even when empty (spec/dmf.md Q-RB-8)."""
        chunks = []
        while True:
            status, data = self.read()
            if status != STATUS_SUCCESS:
                break
            chunks.append(data)
        return STATUS_SUCCESS, b"".join(chunks)

    def segments_write(self, segments: Sequence[Tuple[bytes, int]]) -> int:
        """DMF_RingBuffer_SegmentsWrite: Write's state machine with size S; only the (data, offset)
        segments of slot w are written, other bytes of the slot keep their old value (Q-RB-4)."""
        size, items, rp, wp, end, total, mode, count, present = self._load()
        for data, offset in segments:
            if offset < 0 or offset + len(data) > size:
                raise RingBufferError("segment at %d of %d bytes is outside the %d-byte item"
                                      % (offset, len(data), size))
        if present == count:
            room = make_room(mode, rp, present, size, items, end)
            if room is None:
                return STATUS_UNSUCCESSFUL
            rp, present = room
        if wp + size > end:
            self._state.pack_into(self._ctx, self._state_off, size, items, rp, wp, end, total, mode, count, present)
            return STATUS_UNSUCCESSFUL
        base = wp - items
        for data, offset in segments:
            self._items[base + offset:base + offset + len(data)] = data
        wp += size
        if wp >= end:
            wp = items
        self._state.pack_into(self._ctx, self._state_off, size, items, rp, wp, end, total, mode, count,
                              (present + 1) & 0xFFFFFFFF)
        return STATUS_SUCCESS

    def segments_read(self, segments: Sequence[Tuple[int, int]]) -> Tuple[int, Optional[List[bytes]]]:
        """DMF_RingBuffer_SegmentsRead: Read's state machine; returns the (offset, size) pieces."""
        size, items, rp, wp, end, total, mode, count, present = self._load()
        for offset, length in segments:
            if offset < 0 or length < 0 or offset + length > size:
                raise RingBufferError("segment at %d of %d bytes is outside the %d-byte item"
                                      % (offset, length, size))
        if present == 0:
            return STATUS_UNSUCCESSFUL, None
        base = rp - items
        pieces = [bytes(self._items[base + offset:base + offset + length]) for offset, length in segments]
        rp += size
        if rp >= end:
            rp = items
        self._state.pack_into(self._ctx, self._state_off, size, items, rp, wp, end, total, mode, count, present - 1)
        return STATUS_SUCCESS, pieces

    def enumerate(self, lock: bool, callback: EnumerateCallback, context=None) -> None:
        """DMF_RingBuffer_Enumerate (RB.c:859-946): from r, while the callback returns TRUE and the
        next position is not w (pointer-based, spec/dmf.md Q-RB-5). The callback gets a writable
        view of the slot in emulated memory. ``lock`` only selects whether DMF takes the module
        lock; the emulator is single-threaded."""
        size, items, rp, wp, end, total, mode, count, present = self._load()
        if present == 0:
            return
        view = self._items
        position = rp
        while True:
            offset = position - items
            keep_going = callback(self.handle, position, view[offset:offset + size], size, context)
            position += size
            if position >= end:
                position = items
            if not keep_going or position == wp:
                break

    def enumerate_to_find_item(self, callback: EnumerateCallback, context, item: bytes,
                               item_size: Optional[int] = None) -> None:
        """DMF_RingBuffer_EnumerateToFindItem (RB.c:950-996): every present slot whose first
        ``item_size`` bytes equal ``item`` fires the callback with the whole slot; never stops."""
        if item_size is None:
            item_size = len(item)
        key = bytes(item[:item_size])
        if len(key) != item_size or item_size > self.item_size:
            raise RingBufferError("EnumerateToFindItem: item of %d bytes against %d-byte slots"
                                  % (item_size, self.item_size))

        def matcher(handle, item_va, view, size, _ctx):
            if view[:item_size] == key:
                callback(handle, item_va, view, size, context)
            return True

        self.enumerate(True, matcher, None)

    def reorder(self, lock: bool) -> None:
        """DMF_RingBuffer_Reorder (RB.c:1125-1255); see spec/dmf.md §1.4 and Q-RB-1/6/7."""
        size, items, rp, wp, end, total, mode, count, present = self._load()
        ring_bytes = count * size
        view = self._items
        if present != 0:
            r = (rp - items) // size
            if r:
                # net effect of r one-slot rotations: new slot i = old slot (r+i) mod N; the swap
                # slot ends up holding old slot r-1 (spec/dmf.md §1.4 step 2, Q-RB-7)
                old = bytes(view[0:ring_bytes])
                cut = r * size
                view[0:ring_bytes - cut] = old[cut:]
                view[ring_bytes - cut:ring_bytes] = old[:cut]
                view[ring_bytes:ring_bytes + size] = old[cut - size:cut]
            rp = items
            wp = items if present == count else items + present * size
            self._state.pack_into(self._ctx, self._state_off, size, items, rp, wp, end, total, mode, count, present)
        # else: pointers are not reset (spec/dmf.md Q-RB-6)
        if present > count:
            # an unvalidated Mode let P grow past N (spec/dmf.md Q-RB-1)
            raise RingBufferCorruption(
                "Reorder of RingBuffer 0x%x with ItemsPresentCount=%d > ItemsCount=%d (Mode %d is not validated): "
                "DMF would now zero (N-P)*S = 0x%x bytes from Items+P*S, outside the ring storage; "
                "refused (WritePointer is already Items+P*S, past BufferEnd)"
                % (self.handle, present, count, mode, ((count - present) & 0xFFFFFFFF) * size))
        view[present * size:ring_bytes] = bytes(ring_bytes - present * size)

    def total_size_get(self) -> int:
        """DMF_RingBuffer_TotalSizeGet: the stored 32-bit TotalSize (VOID method, value returned)."""
        return self._field("TotalSize")

    def close(self) -> None:
        """RingBuffer_Delete (RB.c:610-642): MemoryRing and Items become NULL; every other field
        keeps its stale value (spec/dmf.md Q-RB-10)."""
        ptr_fmt = self._ptr_fmt
        struct.pack_into(ptr_fmt, self._ctx, self.layout.offsets["MemoryRing"], 0)
        struct.pack_into(ptr_fmt, self._ctx, self._items_off, 0)
        self.module.set_state("Closed")
