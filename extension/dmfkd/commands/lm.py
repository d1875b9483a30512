"""`dmfkd lm DUMP`: the loaded kernel modules (WinDbg's `lm`), each with the PDB its image wants and
whether the symbol path has it.

    lm DUMP [--symbols PATH] [--pdb FILE [--allow-mismatched-pdb]] [--driver NAME]

The reading is nt/loaded_modules.py's. Every module's PDB is looked for in the local folders and
caches of the symbol path; a symbol server is asked only about the module --driver names (a dump
lists hundreds of modules). `--pdb FILE` shows how that file fits the module it belongs to.
"""
from dmfkd.commands import command
from dmfkd.driver_symbols import SymbolOptions, module_of_pdb
from dmfkd.errors import UsageError
from dmfkd.nt import loaded_modules as lm
from dmfkd.nt import pe
from dmfkd.render import Column, Hex, Report

COLUMNS = [
    Column("base", "start"), Column("end", "end", optional=1), Column("name", "module", wrap=True, min_width=12),
    Column("image_name", "image", where="data"), Column("image_path", "image_path", where="data"),
    Column("size", "size", where="data"), Column("time_date_stamp", "timestamp", optional=4),
    Column("checksum", "checksum", where="data"),
    Column("symbol_status", "symbols"),
    Column("pdb_cell", "PDB GUID/age", where="table"), Column("pdb_guid", "pdb_guid", where="data"),
    Column("pdb_age", "pdb_age", where="data"),
    Column("pdb_name", "PDB", wrap=True, optional=3), Column("symbol_file", "symbol file", wrap=True, optional=2),
    Column("detail", "detail", where="data"),
]


def _hex(value, width: int):
    return None if value is None else Hex(value, width)


def module_row(row: lm.LoadedModule, digits: int) -> dict:
    codeview = row.codeview
    detail = None
    if codeview is None:
        detail = row.image.headers if row.image.headers != pe.OK else row.image.codeview_status
    elif row.lookup is not None and row.symbol_status != lm.MATCHED:
        detail = row.lookup.describe()
    return {
        "base": Hex(row.base, digits), "end": Hex(row.end, digits), "name": row.name, "image_name": row.image_name,
        "image_path": row.image_path, "size": row.end - row.base, "time_date_stamp": _hex(row.time_date_stamp, 8),
        "checksum": _hex(row.checksum, 8), "symbol_status": row.symbol_status,
        "pdb_cell": "%s/%d" % (str(codeview.guid).upper(), codeview.age) if codeview else None,
        "pdb_guid": str(codeview.guid) if codeview else None, "pdb_age": codeview.age if codeview else None,
        "pdb_name": codeview.path if codeview else None, "symbol_file": row.pdb_path, "detail": detail,
    }


def _with_pdb(row: lm.LoadedModule, path: str, identity) -> lm.LoadedModule:
    """The module as --pdb FILE sees it: matched when the file is the image's PDB."""
    codeview = row.codeview
    if codeview is None:
        return row._replace(pdb_path=path)
    same = (codeview.guid, codeview.age) == (identity.guid, identity.age)
    return row._replace(symbol_status=lm.MATCHED if same else lm.MISMATCHED, pdb_path=path, lookup=None)


@command("lm", help="the loaded kernel modules (like WinDbg's lm) with each image's PDB GUID/age and whether "
         "the symbol path has it")
def list_modules(args, session):
    target = session.target
    options = SymbolOptions.from_args(args)
    symbol_path = options.symbol_path() if options.has_symbol_path() else None
    download = [args.driver] if args.driver else []
    rows, warnings = lm.loaded_modules(target, symbol_path, download=download, progress=session.say)
    if args.driver:
        wanted = args.driver.lower()
        rows = [row for row in rows if wanted in (row.name.lower(), row.image_name.lower())]
        if not rows:
            raise UsageError("--driver %s: no loaded module of that name in %s" % (args.driver, target.name))
    notes = []
    if args.pdb:
        from dmfkd.targets.pdb import read_identity

        identity = read_identity(args.pdb)
        owner = module_of_pdb(rows, args.pdb, identity)
        if owner is None:
            notes.append("--pdb %s: no module listed here names this PDB" % args.pdb)
        else:
            rows = [_with_pdb(row, args.pdb, identity) if row is owner else row for row in rows]
    digits = 8 if target.pointer_size == 4 else 16
    out = [module_row(row, digits) for row in rows]
    source = "the triage dump's driver list" if target.triage_drivers() is not None else "PsLoadedModuleList"
    title = "%d loaded module(s) of %s, from %s" % (len(out), target.name, source)
    if symbol_path is not None:
        title += "; symbol path %s" % symbol_path.describe()
    elif not args.pdb and any(row.codeview is not None for row in rows):
        notes.append("symbols not checked: give --symbols PATH or set _NT_SYMBOL_PATH")
    return Report(rows=out, columns=COLUMNS, title=title, warnings=warnings, notes=notes)


@list_modules.arguments
def _arguments(p):
    p.add_argument("--driver", metavar="NAME", help="only this module (the only one whose PDB is asked of a "
                   "symbol server)")

