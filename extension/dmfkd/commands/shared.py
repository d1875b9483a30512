"""What several commands share: next-step links, addresses and handles as the user types them, the
record options (--last, --grep, --type, --schema, --out ...) and the record table they produce.

Commands stay thin: parse, call one reader view, hand a Report to render/. Nothing here reads a
dump file or branches on the output format.
"""
import os
import re
from typing import Any, Dict, List, Optional, Sequence

from dmfkd.bounded_input import int_option
from dmfkd.decode import RecordDecoder, grep_records, record_dicts, records_jsonl
from dmfkd.decoder_choice import DecoderChoice
from dmfkd.dmf.ringbuffer import MAX_RING_BYTES
from dmfkd.errors import SymbolError, UsageError
from dmfkd.render import Column, FileTime, Link, Report, Seconds, write_file

#: --last: no ring holds more records than this (MAX_RING_BYTES of one-byte records)
MAX_RECORD_COUNT = 1 << 32
#: --entry-size: one record of one ring, and dmfkd keeps at most MAX_RING_BYTES of a ring
MAX_ENTRY_SIZE = MAX_RING_BYTES

#: a decoded field wraps only when longer than this (a time or a name stays on one line)
FIELD_MIN_WIDTH = 24
_HANDLE_RE = re.compile(r"^(0x)?[0-9a-fA-F`]+$|^[A-Za-z_][\w.]*![\w]+$")


# -- links --------------------------------------------------------------------------------------------

def step(text, command: str, args=None) -> Link:
    """A link to another dmfkd command (`command` is its argument line, e.g. "crashdump --guid G"); the
    renderer makes it a DML link inside WinDbg and a `dmfkd ...` command line elsewhere. The --driver
    the user chose is carried along."""
    driver = getattr(args, "driver", None) if args is not None else None
    if driver and " --driver " not in command:
        command += " --driver %s" % driver
    return Link(text, command)


# -- what the user types -----------------------------------------------------------------------------

def looks_like_handle(text: str) -> bool:
    return bool(_HANDLE_RE.match(text.strip()))


def positional_root(args, attribute: str = "root") -> None:
    """Inside WinDbg the dump is left out, so argparse gives a lone handle to DUMP; a handle is not a
    file (spec/pykd.md §7): move it to where it belongs."""
    dump = getattr(args, "dump", None)
    if getattr(args, attribute) is None and dump and not os.path.exists(dump) and looks_like_handle(dump):
        setattr(args, attribute, dump)
        args.dump = None


def parse_address(target, text: str) -> int:
    """0x-hex, bare hex, WinDbg's `ffffe000`12345678`, or module!global (the pointer it holds)."""
    t = text.strip()
    if "!" in t:
        if target.symbols is None:
            raise UsageError("%s: no symbols to resolve it" % t)
        try:
            return target.read_pointer(target.symbols.address_of(t))
        except SymbolError as exc:
            raise UsageError(str(exc).splitlines()[0])
    t = t.replace("`", "")
    if t.lower().startswith("0x"):
        t = t[2:]
    try:
        value = int(t, 16)
    except ValueError:
        raise UsageError("not an address or handle: %r" % text)
    if not 0 < value < (1 << (8 * target.pointer_size)):
        raise UsageError("address %s out of range for a %d-bit target" % (text, 8 * target.pointer_size))
    return value


# -- record options ----------------------------------------------------------------------------------

def add_record_options(p, selection: bool = True) -> None:
    """The options every record-listing command takes."""
    if selection:
        p.add_argument("--last", type=int_option("--last", 0, MAX_RECORD_COUNT), metavar="N", help="only the N newest records")
        p.add_argument("--grep", metavar="TEXT", help="only records containing TEXT (bytes, hex or decoded fields)")
    p.add_argument("--type", metavar="[GUID=]MODULE!TYPE", action="append",
                   help="decode records as this type of the driver's symbols; GUID=TYPE for one source "
                   "(repeatable)")
    p.add_argument("--schema", metavar="[GUID=]FILE.py:NAME", action="append",
                   help="decode records with a construct Struct from your own Python file (it is run as "
                   "Python code); GUID=FILE.py:NAME for one source (repeatable)")
    p.add_argument("--type-size-mismatch", choices=("refuse", "decode"), default="refuse",
                   help="a type whose size differs from the record size: refuse it for that source "
                   "(default) or decode anyway with a warning")
    p.add_argument("--time-field", metavar="NAME", action="append", default=[],
                   help="a decoded field that is a FILETIME (fields named like Timestamp or Time are found "
                   "without it); shown as UTC time with the time since the previous record and before the crash")
    p.add_argument("--hex", action="store_true", help="show each record's hex beside its decoded fields")
    p.add_argument("--out", metavar="FILE", help="write the records to FILE (.json .jsonl .csv .bin)")


def check_record_options(args) -> None:
    if getattr(args, "last", None) is not None and args.last < 0:
        raise UsageError("--last must be >= 0")


def decoder_choice(args, target) -> DecoderChoice:
    return DecoderChoice(args.type or [], args.schema or [], target.symbols, args.type_size_mismatch,
                         args.time_field)


def selected_indexes(ring, args, decoder) -> List[int]:
    indexes = list(range(ring.count))
    if getattr(args, "grep", None):
        hits = set(grep_records(ring, args.grep, decoder))
        indexes = [i for i in indexes if i in hits]
    last = getattr(args, "last", None)
    if last is not None:
        indexes = indexes[-last:] if last > 0 else []
    return indexes


def record_rows(ring, decoder, indexes: Sequence[int], source: Optional[str] = None) -> List[Dict[str, Any]]:
    """One row per record: index, [guid], hex, [partial], ascii (undecoded only), decoded fields."""
    return record_dicts(ring, decoder, indexes, guid=source, ascii_column=type(decoder) is RecordDecoder)


def time_field(rows: List[Dict[str, Any]], preferred: Optional[str] = None) -> Optional[str]:
    """The decoded field that holds the records' FILETIME (the one merged by, else the first)."""
    if preferred and any(isinstance(r.get(preferred), FileTime) for r in rows):
        return preferred
    for row in rows:
        for key, value in row.items():
            if isinstance(value, FileTime):
                return key
    return None


def crash_time(target) -> Optional[int]:
    header = target.dump_header()
    return header.system_time if header is not None and header.system_time else None


def add_time_deltas(rows: List[Dict[str, Any]], field: Optional[str], crash: Optional[int]) -> List[Column]:
    """Each record's time since the one before it (in the order shown) and before the crash; the
    columns to show them (none when the records have no time field)."""
    if field is None:
        return []
    previous = None
    for row in rows:
        value = row.get(field)
        if not isinstance(value, FileTime):
            continue
        row["since_previous_s"] = None if previous is None else Seconds((value - previous) / 1e7)
        previous = value
        if crash is not None:
            row["before_crash_s"] = Seconds((crash - value) / 1e7)
    columns = [Column("since_previous_s", "since prev", optional=2)]
    if crash is not None:
        columns.append(Column("before_crash_s", "before crash", optional=1))
    return columns


def record_columns(decoder, show_hex: bool, partial: bool, merged: bool = False) -> List[Column]:
    columns = []
    if merged:
        columns.append(Column("lane", "source", where="table"))
        columns.append(Column("guid", "GUID", where="data"))
    columns.append(Column("index", "#"))
    if type(decoder) is RecordDecoder:
        columns += [Column("hex", "hex", wrap="bytes"), Column("ascii", "ascii", where="table", wrap="chars")]
    else:
        columns += [Column(name, name, wrap=True, min_width=FIELD_MIN_WIDTH) for name in decoder.columns]
        columns.append(Column("hex", "hex", where="both" if show_hex else "data", wrap="bytes"))
    columns.append(Column("partial", "partial", where="both" if partial else "data"))
    return columns


def ring_records_report(ring, decoder, args, title: str, document: Dict[str, Any], warnings=(), notes=(),
                        next_steps=(), crash: Optional[int] = None) -> Report:
    """The Report of one ring's records: the table, the JSON document (document + "records"), the fast
    JSON Lines of an undecoded contiguous selection, and the raw bytes for `--out FILE.bin`."""
    indexes = selected_indexes(ring, args, decoder)
    rows = record_rows(ring, decoder, indexes)
    columns = record_columns(decoder, args.hex, ring.partial_size is not None)
    columns[-1:-1] = add_time_deltas(rows, time_field(rows), crash)
    document = dict(document)
    document["decoder"] = decoder.name
    document["records"] = [{k: v for k, v in row.items() if k != "ascii"} for row in rows]
    fast = None
    if type(decoder) is RecordDecoder and (not indexes or indexes[-1] - indexes[0] + 1 == len(indexes)):
        first = indexes[0] if indexes else 0
        count = len(indexes)
        fast = lambda write: write(records_jsonl(ring, first, count))  # noqa: E731
    if len(indexes) != ring.count:
        title += "; showing %d" % len(indexes)
    return Report(rows=rows, columns=columns, document=document, title=title, warnings=warnings, notes=notes, next_steps=next_steps,
                  fast_jsonl=fast, binary=lambda: b"".join(ring.record(i) for i in indexes))


class DecodedSources:
    """Every source's selected records, decoded with the decoder chosen for it."""

    def __init__(self):
        self.per_source = []   # type: List[tuple]   (guid, rows) in source order
        self.documents = []    # type: List[Dict[str, Any]]
        self.decoders = []     # type: List[object]
        self.field_names = []  # type: List[str]
        self.warnings = []     # type: List[str]
        self.lanes = {}        # type: Dict[str, str]   guid -> short lane name


def lane_names(guids: List[str], view) -> Dict[str, str]:
    """A short name per source: its role (SELF, aux1 ...) or its GUID's first 8 digits."""
    names = {}
    for ds in view.data_sources:
        if ds.guid in guids and ds.guid not in names:
            names[ds.guid] = "SELF" if ds.role == "SELF" else "aux%d" % ds.index
    for g in guids:
        names.setdefault(g, g[:8])
    return names


def decode_sources(view, args) -> DecodedSources:
    """The records of every source of a CrashDumpView, each decoded by its own --type/--schema; a type
    that does not fit a source refuses the whole command (a timeline missing a source would mislead)."""
    out = DecodedSources()
    choice = decoder_choice(args, view.target)
    choice.resolve(view.resolve_guid)
    for guid, ring in view.all_rings(args.entry_size, args.force):
        if isinstance(ring, str):
            out.warnings.append("%s: %s" % (guid, ring))
            continue
        decoder, problems = choice.for_source(guid, ring.entry_size)
        out.decoders.append(decoder)
        out.warnings.extend(problems)
        rows = record_rows(ring, decoder, selected_indexes(ring, args, decoder))
        out.per_source.append((guid, rows))
        out.warnings.extend("%s: %s" % (guid, w) for w in ring.warnings)
        doc = ring.summary()
        doc["decoder"] = decoder.name
        doc["records"] = [{k: v for k, v in row.items() if k != "ascii"} for row in rows]
        out.documents.append(doc)
        for name in getattr(decoder, "columns", []):
            if name not in out.field_names:
                out.field_names.append(name)
    out.lanes = lane_names([g for g, _ in out.per_source], view)
    return out


# -- --out ---------------------------------------------------------------------------------------------

def finish(report: Report, args, target) -> Report:
    """`--out FILE`: the report written to FILE (through render, the format from the extension) and a
    one-row summary shown instead; otherwise the report itself."""
    path = getattr(args, "out", None)
    if not path:
        return report
    protected = [getattr(target, "path", None), getattr(args, "isf", None), getattr(args, "dump", None),
                 getattr(target.symbols, "source", None)]    # also the driver.isf.json found beside the dump
    written = write_file(report, path, protected)
    records = report.document.get("records") if isinstance(report.document, dict) else None
    summary = {"path": path, "format": os.path.splitext(path)[1].lstrip(".").lower(), "bytes": written,
               "records": len(records) if records is not None else len(report.rows)}
    return Report(rows=[summary], columns=[("records", "records"), ("path", "written to"), ("format", "format"),
                                           ("bytes", "bytes")], document=summary,
                  warnings=report.warnings, notes=report.notes)
