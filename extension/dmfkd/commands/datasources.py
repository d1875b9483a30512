"""`dmfkd datasources`: the DATA_SOURCE slots of the driver's CrashDump module, as memory holds them
(spec/dmf.md §2.3, §2.5, §2.8): index (0 = SELF), GUID, writer (free / handle / orphan), reader,
ring N, S, P and pointers. Needs the driver's symbols (a PDB in WinDbg, --isf offline)."""
from dmfkd.commands import command
from dmfkd.commands.crashdump import drill
from dmfkd.dmf.crashdump import walk_crashdump
from dmfkd.errors import DmfkdError
from dmfkd.records import hex_or
from dmfkd.render import Link, Report

COLUMNS = [("index", "#"), ("role", "role"), ("guid", "GUID"), ("writer", "writer"), ("reader", "reader"),
           ("capacity", "N"), ("entry_size", "S"), ("present", "P"), ("read_index", "r"),
           ("write_index", "w"), ("items", "Items"), ("ring_handle", "ring"), ("component", "component"),
           ("state", "state")]
MEMORY_FIELDS = [k for k, _ in COLUMNS] + ["ring_object", "read_pointer", "write_pointer", "ring_buffer_size",
                                           "ring_buffer_data", "warnings"]


@command("datasources", help="the CrashDump module's data sources (SELF + user-mode) as memory holds them")
def datasources(args, session):
    target = session.target
    walk = walk_crashdump(target, args.driver, args.dmf_version)
    if walk is None and args.driver:
        raise DmfkdError("--driver %s: no symbol %s!g_DmfModuleCrashDump" % (args.driver, args.driver))
    if walk is None:
        line = ("no DMF CrashDump in %s: no g_DmfModuleCrashDump symbol (data sources need the driver's "
                "symbols; blobs alone: dmfkd crashdump)" % target.name)
        return Report(text=line, document={"dmf_present": False, "message": line}, rows=[], columns=[])
    info = walk.info
    rows = []
    warnings = list(info.warnings)
    for ds in info.data_sources:
        full = ds.as_row()
        row = {k: full.get(k) for k in MEMORY_FIELDS}
        if ds.guid is not None and ds.index in walk.rings:
            row["guid"] = Link(ds.guid, drill("crashdump --guid %s" % ds.guid, args))
        if ds.ring_handle:
            row["ring_handle"] = Link(hex_or(ds.ring_handle), drill("ringbuffer 0x%x" % ds.ring_handle, args))
        rows.append(row)
        warnings.extend("data source %d: %s" % (ds.index, w) for w in ds.warnings)
    title = "%s: %s data source(s), CrashDump handle %s, context %s" % (
        info.symbol, info.data_source_count, hex_or(info.handle), info.context_version)
    return Report(rows=rows, columns=COLUMNS, title=title, warnings=warnings, notes=info.notes,
                  footer_links=[Link("summary", drill("crashdump", args))])


@datasources.arguments
def _arguments(p):
    p.add_argument("--driver", metavar="NAME", help="symbol module of the driver")
    p.add_argument("--dmf-version", metavar="V", help="DMF version of the driver when symbols do not say")
