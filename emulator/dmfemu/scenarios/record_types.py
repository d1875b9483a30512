"""A scenario's own record types: C structs declared field by field (or taken from a construct Struct
in a Python file), laid out as MSVC lays them out, packed from the values a scenario writes and
described for the driver's symbols (ISF user types and enums, from which dmfemu.native_build
also makes the PDB).

    "enums": {"SENSOR_KIND": {"values": {"SensorKindTemperature": 1, "SensorKindPressure": 2}}},
    "record_types": {"SENSOR_EVENT": {"fields": [
        {"name": "Timestamp", "type": "ULONG64"}, {"name": "Kind", "type": "SENSOR_KIND"},
        {"name": "Samples", "type": "LONG", "count": 4}, {"name": "Label", "type": "CHAR", "count": 16}]}}

A write gives ``{"fields": {"Kind": "SensorKindPressure", "Samples": [1, 2, 3, 4], "Label": "probe"}}``;
fields left out are zero. ``unpack`` turns a record back into the same plain values (enums as their
numbers), which is what expected.json lists beside each record's hex.
"""
import os
import runpy
import struct
import uuid
from typing import Any, Dict, List, Optional, Tuple

import construct

from dmfkd.errors import UsageError

# C spellings of the scalar types -> (size, signed, ISF base type name)
_SCALARS = {}  # type: Dict[str, Tuple[int, bool, str]]
for _names, _info in (
        (("UCHAR", "BYTE", "unsigned char", "uint8_t", "BOOLEAN", "UINT8"), (1, False, "unsigned char")),
        (("CHAR", "char", "signed char", "int8_t", "INT8"), (1, True, "char")),
        (("USHORT", "WORD", "unsigned short", "uint16_t", "UINT16"), (2, False, "unsigned short")),
        (("SHORT", "short", "int16_t", "INT16"), (2, True, "short")),
        (("ULONG", "DWORD", "UINT", "UINT32", "unsigned long", "unsigned int", "uint32_t"),
         (4, False, "unsigned long")),
        (("LONG", "INT", "INT32", "long", "int", "int32_t", "NTSTATUS"), (4, True, "long")),
        (("ULONG64", "ULONGLONG", "UINT64", "DWORD64", "unsigned long long", "uint64_t"),
         (8, False, "unsigned long long")),
        (("LONG64", "LONGLONG", "INT64", "long long", "int64_t"), (8, True, "long long"))):
    for _name in _names:
        _SCALARS[_name] = _info
_STRUCT_FORMAT = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h", (4, False): "I", (4, True): "i",
                  (8, False): "Q", (8, True): "q"}
WCHAR_TYPES = ("WCHAR", "wchar_t")
GUID_TYPES = ("GUID", "_GUID")
MAX_RECORD_SIZE = 1 << 20
ENUM_SIZE = 4        # an MSVC enum is an int


class FieldType(object):
    """One member of a record type at its offset: a scalar, an enum, a CHAR/WCHAR array (text), a GUID,
    an array of scalars or a nested record type."""

    def __init__(self, name: str, kind: str, offset: int, size: int, align: int, count: Optional[int] = None,
                 signed: bool = False, element_size: int = 0, isf_base: str = "", enum=None, record=None,
                 c_type: str = ""):
        self.name = name
        self.kind = kind          # "int" | "enum" | "text" | "wtext" | "guid" | "ints" | "record"
        self.offset = offset
        self.size = size
        self.align = align
        self.count = count
        self.signed = signed
        self.element_size = element_size
        self.isf_base = isf_base
        self.enum = enum          # EnumType
        self.record = record      # RecordType
        self.c_type = c_type


class EnumType(object):
    def __init__(self, name: str, values: Dict[str, int]):
        self.name = name
        self.values = dict(values)

    def value_of(self, value, path: str) -> int:
        if isinstance(value, str):
            if value not in self.values:
                raise UsageError("%s: %r is not a constant of %s (it has %s)" % (
                    path, value, self.name, ", ".join(sorted(self.values))))
            return self.values[value]
        return value

    def isf(self) -> dict:
        return {"size": ENUM_SIZE, "base": "long", "constants": dict(self.values)}


class RecordType(object):
    """A record type: its fields at their offsets, its size, and how records of it are made and read."""

    def __init__(self, name: str, fields: List[FieldType], size: int, align: int, origin: str = "fields"):
        self.name = name
        self.fields = fields
        self.size = size
        self.align = align
        self.origin = origin

    # -- making records --------------------------------------------------------------------------------
    def pack(self, values: Dict[str, Any], path: str) -> bytes:
        out = bytearray(self.size)
        self.pack_into(out, 0, values, path)
        return bytes(out)

    def pack_into(self, out: bytearray, base: int, values: Dict[str, Any], path: str) -> None:
        if not isinstance(values, dict):
            raise UsageError("%s: must be an object of %s's fields" % (path, self.name))
        known = {f.name: f for f in self.fields}
        for key in values:
            if key not in known:
                raise UsageError("%s.%s: %s has no field %s (it has %s)" % (
                    path, key, self.name, key, ", ".join(f.name for f in self.fields)))
        for key, value in values.items():
            _pack_field(known[key], out, base, value, "%s.%s" % (path, key))

    def integer_field(self, name: str, path: str) -> FieldType:
        """A top-level integer or enum field (what `vary` may step)."""
        for f in self.fields:
            if f.name == name:
                if f.kind not in ("int", "enum"):
                    raise UsageError("%s: %s.%s is not an integer field" % (path, self.name, name))
                return f
        raise UsageError("%s: %s has no field %s" % (path, self.name, name))

    # -- reading them back -----------------------------------------------------------------------------
    def enum_names(self, data: bytes) -> Dict[str, str]:
        """The constant name of each top-level enum field whose value has one."""
        out = {}
        for f in self.fields:
            if f.kind == "enum":
                value = _unpack_field(f, data, f.offset)
                names = [name for name, number in f.enum.values.items() if number == value]
                if names:
                    out[f.name] = names[0]
        return out

    def unpack(self, data: bytes, base: int = 0) -> Dict[str, Any]:
        """Plain values (ints, text, lists, nested objects, GUID text) of one record."""
        out = {}
        for f in self.fields:
            out[f.name] = _unpack_field(f, data, base + f.offset)
        return out

    # -- symbols -------------------------------------------------------------------------------------
    def isf_user_type(self) -> dict:
        fields = {}
        for f in self.fields:
            fields[f.name] = {"offset": f.offset, "type": _isf_descriptor(f)}
        return {"kind": "struct", "size": self.size, "fields": fields}


def _check_int(value, size: int, signed: bool, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError("%s: must be an integer" % path)
    low, high = (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if signed else (0, (1 << (8 * size)) - 1)
    if not low <= value <= high:
        raise UsageError("%s: %d does not fit in %d byte(s) (%d..%d)" % (path, value, size, low, high))
    return value


def _pack_field(f: FieldType, out: bytearray, base: int, value, path: str) -> None:
    at = base + f.offset
    if f.kind == "int":
        struct.pack_into("<" + _STRUCT_FORMAT[(f.size, f.signed)], out, at, _check_int(value, f.size, f.signed, path))
    elif f.kind == "enum":
        number = _check_int(f.enum.value_of(value, path), ENUM_SIZE, False, path)
        struct.pack_into("<I", out, at, number)
    elif f.kind in ("text", "wtext"):
        if not isinstance(value, str):
            raise UsageError("%s: must be text" % path)
        try:
            raw = value.encode("ascii" if f.kind == "text" else "utf-16-le")
        except UnicodeEncodeError:
            raise UsageError("%s: CHAR text must be ASCII" % path)
        if len(raw) > f.size:
            raise UsageError("%s: %d byte(s) of text do not fit in %s[%d]" % (path, len(raw), f.c_type, f.count))
        out[at:at + len(raw)] = raw
    elif f.kind == "guid":
        try:
            out[at:at + 16] = uuid.UUID(str(value)).bytes_le
        except ValueError:
            raise UsageError("%s: must be a GUID" % path)
    elif f.kind == "ints":
        if not isinstance(value, list) or len(value) > f.count:
            raise UsageError("%s: must be a list of at most %d integers" % (path, f.count))
        fmt = "<" + _STRUCT_FORMAT[(f.element_size, f.signed)]
        for index, item in enumerate(value):
            struct.pack_into(fmt, out, at + index * f.element_size,
                             _check_int(item, f.element_size, f.signed, "%s[%d]" % (path, index)))
    else:
        f.record.pack_into(out, at, value, path)


def _unpack_field(f: FieldType, data: bytes, at: int):
    chunk = bytes(data[at:at + f.size])
    if f.kind == "int":
        return struct.unpack("<" + _STRUCT_FORMAT[(f.size, f.signed)], chunk)[0]
    if f.kind == "enum":
        return struct.unpack("<I", chunk)[0]
    if f.kind == "text":
        return chunk.split(b"\0", 1)[0].decode("latin-1")
    if f.kind == "wtext":
        return chunk.decode("utf-16-le", "replace").split("\0", 1)[0]
    if f.kind == "guid":
        return str(uuid.UUID(bytes_le=chunk))
    if f.kind == "ints":
        fmt = "<%d%s" % (f.count, _STRUCT_FORMAT[(f.element_size, f.signed)])
        return list(struct.unpack(fmt, chunk))
    return f.record.unpack(data, at)


def _isf_descriptor(f: FieldType) -> dict:
    if f.kind == "int":
        return {"kind": "base", "name": f.isf_base}
    if f.kind == "enum":
        return {"kind": "enum", "name": f.enum.name}
    if f.kind in ("text", "wtext", "ints"):
        element = {"text": "char", "wtext": "wchar_t"}.get(f.kind, f.isf_base)
        return {"kind": "array", "count": f.count, "subtype": {"kind": "base", "name": element}}
    if f.kind == "guid":
        return {"kind": "struct", "name": "_GUID"}
    return {"kind": "struct", "name": f.record.name}


# -- declared types ----------------------------------------------------------------------------------

def _align_up(value: int, align: int) -> int:
    return -(-value // align) * align


class RecordTypes(object):
    """The enums and record types of one scenario, laid out (nested types first, cycles refused)."""

    def __init__(self, enums: Dict[str, dict], declared: Dict[str, dict], base_dir: str = "."):
        self.enums = {}  # type: Dict[str, EnumType]
        self.types = {}  # type: Dict[str, RecordType]
        self._declared = declared
        self._base_dir = base_dir
        self._busy = set()  # type: set
        for name, spec in enums.items():
            if name in _SCALARS or name in WCHAR_TYPES or name in GUID_TYPES:
                raise UsageError("enums.%s: the name of a built-in type" % name)
            self.enums[name] = EnumType(name, spec["values"])
        constants = {}  # type: Dict[str, str]
        for enum in self.enums.values():
            for constant in enum.values:
                if constant in constants:
                    raise UsageError("enums.%s.values.%s: already a constant of %s (C enum constants share one "
                                     "namespace)" % (enum.name, constant, constants[constant]))
                constants[constant] = enum.name
        for name in declared:
            if name in self.enums or name in _SCALARS or name in WCHAR_TYPES or name in GUID_TYPES:
                raise UsageError("record_types.%s: the name of an enum or a built-in type" % name)
            self.get(name)

    def get(self, name: str, path: str = "") -> RecordType:
        if name in self.types:
            return self.types[name]
        if name not in self._declared:
            raise UsageError("%s: no record type %s (declared: %s)" % (
                path or "record type", name, ", ".join(sorted(self._declared)) or "none"))
        if name in self._busy:
            raise UsageError("record_types.%s: contains itself" % name)
        self._busy.add(name)
        spec = self._declared[name]
        if "schema" in spec:
            record = self._from_schema(name, spec["schema"])
        else:
            record = self._lay_out(name, spec["fields"], spec.get("pack", 8))
        self._busy.discard(name)
        if not 0 < record.size <= MAX_RECORD_SIZE:
            raise UsageError("record_types.%s: size %d is not in 1..%d" % (name, record.size, MAX_RECORD_SIZE))
        self.types[name] = record
        return record

    def _field(self, owner: str, index: int, spec: dict) -> Tuple[str, int, int, dict]:
        """(kind, size, natural alignment, extra FieldType arguments) of one declared field."""
        path = "record_types.%s.fields[%d]" % (owner, index)
        type_name, count = spec["type"].strip(), spec.get("count")
        if type_name in _SCALARS:
            size, signed, base = _SCALARS[type_name]
            if count is None:
                return "int", size, size, {"signed": signed, "isf_base": base, "c_type": type_name}
            kind = "text" if base == "char" else "ints"
            return kind, size * count, size, {"count": count, "signed": signed, "element_size": size,
                                              "isf_base": base, "c_type": type_name}
        if type_name in WCHAR_TYPES:
            return "wtext", 2 * (count or 1), 2, {"count": count or 1, "element_size": 2, "c_type": type_name}
        if count is not None:
            raise UsageError("%s.count: arrays of %s are not supported (arrays of integers, CHAR or WCHAR are)"
                             % (path, type_name))
        if type_name in GUID_TYPES:
            return "guid", 16, 4, {"c_type": type_name}
        if type_name in self.enums:
            return "enum", ENUM_SIZE, ENUM_SIZE, {"enum": self.enums[type_name], "c_type": type_name}
        record = self.get(type_name, path + ".type")
        return "record", record.size, record.align, {"record": record, "c_type": type_name}

    def _lay_out(self, name: str, fields: List[dict], pack: int) -> RecordType:
        out, cursor, align, seen = [], 0, 1, set()
        for index, spec in enumerate(fields):
            if spec["name"] in seen:
                raise UsageError("record_types.%s.fields[%d].name: %s appears twice" % (name, index, spec["name"]))
            seen.add(spec["name"])
            kind, size, natural, extra = self._field(name, index, spec)
            field_align = min(natural, pack)
            cursor = _align_up(cursor, field_align)
            out.append(FieldType(spec["name"], kind, cursor, size, field_align, **extra))
            cursor += size
            align = max(align, field_align)
        return RecordType(name, out, _align_up(cursor, align), align)

    # -- construct schema files ----------------------------------------------------------------------
    def _from_schema(self, name: str, reference: str) -> RecordType:
        file_part, _, attribute = reference.rpartition(":")
        path = file_part if os.path.isabs(file_part) else os.path.join(self._base_dir, file_part)
        where = "record_types.%s.schema" % name
        try:
            namespace = runpy.run_path(path)
        except OSError as exc:
            raise UsageError("%s: cannot read %s: %s" % (where, path, exc.strerror or exc))
        except Exception as exc:  # the user's file: any error it raises is one line
            raise UsageError("%s: %s raised %s: %s" % (where, path, type(exc).__name__, str(exc).splitlines()[:1]))
        if attribute not in namespace:
            raise UsageError("%s: %s defines no %s" % (where, path, attribute))
        return construct_record(name, namespace[attribute], self, where)

    # -- symbols -------------------------------------------------------------------------------------
    def described(self) -> Dict[str, dict]:
        """Each record type's size and fields (offset, size, C type, count), for expected.json."""
        out = {}
        for name, record in sorted(self.types.items()):
            fields = {}
            for f in record.fields:
                fields[f.name] = {"offset": f.offset, "size": f.size, "type": f.c_type}
                if f.count is not None:
                    fields[f.name]["count"] = f.count
            out[name] = {"size": record.size, "fields": fields}
        return out

    def isf_user_types(self) -> Dict[str, dict]:
        return {name: record.isf_user_type() for name, record in self.types.items()}

    def isf_enums(self) -> Dict[str, dict]:
        return {name: enum.isf() for name, enum in self.enums.items()}

    def uses_wchar(self) -> bool:
        return any(f.kind == "wtext" for record in self.types.values() for f in record.fields)


def construct_record(name: str, con, types: RecordTypes, where: str) -> RecordType:
    """A RecordType from a construct Struct: its members at construct's (packed) offsets. Supported:
    little-endian integers, Flag, Bytes (UCHAR[n]), PaddedString (CHAR[n] / WCHAR[n]), Array of
    integers, Enum (an enum NAME_FIELD), nested Struct (a record type NAME_FIELD), Padding."""
    if not isinstance(con, construct.Struct):
        raise UsageError("%s: %s is not a construct Struct" % (where, type(con).__name__))
    fields, cursor = [], 0
    for sub in con.subcons:
        member = sub.subcon if isinstance(sub, construct.Renamed) else sub
        field_name = sub.name if isinstance(sub, construct.Renamed) else None
        try:
            size = sub.sizeof()
        except construct.SizeofError:
            raise UsageError("%s: field %s has no fixed size" % (where, field_name or "?"))
        if field_name is None or isinstance(member, construct.Padded) and isinstance(member.subcon, construct.Pass):
            cursor += size
            continue
        fields.append(_construct_field(name, field_name, member, cursor, size, types, where))
        cursor += size
    if not fields:
        raise UsageError("%s: the Struct has no named fields" % where)
    return RecordType(name, fields, cursor, 1, origin="schema")


def _construct_field(owner: str, field_name: str, member, offset: int, size: int, types: RecordTypes,
                     where: str) -> FieldType:
    path = "%s (field %s)" % (where, field_name)
    if isinstance(member, construct.FormatField):
        code = member.fmtstr[-1]
        if member.fmtstr[0] == ">" and size > 1:
            raise UsageError("%s: big-endian integers are not supported" % path)
        signed = code in "bhilq"
        base = {1: "char" if signed else "unsigned char", 2: "short" if signed else "unsigned short",
                4: "long" if signed else "unsigned long", 8: "long long" if signed else "unsigned long long"}[size]
        if code in "fd":
            raise UsageError("%s: floating-point fields are not supported" % path)
        return FieldType(field_name, "int", offset, size, size, signed=signed, isf_base=base, c_type=base)
    if member.__class__.__name__ == "Flag":
        return FieldType(field_name, "int", offset, 1, 1, isf_base="unsigned char", c_type="BOOLEAN")
    if isinstance(member, construct.Enum):
        enum_name = "%s_%s" % (owner, field_name)
        values = {str(k): int(v) for k, v in member.encmapping.items()}
        if size != ENUM_SIZE or any(not 0 <= v <= 0x7FFFFFFF for v in values.values()):
            raise UsageError("%s: an Enum must be a 4-byte integer with values 0..0x7FFFFFFF" % path)
        types.enums[enum_name] = EnumType(enum_name, values)
        return FieldType(field_name, "enum", offset, size, size, enum=types.enums[enum_name], c_type=enum_name)
    if isinstance(member, construct.StringEncoded):
        encoding = member.encoding.replace("-", "").lower()
        wide = encoding in ("utf16", "utf_16_le", "utf16le")
        return FieldType(field_name, "wtext" if wide else "text", offset, size, 2 if wide else 1,
                         count=size // 2 if wide else size, element_size=2 if wide else 1,
                         isf_base="char", c_type="WCHAR" if wide else "CHAR")
    if isinstance(member, construct.Bytes):
        return FieldType(field_name, "ints", offset, size, 1, count=size, element_size=1, isf_base="unsigned char",
                         c_type="UCHAR")
    if isinstance(member, construct.Array) and isinstance(member.subcon, construct.FormatField):
        element = _construct_field(owner, field_name, member.subcon, offset, member.subcon.sizeof(), types, where)
        count = size // element.size
        return FieldType(field_name, "ints", offset, size, element.size, count=count, signed=element.signed,
                         element_size=element.size, isf_base=element.isf_base, c_type=element.c_type)
    if isinstance(member, construct.Struct):
        nested_name = "%s_%s" % (owner, field_name)
        nested = construct_record(nested_name, member, types, where)
        types.types[nested_name] = nested
        return FieldType(field_name, "record", offset, size, 1, record=nested, c_type=nested_name)
    raise UsageError("%s: construct %s is not supported in a record type" % (path, type(member).__name__))
