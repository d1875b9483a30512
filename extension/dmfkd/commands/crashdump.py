"""`dmfkd crashdump`: the DMF_CrashDump module of a driver, its data sources and their records.

    crashdump [DUMP]                 summary: the module, every data source and every DMF blob
    crashdump [DUMP] --guid G        the records of one data source (JSON contract in README)
    crashdump [DUMP] --all           the records of every data source
    crashdump [DUMP] --merge-by F    every source's records interleaved by decoded field F
    crashdump [DUMP] --to-scenario F the DMF state the dump shows as a dmfemu scenario (F.json)

The reading is dmf/crashdump_view.py's; this module selects and presents.
"""
from typing import List

from dmfkd.bounded_input import int_option
from dmfkd.commands import command
from dmfkd.commands.shared import (FIELD_MIN_WIDTH, MAX_ENTRY_SIZE, add_record_options, add_time_deltas,
                                   check_record_options, crash_time, decode_sources, decoder_choice, finish,
                                   record_columns, ring_records_report, step, time_field)
from dmfkd.decode import RecordDecoder, merge_rows, parse_field_path
from dmfkd.dmf.crashdump_view import CrashDumpView, read_crashdump
from dmfkd.dmf.to_scenario import scenario_from_view
from dmfkd.errors import UsageError
from dmfkd.guids import guid_text
from dmfkd.records import hex_or
from dmfkd.render import Column, Link, Report, write_file
from dmfkd.render.hexdump import hexdump

SUMMARY_COLUMNS = [
    Column("index", "#"), Column("role", "role"), Column("guid", "GUID"),
    Column("writer_cell", "writer", where="table"), Column("writer", "writer", where="data"),
    Column("writer_handle", "writer_handle", where="data"),
    Column("reader_cell", "reader", where="table", optional=2), Column("reader", "reader", where="data"),
    Column("reader_handle", "reader_handle", where="data"),
    Column("nsp", "N/S/P", where="table"), Column("capacity", "N", where="data"),
    Column("entry_size", "S", where="data"), Column("present", "P", where="data"),
    Column("blob_cell", "blob", where="table", optional=1), Column("blob", "blob", where="data"),
    Column("blob_size", "blob_size", where="data"),
    Column("state", "state", wrap=True, min_width=10), Column("state_detail", "state_detail", where="data"),
]


@command("crashdump", help="DMF CrashDump: summary of data sources and blobs, or the decoded records of them")
def crashdump(args, session):
    target = session.target
    if args.entry_size is not None and args.entry_size <= 0:
        raise UsageError("--entry-size must be > 0")
    check_record_options(args)
    if sum([bool(args.guid), bool(args.merge_by), bool(args.all), bool(args.to_scenario)]) > 1:
        raise UsageError("give one of --guid, --all, --merge-by, --to-scenario")
    if args.raw and not args.guid:
        raise UsageError("--raw needs --guid G")
    if args.to_scenario:
        for option in ("last", "grep", "out", "type", "schema"):
            if getattr(args, option) not in (None, [], False):
                raise UsageError("--%s does not apply to --to-scenario (records go into a scenario as hex)" % option)
    elif not (args.guid or args.all or args.merge_by):
        for option in ("last", "grep", "out", "type", "schema", "entry_size"):
            if getattr(args, option) not in (None, [], False):
                raise UsageError("--%s applies to records: add --guid G, --all or --merge-by FIELD"
                                 % option.replace("_", "-"))
    view = read_crashdump(target, args.driver, args.dmf_version)
    if args.to_scenario:
        return scenario_report(view, args)
    if args.guid:
        report = raw_report(view, args) if args.raw else guid_report(view, args)
    elif args.all or args.merge_by:
        report = all_records_report(view, args)
    else:
        return summary_report(view, args)
    return finish(report, args, target)


@crashdump.arguments
def _arguments(p):
    p.add_argument("--guid", metavar="G", help="records of the data source / blob tagged G (a unique prefix of "
                   "at least 4 hex digits is enough)")
    p.add_argument("--all", action="store_true", help="records of every data source")
    p.add_argument("--merge-by", metavar="FIELD", help="records of every source interleaved by a decoded field")
    p.add_argument("--entry-size", type=int_option("--entry-size", 1, MAX_ENTRY_SIZE), metavar="S",
                   help="record size (when no symbols give it)")
    p.add_argument("--force", action="store_true", help="use --entry-size even where memory gives another size")
    add_record_options(p)
    p.add_argument("--raw", action="store_true", help="the blob as stored (first record still XOR-ed)")
    p.add_argument("--driver", metavar="NAME", help="symbol module of the driver (default: the one that "
                   "has g_DmfModuleCrashDump)")
    p.add_argument("--dmf-version", metavar="V", help="DMF version of the driver (e.g. 1.1.154) when "
                   "symbols do not say")
    p.add_argument("--to-scenario", metavar="FILE.json", help="write the DMF state the dump shows (config, "
                   "ring geometry, live records, orphans, additional data) as a dmfemu scenario that replays it")


# -- summary ---------------------------------------------------------------------------------------------

def _nsp(ds) -> str:
    return "/".join("-" if v is None else str(v) for v in (ds.capacity, ds.entry_size, ds.present))


def _blob_cell(index, size) -> str:
    return "" if index is None else "%d: %d B" % (index, size)


def summary_report(view: CrashDumpView, args) -> Report:
    target = view.target
    if not view.dmf_present:
        line = view.no_dmf_message()
        return Report(text=line, document={"dmf_present": False, "message": line, "blobs": len(view.blobs)})
    rows = []
    info = view.info
    for ds in view.data_sources:
        row = ds.as_row()
        if ds.guid is not None and view.has_ring(ds):
            row["guid"] = step(ds.guid, "crashdump --guid %s" % ds.guid, args)
        row["writer_cell"] = ds.file_object_cell("writer")
        row["reader_cell"] = ds.file_object_cell("reader")
        row["nsp"] = _nsp(ds)
        row["blob_cell"] = _blob_cell(row["blob"], row["blob_size"])
        rows.append(row)
    for b in view.dmf_blobs:
        if view.blob_shown_on_its_source(b):
            continue
        cmd = "crashdump --guid %s" % b.guid if b.kind.startswith("ring") else "tags --hex %s" % b.guid
        state, detail = {"additional": ("additional", "the CrashDump module's additional data"),
                         "ring?": ("inferred", b.evidence)}.get(b.kind, (b.kind, b.evidence))
        rows.append({"index": None, "role": "blob", "guid": step(b.guid, cmd, args),
                     "capacity": None, "entry_size": b.entry_size, "present": b.records,
                     "nsp": "-/%s/%s" % (b.entry_size or "-", "-" if b.records is None else b.records),
                     "blob": b.index, "blob_size": b.size, "blob_cell": _blob_cell(b.index, b.size),
                     "state": state, "state_detail": detail})
    warnings, notes, next_steps = [], [], []
    if view.region_error:
        warnings.append(view.region_error)
    title = "DMF CrashDump"
    if info is not None:
        parts = [("handle", hex_or(info.handle)), ("DMF_OBJECT", hex_or(info.object_address)),
                 ("context", None if info.context_version is None else "%s (%s)" % (
                     info.context_version, info.context_evidence or "-")),
                 ("config", info.config_variant), ("component", info.component_name),
                 ("data sources", info.data_source_count)]
        title = "DMF CrashDump %s: %s" % (info.symbol, ", ".join(
            "%s %s" % (k, v.text() if hasattr(v, "text") else v) for k, v in parts if v is not None))
        warnings.extend(info.warnings)
        notes.extend(info.notes)
        for ds in info.data_sources:
            warnings.extend("data source %d: %s" % (ds.index, w) for w in ds.warnings)
        next_steps.append(step("data sources", "datasources", args))
        if isinstance(info.handle, int) and info.handle:
            next_steps.append(step("module tree", "modules 0x%x" % info.handle, args))
    else:
        notes.append("no CrashDump symbol: blobs recognised by their GUID's XOR key signature only")
    if view.dmf_blobs or view.data_sources:
        next_steps.append(step("all records", "crashdump --all", args))
    if view.other_blob_count:
        notes.append("%d other secondary-data blob(s) without a DMF ring signature: dmfkd tags" % view.other_blob_count)
        next_steps.append(Link("all blobs", "tags"))
    if not target.is_live and target.bugcheck() is not None:
        next_steps.append(Link("bug check", "bugcheck"))
    document = {"dmf_present": True,
                "crashdump": info.header() if info is not None else None,
                "data_sources": [ds.as_row() for ds in view.data_sources],
                "blobs": [b.as_row() for b in view.dmf_blobs],
                "warnings": warnings, "notes": notes}
    return Report(rows=rows, columns=SUMMARY_COLUMNS, title=title, warnings=warnings, notes=notes,
                  next_steps=next_steps, document=document)


# -- dump -> scenario ------------------------------------------------------------------------------------

def scenario_report(view: CrashDumpView, args) -> Report:
    """--to-scenario FILE.json: the scenario written to FILE (never over an input of the command) and a
    one-row summary of it."""
    path = args.to_scenario
    if not path.lower().endswith(".json"):
        raise UsageError("--to-scenario %s: the file must end in .json" % path)
    document, notes = scenario_from_view(view, args.entry_size)
    # the symbol file dmfkd found beside the dump is an input too, though not named on the command line
    protected = [getattr(view.target, "path", None), getattr(args, "isf", None), getattr(args, "dump", None),
                 getattr(view.target.symbols, "source", None)]
    written = write_file(Report(document=document), path, protected)
    operations = document["operations"]
    summary = {"path": path, "bytes": written, "operations": len(operations),
               "data_sources": sum(1 for op in operations if op["op"] == "create"),
               "crash": document["crash"]["via"]}
    return Report(rows=[summary], columns=[("operations", "operations"), ("data_sources", "creates"),
                                           ("crash", "crash"), ("path", "scenario written to"), ("bytes", "bytes")],
                  document=summary, notes=notes + ["replay it: dmfemu scenario %s -o DIR" % path])


# -- records ---------------------------------------------------------------------------------------------

def raw_report(view: CrashDumpView, args) -> Report:
    target = view.target
    if target.is_live:
        raise UsageError("--raw needs a dump: a live target has no secondary data")
    guid = view.resolve_guid(args.guid)
    blob = target.read_tagged(guid)
    doc = {"guid": guid_text(guid), "size": len(blob), "hex": blob.hex()}
    return Report(title="%s  %d bytes, as stored (record 0 XOR-ed with the GUID key)" % (guid_text(guid), len(blob)),
                  text=hexdump(blob) if blob else "(empty)", document=doc, rows=[doc],
                  columns=[Column("guid", "GUID", where="data"), Column("size", "size", where="data"),
                           Column("hex", "hex", where="data")],
                  binary=lambda: blob)


def ring_title(ring, guid: str) -> str:
    return ("%s: %d record(s) of %d bytes, oldest first; N=%s P=%s (%s)%s, %s"
            % (guid, ring.count, ring.entry_size, "?" if ring.capacity is None else ring.capacity, ring.present,
               "from memory" if ring.present_known else "inferred", ", truncated" if ring.truncated else "",
               "read from memory" if ring.source == "memory" else "decoded from the blob"))


def guid_report(view: CrashDumpView, args) -> Report:
    guid = view.resolve_guid(args.guid)
    choice = decoder_choice(args, view.target)
    choice.resolve(view.resolve_guid)
    ring = view.ring(guid, args.entry_size, args.force)
    decoder, warnings = choice.for_source(guid_text(guid), ring.entry_size)
    document = ring.summary()
    return ring_records_report(ring, decoder, args, ring_title(ring, document["guid"]), document,
                               warnings=ring.warnings + warnings, notes=ring.notes,
                               next_steps=[step("all sources", "crashdump", args)], crash=crash_time(view.target))


def all_records_report(view: CrashDumpView, args) -> Report:
    if not view.source_guids():
        line = view.no_dmf_message() if not view.dmf_present else "no DMF ring data in %s" % view.target.name
        return Report(text=line, document={"sources": [], "records": [], "message": line})
    decoded = decode_sources(view, args)
    per_source, warnings = decoded.per_source, decoded.warnings
    if args.merge_by:
        rows = merge_rows(per_source, args.merge_by)
        if rows and all(parse_field_path(r, args.merge_by) is None for r in rows):
            warnings.append("no record has a field %r (decode with --type or --schema)" % args.merge_by)
    else:
        rows = [dict(r, guid=g) for g, rs in per_source for r in rs]
    for row in rows:
        row["lane"] = decoded.lanes.get(row["guid"], row["guid"][:8])
    decoders = decoded.decoders
    decoder = decoders[0] if len(set(type(d) for d in decoders)) == 1 and decoders else None
    any_plain = any(type(d) is RecordDecoder for d in decoders)
    columns = _merged_columns(decoder, decoded.field_names, args.hex or any_plain, any(r.get("partial") for r in rows))
    if args.merge_by:
        columns[-1:-1] = add_time_deltas(rows, time_field(rows, args.merge_by), crash_time(view.target))
    merged = [{k: v for k, v in row.items() if k != "ascii"} for row in rows]
    document = {"sources": decoded.documents, "warnings": warnings}
    if args.merge_by:
        document.update(merged_by=args.merge_by, records=merged)
    title = "%d record(s) of %d source(s)%s" % (len(rows), len(per_source),
                                                ", merged by %s" % args.merge_by if args.merge_by else "")
    return Report(rows=rows, columns=columns, document=document, warnings=warnings, title=title,
                  binary=lambda: b"".join(bytes.fromhex(r["hex"]) for r in rows))


def _merged_columns(decoder, field_names: List[str], show_hex: bool, partial: bool) -> List[Column]:
    if decoder is not None and type(decoder) is RecordDecoder and not field_names:
        return record_columns(decoder, show_hex, partial, merged=True)
    columns = [Column("lane", "source", where="table"), Column("guid", "GUID", where="data"), Column("index", "#")]
    columns += [Column(name, name, wrap=True, min_width=FIELD_MIN_WIDTH) for name in field_names]
    columns.append(Column("hex", "hex", where="both" if show_hex or not field_names else "data", wrap="bytes"))
    columns.append(Column("partial", "partial", where="both" if partial else "data"))
    return columns
