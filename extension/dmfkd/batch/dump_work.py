"""The work of one dump in a batch: its summary row and its record rows, never an exception.

It is what `info`, `bugcheck` and `crashdump --all --format json` would say about the dump, read once:
header facts from DumpFile, the CrashDump module and its rings from dmf/crashdump_view.py, each record
through the same decoder choice and row builder as `crashdump --all` (so the records are equal to that
command's, field for field). Anything that goes wrong - a hostile dump making a reader raise, symbols that
do not load, a user's schema that fails - becomes the row's `error`, with what was learnt before it.

Results are plain data (dicts, lists, str, int, bool, None) so they cross process boundaries cheaply and
safely; timestamps travel as FILETIME integers.
"""
import collections
import hashlib
import json
import os
import stat
from typing import Any, Dict, List, Optional, Tuple

from dmfkd.batch.columns import empty_summary
from dmfkd.commands.shared import record_rows
from dmfkd.decoder_choice import DecoderChoice
from dmfkd.errors import DmfkdError, FormatError, SymbolError, UsageError
from dmfkd.guids import parse_guid
from dmfkd.render.data import json_value
from dmfkd.user_code import SchemaOutOfMemory

#: files up to this size are hashed whole; larger ones by head + tail (see columns.SUMMARY_COLUMNS)
FULL_HASH_LIMIT = 32 * 1024 * 1024
HEAD_BYTES = 1024 * 1024
TAIL_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024
#: symbol files kept parsed per process (a fleet has a few driver builds; dump folders carry copies)
SYMBOL_CACHE_SIZE = 16


def hash_dump(handle, size: int) -> Tuple[str, str]:
    """(hex SHA-256, scope) of an open dump file: the whole file up to FULL_HASH_LIMIT, else its first
    HEAD_BYTES, last TAIL_BYTES and size (the headers and the secondary data a batch reads, not the GiBs
    of pages between them)."""
    digest = hashlib.sha256()
    if size <= FULL_HASH_LIMIT:
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
        return digest.hexdigest(), "file"
    digest.update(handle.read(HEAD_BYTES))
    handle.seek(size - TAIL_BYTES)
    left = TAIL_BYTES
    while left > 0:
        chunk = handle.read(min(_CHUNK, left))
        if not chunk:
            break
        digest.update(chunk)
        left -= len(chunk)
    digest.update(b"size=%d" % size)
    return digest.hexdigest(), "head+tail"


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, (MemoryError, SchemaOutOfMemory)):
        return "memory"
    if isinstance(exc, SymbolError):
        return "symbols"
    if isinstance(exc, UsageError):
        return "options"
    if isinstance(exc, DmfkdError):
        return "format"
    return "internal"


def error_text(exc: BaseException) -> str:
    if isinstance(exc, (MemoryError, SchemaOutOfMemory)):
        return "out of memory while reading the dump (the per-dump memory limit)"
    if isinstance(exc, DmfkdError):
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return text
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return "internal error: %s%s" % (type(exc).__name__, ": " + detail if detail else "")


class DumpWorker:
    """Reads dumps one after the other with the batch's decoding options; keeps symbol files and user
    schemas loaded between dumps (a worker process reads hundreds of dumps)."""

    def __init__(self, options: Dict[str, Any]):
        self.options = options
        self._symbols = collections.OrderedDict()  # type: Dict[bytes, Any]   content SHA-256 -> IsfSymbols
        self._schemas = {}  # type: Dict[str, Any]

    def prepare(self) -> None:
        """Load the --schema files now, so a broken one stops the batch once instead of failing every
        dump (raises UsageError)."""
        from dmfkd.decode import SchemaDecoder

        for value in self.options.get("schemas") or []:
            spec = value.partition("=")[2] if "=" in value else value
            if spec not in self._schemas:
                self._schemas[spec] = SchemaDecoder(spec)

    # -- symbols: the CLI's order (dmfkd.driver_symbols), with ISF files parsed once per content --------
    def load_symbols(self, target, dump_path: str, warnings: List[str]) -> Tuple[Optional[str], Optional[str]]:
        """Give `target` the driver's symbols as `crashdump DUMP` would find them: --isf FILE, --pdb FILE,
        driver.isf.json beside the dump, the symbol path (--symbols, then _NT_SYMBOL_PATH as the batch
        was started with). Returns (symbol file, its identity) or (None, None); what the search has to
        say goes to `warnings`."""
        options = self.options
        if options.get("isf"):
            return self._use_isf(target, options["isf"])
        beside = os.path.join(os.path.dirname(dump_path), "driver.isf.json")
        if not options.get("pdb") and os.path.lexists(beside):
            if options.get("symbols"):
                warnings.append("symbols: %s is used: an ISF beside the dump wins over --symbols (move it "
                                "away to use the PDB)" % beside)
            return self._use_isf(target, beside)
        from dmfkd.driver_symbols import SymbolOptions, symbol_loader

        symbol_options = SymbolOptions(None, tuple(options.get("symbols") or ()), options.get("pdb"),
                                       bool(options.get("allow_mismatched_pdb")), options.get("driver"),
                                       {"_NT_SYMBOL_PATH": options.get("nt_symbol_path") or ""})
        loader = symbol_loader(dump_path, symbol_options,
                               say=lambda text: warnings.append("symbols: %s" % text))
        symbols = loader(target) if loader is not None else None
        if symbols is None:
            return None, None
        target.symbols = symbols
        guid = getattr(symbols, "pdb_guid", None)
        identity = "pdb:%s%x" % (guid.hex.upper(), symbols.pdb_age) if guid is not None else None
        return getattr(symbols, "source", None), identity

    def _use_isf(self, target, path: str) -> Tuple[str, str]:
        symbols, identity = self._isf(path)
        target.symbols = symbols
        return path, identity

    def _isf(self, path: str):
        """(IsfSymbols, identity) of a symbol file, parsed once per content: a fleet's dump folders often
        carry copies of the same file."""
        import copy

        from dmfkd.targets.isf import IsfSymbols

        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(_CHUNK), b""):
                    digest.update(chunk)
        except OSError as exc:
            raise FormatError(path, "cannot read the symbol file (%s)" % (exc.strerror or exc))
        identity = "isf:" + digest.hexdigest()[:16]
        symbols = self._symbols.get(digest.digest())
        if symbols is None:
            symbols = IsfSymbols.load(path)
            self._symbols[digest.digest()] = symbols
            if len(self._symbols) > SYMBOL_CACHE_SIZE:
                self._symbols.popitem(last=False)
        else:
            self._symbols.move_to_end(digest.digest())
            if symbols.source != path:      # the same content elsewhere: messages name this dump's file
                symbols = copy.copy(symbols)
                symbols.source = path
        return symbols, identity

    def decoder_choice(self, symbols) -> DecoderChoice:
        options = self.options
        choice = DecoderChoice(options.get("types") or [], options.get("schemas") or [], symbols,
                               options.get("type_size_mismatch") or "refuse")
        for item in choice.choices:
            if item.kind == "schema" and item.spec in self._schemas:
                item.decoder = self._schemas[item.spec]
        # GUID=... pairs were checked to be full GUIDs before the batch started: no prefix lookup per dump
        choice.resolve(parse_guid)
        return choice

    # -- one dump ----------------------------------------------------------------------------------
    def process(self, path: str, skip=frozenset()) -> Dict[str, Any]:
        """{"skipped": bool, "summary": row, "records": [row, ...]}; never raises an Exception."""
        summary = empty_summary()
        summary["path"] = path
        records = []  # type: List[Dict[str, Any]]
        try:
            skipped = self._read(path, summary, records, skip)
        except Exception as exc:  # noqa: BLE001 - the batch goes on whatever one dump does
            summary["error"] = error_text(exc)
            summary["error_kind"] = error_kind(exc)
            records = []
            skipped = False
        summary["records"] = len(records)
        return {"skipped": skipped, "summary": summary, "records": records}

    def _read(self, path: str, summary: Dict[str, Any], records: List[Dict[str, Any]], skip) -> bool:
        try:
            info = os.stat(path)
        except OSError as exc:
            summary["error"], summary["error_kind"] = "%s: %s" % (path, exc.strerror or exc), "input"
            return False
        if not stat.S_ISREG(info.st_mode):
            summary["error"], summary["error_kind"] = "%s: not a regular file" % path, "input"
            return False
        summary["file_size"] = info.st_size
        try:
            with open(path, "rb") as handle:
                summary["sha256"], summary["sha256_scope"] = hash_dump(handle, info.st_size)
        except OSError as exc:
            summary["error"], summary["error_kind"] = "%s: %s" % (path, exc.strerror or exc), "input"
            return False
        if summary["sha256"] in skip:
            return True
        from dmfkd.targets.dumpfile import DumpFile

        target = DumpFile(path)
        try:
            self._header(target, summary)
            summary["symbols"], summary["symbols_id"] = self.load_symbols(target, path, summary["warnings"])
            self._dmf(target, summary, records)
        finally:
            target.close()
        return False

    @staticmethod
    def _header(target, summary: Dict[str, Any]) -> None:
        header = target.dump_header()
        summary["dump_type"] = header.dump_type_name
        summary["arch"] = header.arch
        summary["build"] = header.build
        summary["crash_time"] = header.system_time
        bugcheck = target.bugcheck()
        summary["bugcheck_code"] = int(bugcheck.code)
        for n, value in enumerate(bugcheck.parameters[:4], 1):
            summary["bugcheck_p%d" % n] = int(value)

    def _dmf(self, target, summary: Dict[str, Any], records: List[Dict[str, Any]]) -> None:
        from dmfkd.dmf.crashdump_view import read_crashdump

        options = self.options
        view = read_crashdump(target, options.get("driver"), options.get("dmf_version"))
        info = view.info
        warnings = summary["warnings"]
        summary["blobs"] = len(view.blobs)
        summary["dmf_present"] = view.dmf_present
        if view.region_error:
            warnings.append(view.region_error)
        if info is not None:
            if info.symbol and "!" in info.symbol:
                summary["drivers"] = [info.symbol.split("!", 1)[0]]
            summary["dmf_version"] = info.dmf_version
            summary["context_version"] = info.context_version
            warnings.extend(info.warnings)
            for source in info.data_sources:
                warnings.extend("data source %d: %s" % (source.index, w) for w in source.warnings)
        sources = view.data_sources
        # the module's data sources when the walk listed them, else the blobs that carry a ring signature
        summary["sources"] = len(sources) if sources else len([b for b in view.blobs if b.kind in ("ring", "ring?")])
        summary["orphaned_sources"] = sorted({s.guid for s in sources if s.guid and s.state == "orphaned"})
        if not view.dmf_present:
            return
        self._records(view, summary, records, warnings)

    def _records(self, view, summary, records, warnings) -> None:
        """Every source's records as `crashdump --all` gives them (same decoder choice, same rows); a type
        that does not fit a source refuses the dump, as it refuses that command (the row's error)."""
        choice = self.decoder_choice(view.target.symbols)
        roles = {}
        for source in view.data_sources:
            if source.guid and source.guid not in roles:
                roles[source.guid] = (source.role, source.index)
        truncated = []
        for guid, ring in view.all_rings():
            if isinstance(ring, str):
                warnings.append("%s: %s" % (guid, ring))
                continue
            decoder, problems = choice.for_source(guid, ring.entry_size)
            warnings.extend(problems)
            warnings.extend("%s: %s" % (guid, w) for w in ring.warnings)
            if ring.truncated:
                truncated.append(guid)
            role, source_index = roles.get(guid, (None, None))
            for position, row in enumerate(record_rows(ring, decoder, range(ring.count))):
                # the row's own keys are columns here; a decoded field of the same name (a schema field
                # called `hex`) already replaced the row's value in record_rows, as in crashdump's rows
                fields = {k: v for k, v in row.items() if k not in ("index", "hex", "partial", "ascii")}
                records.append({"guid": guid, "role": role, "source_index": source_index, "index": position,
                                "partial": bool(row.get("partial", False)), "decoder": decoder.name,
                                "fields": json.dumps(json_value(fields), separators=(",", ":"),
                                                     allow_nan=False),
                                "hex": row["hex"]})
        summary["truncated_sources"] = sorted(set(truncated))
