"""`dmfkd ringbuffer ADDRESS|DMFMODULE`: any DMF_RingBuffer in memory, decoded oldest first: a RingBuffer
DMFMODULE handle, the address of its RING_BUFFER context, or `module!symbol` naming a global that holds a
DMFMODULE. The reading is dmf/ring_view.py's."""
from dmfkd.bounded_input import int_option
from dmfkd.commands import command
from dmfkd.commands.shared import (MAX_ENTRY_SIZE, add_record_options, check_record_options, decoder_choice, finish,
                                   parse_address, ring_records_report, step)
from dmfkd.dmf.ring_view import read_ring
from dmfkd.errors import UsageError
from dmfkd.guids import guid_text, parse_guid
from dmfkd.records import hex_or


@command("ringbuffer", help="a DMF ring buffer anywhere in memory (DMFMODULE or RING_BUFFER address), oldest first")
def ringbuffer(args, session):
    target = session.target
    check_record_options(args)
    value = parse_address(target, args.target)
    guid = parse_guid(args.guid) if args.guid else None
    found = read_ring(target, value, guid, args.dmf_version)
    ring, state = found.ring, found.state
    if args.entry_size is not None and args.entry_size != ring.entry_size and not args.force:
        raise UsageError("--entry-size %d contradicts the ring's ItemSize %d in memory (--force decodes with %d "
                         "anyway)" % (args.entry_size, ring.entry_size, args.entry_size))
    if args.entry_size is not None and args.entry_size != ring.entry_size:
        if args.entry_size > max(len(ring.data), 1):
            raise UsageError("--entry-size %d is larger than the ring's %d bytes of records"
                             % (args.entry_size, len(ring.data)))
        ring = ring.resliced(args.entry_size)
    if args.raw:
        ring.notes.append("--raw: the records as stored in memory, in storage order")
        ring = ring.in_storage_order()
    choice = decoder_choice(args, target)
    choice.resolve(parse_guid)
    decoder, warnings = choice.for_source(guid_text(guid) if guid else None, ring.entry_size)
    document = ring.summary()
    document["ring"] = {k: hex_or(v) if "pointer" in k or k in ("items", "buffer_end", "memory_ring") else v
                        for k, v in state.as_dict().items()}
    document["handle"] = hex_or(found.handle)
    title = ("RING_BUFFER 0x%x: N=%d S=%d P=%d r=%s w=%s mode %d, Items 0x%x; %d record(s) oldest first"
             % (found.context_address, state.items_count, state.item_size, state.items_present_count,
                state.read_index, state.write_index, state.mode, state.items, ring.count))
    next_steps = [step("module tree", "modules 0x%x" % found.handle, args)] if found.handle else []
    report = ring_records_report(ring, decoder, args, title, document, warnings=ring.warnings + warnings,
                                 notes=found.notes + ring.notes, next_steps=next_steps)
    return finish(report, args, target)


@ringbuffer.arguments
def _arguments(p):
    p.add_argument("target", metavar="ADDRESS|DMFMODULE", help="RingBuffer DMFMODULE handle, RING_BUFFER "
                   "address, or module!global holding a DMFMODULE")
    p.add_argument("--guid", metavar="G", help="the data source GUID (undoes the XOR of record 0 if memory was "
                   "captured after the crash callbacks)")
    p.add_argument("--entry-size", type=int_option("--entry-size", 1, MAX_ENTRY_SIZE), metavar="S",
                   help="record size (default: the ring's ItemSize)")
    p.add_argument("--force", action="store_true", help="use --entry-size even where it contradicts ItemSize")
    p.add_argument("--raw", action="store_true", help="the records in storage order, as memory holds them")
    add_record_options(p)
    p.add_argument("--dmf-version", metavar="V", help="DMF version when symbols do not say")
