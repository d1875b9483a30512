"""`dmfkd datasources`: the DATA_SOURCE slots of the driver's CrashDump module, as memory holds them
(spec/dmf.md §2.3, §2.5, §2.8): index (0 = SELF), GUID, writer (free / handle / orphan), reader,
ring N, S, P and pointers. Needs the driver's symbols (a PDB in WinDbg; offline --symbols, --pdb or --isf)."""
from dmfkd.commands import command
from dmfkd.commands.shared import step
from dmfkd.dmf.crashdump_view import read_crashdump
from dmfkd.records import hex_or
from dmfkd.render import Column, Report

COLUMNS = [
    Column("index", "#"), Column("role", "role"), Column("guid", "GUID"),
    Column("writer_cell", "writer", where="table"), Column("writer", "writer", where="data"),
    Column("writer_handle", "writer_handle", where="data"),
    Column("reader_cell", "reader", where="table", optional=5), Column("reader", "reader", where="data"),
    Column("reader_handle", "reader_handle", where="data"),
    Column("capacity", "N"), Column("entry_size", "S"), Column("present", "P"),
    Column("read_index", "r", optional=3), Column("write_index", "w", optional=3),
    Column("items", "Items", optional=2), Column("ring_handle", "ring", optional=4),
    Column("component", "component", optional=1), Column("state", "state", wrap=True, min_width=10),
    Column("state_detail", "state_detail", where="data"),
    Column("ring_object", "ring_object", where="data"), Column("read_pointer", "read_pointer", where="data"),
    Column("write_pointer", "write_pointer", where="data"),
    Column("ring_buffer_size", "ring_buffer_size", where="data"),
    Column("ring_buffer_data", "ring_buffer_data", where="data"), Column("warnings", "warnings", where="data"),
]


@command("datasources", help="the CrashDump module's data sources (SELF + user-mode) as memory holds them")
def datasources(args, session):
    target = session.target
    view = read_crashdump(target, args.driver, args.dmf_version, blobs=False)
    info = view.info
    if info is None:
        line = ("no DMF CrashDump in %s: no g_DmfModuleCrashDump symbol (data sources need the driver's "
                "symbols; blobs alone: dmfkd crashdump)" % target.name)
        return Report(text=line, document={"dmf_present": False, "message": line})
    rows = []
    warnings = list(info.warnings)
    for ds in info.data_sources:
        row = ds.as_row()
        row["writer_cell"] = ds.file_object_cell("writer")
        row["reader_cell"] = ds.file_object_cell("reader")
        if ds.guid is not None and view.has_ring(ds):
            row["guid"] = step(ds.guid, "crashdump --guid %s" % ds.guid, args)
        if ds.ring_handle:
            row["ring_handle"] = step(hex_or(ds.ring_handle), "ringbuffer 0x%x" % ds.ring_handle, args)
        rows.append(row)
        warnings.extend("data source %d: %s" % (ds.index, w) for w in ds.warnings)
    title = "%s: %s data source(s), CrashDump handle %s, context %s" % (
        info.symbol, info.data_source_count, display_hex(info.handle), info.context_version)
    return Report(rows=rows, columns=COLUMNS, title=title, warnings=warnings, notes=info.notes,
                  next_steps=[step("summary", "crashdump", args)])


def display_hex(value) -> str:
    value = hex_or(value)
    return value.text() if hasattr(value, "text") else str(value)


@datasources.arguments
def _arguments(p):
    p.add_argument("--driver", metavar="NAME", help="symbol module of the driver")
    p.add_argument("--dmf-version", metavar="V", help="DMF version of the driver when symbols do not say")
