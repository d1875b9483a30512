"""`dmfkd tags DUMP`: the secondary-data blobs, as `.enumtag` lists them (spec/dump-format.md §3).

Works on any Target through tagged()/read_blob() only; the payload offset is blank where the host
cannot tell it (pykd).
"""
import os

from dmfkd.commands import command
from dmfkd.errors import TagNotFoundError, UsageError
from dmfkd.guids import guid_text, parse_guid
from dmfkd.known_tags import owner_of
from dmfkd.render import Report
from dmfkd.render.hexdump import hexdump

COLUMNS = [("index", "#"), ("guid", "GUID"), ("size", "size"), ("offset", "offset"), ("owner", "owner")]


def _first_blob(target, text):
    wanted = parse_guid(text)
    for blob in target.tagged():
        if blob.guid == wanted:
            return blob
    raise TagNotFoundError("%s: no secondary data tagged %s" % (target.name, guid_text(wanted)))


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


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
        document = dict(guid=blob.guid_text, index=blob.index, size=len(data), offset=blob.offset,
                        truncated=blob.truncated, hex=data.hex())
        if args.format == "table":
            return Report(title=title, text=hexdump(data) if data else "(empty)", document=document)
        return Report(rows=[document], columns=[(k, k) for k in document], document=document)
    if args.save:
        guid, path = args.save
        dump_path = getattr(target, "path", None)
        if dump_path and _same_file(path, dump_path):
            raise UsageError("refusing to overwrite the dump itself: %s" % path)
        blob = _first_blob(target, guid)
        data = target.read_blob(blob)
        try:
            with open(path, "wb") as f:
                f.write(data)
        except OSError as exc:
            raise UsageError("cannot write %s: %s" % (path, exc.strerror or exc))
        row = dict(guid=blob.guid_text, size=len(data), path=path)
        return Report(rows=[row], columns=[("guid", "GUID"), ("size", "size"), ("path", "saved to")],
                      document=row)

    blobs = target.tagged()
    table = args.format == "table"
    rows = []
    truncated = []
    for blob in blobs:
        owner = owner_of(blob.guid) or ""
        if table:
            rows.append(dict(index=blob.index, guid=blob.guid_text,
                             size=("0x%x" % blob.size) + (" (truncated)" if blob.truncated else ""),
                             offset="" if blob.offset is None else "0x%x" % blob.offset, owner=owner))
        else:
            rows.append(dict(index=blob.index, guid=blob.guid_text, size=blob.size, offset=blob.offset,
                             owner=owner, declared_size=blob.declared_size, truncated=blob.truncated))
        if blob.truncated:
            truncated.append(blob)
    notes = []
    region = getattr(target, "blob_region_offset", None)
    problem = getattr(target, "region_problem", None)
    if not blobs:
        notes.append("no secondary data" + (": " + problem if problem else ""))
    elif region is not None:
        notes.append("%d blobs; region at 0x%x" % (len(blobs), region))
    warnings = ["blob %d (%s) runs past the end of the file: %d of %d bytes present"
                % (b.index, b.guid_text, b.size, b.declared_size) for b in truncated]
    return Report(rows=rows, columns=COLUMNS, notes=notes if table else (), warnings=warnings)


@tags.arguments
def _(parser):
    parser.add_argument("--hex", metavar="GUID", help="show the first blob with this GUID as hex + ASCII")
    parser.add_argument("--save", nargs=2, metavar=("GUID", "FILE"),
                        help="write the raw payload of the first blob with this GUID to FILE")
