"""`dmfkd livedump [DUMP] [DMFMODULE|DMFCOLLECTION]`: DMF_LiveKernelDump and the live kernel dumps
it makes (spec/dmf.md §3, §4.5 entry point 5).

On a live kernel dump: the live dump code and parameters, the DMFCOLLECTION that P2 carries (unless
the caller set ExcludeDmfData) and its module tree, and the buffers DMF_LiveKernelDump recorded -
each with what it is (a DMF_OBJECT, a config, a context, a ring's storage, a client buffer) and
whether its bytes are in the dump. On a live target or a crash dump: the same for a driver's
LiveKernelDump module, found from an explicit handle or through the driver's module collection
(g_DmfModuleCrashDump's DMF_OBJECT.ModuleCollection).
"""
import os
import uuid
from typing import Dict, List, Optional

from dmfkd.commands import command
from dmfkd.commands.crashdump import PY, drill
from dmfkd.commands.modules import _looks_like_handle
from dmfkd.commands.ringbuffer import parse_address
from dmfkd.dmf import livedump as LD
from dmfkd.dmf.crashdump import find_crashdump_symbol
from dmfkd.dmf.objects import ObjectReader
from dmfkd.errors import DmfkdError, MemoryReadError, UsageError
from dmfkd.guids import guid_text
from dmfkd.layouts import dmf_structures
from dmfkd.records import hex_or
from dmfkd.render import Link, Report
from dmfkd.render.hexdump import hexdump

COLUMNS = [("index", "#"), ("address", "address"), ("size", "size"), ("valid", "valid"), ("what", "what"),
           ("readable", "readable"), ("source", "source")]
DUMP_TYPE_NAMES = {1: "full dump (type 1)", 4: "triage dump (type 4)", 5: "bitmap dump (type 5)",
                   6: "kernel bitmap dump (type 6)"}
HEX_LIMIT = 1 << 16
LIVE_DUMP_TYPE_NAMES = {4: "triage live minidump (type 4)", 6: "full live dump (bitmap, type 6)"}


def _first(exc) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class _Found(object):
    """Where the module tree came from."""

    def __init__(self):
        self.collection = None   # type: Optional[LD.CollectionInfo]
        self.lkd = None          # LiveKernelDump DmfObject given directly
        self.origin = ""
        self.problems = []       # type: List[str]


def _locate(args, target, reader: ObjectReader, facts: LD.DumpFacts) -> _Found:
    found = _Found()
    recorded = facts.triage_blocks or []
    if args.root:
        value = parse_address(target, args.root)
        try:
            obj = reader.read(value)
        except DmfkdError as module_error:
            try:
                found.collection = LD.find_collection(target, reader, value, recorded)
            except DmfkdError:
                raise DmfkdError("0x%x is neither a DMFMODULE nor a DMFCOLLECTION (%s)" % (value, _first(module_error)))
            found.origin = "DMFCOLLECTION 0x%x (argument)" % value
            return found
        if obj.module_name == "LiveKernelDump":
            found.lkd = obj
        address = obj.field("ModuleCollection")
        if address:
            found.collection = LD.collection_at(target, reader, address)
        if found.collection is None and found.lkd is None:
            raise DmfkdError("DMFMODULE 0x%x is a %s module whose module collection cannot be read: give the "
                             "LiveKernelDump DMFMODULE or the DMFCOLLECTION" % (value, obj.module_name))
        found.origin = "DMFMODULE 0x%x (%s, argument)" % (value, obj.module_name)
        return found
    p2 = facts.parameters[1] if facts.code is not None else 0
    if p2:
        try:
            found.collection = LD.find_collection(target, reader, p2, recorded)
            found.origin = "bug-check parameter 2"
            return found
        except DmfkdError as exc:
            found.problems.append("P2 0x%x is not a DMFCOLLECTION" % p2)
    _via_crashdump_global(args, target, reader, found)
    if found.collection is None and recorded:
        found.collection = LD.collection_from_recorded(target, reader, recorded)
        if found.collection is not None:
            found.origin = "a DMF_OBJECT among the triage data blocks -> ModuleCollection"
            found.problems = []
    return found


def _via_crashdump_global(args, target, reader: ObjectReader, found: _Found) -> None:
    symbol, address, _ = find_crashdump_symbol(target, args.driver)
    if symbol is None:
        found.problems.append("no g_DmfModuleCrashDump symbol to reach the module collection from"
                              if target.symbols is not None else "no driver symbols")
        return
    try:
        handle = target.read_pointer(address)
        obj = reader.read(handle) if handle else None
    except DmfkdError as exc:
        found.problems.append("%s: %s" % (symbol, _first(exc)))
        return
    if obj is None:
        found.problems.append("%s is NULL" % symbol)
        return
    address = obj.field("ModuleCollection")
    found.collection = LD.collection_at(target, reader, address) if address else None
    if found.collection is None:
        found.problems.append("%s's DMF_OBJECT has no readable ModuleCollection" % symbol)
    else:
        found.origin = "%s -> ModuleCollection" % symbol


def _facts_title(facts: LD.DumpFacts, collection_known: bool) -> str:
    p = facts.parameters
    name = LD.LIVE_DUMP_CODES.get(facts.code)
    parts = ["code 0x%08x%s" % (facts.code, " (%s)" % name if name else ""), "P1 0x%x" % p[0],
             "P2 0x%x%s" % (p[1], " = DMFCOLLECTION" if collection_known else ""), "P3 0x%x" % p[2], "P4 0x%x" % p[3]]
    names = dict(DUMP_TYPE_NAMES)
    if facts.looks_live:
        names.update(LIVE_DUMP_TYPE_NAMES)
    kind = names.get(facts.dump_type, "dump type %s" % facts.dump_type)
    if facts.live_dump_attribute:
        kind += ", LiveDumpGeneratedDump"
    return "%s; %s" % (", ".join(parts), kind)


def _no_dmf(target, facts: LD.DumpFacts, found: _Found) -> Report:
    reasons = list(found.problems)
    if facts.code is not None and not facts.looks_live:
        reasons.insert(0, "bug check 0x%08x is not a live dump code and the header has no LiveDumpGeneratedDump "
                       "attribute" % facts.code)
    if facts.code is None or not reasons:
        reasons.append("give the LiveKernelDump DMFMODULE, any module of its collection, or the DMFCOLLECTION")
    line = "no DMF live-dump data in %s: %s" % (target.name, "; ".join(reasons))
    document = {"dmf_present": False, "message": line, "live_dump": facts.as_dict() if facts.code is not None else None,
                "data_buffers": []}
    return Report(text=line, document=document, rows=[], columns=[])


def _excluded(target, facts: LD.DumpFacts, args) -> Report:
    """A live dump whose P2 is 0: ExcludeDmfData (spec/dmf.md §3.5 step 2) - no DMF data in it."""
    rows = []
    for i, (address, size) in enumerate(facts.triage_blocks or []):
        row = LD.DataBufferRow(i, address, size, None, "triage block")
        if not args.no_check:
            row.readable = LD.check_readable(target, address, size)
        rows.append(row)
    line = ("P2 is 0: the live dump was created with ExcludeDmfData (or not through DMF_LiveKernelDump) - it carries "
            "no DMFCOLLECTION and no DMF framework data")
    title = "live kernel dump %s: %s" % (target.name, _facts_title(facts, False))
    notes = [line]
    if facts.triage_blocks is not None:
        notes.append("%d triage data block(s): the caller's client structures (spec/dmf.md sec. 3.5 step 4) and the "
                     "OS's own blocks" % len(rows))
    out = [r.as_row() for r in rows]
    document = {"dmf_present": False, "excluded_dmf_data": True, "message": line, "live_dump": facts.as_dict(),
                "data_buffers": out, "source": "triage blocks" if facts.triage_blocks is not None else None}
    return Report(rows=out, columns=COLUMNS, title=title, notes=notes, document=document,
                  footer_links=[Link("bug check", "%s bugcheck" % PY), Link("secondary data", "%s tags" % PY)])


def _secondary_note(target, facts: LD.DumpFacts, guid_text_value: Optional[str], notes: List[str],
                    footer: List[Link]) -> Optional[Dict]:
    """LkmdTelSetSecondaryData tags the live dump's blob with GuidSecondaryData (spec/dmf.md §3.5 step 5)."""
    if target.is_live or not facts.looks_live or not guid_text_value:
        return None
    try:
        guid = uuid.UUID(guid_text_value)
    except ValueError:
        return None
    if guid.int == 0:
        notes.append("GuidSecondaryData is zero: the module never sets secondary data (spec/dmf.md sec. 3.5 step 5)")
        return None
    for blob in target.tagged():
        if blob.guid == guid:
            notes.append("secondary data tagged %s (GuidSecondaryData): %s bytes" % (guid_text(guid), blob.size))
            footer.append(Link("secondary data", "%s tags --hex %s" % (PY, guid_text(guid))))
            return {"guid": guid_text(guid), "size": blob.size}
    notes.append("no secondary data tagged %s (GuidSecondaryData): the caller passed none" % guid_text(guid))
    return None


@command("livedump", help="DMF LiveKernelDump: a live kernel dump's DMFCOLLECTION, module tree and recorded buffers")
def livedump(args, session):
    if args.root is None and args.dump and not os.path.exists(args.dump) and _looks_like_handle(args.dump):
        args.root, args.dump = args.dump, None
    target = session.target
    facts = LD.dump_facts(target)
    if facts.triage_blocks:
        target = LD.RecordedBlocks(target, facts.triage_blocks)
    reader = ObjectReader(target, args.dmf_version)
    found = _locate(args, target, reader, facts)
    if found.collection is None and found.lkd is None:
        if facts.code is not None and facts.looks_live and facts.parameters[1] == 0:
            return _excluded(target, facts, args)
        return _no_dmf(target, facts, found)
    warnings, notes, footer = [], [], []
    warnings.extend(found.problems if found.collection is None else [])
    objects = []
    collection = found.collection
    if collection is not None:
        warnings.extend(collection.problems)
        roots, problems = LD.read_roots(reader, collection.modules)
        warnings.extend(problems)
        objects, problems = LD.walk_objects(reader, roots)
        warnings.extend(problems)
    recorded = {a: s for a, s in (facts.triage_blocks or [])}
    LD.names_from_recorded(target, objects, recorded)
    lkd_obj = found.lkd or LD.find_livekerneldump_object(reader, objects)
    if found.lkd is not None and not any(o.address == found.lkd.address for o, _ in objects):
        more, problems = LD.walk_objects(reader, [found.lkd])
        objects.extend(more)
        warnings.extend(problems)
    if lkd_obj is None:
        names = ", ".join(LD.display_name(o) for o, _ in objects) or "none readable"
        line = "no DMF live-dump data in %s: DMFCOLLECTION 0x%x (found by %s) has no LiveKernelDump module " \
               "(modules: %s)" % (target.name, collection.handle or 0, found.origin, names)
        document = {"dmf_present": False, "message": line,
                    "live_dump": facts.as_dict() if facts.code is not None else None,
                    "modules": [r.as_row() for r in LD.module_rows(reader, objects)], "data_buffers": [],
                    "warnings": warnings}
        return Report(text=line, document=document, rows=[], columns=[], warnings=warnings,
                      footer_links=[Link("module tree", drill("modules 0x%x" % collection.handle, args))]
                      if collection.handle else [])
    info = LD.read_livekerneldump(target, reader, lkd_obj, recorded)
    warnings.extend(info.warnings)
    notes.extend(info.notes)
    # the rows: the ring when its storage is there, else what the triage live dump holds
    rows = []  # type: List[LD.DataBufferRow]
    source = None
    if info.entries is not None:
        rows = info.entries
        source = "DataBufferSource"
    elif facts.triage_blocks is not None:
        rows = [LD.DataBufferRow(i, a, s, None, "triage block") for i, (a, s) in enumerate(facts.triage_blocks)]
        source = "triage blocks"
        if facts.looks_live:
            how = ("LkmdTelInsertTriageDataBlock got the valid DATA_BUFFER entries, then the caller's client "
                   "structures (spec/dmf.md sec. 3.5)")
        else:
            how = ("at bug check the LiveKernelDump's CrashDump child added every valid DATA_BUFFER entry with "
                   "KeAddTriageDumpDataBlock (IncludeDmfDataInBugCheckTriageDump, spec/dmf.md sec. 3.7)")
        notes.append("rows are the dump's %d triage data block(s): %s; the DataBufferSource storage itself is never "
                     "recorded (sec. 3.6)" % (len(rows), how))
    elif info.entries_problem:
        warnings.append(info.entries_problem)
    index = LD.build_index(target, reader, objects, collection)
    LD.resolve_rows(target, reader, index, rows, recorded)
    for row in rows:
        if not row.what and row.source == "DataBufferSource":
            row.what = "client buffer"
        if not args.no_check:
            row.readable = LD.check_readable(target, row.address, row.size)
    if info.ring_state is not None and source == "DataBufferSource":
        st = info.ring_state
        valid = sum(1 for r in rows if r.valid)
        _check_dmf_data_size(info, rows, warnings, notes)
        notes.append("DataBufferSource: %d of %d entries used, %d valid; the oldest are dropped beyond %d "
                     "(spec/dmf.md Q-LKD-1), removed ones stay as invalid (Q-LKD-2)"
                     % (len(rows), st.items_count, valid, st.items_count))
    elif info.ring_state is not None and source == "triage blocks":
        notes.append("the DataBufferSource ring held %d entr%s at dump time (valid and invalid)"
                     % (info.ring_state.items_present_count, "y" if info.ring_state.items_present_count == 1 else "ies"))
    secondary = None
    if info.config:
        secondary = _secondary_note(target, facts, info.config.get("guid_secondary_data"), notes, footer)
    if collection is not None and collection.handle:
        footer.insert(0, Link("module tree", drill("modules 0x%x" % collection.handle, args)))
    if info.ring_handle:
        footer.append(Link("DataBufferSource ring", drill("ringbuffer 0x%x" % info.ring_handle, args)))
    if facts.code is not None:
        footer.append(Link("bug check", "%s bugcheck" % PY))
    if args.hex is not None:
        return _hex_report(target, rows, args.hex)
    out = []
    for row in rows:
        d = row.as_row()
        if row.module and row.what:
            cmd = "ringbuffer 0x%x" % row.module if row.module_name == "RingBuffer" else "modules 0x%x" % row.module
            d["what"] = Link(row.what, drill(cmd, args))
        out.append(d)
    tree = LD.module_rows(reader, objects)
    text = _tree_text(collection, tree, objects, info, found.origin)
    if facts.code is not None:
        title = "%s %s: %s" % ("DMF live kernel dump" if facts.looks_live else "DMF LiveKernelDump in the crash dump",
                                target.name, _facts_title(facts, collection is not None and (
                                    collection.handle == facts.parameters[1])))
        if not facts.looks_live:
            notes.append("bug check 0x%08x is not a live dump code and the header has no LiveDumpGeneratedDump "
                         "attribute: a crash dump of a driver with DMF_LiveKernelDump" % facts.code)
    else:
        title = "DMF LiveKernelDump in %s" % target.name
    document = {"dmf_present": True, "live_dump": facts.as_dict() if facts.code is not None else None,
                "found_by": found.origin,
                "collection": None if collection is None else {
                    "handle": hex_or(collection.handle), "address": hex_or(collection.address),
                    "modules": [hex_or(a) for a in collection.modules]},
                "livekerneldump": info.header(),
                "modules": [r.as_row() for r in tree], "source": source, "secondary_data": secondary,
                "data_buffers": out, "warnings": warnings, "notes": notes}
    return Report(rows=out, columns=COLUMNS, title=title, text=text, warnings=warnings, notes=notes,
                  footer_links=footer, document=document)


def _check_dmf_data_size(info: LD.LiveKernelDumpInfo, rows: List[LD.DataBufferRow], warnings: List[str],
                         notes: List[str]) -> None:
    """DmfDataSize = sum(Size + 8) over the entries still valid while the ring never dropped one; it is
    never decremented for dropped entries (spec/dmf.md §3.3, Q-LKD-1), so once the ring is full it
    can only be larger. NumberOfDataBuffers is never written (Q-LKD-3)."""
    ctx = info.context or {}
    if "DmfDataSize" not in ctx:
        return
    total = sum(r.size + dmf_structures.LIVEKERNELDUMP_TRIAGE_BLOCK_OVERHEAD for r in rows if r.valid) & 0xFFFFFFFF
    full = info.ring_state.items_present_count >= info.ring_state.items_count
    if not full and ctx["DmfDataSize"] != total:
        warnings.append("DmfDataSize %d != sum(Size + 8) of the valid entries %d, and the ring never filled "
                        "(spec/dmf.md sec. 3.3)" % (ctx["DmfDataSize"], total))
    elif full and ctx["DmfDataSize"] > total:
        notes.append("DmfDataSize %d counts %d bytes of entries the full ring dropped (spec/dmf.md Q-LKD-1)"
                     % (ctx["DmfDataSize"], ctx["DmfDataSize"] - total))
    if ctx.get("NumberOfDataBuffers") == 0:
        notes.append("NumberOfDataBuffers is 0: DMF never writes it (spec/dmf.md Q-LKD-3)")


def _hex_report(target, rows: List[LD.DataBufferRow], index: int) -> Report:
    """The bytes of one recorded buffer (the first HEX_LIMIT of a longer one), one bulk read."""
    row = next((r for r in rows if r.index == index), None)
    if row is None:
        raise UsageError("--hex %d: no row %d (%d rows)" % (index, index, len(rows)))
    size = min(row.size, HEX_LIMIT)
    try:
        data = LD.read_exact(target, row.address, size)
    except MemoryReadError:
        raise DmfkdError("row %d: %d bytes at 0x%x are not in %s" % (index, size, row.address, target.name))
    cut = " (first %d)" % size if size < row.size else ""
    title = "row %d: 0x%x, %d bytes%s, %s" % (index, row.address, row.size, cut, row.what or "not a DMF structure")
    document = dict(row.as_row(), hex=data.hex(), shown=size)
    return Report(title=title, text=hexdump(data, row.address) if data else "(empty)", document=document,
                  rows=[document], columns=[("index", "#"), ("address", "address"), ("size", "size"), ("hex", "hex")])


def _tree_text(collection, tree, objects, info, origin: str) -> str:
    lines = []
    if collection is not None:
        lines.append("DMFCOLLECTION 0x%x -> DMF_MODULE_COLLECTION 0x%x: %d top-level module(s)%s" % (
            collection.handle or 0, collection.address or 0, len(collection.modules),
            " (found by %s)" % origin if origin else ""))
    for row, (obj, _) in zip(tree, objects):
        lines.append("%-44s DMFMODULE %-20s DMF_OBJECT %-20s %s" % (
            "  " * (row.depth + 1) + LD.display_name(obj), hex_or(row.handle), hex_or(row.object_address),
            row.state or ""))
    if info is not None:
        h = info.header()
        ring = h["ring"]
        lines.append("LiveKernelDump 0x%x: ReportType %r, GuidSecondaryData %s, context %s (%s), DmfDataSize %s%s" % (
            info.handle or 0, h["report_type"], h["guid_secondary_data"], h["context_variant"], h["context_evidence"],
            h["dmf_data_size"], "" if ring is None else ", DataBufferSource N=%s P=%s" % (ring["items_count"], ring["present"])))
        if h["include_dmf_data_in_bugcheck_triage_dump"]:
            lines.append("IncludeDmfDataInBugCheckTriageDump: CrashDump child 0x%x adds the valid entries to a bug check's "
                         "triage dump (spec/dmf.md sec. 3.7); TelemetryDataSize %s" % (
                             int(h["crashdump_module"] or "0", 16), h["telemetry_data_size"]))
    return "\n".join(lines)


@livedump.arguments
def _arguments(p):
    p.add_argument("root", nargs="?", metavar="DMFMODULE|DMFCOLLECTION",
                   help="the LiveKernelDump DMFMODULE, any module of its collection, or the DMFCOLLECTION "
                   "(default: P2 of a live dump, else the collection of g_DmfModuleCrashDump)")
    p.add_argument("--driver", metavar="NAME", help="symbol module of the driver")
    p.add_argument("--dmf-version", metavar="V", help="DMF version when symbols do not say")
    p.add_argument("--no-check", action="store_true", help="do not check whether each buffer is readable")
    p.add_argument("--hex", type=int, metavar="ROW", help="the bytes of one recorded buffer (row #), hex + ASCII")
