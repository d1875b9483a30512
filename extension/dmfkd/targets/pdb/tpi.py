"""The TPI stream: type records, read lazily.

Opening indexes where each record starts (one ``struct`` pass over the record headers, no decoding);
a type is decoded only when asked for. The first lookup by name builds a name index of the
structure/class/union/enum records (their names only). Forward references (``fwdref`` records: a
pointer to a struct declared before it is defined) resolve to the definition by unique name, or by
name when the record has none.

Names are spelled as the ISF reader spells ISF descriptors, so the rest of dmfkd cannot tell the
sources apart: "unsigned long", "_LIST_ENTRY *", "unsigned char[16]", "unsigned long : 2",
"<function>", "<function> *". Modifiers (const, volatile) are dropped, as volatility3's pdbconv
drops them. An anonymous structure or union (``<unnamed-tag>``) is spelled "__unnamed_<type index>"
so that spelling resolves back to exactly that type.

Hostile input: a record running past the stream, a type index outside the table, a chain of
references deeper than MAX_DEPTH (a record that refers to itself) are FormatErrors; an unknown leaf
kind is not an error (it is named "<type 0x...>" and has no size).
"""
import bisect
import struct
from array import array
from typing import Dict, List, NamedTuple, Optional, Tuple

from dmfkd.errors import FormatError
from dmfkd.targets.pdb import codeview as cv
from dmfkd.targets.pdb.codeview import RecordOverrun, name_at, numeric, u16, u32

TPI_HEADER = struct.Struct("<IIIII HH IIiIiIiI")
TPI_VERSIONS = (19990903, 20040203)     # V70, V80: 32-bit type indexes
FIRST_TYPE_INDEX = 0x1000
MAX_DEPTH = 32                          # pointer to array of pointer to ...: deeper is a loop
MAX_FIELD_LISTS = 4096                  # LF_INDEX continuations followed for one type

_RECORD_KINDS = {cv.LF_CLASS: "class", cv.LF_STRUCTURE: "struct", cv.LF_INTERFACE: "interface",
                 cv.LF_CLASS_ST: "class", cv.LF_STRUCTURE_ST: "struct", cv.LF_CLASS2: "class",
                 cv.LF_STRUCTURE2: "struct", cv.LF_INTERFACE2: "interface",
                 cv.LF_UNION: "union", cv.LF_UNION_ST: "union", cv.LF_UNION2: "union"}
_ENUM_KINDS = (cv.LF_ENUM, cv.LF_ENUM_ST)
UDT_KINDS = frozenset(list(_RECORD_KINDS) + list(_ENUM_KINDS))
_ARRAY_KINDS = (cv.LF_ARRAY, cv.LF_ARRAY_ST, cv.LF_STRIDED_ARRAY)
_FUNCTION_KINDS = (cv.LF_PROCEDURE, cv.LF_MFUNCTION)
_POINTER_SIZES = {0x0A: 4, 0x0B: 6, 0x0C: 8, 0x00: 2, 0x01: 4, 0x02: 4}
# where the name starts (from the record's length field) in the usual UDT layouts, when the size
# numeric is a plain u16: struct/class after 4+16+2 bytes, union after 4+8+2, enum after 4+12
_INTEGER_LEAF_BYTES = {0x8000: 1, 0x8001: 2, 0x8002: 2, 0x8003: 4, 0x8004: 4, 0x8009: 8, 0x800A: 8}
_NAME_AFTER = {cv.LF_CLASS: 22, cv.LF_STRUCTURE: 22, cv.LF_INTERFACE: 22, cv.LF_UNION: 14, cv.LF_ENUM: 16}


class UdtRecord(NamedTuple):
    """The head of a struct/class/union/enum record."""

    kind: str                   # "struct", "class", "interface", "union" or "enum"
    name: str
    unique_name: Optional[str]
    size: Optional[int]         # bytes (None for an enum: its underlying type says)
    field_list: int             # type index of the LF_FIELDLIST (0: none)
    underlying: int             # an enum's underlying integer type (0 otherwise)
    forward: bool               # a forward reference: no fields, size 0


class Member(NamedTuple):
    name: str
    type_index: int
    offset: int


def is_anonymous(name: str) -> bool:
    last = name.rsplit("::", 1)[-1]
    return last.startswith("<") or last.startswith("__unnamed")


class TypeTable:
    """The type records of one PDB's TPI stream."""

    def __init__(self, data: bytes, source: str, file_offset=None):
        """`data`: the TPI stream; `file_offset(position)` maps a stream position to a file offset
        for error messages."""
        self.source = source
        self._file_offset = file_offset or (lambda position: None)
        self._data = data
        if len(data) < TPI_HEADER.size:
            raise self._error("TPI stream cut short (%d bytes, header is %d)" % (len(data), TPI_HEADER.size), 0)
        fields = TPI_HEADER.unpack_from(data, 0)
        version, header_size, begin, end, record_bytes = fields[:5]
        if version not in TPI_VERSIONS:
            raise self._error("TPI version %d not supported (expected %s)"
                              % (version, " or ".join(map(str, TPI_VERSIONS))), 0)
        if header_size < TPI_HEADER.size or header_size > len(data):
            raise self._error("TPI header size %d is impossible" % header_size, 4)
        if record_bytes > len(data) - header_size:
            raise self._error("TPI claims %d bytes of records; the stream holds %d"
                              % (record_bytes, len(data) - header_size), 16)
        if begin < FIRST_TYPE_INDEX or end < begin or end - begin > record_bytes // 4:
            raise self._error("TPI type index range 0x%x..0x%x is impossible for %d bytes of records"
                              % (begin, end, record_bytes), 8)
        self.begin = begin
        self.end = end
        self._offsets = self._index(header_size, header_size + record_bytes)
        # length-prefixed (*_ST) names belong to the Visual Studio 2002/2003 format (TPI V70)
        self._has_st_names = version != TPI_VERSIONS[1]
        self._names = None  # type: Optional[Tuple[Dict[str, int], Dict[str, int], Dict[str, int]]]
        self._udt_cache = {}  # type: Dict[int, Optional[UdtRecord]]
        self._found = {}  # type: Dict[Tuple[bytes, Optional[bool], bool], Optional[int]]
        self._records_start = header_size
        self._name_cache = {}  # type: Dict[int, str]

    # -- errors -------------------------------------------------------------------------------
    def _error(self, what: str, position: Optional[int]) -> FormatError:
        return FormatError(self.source, what, None if position is None else self._file_offset(position))

    def _record_error(self, type_index: int, exc: RecordOverrun) -> FormatError:
        detail = " (%s)" % exc.what if exc.what else ""
        return self._error("type 0x%x: record cut short%s" % (type_index, detail), exc.position)

    # -- index --------------------------------------------------------------------------------
    def _index(self, start: int, stop: int) -> array:
        """Where each record starts: one pass over the u16 record lengths (the hot loop of an open)."""
        data = self._data
        length_at = struct.Struct("<H").unpack_from
        offsets = array("I")
        append = offsets.append
        pos = start
        last = stop - 4
        while pos <= last:
            length = length_at(data, pos)[0]
            if length < 2:
                break
            append(pos)
            pos += 2 + length
        if pos != stop:
            if pos > stop:
                raise self._error("type 0x%x: record length %d runs past the TPI records"
                                  % (self.begin + len(offsets) - 1, stop - offsets[-1] - 2), offsets[-1])
            raise self._error("type 0x%x: record header cut short or of length %d"
                              % (self.begin + len(offsets), length_at(data, pos)[0] if pos + 2 <= stop else 0), pos)
        if len(offsets) != self.end - self.begin:
            raise self._error("TPI holds %d type records; its header says %d (0x%x..0x%x)"
                              % (len(offsets), self.end - self.begin, self.begin, self.end), 8)
        return offsets

    def _kind_at(self, position: int) -> int:
        return struct.unpack_from("<H", self._data, self._offsets[position] + 2)[0]

    @property
    def count(self) -> int:
        return len(self._offsets)

    def check_index(self, type_index: int, where: str = "") -> None:
        if type_index >= FIRST_TYPE_INDEX and not self.begin <= type_index < self.end:
            raise self._error("type index 0x%x%s outside the type table (0x%x..0x%x)"
                              % (type_index, " " + where if where else "", self.begin, self.end), None)

    def kind(self, type_index: int) -> int:
        """Leaf kind of a record (0 for a simple type)."""
        if type_index < FIRST_TYPE_INDEX:
            return 0
        self.check_index(type_index)
        return self._kind_at(type_index - self.begin)

    def record(self, type_index: int) -> Tuple[int, int, int]:
        """(kind, first data byte, end) of a record in the stream."""
        self.check_index(type_index)
        pos = self._offsets[type_index - self.begin]
        length = struct.unpack_from("<H", self._data, pos)[0]
        return struct.unpack_from("<H", self._data, pos + 2)[0], pos + 4, pos + 2 + length

    # -- UDT heads ------------------------------------------------------------------------------
    def udt(self, type_index: int) -> Optional[UdtRecord]:
        """The struct/class/union/enum head of a record, or None for other kinds."""
        if type_index < FIRST_TYPE_INDEX:
            return None
        if type_index in self._udt_cache:
            return self._udt_cache[type_index]
        kind, pos, end = self.record(type_index)
        found = None
        if kind in UDT_KINDS:
            try:
                found = self._parse_udt(kind, pos, end)
            except RecordOverrun as exc:
                raise self._record_error(type_index, exc)
        self._udt_cache[type_index] = found
        return found

    def _parse_udt(self, kind: int, pos: int, end: int) -> UdtRecord:
        data = self._data
        pascal = kind in cv.ST_LEAVES
        underlying = 0
        if kind in (cv.LF_CLASS, cv.LF_STRUCTURE, cv.LF_INTERFACE, cv.LF_CLASS_ST, cv.LF_STRUCTURE_ST):
            properties = u16(data, pos + 2, end)
            field_list = u32(data, pos + 4, end)
            size, pos = numeric(data, pos + 16, end)
        elif kind in (cv.LF_UNION, cv.LF_UNION_ST):
            properties = u16(data, pos + 2, end)
            field_list = u32(data, pos + 4, end)
            size, pos = numeric(data, pos + 8, end)
        elif kind in (cv.LF_CLASS2, cv.LF_STRUCTURE2, cv.LF_INTERFACE2):
            properties = u32(data, pos, end) & 0xFFFF
            field_list = u32(data, pos + 4, end)
            _count, pos = numeric(data, pos + 16, end)
            size, pos = numeric(data, pos, end)
        elif kind == cv.LF_UNION2:
            properties = u32(data, pos, end) & 0xFFFF
            field_list = u32(data, pos + 4, end)
            _count, pos = numeric(data, pos + 8, end)
            size, pos = numeric(data, pos, end)
        else:  # LF_ENUM, LF_ENUM_ST
            properties = u16(data, pos + 2, end)
            underlying = u32(data, pos + 4, end)
            field_list = u32(data, pos + 8, end)
            size = None
            pos += 12
        name, pos = name_at(data, pos, end, pascal)
        unique = None
        if properties & cv.PROP_UNIQUE_NAME:
            unique, pos = name_at(data, pos, end, pascal)
        kind_name = "enum" if kind in _ENUM_KINDS else _RECORD_KINDS[kind]
        if size is not None and size < 0:
            size = None
        return UdtRecord(kind_name, name, unique, size, field_list, underlying,
                         bool(properties & cv.PROP_FORWARD_REF))

    # -- names ----------------------------------------------------------------------------------
    def _name_index(self) -> Tuple[Dict[bytes, int], Dict[bytes, int], Dict[bytes, int]]:
        """(struct/class/union definitions by name, enum definitions by name, definitions by unique
        name), keyed by the names' bytes; the first definition of a name wins. Built once, reading
        only each record's property bits and names (the common layouts without decoding the rest)."""
        if self._names is not None:
            return self._names
        records = {}  # type: Dict[bytes, int]
        enums = {}  # type: Dict[bytes, int]
        unique = {}  # type: Dict[bytes, int]
        data = self._data
        offsets = self._offsets
        begin = self.begin
        u16_at = struct.Struct("<H").unpack_from
        kind_at = self._kind_at
        for position in range(len(offsets)):
            kind = kind_at(position)
            name_at = _NAME_AFTER.get(kind)
            if name_at is None:
                if kind in UDT_KINDS:
                    self._index_slowly(begin + position, records, enums, unique)
                continue
            pos = offsets[position]
            end = pos + 2 + u16_at(data, pos)[0]
            start = pos + name_at
            if start > end:                     # too short for its kind: the slow path says why
                self._index_slowly(begin + position, records, enums, unique)
                continue
            properties = u16_at(data, pos + 6)[0]
            if properties & cv.PROP_FORWARD_REF:
                continue
            if kind != cv.LF_ENUM:
                size_leaf = u16_at(data, start - 2)[0]
                if size_leaf >= cv.LF_NUMERIC:      # a size of 32 KiB or more: an integer leaf follows
                    start += _INTEGER_LEAF_BYTES.get(size_leaf, end)
                    if start > end:
                        self._index_slowly(begin + position, records, enums, unique)
                        continue
            stop = data.find(b"\0", start, end)
            if stop < 0:
                stop = end
            table = enums if kind == cv.LF_ENUM else records
            name = data[start:stop]
            if name not in table:
                table[name] = begin + position
            if properties & cv.PROP_UNIQUE_NAME and stop < end:
                tail = data.find(b"\0", stop + 1, end)
                unique_name = data[stop + 1:tail if tail >= 0 else end]
                if unique_name not in unique:
                    unique[unique_name] = begin + position
        self._names = (records, enums, unique)
        return self._names

    def _index_slowly(self, type_index: int, records, enums, unique) -> None:
        head = self.udt(type_index)
        if head.forward:
            return
        table = enums if head.kind == "enum" else records
        table.setdefault(head.name.encode("utf-8"), type_index)
        if head.unique_name:
            unique.setdefault(head.unique_name.encode("utf-8"), type_index)

    def _find(self, name: bytes, enum: Optional[bool], unique: bool = False) -> Optional[int]:
        """The first definition (not a forward reference) whose name - or unique name - is `name`:
        every place the bytes name + NUL occur in the records is checked against the record it
        lies in (a C-speed search, then a handful of candidates), so no name index is needed. When
        the full index exists it answers instead."""
        if self._names is not None:
            table = self._names[2] if unique else self._names[1 if enum else 0]
            return table.get(name)
        found = self._found.get((name, enum, unique), -1)
        if found != -1:
            return found
        data = self._data
        starts = self._offsets
        begin = self.begin
        text = cv.clean(name)
        candidates = set()
        # NUL-terminated names, and the length-prefixed names of the old *_ST records
        needles = [name + b"\0"] + ([bytes([len(name)]) + name] if self._has_st_names and len(name) < 256 else [])
        for needle in needles:
            pos = data.find(needle, self._records_start)
            while pos >= 0:
                position = bisect.bisect_right(starts, pos) - 1
                if position >= 0 and self._kind_at(position) in UDT_KINDS:
                    candidates.add(position)
                pos = data.find(needle, pos + 1)
        found = None
        for position in sorted(candidates):
            head = self.udt(begin + position)
            if not head.forward and (head.unique_name == text if unique else
                                     head.name == text and (head.kind == "enum") == bool(enum)):
                found = begin + position
                break
        self._found[(name, enum, unique)] = found
        return found

    def find_record(self, name: str) -> Optional[int]:
        """Type index of the struct/class/union definition called `name`."""
        return self._find(name.encode("utf-8", "surrogatepass"), False)

    def find_enum(self, name: str) -> Optional[int]:
        return self._find(name.encode("utf-8", "surrogatepass"), True)

    def record_names(self) -> List[str]:
        return [cv.clean(name) for name in self._name_index()[0]]

    def enum_names(self) -> List[str]:
        return [cv.clean(name) for name in self._name_index()[1]]

    def definition(self, type_index: int) -> int:
        """The defining record of a forward reference (itself when it is not one, or when the
        PDB has no definition: an incomplete type)."""
        head = self.udt(type_index)
        if head is None or not head.forward:
            return type_index
        if head.unique_name:
            found = self._find(head.unique_name.encode("utf-8", "surrogatepass"), None, unique=True)
            if found is not None:
                return found
        found = self._find(head.name.encode("utf-8", "surrogatepass"), head.kind == "enum")
        return type_index if found is None else found

    def strip_modifiers(self, type_index: int) -> int:
        """Follow LF_MODIFIER (const/volatile) to the modified type."""
        for _ in range(MAX_DEPTH):
            if type_index < FIRST_TYPE_INDEX or self.kind(type_index) != cv.LF_MODIFIER:
                return type_index
            kind, pos, end = self.record(type_index)
            try:
                type_index = u32(self._data, pos, end)
            except RecordOverrun as exc:
                raise self._record_error(type_index, exc)
            self.check_index(type_index, "modified by a const/volatile record")
        raise self._too_deep(type_index)

    def _too_deep(self, type_index: int) -> FormatError:
        return self._error("type 0x%x: type references nest deeper than %d levels (a record refers to itself?)"
                           % (type_index, MAX_DEPTH), None)

    def udt_name(self, type_index: int) -> str:
        """How a struct/union/enum is spelled: its name, or "__unnamed_<index>" when anonymous."""
        head = self.udt(type_index)
        if head is None:
            return "<type 0x%x>" % type_index
        if is_anonymous(head.name):
            return "__unnamed_%x" % self.definition(type_index)
        return head.name

    def type_name(self, type_index: int, depth: int = 0) -> str:
        """C-like spelling of any type index (see the module docstring)."""
        if type_index < FIRST_TYPE_INDEX:
            return cv.simple_type(type_index)[0]
        cached = self._name_cache.get(type_index)
        if cached is not None:
            return cached
        if depth > MAX_DEPTH:
            raise self._too_deep(type_index)
        kind, pos, end = self.record(type_index)
        data = self._data
        try:
            if kind in UDT_KINDS:
                name = self.udt_name(type_index)
            elif kind == cv.LF_MODIFIER:
                name = self.type_name(self._ref(type_index, u32(data, pos, end)), depth + 1)
            elif kind == cv.LF_POINTER:
                name = self.type_name(self._ref(type_index, u32(data, pos, end)), depth + 1) + " *"
            elif kind in _ARRAY_KINDS:
                element = self._ref(type_index, u32(data, pos, end))
                total = self._array_bytes(kind, pos, end)
                element_size = self.type_size(element, depth + 1)
                count = total // element_size if total and element_size else 0
                name = "%s[%d]" % (self.type_name(element, depth + 1), count)
            elif kind == cv.LF_BITFIELD:
                storage = self._ref(type_index, u32(data, pos, end))
                name = "%s : %d" % (self.type_name(storage, depth + 1), data[pos + 4] if pos + 4 < end else 0)
            elif kind in _FUNCTION_KINDS:
                name = "<function>"
            else:
                name = "<type 0x%x>" % kind
        except RecordOverrun as exc:
            raise self._record_error(type_index, exc)
        self._name_cache[type_index] = name
        return name

    def _ref(self, owner: int, type_index: int) -> int:
        self.check_index(type_index, "referenced by type 0x%x" % owner)
        return type_index

    def _array_bytes(self, kind: int, pos: int, end: int) -> Optional[int]:
        skip = 12 if kind == cv.LF_STRIDED_ARRAY else 8
        size, _ = numeric(self._data, pos + skip, end)
        return size if size is not None and size >= 0 else None

    # -- sizes ----------------------------------------------------------------------------------
    def type_size(self, type_index: int, depth: int = 0) -> Optional[int]:
        """Size in bytes, or None for a function, an incomplete type or an unknown kind."""
        if type_index < FIRST_TYPE_INDEX:
            return cv.simple_type(type_index)[1]
        if depth > MAX_DEPTH:
            raise self._too_deep(type_index)
        kind, pos, end = self.record(type_index)
        data = self._data
        try:
            if kind in UDT_KINDS:
                head = self.udt(self.definition(type_index))
                if head.kind == "enum":
                    return self.type_size(self._ref(type_index, head.underlying), depth + 1)
                return None if head.forward else head.size
            if kind in (cv.LF_MODIFIER, cv.LF_BITFIELD):
                return self.type_size(self._ref(type_index, u32(data, pos, end)), depth + 1)
            if kind == cv.LF_POINTER:
                attributes = u32(data, pos + 4, end)
                size = (attributes >> 13) & 0x3F
                return size or _POINTER_SIZES.get(attributes & 0x1F, 4)
            if kind in _ARRAY_KINDS:
                self._ref(type_index, u32(data, pos, end))
                return self._array_bytes(kind, pos, end)
        except RecordOverrun as exc:
            raise self._record_error(type_index, exc)
        return None

    def bitfield(self, type_index: int) -> Optional[Tuple[int, int, int]]:
        """(storage type, bit position, bit length) of an LF_BITFIELD, else None."""
        if self.kind(type_index) != cv.LF_BITFIELD:
            return None
        kind, pos, end = self.record(type_index)
        if pos + 6 > end:
            raise self._record_error(type_index, RecordOverrun(pos, "bitfield"))
        storage = self._ref(type_index, u32(self._data, pos, end))
        return storage, self._data[pos + 5], self._data[pos + 4]

    def enum_of(self, type_index: int) -> Optional[str]:
        """The enum's name when the type (modifiers stripped) is an enum."""
        type_index = self.strip_modifiers(type_index)
        head = self.udt(type_index)
        if head is not None and head.kind == "enum":
            return self.udt_name(type_index)
        return None

    # -- field lists ------------------------------------------------------------------------------
    def _field_lists(self, type_index: int) -> List[int]:
        """The LF_FIELDLIST records of a type: its own and every LF_INDEX continuation."""
        out = []  # type: List[int]
        seen = set()
        current = type_index
        while current and current not in seen:
            if len(out) >= MAX_FIELD_LISTS:
                raise self._error("type 0x%x: more than %d chained field lists" % (type_index, MAX_FIELD_LISTS),
                                  None)
            self.check_index(current, "(a field list)")
            if self.kind(current) != cv.LF_FIELDLIST:
                raise self._error("type 0x%x is a leaf 0x%04x, not a field list" % (current, self.kind(current)),
                                  self._offsets[current - self.begin])
            seen.add(current)
            out.append(current)
            current = self._continuation(current)
        return out

    def _continuation(self, type_index: int) -> int:
        for leaf, fields in self._walk_fields(type_index):
            if leaf == cv.LF_INDEX:
                return fields
        return 0

    def _walk_fields(self, type_index: int):
        """(leaf, payload) of each member of one LF_FIELDLIST record: LF_MEMBER -> Member,
        LF_ENUMERATE -> (name, value), LF_INDEX -> continuation type index, others -> None. An
        unknown member kind ends the walk (members carry no length to step over it)."""
        kind, pos, end = self.record(type_index)
        data = self._data
        try:
            while pos < end:
                if data[pos] >= 0xF0:           # LF_PADn: alignment to the next member
                    pos += max(1, data[pos] & 0x0F)
                    continue
                leaf = u16(data, pos, end)
                pos += 2
                pascal = leaf in cv.ST_LEAVES
                if leaf in (cv.LF_MEMBER, cv.LF_MEMBER_ST):
                    member_type = u32(data, pos + 2, end)
                    offset, pos = numeric(data, pos + 6, end)
                    name, pos = name_at(data, pos, end, pascal)
                    yield leaf, Member(name, member_type, offset if offset is not None else 0)
                elif leaf in (cv.LF_ENUMERATE, cv.LF_ENUMERATE_ST):
                    value, pos = numeric(data, pos + 2, end)
                    name, pos = name_at(data, pos, end, pascal)
                    yield leaf, (name, value)
                elif leaf == cv.LF_INDEX:
                    yield leaf, u32(data, pos + 2, end)
                    pos += 6
                elif leaf in (cv.LF_BCLASS, cv.LF_BINTERFACE):
                    _, pos = numeric(data, pos + 6, end)
                    yield leaf, None
                elif leaf in (cv.LF_VBCLASS, cv.LF_IVBCLASS):
                    _, pos = numeric(data, pos + 10, end)
                    _, pos = numeric(data, pos, end)
                    yield leaf, None
                elif leaf in (cv.LF_STMEMBER, cv.LF_STMEMBER_ST, cv.LF_NESTTYPE, cv.LF_NESTTYPE_ST,
                              cv.LF_NESTTYPEEX, cv.LF_NESTTYPEEX_ST, cv.LF_FRIENDFCN, cv.LF_FRIENDFCN_ST,
                              cv.LF_MEMBERMODIFY, cv.LF_MEMBERMODIFY_ST, cv.LF_METHOD, cv.LF_METHOD_ST):
                    u32(data, pos + 2, end)
                    _, pos = name_at(data, pos + 6, end, pascal)
                    yield leaf, None
                elif leaf in (cv.LF_ONEMETHOD, cv.LF_ONEMETHOD_ST):
                    attributes = u16(data, pos, end)
                    pos += 6
                    if (attributes >> 2) & 7 in (4, 6):    # introducing virtual: a vtable offset follows
                        pos += 4
                    _, pos = name_at(data, pos, end, pascal)
                    yield leaf, None
                elif leaf in (cv.LF_VFUNCTAB, cv.LF_FRIENDCLS):
                    u32(data, pos + 2, end)
                    pos += 6
                    yield leaf, None
                elif leaf == cv.LF_VFUNCOFF:
                    u32(data, pos + 6, end)
                    pos += 10
                    yield leaf, None
                else:
                    return
        except RecordOverrun as exc:
            raise self._record_error(type_index, exc)

    def members(self, type_index: int) -> List[Member]:
        """The data members (LF_MEMBER) of a struct/class/union definition, in declaration order."""
        head = self.udt(type_index)
        if head is None or not head.field_list:
            return []
        out = []
        for field_list in self._field_lists(head.field_list):
            for leaf, payload in self._walk_fields(field_list):
                if isinstance(payload, Member):
                    self.check_index(payload.type_index, "of member %s" % payload.name)
                    out.append(payload)
        return out

    def enumerators(self, type_index: int) -> List[Tuple[str, int]]:
        """(name, value) of an enum's constants, in declaration order."""
        head = self.udt(type_index)
        if head is None or not head.field_list:
            return []
        out = []
        for field_list in self._field_lists(head.field_list):
            for leaf, payload in self._walk_fields(field_list):
                if leaf in (cv.LF_ENUMERATE, cv.LF_ENUMERATE_ST) and payload[1] is not None:
                    out.append(payload)
        return out
