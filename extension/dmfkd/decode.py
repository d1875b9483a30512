"""Record decoders: what the bytes of one ring record mean.

* default: hex (+ ASCII in the table view);
* ``--type mydriver!MY_EVENT``: a type from the target's Symbols (``type_layout`` - an ISF file
  offline, the PDB through pykd in WinDbg). Both hosts give field offsets and C type names; the
  fields are decoded here from the record bytes, so WinDbg and a dump file share one decoder;
* ``--schema file.py:NAME``: a construct ``Struct`` defined in a user's Python file.

``records_jsonl`` is the fast path for the default decoder: one ``bytes.hex`` over all records and
no per-record dict (1,000,000 records per second class, scripts/bench_decode.py).
"""
import binascii
import gc
import json
import os
import re
import struct
import uuid
from typing import Any, Dict, List, Optional, Tuple

from dmfkd import user_code
from dmfkd.errors import SymbolError, UsageError
from dmfkd.render.cells import EnumValue, FileTime, Hex

_PRINTABLE = bytes(c if 32 <= c < 127 else 46 for c in range(256))


def ascii_text(data: bytes) -> str:
    """Printable ASCII with '.' for everything else (hexdump convention)."""
    return bytes(data).translate(_PRINTABLE).decode("ascii")


class RecordDecoder:
    """Default decoder: no fields beyond index/hex (the table adds an ASCII column)."""

    name = "hex"
    #: extra field names, in order (for table/CSV columns)
    columns = []  # type: List[str]
    #: the record size the decoder expects (None: any)
    size = None  # type: Optional[int]

    def fields(self, data: bytes) -> Dict[str, Any]:
        return {}

    def decode(self, data: bytes, index: Optional[int] = None) -> Dict[str, Any]:
        """fields(data) of record `index` (a decoder running user code names the record in its errors)."""
        return self.fields(data)


# -- C types from Symbols.type_layout --------------------------------------------------------------

# C / Windows spellings of integral base types -> signed?
_SIGNED = {"char", "signed char", "short", "int", "long", "long long", "__int64", "__int32", "__int16",
           "__int8", "short int", "long int", "long long int", "signed", "signed int", "signed short",
           "signed long", "CHAR", "SHORT", "INT", "LONG", "LONG64", "LONGLONG", "INT64", "INT32", "INT16",
           "INT8", "NTSTATUS", "HRESULT", "int8_t", "int16_t", "int32_t", "int64_t",
           # pykd's spellings of PDB base types (typeInfo(...).name())
           "Int1B", "Int2B", "Int4B", "Int8B", "Long", "Char"}
_FLOAT = {"float", "double", "FLOAT", "DOUBLE", "Float", "Double"}
_CHAR_ELEMENTS = {"char", "CHAR", "signed char", "Char"}
_WCHAR_ELEMENTS = {"wchar_t", "WCHAR", "unsigned short", "wchar", "WChar"}
_BOOL = {"bool", "BOOLEAN", "_Bool", "Bool"}
_ARRAY_RE = re.compile(r"^(.*)\[(\d+)\]$")
_MAX_DEPTH = 4
#: types that are a FILETIME whatever the field is called
_TIME_TYPES = {"FILETIME", "_FILETIME", "LARGE_INTEGER", "_LARGE_INTEGER"}
#: field names read as a FILETIME when they hold a plausible date: Timestamp, TimeStamp, Time,
#: CreateTime, SystemTime, EventTime, ... (not TimeoutMs, not Timer)
_TIME_NAME = re.compile(r"(^|[a-z_])(time|timestamp|timestamps)$", re.IGNORECASE)
#: FILETIMEs of 1980-01-01 .. 2100-01-01: a 64-bit count outside this is not a wall-clock time
FILETIME_PLAUSIBLE = (119600064000000000, 157766880000000000)


def looks_like_time_field(name: str) -> bool:
    return bool(_TIME_NAME.search(name))


def as_filetime(value: int, chosen: bool = False):
    """A FileTime cell for a plausible date (or any value of a field the user named with --time-field);
    the plain integer otherwise - a counter called "Time" is not turned into a date in 1601."""
    if chosen or FILETIME_PLAUSIBLE[0] <= value <= FILETIME_PLAUSIBLE[1]:
        return FileTime(value)
    return value


def _int(data: bytes, signed: bool) -> int:
    return int.from_bytes(data, "little", signed=signed)


class TypeDecoder(RecordDecoder):
    """Overlay a type from the target's symbols on each record (pykd's typedVar over a byte list,
    done from field offsets so a dump file and WinDbg decode identically). Enum fields come out as
    EnumValue (value and name), time fields as FileTime, pointers as Hex, bitfields as their bits."""

    def __init__(self, symbols, type_name: str, time_fields=()):
        if symbols is None:
            raise UsageError("--type %s needs symbols (the driver's PDB with --symbols PATH or --pdb FILE, an ISF "
                             "file with --isf, or the debugger's PDB)" % type_name)
        self.symbols = symbols
        self.name = type_name
        self.layout = symbols.type_layout(type_name)
        self.size = self.layout.size
        self.columns = [f.name for f in sorted(self.layout.fields.values(), key=lambda f: f.offset)]
        self.time_fields = set(time_fields)
        self._nested = {}  # type: Dict[str, Any]
        self._enums = {}  # type: Dict[str, Any]

    def fields(self, data: bytes) -> Dict[str, Any]:
        return self._decode_layout(self.layout, data, 0, 0)

    def _decode_layout(self, layout, data: bytes, base: int, depth: int) -> Dict[str, Any]:
        out = {}
        for fld in sorted(layout.fields.values(), key=lambda f: f.offset):
            value = self._decode_field(fld.type_name, fld.size, data, base + fld.offset, depth, fld)
            if fld.enum and isinstance(value, int) and not isinstance(value, bool):
                value = EnumValue(value, self._enum_name(fld.enum, value))
            elif isinstance(value, int) and not isinstance(value, bool) and fld.size == 8 and \
                    (fld.name in self.time_fields or (depth == 0 and looks_like_time_field(fld.name))):
                value = as_filetime(value, fld.name in self.time_fields)
            out[fld.name] = value
        return out

    def _enum_name(self, enum: str, value: int) -> Optional[str]:
        if enum not in self._enums:
            # the enum lives in the module of the type being decoded: say so (a debugger would
            # otherwise search every loaded module for the name)
            module = self.name.split("!", 1)[0] if "!" in self.name and "!" not in enum else None
            try:
                self._enums[enum] = self.symbols.enum_type("%s!%s" % (module, enum) if module else enum)
            except (SymbolError, NotImplementedError, AttributeError):
                self._enums[enum] = None
        known = self._enums[enum]
        return known.name_of(value) if known is not None else None

    def _decode_field(self, type_name: str, size: Optional[int], data: bytes, offset: int, depth: int, fld=None):
        t = type_name.strip()
        if not size:
            return None  # a function, an incomplete type: no bytes to show
        chunk = data[offset:offset + size]
        if len(chunk) < size:
            return None  # field runs past a partial record
        if t.find(" : ") >= 0 or (fld is not None and fld.bit_length):
            unit = _int(chunk, False)
            if fld is not None and fld.bit_position is not None and fld.bit_length:
                return (unit >> fld.bit_position) & ((1 << fld.bit_length) - 1)
            return unit  # no bit position known: the whole storage unit
        if fld is not None and fld.enum and size in (1, 2, 4, 8):
            return _int(chunk, True)   # C enums are signed ints; the caller names the value
        if t.endswith("*"):
            return Hex(_int(chunk, False))
        if t in _TIME_TYPES and size == 8:
            return as_filetime(_int(chunk, True), True)
        m = _ARRAY_RE.match(t)
        if m:
            element, count = m.group(1).strip(), int(m.group(2))
            if element in _CHAR_ELEMENTS:
                return chunk.split(b"\0", 1)[0].decode("latin-1")
            if element in _WCHAR_ELEMENTS and len(chunk) % 2 == 0:
                text = chunk.decode("utf-16-le", "replace")
                return text.split("\0", 1)[0]
            esize = size // count if count else 0
            if esize in (1, 2, 4, 8) and count <= 64 and not element.endswith("*"):
                signed = element in _SIGNED
                return [_int(chunk[i:i + esize], signed) for i in range(0, size, esize)]
            return chunk.hex()
        if t in _FLOAT and size in (4, 8):
            # the symbols' size decides, not the spelling: an ISF may call an 8-byte type "float"
            return struct.unpack("<f" if size == 4 else "<d", chunk)[0]
        if t in ("_GUID", "GUID") and size == 16:
            return str(uuid.UUID(bytes_le=bytes(chunk)))
        if t in _BOOL and size == 1:
            return bool(chunk[0])
        if size in (1, 2, 4, 8):
            try:
                nested = self._layout_of(t) if depth < _MAX_DEPTH else None
            except SymbolError:
                nested = None
            if nested is None or not nested.fields:
                return _int(chunk, t in _SIGNED)
        if depth < _MAX_DEPTH:
            try:
                nested = self._layout_of(t)
            except SymbolError:
                nested = None
            if nested is not None and nested.fields:
                return self._decode_layout(nested, data, offset, depth + 1)
        return chunk.hex()

    def _layout_of(self, type_name: str):
        if type_name not in self._nested:
            try:
                self._nested[type_name] = self.symbols.type_layout(type_name)
            except SymbolError:
                self._nested[type_name] = None
        return self._nested[type_name]


# -- construct schema from a user file -------------------------------------------------------------

class SchemaDecoder(RecordDecoder):
    """``--schema FILE.py:NAME``: NAME is a construct Struct in FILE.py, which is run once as Python code.

    FILE.py is user code, run under dmfkd.user_code's guard: whatever it raises while loading or
    decoding (SystemExit included; not Ctrl-C) is a one-line SchemaError naming the file, the schema
    and the record index; a loop at import or in a record is cut after a time limit. A record the
    construct does not fit (construct's own ConstructError: too short, a failed Check) is not an
    error of the schema but a fact about the record: it becomes a `decode_error` value on the row."""

    def __init__(self, spec: str, time_fields=()):
        self.time_fields = set(time_fields)
        path, sep, name = spec.rpartition(":")
        if not sep or not path or not name:
            raise UsageError("--schema expects FILE.py:NAME (got %r)" % spec)
        self.spec = spec
        loaded = user_code.load_schema(path, name, spec)
        self.struct = loaded.struct
        self.name = "%s:%s" % (os.path.basename(path), name)
        self.size = loaded.size
        self.columns = loaded.columns
        self._watchdog = user_code.Watchdog(user_code.RECORD_SECONDS)
        try:
            from construct import ConstructError
        except ImportError:  # pragma: no cover - construct is a runtime dependency
            ConstructError = ()
        self._data_errors = ConstructError

    def decode(self, data: bytes, index: Optional[int] = None) -> Dict[str, Any]:
        where = "" if index is None else "record %d: " % index
        dog = self._watchdog
        dog.arm()
        try:
            try:
                plain, error = self._parse(data, where)
                # what construct returns (and an exception's traceback) is cyclic: free this record's objects
                # now - still under the guard, a finaliser is user code too - not when a full collection comes
                # (1 us a record; a schema building large values would otherwise keep every record's)
                gc.collect(0)
            finally:
                late = dog.disarm()
        except user_code.UserCodeTimeout:
            dog.disarm()
            raise self._timeout(where)
        except BaseException:  # Ctrl-C: the watchdog stays quiet for whatever runs next
            dog.disarm()
            raise
        if late:
            raise self._timeout(where)
        if error is not None:
            raise error
        return self._times(plain)

    def _parse(self, data: bytes, where: str):
        """(fields, None), or (None, SchemaError) for what the schema raised - returned, not raised, so no
        traceback keeps the record's objects alive. Everything here may run user code: the parse, the
        conversion of what it returned, even the text of an exception."""
        try:
            plain = user_code.plain_result(self.struct.parse(bytes(data)), len(data))
            return (plain if isinstance(plain, dict) else {"value": plain}), None
        except (user_code.UserCodeTimeout, KeyboardInterrupt):
            raise
        except MemoryError:
            # a resource limit rather than the schema's bug (a batch worker's limit makes it a `memory` row)
            return None, user_code.SchemaOutOfMemory("--schema %s: %sdecoding ran out of memory (MemoryError)"
                                                     % (self.spec, where))
        except self._data_errors as exc:
            return {"decode_error": user_code.describe(exc)}, None
        except BaseException as exc:  # noqa: B902 - user code: SystemExit, RecursionError, anything
            text = user_code.describe(exc)
        return None, user_code.SchemaError("--schema %s: %sdecoding raised %s" % (self.spec, where, text))

    def fields(self, data: bytes) -> Dict[str, Any]:
        return self.decode(data)

    def _timeout(self, where: str):
        return user_code.SchemaError("--schema %s: %sdecoding took longer than %g s (a loop in the schema?)"
                                     % (self.spec, where, self._watchdog.seconds))

    def _times(self, plain: Dict[str, Any]) -> Dict[str, Any]:
        """A top-level integer field named like a time (or given with --time-field) as a FileTime."""
        for key, value in plain.items():
            if isinstance(value, int) and not isinstance(value, (bool, EnumValue)) and \
                    (key in self.time_fields or looks_like_time_field(key)):
                plain[key] = as_filetime(value, key in self.time_fields)
        return plain


def make_decoder(type_name: Optional[str] = None, schema: Optional[str] = None, symbols=None) -> RecordDecoder:
    if type_name and schema:
        raise UsageError("--type and --schema are exclusive")
    if type_name:
        return TypeDecoder(symbols, type_name)
    if schema:
        return SchemaDecoder(schema)
    return RecordDecoder()


# -- bulk conversion -------------------------------------------------------------------------------

def record_dicts(ring, decoder: Optional[RecordDecoder] = None, indexes=None, guid: Optional[str] = None,
                 ascii_column: bool = False) -> List[Dict[str, Any]]:
    """JSON-ready dicts {index, [guid], hex, [partial], [ascii], ...fields} for the chosen records."""
    decoder = decoder or RecordDecoder()
    s = ring.entry_size
    data = ring.data
    if indexes is None:
        indexes = range(ring.count)
    plain = type(decoder) is RecordDecoder
    out = []
    for i in indexes:
        rec = data[i * s:(i + 1) * s]
        row = {"index": i}
        if guid is not None:
            row["guid"] = guid
        row["hex"] = rec.hex()
        if ring.is_partial(i):
            row["partial"] = True
        if ascii_column:
            row["ascii"] = ascii_text(rec)
        if not plain:
            row.update(decoder.decode(rec, i))
        out.append(row)
    return out


def _digit_columns(first: int, n: int, width: int) -> List[bytes]:
    """Column k (most significant first) of the right-aligned decimal numbers first..first+n-1, with
    spaces for leading zeros: digit patterns repeat with period 10*place, so each column is a slice of
    a repeated block - no per-number work."""
    cols = []
    for k in range(width):
        place = 10 ** (width - 1 - k)
        block = b"".join(bytes([48 + d]) * place for d in range(10))
        offset = (first // place) % 10 * place + first % place
        col = bytearray((block * ((offset + n) // len(block) + 1))[offset:offset + n])
        if place > 1 and first < place:
            lead = min(n, place - first)
            col[0:lead] = b" " * lead
        cols.append(bytes(col))
    return cols


def records_jsonl_bytes(ring, first: int = 0, count: Optional[int] = None) -> bytearray:
    """JSONL of records [first, first+count) with the default decoder, one {"index":i,"hex":"..."} per
    line. Built without a per-record Python object: one hexlify with a separator byte between records,
    one replace that turns each separator into the line frame, and the index digits written column by
    column. The index is right-aligned with spaces (insignificant JSON whitespace) so every line has the
    same width; a partial last record gets a json.dumps line with "partial": true."""
    end = ring.count if count is None else min(ring.count, first + count)
    out = bytearray()
    if end <= first:
        return out
    s = ring.entry_size
    full_end = end
    tail = b""
    if ring.partial_size is not None and end == ring.count:
        full_end = end - 1
        tail = (json.dumps({"index": full_end, "hex": ring.data[full_end * s:full_end * s + ring.partial_size].hex(),
                            "partial": True}, separators=(",", ":")) + "\n").encode("ascii")
    n = full_end - first
    if n > 0:
        width = len(str(full_end - 1))
        head = b'{"index":'
        pre = head + b" " * width + b',"hex":"'
        hexed = binascii.hexlify(memoryview(ring.data)[first * s:full_end * s], b"\0", s)
        out += pre
        out += hexed.replace(b"\0", b'"}\n' + pre)
        out += b'"}\n'
        line = len(pre) + 2 * s + 3
        for k, col in enumerate(_digit_columns(first, n, width)):
            out[len(head) + k::line] = col
    out += tail
    return out


def records_jsonl(ring, first: int = 0, count: Optional[int] = None) -> str:
    """records_jsonl_bytes as text."""
    return records_jsonl_bytes(ring, first, count).decode("ascii")


def grep_records(ring, text: str, decoder: Optional[RecordDecoder] = None) -> List[int]:
    """Indexes of records whose bytes contain TEXT (ASCII, case-insensitive), whose hex contains it,
    or (with a decoder) whose decoded field values contain it."""
    needle = text.lower()
    needle_bytes = needle.encode("latin-1", "ignore")
    s = ring.entry_size
    data = ring.data
    plain = decoder is None or type(decoder) is RecordDecoder
    hits = []
    for i in range(ring.count):
        rec = data[i * s:(i + 1) * s]
        if needle_bytes and needle_bytes in rec.lower():
            hits.append(i)
        elif needle in rec.hex():
            hits.append(i)
        elif not plain and needle in json.dumps(decoder.decode(rec, i), default=str).lower():
            hits.append(i)
    return hits


def parse_field_path(row: Dict[str, Any], path: str):
    """Value of FIELD or A.B in a decoded row (for --merge-by); None when absent."""
    value = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def merge_rows(sources: List[Tuple[str, List[Dict[str, Any]]]], field_name: str) -> List[Dict[str, Any]]:
    """Interleave several sources' records by a decoded field (stable: ties keep source order).
    Records without the field sort last, in source order."""
    keyed = []
    order = 0
    for guid, rows in sources:
        for row in rows:
            value = parse_field_path(row, field_name)
            merged = dict(row)
            merged["guid"] = guid
            if value is None or isinstance(value, (dict, list)):
                key = (2, 0, "", order)
            elif isinstance(value, (int, float)):
                key = (0, value, "", order)
            else:
                key = (1, 0, str(value), order)
            keyed.append((key, merged))
            order += 1
    keyed.sort(key=lambda kv: kv[0])
    return [row for _, row in keyed]
