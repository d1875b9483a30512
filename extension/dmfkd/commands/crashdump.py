"""`dmfkd crashdump`: the DMF_CrashDump module of a driver, its data sources and their records.

    crashdump [DUMP]                 summary: the module, every data source and every DMF blob
    crashdump [DUMP] --guid G        the records of one data source (JSON contract of issue 4)
    crashdump [DUMP] --all           the records of every data source
    crashdump [DUMP] --merge-by F    every source's records interleaved by decoded field F

On a dump the rings come from the tagged blobs (spec/dmf.md §2.11), with N, S and P from the
driver's memory when symbols and pages are there; on a live target (WinDbg attached to a kernel, or
the emulator) straight from memory (§4.5). Without symbols, blobs are still decoded by GUID.
"""
import csv
import io
import json
import os
import uuid
from typing import Any, List, Optional, Tuple

from dmfkd.commands import command
from dmfkd.decode import (RecordDecoder, grep_records, make_decoder, merge_rows, parse_field_path,
                          record_dicts, records_jsonl)
from dmfkd.dmf.crashdump import CrashDumpWalk, classify_blobs, walk_crashdump
from dmfkd.dmf.ringbuffer import RingDecode, cross_check, decode_crash_blob, infer_entry_size
from dmfkd.errors import DmfkdError, TagNotFoundError, UsageError
from dmfkd.guids import guid_text, parse_guid
from dmfkd.records import hex_or
from dmfkd.render import Link, Report, json_ready
from dmfkd.render.hexdump import hexdump

OUT_FORMATS = ("json", "jsonl", "csv", "bin")
PY = "!py -g -m dmfkd"


def drill(cmd: str, args=None) -> str:
    """The `!py -g -m dmfkd ...` command of a DML link (the debugger's own target: no DUMP argument)."""
    extra = ""
    if args is not None and getattr(args, "driver", None):
        extra = " --driver %s" % args.driver
    return "%s %s%s" % (PY, cmd, extra)


def no_dmf_line(target, blobs_total: int, reason: str) -> str:
    return ("no DMF data present in %s: %s, and none of its %d secondary-data blob(s) carries a DMF "
            "ring-buffer signature" % (target.name, reason, blobs_total))


# -- the sources of records ---------------------------------------------------------------------------

def ring_for_guid(target, walk: Optional[CrashDumpWalk], guid: uuid.UUID, entry_size: Optional[int]) -> RingDecode:
    """Records of one data source: from memory on a live target, from its blob on a dump (with N, S, P
    from memory when the walk found the source), inferring S only when nothing else gives it."""
    row = walk.source_for_guid(guid) if walk is not None else None
    known_s = row.entry_size if row is not None and isinstance(row.entry_size, int) and row.entry_size > 0 else None
    if target.is_live:
        if row is None or row.index not in walk.rings:
            raise DmfkdError("no data source with GUID %s in the driver's memory%s"
                             % (guid_text(guid), "" if walk is not None else " (no CrashDump symbol)"))
        ring = walk.live_decode(row.index)
        if entry_size and known_s and entry_size != known_s:
            ring.warnings.append("--entry-size %d ignored: the ring's ItemSize is %d" % (entry_size, known_s))
        return ring
    try:
        blob = target.read_tagged(guid)
    except DmfkdError as exc:
        # no blob (an empty ring writes none), or a broken blob region: the ring in memory still is one
        if row is not None and row.index in walk.rings:
            ring = walk.live_decode(row.index)
            if ring is not None:
                if isinstance(exc, TagNotFoundError):
                    ring.notes.insert(0, "no blob tagged %s: records read from the ring in memory%s"
                                      % (guid_text(guid), " (the ring was empty, spec/dmf.md Q-CD-2)"
                                         if ring.present == 0 else ""))
                else:
                    ring.warnings.insert(0, "blob tagged %s unreadable (%s): records read from the ring in "
                                         "memory" % (guid_text(guid), str(exc).splitlines()[0]))
                return ring
        raise
    notes = []
    s = entry_size
    if s is not None and known_s is not None and s != known_s:
        notes.append("--entry-size %d overrides the data source's entry size %d" % (s, known_s))
    if s is None:
        s = known_s
    if s is None:
        if not blob:
            s = 1
        else:
            s, evidence = infer_entry_size(blob, guid)
            notes.append("entry size %d inferred: %s" % (s, evidence))
    capacity = row.capacity if row is not None and isinstance(row.capacity, int) and s == known_s else None
    present = row.present if row is not None and isinstance(row.present, int) and s == known_s else None
    ring = decode_crash_blob(blob, guid, s, capacity=capacity, present=present)
    ring.notes[:0] = notes
    if row is not None and s == known_s and row.index in walk.rings:
        memory = walk.live_decode(row.index)
        if memory is not None and memory.count:
            ring.warnings.extend(cross_check(ring, memory))
    return ring


def ring_sources(target, walk: Optional[CrashDumpWalk], entry_size: Optional[int]) -> List[Tuple[str, Any]]:
    """(guid text, RingDecode or error text) for every data source with a ring, else every DMF blob."""
    out = []
    guids = []
    if walk is not None:
        for row in walk.info.data_sources:
            if row.guid is not None and row.index in walk.rings:
                guids.append(parse_guid(row.guid))
    if not guids and not target.is_live:
        for blob in classify_blobs(target, walk):
            if blob.kind in ("ring", "ring?"):
                guids.append(parse_guid(blob.guid))
    seen = set()
    for guid in guids:
        if guid in seen:
            continue
        seen.add(guid)
        try:
            out.append((guid_text(guid), ring_for_guid(target, walk, guid, entry_size)))
        except DmfkdError as exc:
            out.append((guid_text(guid), str(exc).splitlines()[0]))
    return out


# -- output helpers ------------------------------------------------------------------------------------

def selected_indexes(ring: RingDecode, args, decoder) -> List[int]:
    indexes = list(range(ring.count))
    if args.grep:
        hits = set(grep_records(ring, args.grep, decoder))
        indexes = [i for i in indexes if i in hits]
    if args.last is not None:
        indexes = indexes[-args.last:] if args.last > 0 else []
    return indexes


def _flat(value) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return value


def refuse_dump_path(target, path: str) -> None:
    dump = getattr(target, "path", None) or getattr(target, "_dump_path", None)
    if not dump:
        return
    try:
        same = os.path.samefile(path, dump)
    except OSError:
        same = os.path.abspath(path) == os.path.abspath(dump)
    if same:
        raise UsageError("refusing to overwrite the dump itself: %s" % path)


def write_out(target, path: str, fmt: str, document=None, rows=None, columns=None, text=None, binary=None) -> int:
    refuse_dump_path(target, path)
    try:
        if fmt == "bin":
            data = binary or b""
            with open(path, "wb") as f:
                f.write(data)
            return len(data)
        with open(path, "w", encoding="ascii", errors="backslashreplace", newline="") as f:
            if fmt == "json":
                payload = json.dumps(json_ready(document), indent=2) + "\n"
            elif fmt == "jsonl":
                payload = text if text is not None else "".join(
                    json.dumps(json_ready(r), separators=(",", ":")) + "\n" for r in rows or [])
            else:
                buf = io.StringIO()
                writer = csv.writer(buf, lineterminator="\n")
                writer.writerow(columns)
                for r in rows or []:
                    writer.writerow(["" if r.get(c) is None else _flat(r.get(c)) for c in columns])
                payload = buf.getvalue()
            f.write(payload)
            return len(payload)
    except OSError as exc:
        raise UsageError("cannot write %s: %s" % (path, exc.strerror or exc))


def out_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in OUT_FORMATS:
        raise UsageError("--out %s: the extension must be one of %s" % (path, ", ".join("." + f for f in OUT_FORMATS)))
    return ext


# -- the command ---------------------------------------------------------------------------------------

@command("crashdump", help="DMF CrashDump: summary of data sources and blobs, or the decoded records of one")
def crashdump(args, session):
    target = session.target
    if args.entry_size is not None and args.entry_size <= 0:
        raise UsageError("--entry-size must be > 0")
    if args.last is not None and args.last < 0:
        raise UsageError("--last must be >= 0")
    modes = [bool(args.guid), bool(args.merge_by), bool(args.all)]
    if sum(modes) > 1:
        raise UsageError("give one of --guid, --all, --merge-by")
    if args.raw and not args.guid:
        raise UsageError("--raw needs --guid G")
    walk = walk_crashdump(target, args.driver, args.dmf_version)
    if walk is None and args.driver:
        raise DmfkdError("--driver %s: no symbol %s!g_DmfModuleCrashDump" % (args.driver, args.driver))
    decoder = make_decoder(args.type, args.schema, target.symbols) if (args.type or args.schema) else RecordDecoder()
    if args.guid:
        return guid_report(target, walk, args, decoder)
    if args.all or args.merge_by:
        return all_records_report(target, walk, args, decoder)
    if args.out:
        raise UsageError("--out needs --guid, --all or --merge-by")
    return summary_report(target, walk, args)


@crashdump.arguments
def _arguments(p):
    p.add_argument("--guid", metavar="G", help="records of the data source / blob tagged G")
    p.add_argument("--all", action="store_true", help="records of every data source")
    p.add_argument("--merge-by", metavar="FIELD", help="records of every source interleaved by a decoded field")
    p.add_argument("--entry-size", type=int, metavar="S", help="record size (when no symbols give it)")
    p.add_argument("--last", type=int, metavar="N", help="only the N newest records")
    p.add_argument("--grep", metavar="TEXT", help="only records containing TEXT (bytes, hex or decoded fields)")
    p.add_argument("--type", metavar="MODULE!TYPE", help="decode records as this type (PDB / ISF)")
    p.add_argument("--schema", metavar="FILE.py:NAME", help="decode records with a construct Struct")
    p.add_argument("--out", metavar="FILE", help="write the records to FILE (.json .jsonl .csv .bin)")
    p.add_argument("--raw", action="store_true", help="the blob as stored (first record still XOR-ed)")
    p.add_argument("--driver", metavar="NAME", help="symbol module of the driver (default: the one that "
                   "has g_DmfModuleCrashDump)")
    p.add_argument("--dmf-version", metavar="V", help="DMF version of the driver (e.g. 1.1.154) when "
                   "symbols do not say")


def summary_report(target, walk: Optional[CrashDumpWalk], args) -> Report:
    blobs = classify_blobs(target, walk)
    region_error = None
    if not blobs and not target.is_live:
        try:
            target.tagged()
        except DmfkdError as exc:  # classify_blobs saw no blobs because the region is broken: say so
            region_error = "secondary data unreadable: %s" % str(exc).splitlines()[0]
    dmf_blobs = [b for b in blobs if b.kind != "other"]
    if walk is None and not dmf_blobs:
        reason = "no g_DmfModuleCrashDump symbol" if target.symbols is not None else "no driver symbols"
        line = no_dmf_line(target, len(blobs), reason)
        if region_error:
            line += " (%s)" % region_error
        return Report(text=line, document={"dmf_present": False, "message": line, "blobs": len(blobs)},
                      rows=[], columns=[])
    rows = []
    info = walk.info if walk is not None else None
    if info is not None:
        for ds in info.data_sources:
            guid_cell = ds.guid
            if ds.guid is not None and ds.index in walk.rings:
                guid_cell = Link(ds.guid, drill("crashdump --guid %s" % ds.guid, args))
            blob = ds.blob
            rows.append({"kind": "source", "index": ds.index, "role": ds.role, "guid": guid_cell,
                         "writer": ds.writer, "reader": ds.reader, "capacity": ds.capacity,
                         "entry_size": ds.entry_size, "present": ds.present,
                         "blob": None if blob is None else blob.index,
                         "blob_size": None if blob is None else blob.size, "state": ds.state})
    for b in dmf_blobs:
        if b.kind == "ring" and b.source_index is not None and info is not None and \
                any(ds.blob is b for ds in info.data_sources):
            continue  # shown on its data source's row
        cmd = "crashdump --guid %s" % b.guid if b.kind.startswith("ring") else "tags --hex %s" % b.guid
        rows.append({"kind": "blob " + b.kind, "index": None, "role": None,
                     "guid": Link(b.guid, drill(cmd, args)), "writer": None, "reader": None,
                     "capacity": None, "entry_size": b.entry_size, "present": b.records,
                     "blob": b.index, "blob_size": b.size, "state": b.evidence})
    columns = [("kind", "kind"), ("index", "#"), ("role", "role"), ("guid", "GUID"), ("writer", "writer"),
               ("reader", "reader"), ("capacity", "N"), ("entry_size", "S"), ("present", "P"),
               ("blob", "blob"), ("blob_size", "blob size"), ("state", "state")]
    warnings, notes = [], []
    if region_error:
        warnings.append(region_error)
    title = "DMF CrashDump"
    footer = []
    if info is not None:
        parts = [("handle", hex_or(info.handle)), ("DMF_OBJECT", hex_or(info.object_address)),
                 ("context", None if info.context_version is None else "%s (%s)" % (
                     info.context_version, info.context_evidence or "-")),
                 ("config", info.config_variant), ("component", info.component_name),
                 ("data sources", info.data_source_count)]
        title = "DMF CrashDump %s: %s" % (info.symbol, ", ".join("%s %s" % (k, v) for k, v in parts if v is not None))
        warnings.extend(info.warnings)
        notes.extend(info.notes)
        for ds in info.data_sources:
            warnings.extend("data source %d: %s" % (ds.index, w) for w in ds.warnings)
        footer.append(Link("data sources", drill("datasources", args)))
        if isinstance(info.handle, int) and info.handle:
            footer.append(Link("module tree", drill("modules 0x%x" % info.handle, args)))
    else:
        notes.append("no CrashDump symbol: blobs recognised by their GUID's XOR key signature only")
    others = len(blobs) - len(dmf_blobs)
    if others:
        notes.append("%d other secondary-data blob(s) (not DMF): dmfkd tags" % others)
        footer.append(Link("all blobs", "%s tags" % PY))
    if not target.is_live and target.bugcheck() is not None:
        footer.append(Link("bug check", "%s bugcheck" % PY))
    document = {"dmf_present": True,
                "crashdump": info.header() if info is not None else None,
                "data_sources": [ds.as_row() for ds in info.data_sources] if info is not None else [],
                "blobs": [b.__dict__ for b in blobs if b.kind != "other"],
                "warnings": warnings, "notes": notes}
    return Report(rows=rows, columns=columns, title=title, warnings=warnings, notes=notes,
                  footer_links=footer, document=document)


def guid_report(target, walk, args, decoder) -> Report:
    guid = parse_guid(args.guid)
    if args.raw:
        if target.is_live:
            raise UsageError("--raw needs a dump: a live target has no secondary data")
        blob = target.read_tagged(guid)
        doc = {"guid": guid_text(guid), "size": len(blob), "hex": blob.hex()}
        if args.out:
            fmt = out_format(args.out)
            n = write_out(target, args.out, fmt, document=doc, rows=[doc], columns=["guid", "size", "hex"],
                          binary=blob)
            return Report(rows=[{"guid": guid_text(guid), "path": args.out, "bytes": n}], document=doc)
        return Report(title="%s  %d bytes, as stored (record 0 XOR-ed with the GUID key)" % (guid_text(guid), len(blob)),
                      text=hexdump(blob) if blob else "(empty)", document=doc,
                      rows=[doc], columns=[("guid", "GUID"), ("size", "size"), ("hex", "hex")])
    ring = ring_for_guid(target, walk, guid, args.entry_size)
    indexes = selected_indexes(ring, args, decoder)
    if args.format == "jsonl" and not args.out and type(decoder) is RecordDecoder and _contiguous(indexes):
        # a million-record ring: the vectorised JSONL writer, no per-record row objects
        return Report(jsonl=records_jsonl(ring, indexes[0] if indexes else 0, len(indexes)),
                      warnings=ring.warnings, notes=ring.notes)
    table = args.format == "table" and not args.out
    rows = record_dicts(ring, decoder, indexes, ascii_column=table and type(decoder) is RecordDecoder)
    document = ring.summary()
    document["decoder"] = decoder.name
    document["records"] = rows
    if args.out:
        fmt = out_format(args.out)
        text = None
        if fmt == "jsonl" and type(decoder) is RecordDecoder and not args.grep and args.last is None:
            text = records_jsonl(ring)
        cols = ["index", "hex", "partial"] + list(decoder.columns)
        n = write_out(target, args.out, fmt, document=document, rows=rows, columns=cols, text=text,
                      binary=b"".join(ring.record(i) for i in indexes) if fmt == "bin" else None)
        summary = {"guid": document["guid"], "records": len(rows), "path": args.out, "format": fmt, "bytes": n}
        return Report(rows=[summary], document=summary, warnings=ring.warnings, notes=ring.notes)
    if table:
        columns = [("index", "#")]
        if type(decoder) is RecordDecoder:
            columns += [("hex", "hex"), ("ascii", "ascii")]
        else:
            columns += [(c, c) for c in decoder.columns] + [("hex", "hex")]
        if ring.partial_size is not None:
            columns.append(("partial", "partial"))
        rows = [dict(r, **{c: _flat(r.get(c)) for c in decoder.columns}) for r in rows]
    else:
        columns = [(k, k) for k in (["index", "hex"] + list(decoder.columns))]
    title = ("%s: %d record(s) of %d bytes, oldest first; N=%s P=%s (%s)%s, %s"
             % (document["guid"], ring.count, ring.entry_size, ring.capacity, ring.present,
                "from memory" if ring.present_known else "inferred", ", truncated" if ring.truncated else "",
                "read from memory" if ring.source == "memory" else "decoded from the blob"))
    if len(indexes) != ring.count:
        title += "; showing %d" % len(indexes)
    footer = [Link("all sources", drill("crashdump", args))]
    return Report(rows=rows, columns=columns, document=document, title=title, warnings=ring.warnings,
                  notes=ring.notes, footer_links=footer)


def _contiguous(indexes: List[int]) -> bool:
    return not indexes or indexes[-1] - indexes[0] + 1 == len(indexes)


def all_records_report(target, walk, args, decoder) -> Report:
    sources = ring_sources(target, walk, args.entry_size)
    if not sources:
        raise DmfkdError("no DMF ring data in %s" % target.name)
    per_source = []
    warnings = []
    documents = []
    for guid, ring in sources:
        if isinstance(ring, str):
            warnings.append("%s: %s" % (guid, ring))
            continue
        indexes = selected_indexes(ring, args, decoder)
        rows = record_dicts(ring, decoder, indexes)
        per_source.append((guid, rows))
        warnings.extend("%s: %s" % (guid, w) for w in ring.warnings)
        doc = ring.summary()
        doc["records"] = rows
        documents.append(doc)
    if args.merge_by:
        rows = merge_rows(per_source, args.merge_by)
        if rows and all(parse_field_path(r, args.merge_by) is None for r in rows):
            warnings.append("no record has a field %r (decode with --type or --schema)" % args.merge_by)
    else:
        rows = []
        for guid, rs in per_source:
            rows.extend(dict(r, guid=guid) for r in rs)
    columns = [("guid", "GUID"), ("index", "#")] + [(c, c) for c in decoder.columns] + [("hex", "hex")]
    document = {"sources": documents, "merged_by": args.merge_by, "records": rows} if args.merge_by else \
        {"sources": documents}
    if args.out:
        fmt = out_format(args.out)
        cols = ["guid", "index", "hex", "partial"] + list(decoder.columns)
        n = write_out(target, args.out, fmt, document=document, rows=rows, columns=cols,
                      binary=b"".join(bytes.fromhex(r["hex"]) for r in rows) if fmt == "bin" else None)
        summary = {"records": len(rows), "path": args.out, "format": fmt, "bytes": n}
        return Report(rows=[summary], document=summary, warnings=warnings)
    if args.format == "table":
        rows = [dict(r, **{c: _flat(r.get(c)) for c in decoder.columns}) for r in rows]
    return Report(rows=rows, columns=columns, document=document, warnings=warnings,
                  title="%d record(s) of %d source(s)%s" % (len(rows), len(per_source),
                                                           ", merged by %s" % args.merge_by if args.merge_by else ""))
