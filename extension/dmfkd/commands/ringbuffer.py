"""`dmfkd ringbuffer ADDRESS|DMFMODULE`: any DMF_RingBuffer in memory, decoded oldest first
(spec/dmf.md §1.2-§1.5): a RingBuffer DMFMODULE handle, the address of its RING_BUFFER context, or
`module!symbol` naming a global that holds a DMFMODULE. One read for the context, one for the storage."""
from typing import Optional

from dmfkd.commands import command
from dmfkd.commands.crashdump import drill, selected_indexes
from dmfkd.decode import RecordDecoder, make_decoder, record_dicts
from dmfkd.dmf.objects import ObjectReader
from dmfkd.dmf.ringbuffer import MAX_RING_BYTES, RingState, decode_live_ring
from dmfkd.errors import DmfkdError, LayoutError, MemoryReadError, SymbolError, UsageError
from dmfkd.guids import parse_guid
from dmfkd.layouts import dmf_structures
from dmfkd.records import UNREADABLE, hex_or
from dmfkd.render import Link, Report


def parse_address(target, text: str) -> int:
    """0x-hex, bare hex, WinDbg's `ffffe000`12345678`, or module!global (the pointer it holds)."""
    t = text.strip()
    if "!" in t:
        if target.symbols is None:
            raise UsageError("%s: no symbols to resolve it" % t)
        try:
            return target.read_pointer(target.symbols.address_of(t))
        except SymbolError as exc:
            raise UsageError(str(exc).splitlines()[0])
    t = t.replace("`", "")
    if t.lower().startswith("0x"):
        t = t[2:]
    try:
        value = int(t, 16)
    except ValueError:
        raise UsageError("not an address or handle: %r" % text)
    if not 0 < value < (1 << (8 * target.pointer_size)):
        raise UsageError("address %s out of range for a %d-bit target" % (text, 8 * target.pointer_size))
    return value


@command("ringbuffer", help="a DMF ring buffer anywhere in memory (DMFMODULE or RING_BUFFER address), oldest first")
def ringbuffer(args, session):
    target = session.target
    value = parse_address(target, args.target)
    arch = target.arch if target.arch in ("x64", "x86") else ("x86" if target.pointer_size == 4 else "x64")
    reader = ObjectReader(target, args.dmf_version)
    notes = []
    handle: Optional[int] = None
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
    guid = parse_guid(args.guid) if args.guid else None
    ring = decode_live_ring(context, storage, arch, guid=guid, address=context_va, state=state)
    decoder = make_decoder(args.type, args.schema, target.symbols) if (args.type or args.schema) else RecordDecoder()
    indexes = selected_indexes(ring, args, decoder)
    table = args.format == "table"
    rows = record_dicts(ring, decoder, indexes, ascii_column=table and type(decoder) is RecordDecoder)
    document = ring.summary()
    document["ring"] = {k: hex_or(v) if "pointer" in k or k in ("items", "buffer_end", "memory_ring") else v
                        for k, v in state.as_dict().items()}
    document["handle"] = hex_or(handle)
    document["records"] = rows
    if table:
        columns = [("index", "#")]
        columns += [("hex", "hex"), ("ascii", "ascii")] if type(decoder) is RecordDecoder else \
            [(c, c) for c in decoder.columns] + [("hex", "hex")]
    else:
        columns = [(k, k) for k in ["index", "hex"] + list(decoder.columns)]
    r, w = state.read_index, state.write_index
    title = ("RING_BUFFER 0x%x: N=%d S=%d P=%d r=%s w=%s mode %d, Items 0x%x; %d record(s) oldest first"
             % (context_va, state.items_count, state.item_size, state.items_present_count, r, w, state.mode,
                state.items, ring.count))
    footer = [Link("module tree", drill("modules 0x%x" % handle))] if handle else []
    return Report(rows=rows, columns=columns, document=document, title=title, warnings=ring.warnings,
                  notes=notes + ring.notes, footer_links=footer)


@ringbuffer.arguments
def _arguments(p):
    p.add_argument("target", metavar="ADDRESS|DMFMODULE", help="RingBuffer DMFMODULE handle, RING_BUFFER "
                   "address, or module!global holding a DMFMODULE")
    p.add_argument("--guid", metavar="G", help="the data source GUID (undoes the XOR of record 0 if memory was "
                   "captured after the crash callbacks)")
    p.add_argument("--last", type=int, metavar="N", help="only the N newest records")
    p.add_argument("--grep", metavar="TEXT", help="only records containing TEXT")
    p.add_argument("--type", metavar="MODULE!TYPE", help="decode records as this type")
    p.add_argument("--schema", metavar="FILE.py:NAME", help="decode records with a construct Struct")
    p.add_argument("--dmf-version", metavar="V", help="DMF version when symbols do not say")
