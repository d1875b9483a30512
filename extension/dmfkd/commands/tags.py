"""`dmfkd tags DUMP`: the secondary-data blobs, as `.enumtag` lists them (spec/dump-format.md §3).

Works on any Target through tagged()/read_blob() only; the payload offset is blank where the host
cannot tell it (pykd).
"""
from dmfkd.bounded_input import open_output
from dmfkd.commands import command
from dmfkd.errors import TagNotFoundError, UsageError
from dmfkd.guids import guid_text, parse_guid
from dmfkd.known_tags import owner_of
from dmfkd.records import hex_or
from dmfkd.render import Column, Report, same_file
from dmfkd.render.hexdump import hexdump

COLUMNS = [Column("index", "#"), Column("guid", "GUID"), Column("size_cell", "size", where="table"),
           Column("size", "size", where="data"), Column("offset", "offset"), Column("owner", "owner", wrap=True),
           Column("declared_size", "declared_size", where="data"), Column("truncated", "truncated", where="data")]


def _first_blob(target, text):
    wanted = parse_guid(text)
    for blob in target.tagged():
        if blob.guid == wanted:
            return blob
    raise TagNotFoundError("%s: no secondary data tagged %s" % (target.name, guid_text(wanted)))


@command("tags", help="list the secondary-data blobs (GUID-tagged bug-check data) of a dump")
def tags(args, session):
    target = session.target
    if args.hex and args.save:
        raise UsageError("give either --hex or --save, not both")
    if args.hex:
        blob = _first_blob(target, args.hex)
        data = target.read_blob(blob)
        title = "%s  %d bytes%s" % (blob.guid_text, len(data),
                                    " (truncated: %d declared)" % blob.declared_size if blob.truncated else "")
        document = dict(guid=blob.guid_text, index=blob.index, size=len(data), offset=hex_or(blob.offset),
                        truncated=blob.truncated, hex=data.hex())
        return Report(title=title, text=hexdump(data) if data else "(empty)", document=document,
                      rows=[document], columns=[Column(k, k, where="data") for k in document])
    if args.save:
        guid, path = args.save
        blob = _first_blob(target, guid)
        data = target.read_blob(blob)
        row = dict(guid=blob.guid_text, size=_save(path, data, target), path=path)
        return Report(rows=[row], columns=[("guid", "GUID"), ("size", "size"), ("path", "saved to")], document=row)

    blobs = target.tagged()
    rows = [dict(index=blob.index, guid=blob.guid_text, size=blob.size, offset=hex_or(blob.offset),
                 owner=owner_of(blob.guid) or "", declared_size=blob.declared_size, truncated=blob.truncated,
                 size_cell=hex_or(blob.size).text() + (" (truncated)" if blob.truncated else ""))
            for blob in blobs]
    header = target.dump_header()
    notes = []
    if not blobs:
        problem = header.region_problem if header is not None else None
        notes.append("no secondary data" + (": " + problem if problem else ""))
    elif header is not None and header.blob_region_offset is not None:
        notes.append("%d blobs; region at 0x%x" % (len(blobs), header.blob_region_offset))
    warnings = ["blob %d (%s) runs past the end of the file: %d of %d bytes present"
                % (b.index, b.guid_text, b.size, b.declared_size) for b in blobs if b.truncated]
    return Report(rows=rows, columns=COLUMNS, notes=notes, warnings=warnings)


def _save(path: str, data: bytes, target) -> int:
    """--save GUID FILE: the raw payload, whatever FILE is called (never the dump itself)."""
    if target.path and same_file(path, target.path):
        raise UsageError("refusing to overwrite %s: it is an input of this command" % path)
    try:
        with open_output(path) as handle:  # an existing FIFO nobody reads: one line, not a wait
            handle.write(data)
    except OSError as exc:
        raise UsageError("cannot write %s: %s" % (path, exc.strerror or exc))
    return len(data)


@tags.arguments
def _(parser):
    parser.add_argument("--hex", metavar="GUID", help="show the first blob with this GUID as hex + ASCII")
    parser.add_argument("--save", nargs=2, metavar=("GUID", "FILE"),
                        help="write the raw payload of the first blob with this GUID to FILE")
