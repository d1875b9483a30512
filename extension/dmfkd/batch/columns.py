"""The two tables `dmfkd batch` writes, defined once: name, type and meaning of every column.

The Parquet schema (pyarrow), the JSON Lines rows and README's schema table all come from these lists,
so they cannot drift apart. Types:

    int32 / int64   integers                      uint64     bug-check parameters (kernel addresses)
    string          text (None: not known)        bool       true / false
    timestamp       a Windows FILETIME in transit; Parquet timestamp[us, UTC], JSON Lines ISO-8601 text
    list<string>    a list of texts

Nothing here depends on the run (no times, no engine, no host), so the same dumps give the same bytes
whichever engine wrote them.
"""
import datetime
from typing import Any, Dict, List, NamedTuple, Optional

#: bumped when a column changes meaning or type (kept in the Parquet key-value metadata)
SCHEMA_VERSION = "1"
#: FILETIME of 1970-01-01 (100 ns ticks since 1601)
UNIX_EPOCH_FILETIME = 116444736000000000
#: the last FILETIME a timestamp column takes (9999-12-31); later values are not dates
MAX_FILETIME = 2650467743999999999
_EPOCH = datetime.datetime(1970, 1, 1)


class BatchColumn(NamedTuple):
    name: str
    kind: str
    meaning: str


SUMMARY_COLUMNS = [
    BatchColumn("dump_id", "int64", "row number of the dump in the output (0, 1, ... in input order); "
                "records.dump_id refers to it"),
    BatchColumn("path", "string", "absolute path of the dump file"),
    BatchColumn("file_size", "int64", "size of the file in bytes"),
    BatchColumn("sha256", "string", "SHA-256 (hex) of the file, or of its head and tail for large files "
                "(see sha256_scope); --resume skips dumps whose sha256 is already in the output"),
    BatchColumn("sha256_scope", "string", "'file': the whole file (as sha256sum prints it); 'head+tail': "
                "files over 32 MiB, the first 1 MiB (headers) + the last 16 MiB (secondary data) + the size"),
    BatchColumn("dump_type", "string", "full, bitmap-full, bitmap-kernel or triage"),
    BatchColumn("arch", "string", "x64, x86 or arm64"),
    BatchColumn("build", "int32", "Windows build number (the header's MinorVersion)"),
    BatchColumn("bugcheck_code", "int64", "bug check code"),
    BatchColumn("bugcheck_p1", "uint64", "bug check parameter 1"),
    BatchColumn("bugcheck_p2", "uint64", "bug check parameter 2"),
    BatchColumn("bugcheck_p3", "uint64", "bug check parameter 3"),
    BatchColumn("bugcheck_p4", "uint64", "bug check parameter 4"),
    BatchColumn("crash_time", "timestamp", "the header's SystemTime (UTC); null when it is not a date"),
    BatchColumn("dmf_present", "bool", "the dump holds DMF CrashDump data (the module or its blobs)"),
    BatchColumn("drivers", "list<string>", "driver module(s) whose DMF_CrashDump was found through symbols"),
    BatchColumn("dmf_version", "string", "DMF version of the driver (from its symbols)"),
    BatchColumn("context_version", "string", "layout of the CrashDump module context (V1, V3, V4, V5)"),
    BatchColumn("symbols", "string", "symbol file used: --isf, --pdb, driver.isf.json beside the dump, or the "
                "PDB found on the symbol path"),
    BatchColumn("symbols_id", "string", "identity of that symbol file, which build of the driver crashed: "
                "'isf:' + the first 16 hex digits of its SHA-256, or 'pdb:' + the PDB's GUID and age"),
    BatchColumn("blobs", "int32", "secondary-data blobs in the dump (DMF or not)"),
    BatchColumn("sources", "int32", "DMF data sources: the CrashDump module's (SELF included), or without "
                "symbols the blobs that carry a DMF ring signature"),
    BatchColumn("records", "int64", "records written to records.* for this dump"),
    BatchColumn("truncated_sources", "list<string>", "GUIDs of sources whose blob was cut short "
                "(MaximumAllowed or a truncated file)"),
    BatchColumn("orphaned_sources", "list<string>", "GUIDs of sources whose writer went away without "
                "destroying them"),
    BatchColumn("warnings", "list<string>", "what the reading noticed (one line each)"),
    BatchColumn("error", "string", "why the dump could not be read (null when it was)"),
    BatchColumn("error_kind", "string", "input, symbols, format, options, memory, timeout, worker-died or "
                "internal (null when there is no error)"),
]

RECORD_COLUMNS = [
    BatchColumn("dump_id", "int64", "the dump (summary.dump_id)"),
    BatchColumn("guid", "string", "GUID of the data source (lower case, no braces)"),
    BatchColumn("role", "string", "SELF, aux, or null when no symbols say"),
    BatchColumn("source_index", "int32", "slot of the data source in the CrashDump module (null without "
                "symbols)"),
    BatchColumn("index", "int64", "position of the record in its source, oldest first (0 = oldest)"),
    BatchColumn("partial", "bool", "the record was cut short by a truncated blob"),
    BatchColumn("decoder", "string", "hex, the --type (MODULE!TYPE) or the --schema (FILE.py:NAME) used"),
    BatchColumn("fields", "string", "decoded fields as a JSON object (ints as ints; an enum field F adds "
                "F_name, a FILETIME field F adds F_utc); {} when not decoded"),
    BatchColumn("hex", "string", "the record's bytes in hex"),
]

TABLES = {"summary": SUMMARY_COLUMNS, "records": RECORD_COLUMNS}


def empty_summary() -> Dict[str, Any]:
    """A summary row with every column present and nothing known yet."""
    row = {c.name: None for c in SUMMARY_COLUMNS}
    for column in SUMMARY_COLUMNS:
        if column.kind == "list<string>":
            row[column.name] = []
    return row


def filetime_micros(filetime: Optional[int]) -> Optional[int]:
    """A FILETIME as microseconds since 1970 (what a timestamp[us] column holds); None when it is not a
    date (0, the PAGE fill, past 9999)."""
    if not isinstance(filetime, int) or filetime <= 0 or filetime > MAX_FILETIME:
        return None
    return (filetime - UNIX_EPOCH_FILETIME) // 10


def filetime_iso(filetime: Optional[int]) -> Optional[str]:
    micros = filetime_micros(filetime)
    if micros is None:
        return None
    when = _EPOCH + datetime.timedelta(microseconds=micros)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_row(columns: List[BatchColumn], row: Dict[str, Any]) -> Dict[str, Any]:
    """A row as JSON Lines writes it: the columns in order, timestamps as ISO-8601 text."""
    out = {}
    for column in columns:
        value = row.get(column.name)
        if column.kind == "timestamp":
            value = filetime_iso(value)
        out[column.name] = value
    return out


def arrow_type(kind: str):
    import pyarrow

    return {"int32": pyarrow.int32(), "int64": pyarrow.int64(), "uint64": pyarrow.uint64(),
            "string": pyarrow.string(), "bool": pyarrow.bool_(),
            "timestamp": pyarrow.timestamp("us", tz="UTC"),
            "list<string>": pyarrow.list_(pyarrow.string())}[kind]


def arrow_schema(table: str, metadata: Optional[Dict[str, str]] = None):
    import pyarrow

    fields = [pyarrow.field(c.name, arrow_type(c.kind)) for c in TABLES[table]]
    return pyarrow.schema(fields, metadata=metadata)


def arrow_table(table: str, rows: List[Dict[str, Any]], schema):
    """Rows (timestamps still FILETIMEs) as a pyarrow Table of the table's schema."""
    import pyarrow

    columns = TABLES[table]
    arrays = []
    for column in columns:
        values = [row.get(column.name) for row in rows]
        if column.kind == "timestamp":
            values = [filetime_micros(v) for v in values]
        arrays.append(pyarrow.array(values, type=arrow_type(column.kind)))
    return pyarrow.Table.from_arrays(arrays, schema=schema)


def schema_markdown(table: str) -> str:
    """README's table of one schema (kept in sync by a test)."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    for column in TABLES[table]:
        lines.append("| `%s` | %s | %s |" % (column.name, column.kind, column.meaning))
    return "\n".join(lines)
