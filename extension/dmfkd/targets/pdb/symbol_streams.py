"""Symbol records: the global symbol record stream (globals and publics share it) and the module
symbol streams (one per object file).

What a reader needs from them, as plain tuples:
- data: S_GDATA32 / S_LDATA32 (a file static such as DMF's ``g_DmfModuleCrashDump`` is an S_LDATA32;
  its module stream always has it; MSVC's and lld-link 14's linkers also copy it into the globals,
  which a PDB need not have);
- functions: S_GPROC32 / S_LPROC32 at module scope, and S_PROCREF / S_LPROCREF in the globals,
  which point at them;
- publics: S_PUB32 (linker names, decorated on x86);
- typedefs: S_UDT (name -> type index).

Each record is u16 length (not counting itself), u16 kind, payload; a length that runs past the
stream is a FormatError. Inside a module stream, symbols nested in a procedure (locals, labels,
function statics) are skipped: a procedure's record says where its scope ends, and a scope that
says nothing sensible is walked record by record with a depth count.
"""
import struct
from typing import Callable, Iterator, NamedTuple, Optional, Tuple

from dmfkd.errors import FormatError
from dmfkd.targets.pdb.codeview import RecordOverrun, name_at, u16, u32

S_END = 0x0006
S_UDT_ST = 0x1003
S_LDATA32_ST = 0x1007
S_GDATA32_ST = 0x1008
S_PUB32_ST = 0x1009
S_LPROC32_ST = 0x100A
S_GPROC32_ST = 0x100B
S_THUNK32 = 0x1102
S_BLOCK32 = 0x1103
S_WITH32 = 0x1104
S_CONSTANT = 0x1107
S_UDT = 0x1108
S_LDATA32 = 0x110C
S_GDATA32 = 0x110D
S_PUB32 = 0x110E
S_LPROC32 = 0x110F
S_GPROC32 = 0x1110
S_LMANDATA = 0x111C
S_GMANDATA = 0x111D
S_PROCREF = 0x1125
S_LPROCREF = 0x1127
S_SEPCODE = 0x1132
S_LPROC32_ID = 0x1146
S_GPROC32_ID = 0x1147
S_INLINESITE = 0x114D
S_INLINESITE_END = 0x114E
S_PROC_ID_END = 0x114F
S_LPROC32_DPC = 0x1155
S_LPROC32_DPC_ID = 0x1156
S_INLINESITE2 = 0x115D

DATA_KINDS = frozenset([S_LDATA32, S_GDATA32, S_LMANDATA, S_GMANDATA, S_LDATA32_ST, S_GDATA32_ST])
PROC_KINDS = frozenset([S_LPROC32, S_GPROC32, S_LPROC32_ID, S_GPROC32_ID, S_LPROC32_DPC, S_LPROC32_DPC_ID,
                        S_LPROC32_ST, S_GPROC32_ST])
SCOPE_OPENERS = PROC_KINDS | frozenset([S_THUNK32, S_BLOCK32, S_WITH32, S_SEPCODE, S_INLINESITE, S_INLINESITE2])
SCOPE_CLOSERS = frozenset([S_END, S_PROC_ID_END, S_INLINESITE_END])
_PASCAL = frozenset([S_UDT_ST, S_LDATA32_ST, S_GDATA32_ST, S_PUB32_ST, S_LPROC32_ST, S_GPROC32_ST])
_HEADER = struct.Struct("<HH")


class SymbolRecord(NamedTuple):
    """One symbol a reader keeps. `section` is 1-based (0: none); `type_index` 0 when unknown."""

    kind: str                   # "data", "function", "public", "typedef", "procref"
    name: str
    section: int
    offset: int
    type_index: int
    module: int                 # procref: 1-based module number; else the module it came from (0: globals)
    static: bool                # S_LDATA32 / S_LPROC32 / S_LPROCREF: file scope


def _records(data: bytes, start: int, stop: int, error: Callable[[str, int], FormatError]
             ) -> Iterator[Tuple[int, int, int, int]]:
    """(kind, payload start, record end, record start) of each record in [start, stop)."""
    pos = start
    header = _HEADER.unpack_from
    while pos < stop:
        if pos + 4 > stop:
            if pos + 2 <= stop and data[pos:pos + 2] == b"\0\0":
                return          # zero padding at the end of a stream
            raise error("symbol record header cut short", pos)
        length, kind = header(data, pos)
        if length < 2 or pos + 2 + length > stop:
            raise error("symbol record (kind 0x%04x) length %d runs past the stream" % (kind, length), pos)
        yield kind, pos + 4, pos + 2 + length, pos
        pos += 2 + length


def _decode(kind: int, data: bytes, pos: int, end: int, module: int) -> Optional[SymbolRecord]:
    pascal = kind in _PASCAL
    if kind in DATA_KINDS:
        type_index = u32(data, pos, end)
        offset = u32(data, pos + 4, end)
        section = u16(data, pos + 8, end)
        name, _ = name_at(data, pos + 10, end, pascal)
        return SymbolRecord("data", name, section, offset, type_index, module,
                            kind in (S_LDATA32, S_LMANDATA, S_LDATA32_ST))
    if kind in PROC_KINDS:
        type_index = u32(data, pos + 24, end)
        offset = u32(data, pos + 28, end)
        section = u16(data, pos + 32, end)
        name, _ = name_at(data, pos + 35, end, pascal)
        return SymbolRecord("function", name, section, offset, type_index, module,
                            kind in (S_LPROC32, S_LPROC32_ID, S_LPROC32_DPC, S_LPROC32_DPC_ID, S_LPROC32_ST))
    if kind in (S_PUB32, S_PUB32_ST):
        offset = u32(data, pos + 4, end)
        section = u16(data, pos + 8, end)
        name, _ = name_at(data, pos + 10, end, pascal)
        return SymbolRecord("public", name, section, offset, 0, module, False)
    if kind in (S_UDT, S_UDT_ST):
        type_index = u32(data, pos, end)
        name, _ = name_at(data, pos + 4, end, pascal)
        return SymbolRecord("typedef", name, 0, 0, type_index, module, False)
    if kind in (S_PROCREF, S_LPROCREF):
        symbol_offset = u32(data, pos + 4, end)
        referenced_module = u16(data, pos + 8, end)
        name, _ = name_at(data, pos + 10, end, pascal)
        return SymbolRecord("procref", name, 0, symbol_offset, 0, referenced_module, kind == S_LPROCREF)
    return None


# where the name starts (from the record's length field) for the kinds the global index keeps
_NAME_AT = {S_LDATA32: ("data", 14), S_GDATA32: ("data", 14), S_LMANDATA: ("data", 14), S_GMANDATA: ("data", 14),
            S_PUB32: ("public", 14), S_PROCREF: ("procref", 14), S_LPROCREF: ("procref", 14), S_UDT: ("typedef", 8)}
_SLOW_KINDS = {S_LDATA32_ST: "data", S_GDATA32_ST: "data", S_PUB32_ST: "public", S_UDT_ST: "typedef"}
# the old records with length-prefixed names: where the length byte is
_PASCAL_NAME_AT = {S_LDATA32_ST: ("data", 14), S_GDATA32_ST: ("data", 14), S_PUB32_ST: ("public", 14),
                   S_UDT_ST: ("typedef", 8)}


class GlobalIndex:
    """The symbol record stream (globals and publics) by name, per kind ("data", "public",
    "procref", "typedef"). A single name is found with a C-speed search for its bytes, each hit
    checked against the record header in front of it, so a lookup reads no other record; the full
    index (every record's header and name, one pass) is built only when all names are wanted.
    The first record of a name wins within a kind."""

    def __init__(self, data: bytes, error: Callable[[str, int], FormatError]):
        self._data = data
        self._error = error
        self._tables = None  # type: Optional[dict]
        self._found = {}  # type: dict

    @property
    def tables(self) -> dict:
        if self._tables is None:
            self._tables = self._build()
        return self._tables

    def _build(self) -> dict:
        data = self._data
        error = self._error
        tables = {"data": {}, "public": {}, "procref": {}, "typedef": {}}
        header = _HEADER.unpack_from
        find = data.find
        pos = 0
        stop = len(data)
        while pos < stop:
            if pos + 4 > stop:
                if data[pos:stop] == bytes(stop - pos):
                    break           # zero padding at the end of the stream
                raise error("symbol record header cut short", pos)
            length, kind = header(data, pos)
            end = pos + 2 + length
            if length < 2 or end > stop:
                raise error("symbol record (kind 0x%04x) length %d runs past the stream" % (kind, length), pos)
            where = _NAME_AT.get(kind)
            if where is not None and pos + where[1] <= end:
                table = tables[where[0]]
                start = pos + where[1]
                nul = find(b"\0", start, end)
                name = data[start:nul if nul >= 0 else end]
                if name not in table:
                    table[name] = pos
            elif kind in _SLOW_KINDS or where is not None:
                record = self._decode_at(pos)
                if record is not None:
                    tables[record.kind].setdefault(record.name.encode("utf-8", "surrogatepass"), pos)
            pos = end
        return tables

    def _decode_at(self, pos: int) -> Optional[SymbolRecord]:
        length, kind = _HEADER.unpack_from(self._data, pos)
        try:
            return _decode(kind, self._data, pos + 4, pos + 2 + length, 0)
        except RecordOverrun as exc:
            raise self._error("symbol record (kind 0x%04x) cut short" % kind, exc.position)

    def _search(self, kind: str, name: bytes) -> Optional[int]:
        """Where the first `kind` record called `name` starts, found by searching for the name."""
        data = self._data
        hits = []
        needles = [(name + b"\0", _NAME_AT)]
        if len(name) < 256:
            needles.append((bytes([len(name)]) + name, _PASCAL_NAME_AT))
        for needle, layouts in needles:
            pos = data.find(needle)
            while pos >= 0:
                for record_kind, (table, skip) in layouts.items():
                    start = pos - skip
                    if table != kind or start < 0:
                        continue
                    length, found_kind = _HEADER.unpack_from(data, start)
                    if found_kind == record_kind and pos + len(needle) <= start + 2 + length <= len(data):
                        hits.append(start)
                        break
                else:
                    pos = data.find(needle, pos + 1)
                    continue
                break
        return min(hits) if hits else None

    def get(self, kind: str, name: str) -> Optional[SymbolRecord]:
        key = name.encode("utf-8", "surrogatepass")
        if self._tables is not None:
            pos = self._tables[kind].get(key)
        elif (kind, key) in self._found:
            pos = self._found[(kind, key)]
        else:
            pos = self._found[(kind, key)] = self._search(kind, key)
        return None if pos is None else self._decode_at(pos)

    def records(self, kind: str) -> Iterator[SymbolRecord]:
        for pos in self.tables[kind].values():
            record = self._decode_at(pos)
            if record is not None:
                yield record


def global_symbols(data: bytes, error: Callable[[str, int], FormatError]) -> Iterator[SymbolRecord]:
    """Every data, function reference, public and typedef record of the symbol record stream."""
    for kind, pos, end, start in _records(data, 0, len(data), error):
        try:
            record = _decode(kind, data, pos, end, 0)
        except RecordOverrun as exc:
            raise error("symbol record (kind 0x%04x) cut short" % kind, exc.position)
        if record is not None:
            yield record


def module_symbols(data: bytes, symbol_bytes: int, module: int, error: Callable[[str, int], FormatError]
                   ) -> Iterator[SymbolRecord]:
    """Data and procedures at module scope of one module symbol stream (module is 1-based)."""
    stop = min(symbol_bytes, len(data))
    header = _HEADER.unpack_from
    depth = 0
    pos = 4
    while pos < stop:
        if pos + 4 > stop:
            if data[pos:stop] == bytes(stop - pos):
                return          # zero padding at the end of the symbols
            raise error("symbol record header cut short", pos)
        length, kind = header(data, pos)
        end = pos + 2 + length
        if length < 2 or end > stop:
            raise error("symbol record (kind 0x%04x) length %d runs past the stream" % (kind, length), pos)
        next_pos = end
        if depth == 0 and (kind in DATA_KINDS or kind in PROC_KINDS):
            try:
                record = _decode(kind, data, pos + 4, end, module)
            except RecordOverrun as exc:
                raise error("symbol record (kind 0x%04x) cut short" % kind, exc.position)
            yield record
        if kind in SCOPE_OPENERS:
            scope_end = u32(data, pos + 8, end) if pos + 12 <= end else 0
            # jump over the whole scope when its end names a closing record further on (the
            # procedure's locals, labels and statics are not module-scope symbols); else count depth
            if depth == 0 and end <= scope_end <= stop - 4 and header(data, scope_end)[1] in SCOPE_CLOSERS:
                closer_length = header(data, scope_end)[0]
                if scope_end + 2 + closer_length <= stop:
                    next_pos = scope_end + 2 + closer_length
                else:
                    depth += 1
            else:
                depth += 1
        elif kind in SCOPE_CLOSERS:
            depth = max(0, depth - 1)
        pos = next_pos


def record_at(data: bytes, offset: int, module: int, error: Callable[[str, int], FormatError]
              ) -> Optional[SymbolRecord]:
    """The symbol record at `offset` of a module stream (what an S_PROCREF points at)."""
    if not 4 <= offset <= len(data) - 4:
        return None
    length, kind = _HEADER.unpack_from(data, offset)
    if length < 2 or offset + 2 + length > len(data):
        raise error("symbol record (kind 0x%04x) length %d runs past the stream" % (kind, length), offset)
    try:
        return _decode(kind, data, offset + 4, offset + 2 + length, module)
    except RecordOverrun as exc:
        raise error("symbol record (kind 0x%04x) cut short" % kind, exc.position)


def undecorate_x86(name: str) -> Optional[str]:
    """The C name behind an x86 public: "_name" (cdecl), "_name@8" (stdcall), "@name@8" (fastcall)."""
    if name.startswith("@") and name.count("@") == 2:
        base, _, digits = name[1:].rpartition("@")
        return base if digits.isdigit() and base else None
    if name.startswith("_") and len(name) > 1 and not name.startswith("__imp_"):
        base, at, digits = name[1:].rpartition("@")
        if at and digits.isdigit() and base:
            return base
        return name[1:]
    return None

