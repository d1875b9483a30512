"""Where a dump file's driver symbols come from: the one place that decides (the CLI and batch call it).

In order, the first that applies:

1. ``--isf FILE``: an ISF JSON file (volatility3's format; dmfemu writes one for its driver);
2. ``--pdb FILE``: the driver's PDB given outright. It belongs to the ``--driver`` module, else to the
   loaded module whose CodeView record names its GUID/age, else its file name, else whose name is
   the PDB's. A GUID/age that is not the image's is refused unless ``--allow-mismatched-pdb``;
3. ``driver.isf.json`` beside the dump (dmfemu writes it there);
4. the symbol path (``--symbols``, then ``_NT_SYMBOL_PATH``): the DMF driver is the loaded module whose
   PDB has DMF's globals (g_DmfModuleCrashDump, or the CrashDump / LiveKernelDump context type info).
   ``--driver NAME`` names the module instead (and only then is its PDB asked of a symbol server
   whatever its name). Otherwise every module's PDB is looked for in the local folders and caches
   first; a symbol server is asked only when none of those is a DMF driver, and only about the first
   MAX_SERVER_CANDIDATES modules that Windows does not ship (nt/windows_modules.py), those with a
   build path in their CodeView record first: a real dump lists hundreds of modules, and a server
   question each would take minutes. Several DMF drivers: the first in load order is used, and a
   message says which and that --driver picks another.

The PDB's image base is the module's, from the dump's module list. Inside WinDbg none of this runs:
the debugger has its own symbol path. Nothing here prints: one-line messages go to `say` (the CLI
writes them on stderr), and a problem the user must fix is a DmfkdError.
"""
import os
from typing import Callable, Iterable, List, Mapping, NamedTuple, Optional, Tuple

from dmfkd.errors import DmfkdError, FormatError, SymbolError, UsageError
from dmfkd.nt import pe
from dmfkd.nt.loaded_modules import LoadedModule, loaded_modules
from dmfkd.nt.windows_modules import is_windows_module
from dmfkd.targets.symbol_path import MATCHED, MISMATCHED, SymbolPath, check_pdb, pdb_file_name

#: what makes a PDB a DMF driver's: DMF_CrashDump's module handle (a file static), and the context
#: type info WDF_DECLARE_CONTEXT_TYPE emits for the CrashDump and LiveKernelDump modules
DMF_GLOBALS = ("g_DmfModuleCrashDump", "_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO",
               "_WDF_DMF_CONTEXT_LiveKernelDump_TYPE_INFO")
#: how many modules a search without --driver may ask a symbol server about
MAX_SERVER_CANDIDATES = 8
#: module names shown in a one-line message
_SHOWN = 6

Say = Callable[[str], None]


class SymbolOptions(NamedTuple):
    """The symbol options of one command (the CLI's --isf, --symbols, --pdb, --allow-mismatched-pdb,
    --driver) and the environment _NT_SYMBOL_PATH comes from."""

    isf: Optional[str] = None
    symbols: Tuple[str, ...] = ()
    pdb: Optional[str] = None
    allow_mismatched_pdb: bool = False
    driver: Optional[str] = None
    environ: Optional[Mapping[str, str]] = None

    @classmethod
    def from_args(cls, args, environ: Optional[Mapping[str, str]] = None) -> "SymbolOptions":
        return cls(getattr(args, "isf", None), tuple(getattr(args, "symbols", None) or ()),
                   getattr(args, "pdb", None), bool(getattr(args, "allow_mismatched_pdb", False)),
                   getattr(args, "driver", None), environ)

    def symbol_path(self) -> SymbolPath:
        """The parsed path (a malformed element is a UsageError: parse only when symbols are wanted)."""
        return SymbolPath.from_sources(self.symbols, self._environ())

    def has_symbol_path(self) -> bool:
        return any(text.strip() for text in self.symbols) or bool(self._environ().get("_NT_SYMBOL_PATH", "").strip())

    def _environ(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ


def _quiet(_text: str) -> None:
    pass


def _names(rows: Iterable[LoadedModule]) -> str:
    names = [row.name for row in rows]
    return ", ".join(names[:_SHOWN]) + (" and %d more" % (len(names) - _SHOWN) if len(names) > _SHOWN else "")


def symbol_loader(dump: Optional[str], options: SymbolOptions, debugger: bool = False,
                  say: Say = _quiet) -> Optional[Callable[[object], object]]:
    """A function target -> Symbols (or None) for the target read from `dump`, or None when there is
    no symbol source to try. `debugger`: the target is a debugger session (pykd), which has its own
    symbols; an ISF still replaces them. Only contradictory options are refused at once: no file is
    opened, no symbol path parsed and no module listed until a command first asks for symbols."""
    if options.isf and options.pdb:
        raise UsageError("give --isf FILE or --pdb FILE, not both")
    if options.isf:
        return lambda target: _load_isf(options.isf)
    beside = os.path.join(os.path.dirname(os.path.abspath(dump)), "driver.isf.json") if dump else None
    if debugger:
        if options.pdb or options.symbols:
            say("--symbols and --pdb apply to dump files read directly; the debugger uses its own symbol "
                "path (.sympath, .reload)")
        if beside and os.path.lexists(beside):
            return lambda target: _load_isf(beside)
        return None
    if options.pdb:
        return lambda target: load_pdb(target, options, say)
    if beside and os.path.lexists(beside):
        def load_beside(target):
            if options.symbols:
                say("%s is used: an ISF beside the dump wins over --symbols (move it away to use the PDB)" % beside)
            return _load_isf(beside)
        return load_beside
    if options.has_symbol_path() or options.driver:
        return lambda target: find_driver_symbols(target, options, say)
    return None


def _load_isf(path: str):
    from dmfkd.targets.isf import IsfSymbols

    return IsfSymbols.load(path)


def _open_pdb(path: str, row: LoadedModule):
    from dmfkd.targets.pdb import PdbSymbols

    return PdbSymbols.open(path, image_base=row.base, module=row.name)


def _module_named(rows: List[LoadedModule], name: str) -> Optional[LoadedModule]:
    wanted = name.lower()
    for row in rows:
        if wanted in (row.name.lower(), row.image_name.lower()):
            return row
    return None


def _modules(target) -> List[LoadedModule]:
    rows, _warnings = loaded_modules(target)
    return rows


# -- --pdb FILE --------------------------------------------------------------------------------------

def load_pdb(target, options: SymbolOptions, say: Say = _quiet):
    """The PdbSymbols of `--pdb FILE`, with the image base of the module it belongs to."""
    from dmfkd.targets.pdb import read_identity

    path = options.pdb
    identity = read_identity(path)
    rows = _modules(target)
    if options.driver:
        row = _module_named(rows, options.driver)
        if row is None:
            raise UsageError("--driver %s: no loaded module of that name in %s (dmfkd lm lists them)"
                             % (options.driver, target.name))
    else:
        row = module_of_pdb(rows, path, identity)
        if row is None:
            raise UsageError("--pdb %s: no loaded module of %s names this PDB; --driver NAME says which module "
                             "it belongs to (dmfkd lm lists them)" % (path, target.name))
    codeview = row.codeview
    _, warnings = check_pdb(path, codeview.guid if codeview else None, codeview.age if codeview else None,
                            options.allow_mismatched_pdb)
    for warning in warnings:
        say(warning)
    return _open_pdb(path, row)


def module_of_pdb(rows: List[LoadedModule], path: str, identity) -> Optional[LoadedModule]:
    """The module whose CodeView record names the PDB's GUID/age, else its file name, else the module
    whose name is the PDB's (a dump without the image's headers: a triage dump)."""
    for row in rows:
        codeview = row.codeview
        if codeview is not None and (codeview.guid, codeview.age) == (identity.guid, identity.age):
            return row
    file_name = os.path.basename(path).lower()
    for row in rows:
        if row.codeview is not None:
            try:
                if pdb_file_name(row.codeview.raw_path or row.codeview.path).lower() == file_name:
                    return row
            except SymbolError:
                continue
    return _module_named(rows, os.path.splitext(os.path.basename(path))[0])


# -- the symbol path -----------------------------------------------------------------------------------

def find_driver_symbols(target, options: SymbolOptions, say: Say = _quiet):
    """PdbSymbols of the DMF driver found on the symbol path (see the module docstring), or None after
    one message saying what was searched."""
    symbol_path = options.symbol_path()
    rows = _modules(target)
    if options.driver:
        return _named_driver(target, rows, options.driver, symbol_path, say)
    if not symbol_path:
        return None
    candidates = [row for row in rows if row.codeview is not None and not is_windows_module(row.name)]
    if not candidates:
        say("no driver symbols: %s" % _why_no_candidates(rows))
        return None
    searched = _Searched()
    _search(candidates, symbol_path, True, say, searched)
    asked = []  # type: List[LoadedModule]
    if not searched.drivers and symbol_path.servers():
        matched = {id(row) for row in searched.found}
        asked = _server_order([row for row in candidates if id(row) not in matched])[:MAX_SERVER_CANDIDATES]
        _search(asked, symbol_path, False, say, searched, stop_at_first=True)
    if not searched.drivers:
        say(_nothing_found(candidates, searched, asked, symbol_path))
        return None
    (row, symbols), others = searched.drivers[0], searched.drivers[1:]
    if others:
        say("several DMF drivers in the dump (%s): using %s; --driver NAME picks another"
            % (", ".join(r.name for r, _ in searched.drivers), row.name))
        for _, other in others:
            other.close()
    return symbols


def _why_no_candidates(rows: List[LoadedModule]) -> str:
    if not rows:
        return "the dump has no module list to find the driver in"
    if all(row.codeview is None for row in rows):
        return ("no loaded module's CodeView record is in the dump (a triage dump keeps no image headers): "
                "--pdb FILE --driver NAME gives the driver's PDB outright")
    return "every module with a CodeView record in the dump is one Windows ships; --driver NAME names the driver"


def _server_order(rows: List[LoadedModule]) -> List[LoadedModule]:
    """Modules whose CodeView path is a build folder's first (Windows' own PDB names are bare), then load
    order."""
    def has_folder(row: LoadedModule) -> bool:
        path = row.codeview.path if row.codeview is not None else ""
        return "\\" in path or "/" in path
    return sorted(rows, key=lambda row: not has_folder(row))


class _Searched:
    """What a search met: the DMF drivers, every PDB found, and the PDBs found under the right name but
    of another build."""

    def __init__(self):
        self.drivers = []      # type: List[Tuple[LoadedModule, object]]
        self.found = []        # type: List[LoadedModule]
        self.mismatched = []   # type: List[Tuple[LoadedModule, object]]


def _search(rows: List[LoadedModule], symbol_path: SymbolPath, offline: bool, say: Say, searched: _Searched,
            stop_at_first: bool = False) -> None:
    for row in rows:
        codeview = row.codeview
        result = symbol_path.locate(codeview.raw_path or codeview.path, codeview.guid, codeview.age,
                                    None if offline else say, offline)
        if result.status == MISMATCHED:
            searched.mismatched.append((row, result))
        if result.status != MATCHED:
            continue
        searched.found.append(row)
        symbols = _open_if_dmf(result.path, row, say)
        if symbols is not None:
            searched.drivers.append((row, symbols))
            if stop_at_first:
                return


def _open_if_dmf(path: str, row: LoadedModule, say: Say):
    try:
        symbols = _open_pdb(path, row)
    except DmfkdError as exc:
        say("%s (module %s) cannot be read: %s" % (path, row.name, str(exc).splitlines()[0]))
        return None
    try:
        if any(symbols.has_symbol(name) for name in DMF_GLOBALS):
            return symbols
    except FormatError as exc:
        say("%s (module %s) cannot be read: %s" % (path, row.name, str(exc).splitlines()[0]))
    symbols.close()
    return None


def _nothing_found(candidates: List[LoadedModule], searched: _Searched, asked: List[LoadedModule],
                   symbol_path: SymbolPath) -> str:
    where = symbol_path.describe()
    if searched.found:
        return ("no driver symbols: the PDBs of %s are on %s, and none has DMF's globals (g_DmfModuleCrashDump); "
                "--driver NAME loads a module's PDB anyway" % (_names(searched.found), where))
    text = "no driver symbols: no PDB of %s in the folders and caches of %s" % (_names(candidates), where)
    if asked:
        text += ", nor on %s for %s" % (" or ".join(symbol_path.servers()), _names(asked))
    if searched.mismatched:
        row, result = searched.mismatched[0]
        text += ("; for %s only a PDB of another build: %s (--pdb FILE --allow-mismatched-pdb loads it anyway)"
                 % (row.name, result.mismatches[0].describe()))
    elif symbol_path.servers() and len(asked) < len(candidates):
        text += "; --driver NAME asks the symbol servers about any module"
    return text


def _named_driver(target, rows: List[LoadedModule], name: str, symbol_path: SymbolPath, say: Say):
    """The PDB of the module --driver names, from the local folders or a symbol server."""
    row = _module_named(rows, name)
    if row is None:
        if rows:
            say("--driver %s: no loaded module of that name in %s (dmfkd lm lists them)" % (name, target.name))
        return None
    if not symbol_path:
        say("no symbols for %s: no symbol path (give --symbols PATH, set _NT_SYMBOL_PATH, or --pdb FILE)" % row.name)
        return None
    if row.codeview is None:
        say("no symbols for %s: %s, so its PDB cannot be looked up by GUID (--pdb FILE gives it)"
            % (row.name, _codeview_reason(row)))
        return None
    codeview = row.codeview
    result = symbol_path.locate(codeview.raw_path or codeview.path, codeview.guid, codeview.age, say)
    if result.status != MATCHED:
        say("no symbols for %s: %s on %s" % (row.name, result.describe(), symbol_path.describe()))
        return None
    return _open_pdb(result.path, row)


def _codeview_reason(row: LoadedModule) -> str:
    status = row.image.codeview_status if row.image.headers == pe.OK else row.image.headers
    if status == pe.NOT_IN_DUMP:
        return "the image's CodeView record is not in the dump"
    return "the image has no usable CodeView record (%s)" % status
