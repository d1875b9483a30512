"""`dmfkd livedump [DUMP] [DMFMODULE|DMFCOLLECTION]`: DMF_LiveKernelDump and the live kernel dumps it
makes: the live dump code and parameters, the DMFCOLLECTION that P2 carries and its module tree, and the
buffers DMF_LiveKernelDump recorded, each with what it is and whether its bytes are in the dump. The
reading is dmf/livedump_view.py's."""

from dmfkd.bounded_input import int_option
from dmfkd.commands import command
from dmfkd.commands.shared import parse_address, positional_root, step
from dmfkd.dmf import livedump, module_collection
from dmfkd.dmf.livedump_view import LiveDumpView, facts_document, read_live_dump
from dmfkd.records import hex_or
from dmfkd.render import Column, Link, Report
from dmfkd.render.hexdump import hexdump

COLUMNS = [Column("index", "#"), Column("address", "address"), Column("size", "size"), Column("valid", "valid"),
           Column("what", "what", wrap=True, min_width=20), Column("readable", "readable", wrap=True, min_width=10),
           Column("source", "source", optional=1), Column("module", "module", where="data"),
           Column("module_name", "module_name", where="data")]
#: --hex ROW: rows are the recorded buffers (a 256-entry ring, a few client structures)
MAX_ROW = 1 << 20
DUMP_TYPE_NAMES = {1: "full dump (type 1)", 4: "triage dump (type 4)", 5: "bitmap dump (type 5)",
                   6: "kernel bitmap dump (type 6)"}
LIVE_DUMP_TYPE_NAMES = {4: "triage live minidump (type 4)", 6: "full live dump (bitmap, type 6)"}


@command("livedump", help="DMF LiveKernelDump: a live kernel dump's DMFCOLLECTION, module tree and recorded buffers")
def livedump_command(args, session):
    positional_root(args)
    target = session.target
    root = parse_address(target, args.root) if args.root else None
    view = read_live_dump(target, root, args.driver, args.dmf_version, check=not args.no_check)
    if args.hex is not None:
        return hex_report(view, args.hex)
    if view.kind == "none":
        document = {"dmf_present": False, "message": view.message, "live_dump": facts_document(view.facts),
                    "data_buffers": []}
        return Report(text=view.message, document=document)
    if view.kind == "excluded":
        return excluded_report(view)
    if view.kind == "no-module":
        document = {"dmf_present": False, "message": view.message, "live_dump": facts_document(view.facts),
                    "modules": [r.as_row() for r in view.modules], "data_buffers": [], "warnings": view.warnings}
        steps = [step("module tree", "modules 0x%x" % view.collection.handle, args)] if view.collection.handle else []
        return Report(text=view.message, document=document, warnings=view.warnings, next_steps=steps)
    return found_report(view, args)


def _facts_title(view: LiveDumpView) -> str:
    facts = view.facts
    p = facts.parameters
    name = livedump.LIVE_DUMP_CODES.get(facts.code)
    parts = ["code 0x%08x%s" % (facts.code, " (%s)" % name if name else ""), "P1 0x%x" % p[0],
             "P2 0x%x%s" % (p[1], " = DMFCOLLECTION" if view.collection_is_p2 else ""), "P3 0x%x" % p[2],
             "P4 0x%x" % p[3]]
    names = dict(DUMP_TYPE_NAMES)
    if facts.looks_live:
        names.update(LIVE_DUMP_TYPE_NAMES)
    kind = names.get(facts.dump_type, "dump type %s" % facts.dump_type)
    if facts.live_dump_attribute:
        kind += ", LiveDumpGeneratedDump"
    return "%s; %s" % (", ".join(parts), kind)


def excluded_report(view: LiveDumpView) -> Report:
    rows = [r.as_row() for r in view.rows]
    title = "live kernel dump %s: %s" % (view.target.name, _facts_title(view))
    document = {"dmf_present": False, "excluded_dmf_data": True, "message": view.message,
                "live_dump": view.facts.as_dict(), "data_buffers": rows, "source": view.source}
    return Report(rows=rows, columns=COLUMNS, title=title, notes=view.notes, document=document,
                  next_steps=[Link("bug check", "bugcheck"), Link("secondary data", "tags")])


def found_report(view: LiveDumpView, args) -> Report:
    info, collection, facts = view.info, view.collection, view.facts
    rows = []
    for row in view.rows:
        d = row.as_row()
        if row.module and row.what:
            cmd = "ringbuffer 0x%x" % row.module if row.module_name == "RingBuffer" else "modules 0x%x" % row.module
            d["what"] = step(row.what, cmd, args)
        rows.append(d)
    next_steps = []
    if collection is not None and collection.handle:
        next_steps.append(step("module tree", "modules 0x%x" % collection.handle, args))
    if view.secondary is not None:
        next_steps.append(Link("secondary data", "tags --hex %s" % view.secondary["guid"]))
    if info.ring_handle:
        next_steps.append(step("buffer list ring", "ringbuffer 0x%x" % info.ring_handle, args))
    if facts.code is not None:
        next_steps.append(Link("bug check", "bugcheck"))
    if facts.code is not None:
        title = "%s %s: %s" % ("DMF live kernel dump" if facts.looks_live else "DMF LiveKernelDump in the crash dump",
                               view.target.name, _facts_title(view))
    else:
        title = "DMF LiveKernelDump in %s" % view.target.name
    document = {"dmf_present": True, "live_dump": facts_document(facts), "found_by": view.origin,
                "collection": None if collection is None else {
                    "handle": hex_or(collection.handle), "address": hex_or(collection.address),
                    "modules": [hex_or(a) for a in collection.modules]},
                "livekerneldump": info.header(), "modules": [r.as_row() for r in view.modules],
                "source": view.source, "secondary_data": view.secondary, "data_buffers": rows,
                "warnings": view.warnings, "notes": view.notes}
    return Report(rows=rows, columns=COLUMNS, title=title, text=tree_text(view), warnings=view.warnings,
                  notes=view.notes, next_steps=next_steps, document=document)


def hex_report(view: LiveDumpView, index: int) -> Report:
    row = view.row(index)
    data = view.buffer_bytes(index)
    cut = " (first %d)" % len(data) if len(data) < row.size else ""
    title = "row %d: 0x%x, %d bytes%s, %s" % (index, row.address, row.size, cut, row.what or "not a DMF structure")
    document = dict(row.as_row(), hex=data.hex(), shown=len(data))
    return Report(title=title, text=hexdump(data, row.address) if data else "(empty)", document=document,
                  rows=[document], columns=[Column(k, k, where="data") for k in ("index", "address", "size", "hex")],
                  binary=lambda: data)


def tree_text(view: LiveDumpView) -> str:
    collection, info = view.collection, view.info
    lines = []  # type: List[str]
    if collection is not None:
        lines.append("DMFCOLLECTION 0x%x -> DMF_MODULE_COLLECTION 0x%x: %d top-level module(s)%s" % (
            collection.handle or 0, collection.address or 0, len(collection.modules),
            " (found by %s)" % view.origin if view.origin else ""))
    for row, (obj, _) in zip(view.modules, view.objects):
        lines.append("%-40s DMFMODULE %-16s DMF_OBJECT %-18s %s" % (
            "  " * (row.depth + 1) + module_collection.display_name(obj), _hex_text(row.handle), _hex_text(row.object_address),
            row.state or ""))
    if info is not None:
        h = info.header()
        ring = h["ring"]
        lines.append("LiveKernelDump 0x%x: ReportType %r, GuidSecondaryData %s" % (
            info.handle or 0, h["report_type"], h["guid_secondary_data"]))
        lines.append("  context %s (%s), DmfDataSize %s%s" % (
            h["context_variant"], h["context_evidence"], h["dmf_data_size"],
            "" if ring is None else ", buffer list N=%s P=%s" % (ring["items_count"], ring["present"])))
        if h["include_dmf_data_in_bugcheck_triage_dump"]:
            lines.append("  IncludeDmfDataInBugCheckTriageDump: CrashDump child 0x%x adds the valid entries to a "
                         "bug check's triage dump; TelemetryDataSize %s" % (
                             int(h["crashdump_module"] or 0), h["telemetry_data_size"]))
    return "\n".join(lines)


def _hex_text(value) -> str:
    value = hex_or(value)
    return value.text() if hasattr(value, "text") else str(value)


@livedump_command.arguments
def _arguments(p):
    p.add_argument("root", nargs="?", metavar="DMFMODULE|DMFCOLLECTION",
                   help="the LiveKernelDump DMFMODULE, any module of its collection, or the DMFCOLLECTION "
                   "(default: P2 of a live dump, else the collection of g_DmfModuleCrashDump)")
    p.add_argument("--driver", metavar="NAME", help="symbol module of the driver")
    p.add_argument("--dmf-version", metavar="V", help="DMF version when symbols do not say")
    p.add_argument("--no-check", action="store_true", help="do not check whether each buffer is readable")
    p.add_argument("--hex", type=int_option("--hex", 0, MAX_ROW), metavar="ROW", help="the bytes of one recorded buffer (row #), hex + ASCII")
