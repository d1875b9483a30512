"""Any DMF_RingBuffer in memory, from what the user has: its DMFMODULE handle or its RING_BUFFER
address (spec/dmf.md §1.2-§1.5). One read for the context, one for the storage."""
from typing import List, Optional

from dmfkd.dmf.objects import ObjectReader
from dmfkd.dmf.ringbuffer import MAX_RING_BYTES, RingDecode, RingState, decode_live_ring
from dmfkd.errors import DmfkdError, LayoutError, MemoryReadError, UsageError
from dmfkd.layouts import dmf_structures
from dmfkd.records import UNREADABLE


class RingView:
    """A ring found in memory: its records, its state, and how it was reached."""

    def __init__(self, ring: RingDecode, state: RingState, context_address: int, handle: Optional[int],
                 notes: List[str]):
        self.ring = ring
        self.state = state
        self.context_address = context_address
        #: the DMFMODULE handle, when the user gave one
        self.handle = handle
        self.notes = notes


def read_ring(target, value: int, guid=None, dmf_version=None) -> RingView:
    """The ring behind a DMFMODULE handle, else at a RING_BUFFER address (`value` is tried as a
    handle first). A handle of another module kind is refused."""
    arch = target.arch if target.arch in ("x64", "x86") else ("x86" if target.pointer_size == 4 else "x64")
    reader = ObjectReader(target, dmf_version)
    notes = []
    handle = None  # type: Optional[int]
    try:
        obj = reader.read(value)
        context_va = obj.module_context
        notes.append("DMFMODULE 0x%x -> DMF_OBJECT 0x%x (%s%s) -> context 0x%x"
                     % (value, obj.address, obj.module_name, "/" + obj.instance_name if obj.instance_name else "",
                        context_va or 0))
        if obj.module_name not in ("RingBuffer", None, UNREADABLE):
            raise UsageError("DMFMODULE 0x%x is a %s module, not RingBuffer" % (value, obj.module_name))
        handle = value
        if context_va is None:
            raise DmfkdError("DMFMODULE 0x%x: DMF_OBJECT 0x%x has no readable ModuleContext (%s)"
                             % (value, obj.address, obj.layout.source))
    except DmfkdError as exc:
        if isinstance(exc, UsageError) or handle is not None:
            raise
        context_va = value
        notes.append("0x%x is not a DMFMODULE (%s): read as a RING_BUFFER address" % (value, str(exc).splitlines()[0]))
    layout = dmf_structures.ring_buffer(arch)
    try:
        context = target.read(context_va, layout.size)
        state = RingState.parse(context, arch, address=context_va)
    except (MemoryReadError, LayoutError) as exc:
        raise DmfkdError("RING_BUFFER at 0x%x unreadable: %s" % (context_va or 0, str(exc).splitlines()[0]))
    storage = None
    size = state.storage_size
    if state.items and 0 < size <= MAX_RING_BYTES and state.item_size > 0:
        try:
            storage = target.read(state.items, size)
        except MemoryReadError:
            storage = None
    elif size > MAX_RING_BYTES:
        notes.append("storage of %d bytes over the read limit: not read" % size)
    ring = decode_live_ring(context, storage, arch, guid=guid, address=context_va, state=state)
    return RingView(ring, state, context_va, handle, notes)
