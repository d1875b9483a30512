"""A scenario's record types (dmfemu.scenarios.record_types): declared C structs are laid out as the C
compiler lays them out - checked against ctypes, which applies the platform C ABI (natural alignment,
#pragma pack through _pack_) independently of dmfemu - records packed from field values equal what
struct/ctypes/construct build from the same values, construct schema files keep construct's offsets,
and the ISF entries name the types dmfkd decodes."""
import ctypes
import uuid

import construct
import pytest

from dmfkd.errors import UsageError

from dmfemu.scenarios.record_types import RecordTypes, construct_record

ENUMS = {"KIND": {"values": {"KindA": 1, "KindB": 7}}}


class CGuid(ctypes.Structure):
    _fields_ = [("Data1", ctypes.c_uint32), ("Data2", ctypes.c_uint16), ("Data3", ctypes.c_uint16),
                ("Data4", ctypes.c_ubyte * 8)]


def _ctypes_struct(fields, pack=None):
    attributes = {"_fields_": fields}
    if pack is not None:
        attributes["_pack_"] = pack
    return type("S", (ctypes.Structure,), attributes)


DECLARED = [
    {"name": "Flag", "type": "UCHAR"},
    {"name": "Time", "type": "ULONG64"},
    {"name": "Small", "type": "SHORT"},
    {"name": "Kind", "type": "KIND"},
    {"name": "Id", "type": "GUID"},
    {"name": "Text", "type": "CHAR", "count": 5},
    {"name": "Wide", "type": "WCHAR", "count": 3},
    {"name": "Values", "type": "LONG", "count": 3},
    {"name": "Last", "type": "int8_t"},
]
CTYPES = [("Flag", ctypes.c_uint8), ("Time", ctypes.c_uint64), ("Small", ctypes.c_int16), ("Kind", ctypes.c_int32),
          ("Id", CGuid), ("Text", ctypes.c_char * 5), ("Wide", ctypes.c_uint16 * 3), ("Values", ctypes.c_int32 * 3),
          ("Last", ctypes.c_int8)]


@pytest.mark.parametrize("pack", [None, 1, 2, 4])
def test_declared_layout_equals_the_c_abi(pack):
    spec = {"fields": DECLARED} if pack is None else {"fields": DECLARED, "pack": pack}
    record = RecordTypes(ENUMS, {"T": spec}).get("T")
    oracle = _ctypes_struct(CTYPES, pack)
    assert record.size == ctypes.sizeof(oracle)
    assert [(f.name, f.offset, f.size) for f in record.fields] == \
        [(name, getattr(oracle, name).offset, getattr(oracle, name).size) for name, _ in CTYPES]


def test_nested_record_types_are_laid_out_inside_their_parent():
    types = RecordTypes({}, {"INNER": {"fields": [{"name": "A", "type": "UCHAR"}, {"name": "B", "type": "ULONG64"}]},
                             "OUTER": {"fields": [{"name": "X", "type": "USHORT"}, {"name": "In", "type": "INNER"},
                                                  {"name": "Y", "type": "UCHAR"}]}})
    inner = _ctypes_struct([("A", ctypes.c_uint8), ("B", ctypes.c_uint64)])
    outer = _ctypes_struct([("X", ctypes.c_uint16), ("In", inner), ("Y", ctypes.c_uint8)])
    record = types.get("OUTER")
    assert record.size == ctypes.sizeof(outer) == 32
    assert [f.offset for f in record.fields] == [outer.X.offset, outer.In.offset, outer.Y.offset]
    data = record.pack({"X": 3, "In": {"A": 1, "B": 2 ** 40}, "Y": 9}, "w")
    assert data == bytes(outer(3, inner(1, 2 ** 40), 9))
    assert record.unpack(data) == {"X": 3, "In": {"A": 1, "B": 2 ** 40}, "Y": 9}


def test_records_pack_from_field_values_like_ctypes_builds_them():
    record = RecordTypes(ENUMS, {"T": {"fields": DECLARED}}).get("T")
    guid = uuid.UUID("5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70")
    values = {"Flag": 1, "Time": 132500000000000000, "Small": -2, "Kind": "KindB", "Id": str(guid), "Text": "ab",
              "Wide": "kP", "Values": [1, -1], "Last": -128}
    data = record.pack(values, "operations[0].fields")
    c_guid = CGuid.from_buffer_copy(guid.bytes_le)
    oracle = _ctypes_struct(CTYPES)(1, 132500000000000000, -2, 7, c_guid, b"ab", (ctypes.c_uint16 * 3)(0x6B, 0x50),
                                    (ctypes.c_int32 * 3)(1, -1, 0), -128)
    assert data == bytes(oracle)
    assert record.unpack(data) == dict(values, Kind=7, Values=[1, -1, 0])
    assert record.enum_names(data) == {"Kind": "KindB"}
    assert record.pack({}, "w") == bytes(record.size)


@pytest.mark.parametrize("values, message", [
    ({"Nope": 1}, "w.Nope: T has no field Nope"),
    ({"Flag": 256}, "w.Flag: 256 does not fit in 1 byte(s) (0..255)"),
    ({"Small": "x"}, "w.Small: must be an integer"),
    ({"Kind": "KindC"}, "w.Kind: 'KindC' is not a constant of KIND (it has KindA, KindB)"),
    ({"Text": "too long"}, "w.Text: 8 byte(s) of text do not fit in CHAR[5]"),
    ({"Text": "caf\u00e9"}, "w.Text: CHAR text must be ASCII"),
    ({"Values": [1, 2, 3, 4]}, "w.Values: must be a list of at most 3 integers"),
    ({"Id": "x"}, "w.Id: must be a GUID"),
])
def test_bad_field_values_are_one_line(values, message):
    record = RecordTypes(ENUMS, {"T": {"fields": DECLARED}}).get("T")
    with pytest.raises(UsageError) as refused:
        record.pack(values, "w")
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_a_construct_schema_keeps_constructs_offsets_and_bytes():
    schema = construct.Struct("Time" / construct.Int64ul, construct.Padding(2), "Ok" / construct.Flag,
                              "Code" / construct.Enum(construct.Int32ul, Up=1, Down=2),
                              "Name" / construct.PaddedString(6, "ascii"), "Raw" / construct.Bytes(3),
                              "Temps" / construct.Array(2, construct.Int16sl),
                              "Inner" / construct.Struct("X" / construct.Int8ul))
    types = RecordTypes({}, {})
    record = construct_record("EVT", schema, types, "record_types.EVT.schema")
    assert record.size == schema.sizeof() == 29
    values = {"Time": 5, "Ok": 1, "Code": "Down", "Name": "ab", "Raw": [1, 2, 3], "Temps": [-1, 300],
              "Inner": {"X": 9}}
    data = record.pack(values, "w")
    assert data == schema.build({"Time": 5, "Ok": True, "Code": "Down", "Name": "ab", "Raw": b"\x01\x02\x03",
                                 "Temps": [-1, 300], "Inner": {"X": 9}})
    assert types.isf_enums() == {"EVT_Code": {"size": 4, "base": "long", "constants": {"Up": 1, "Down": 2}}}
    assert "EVT_Inner" in types.types
    with pytest.raises(UsageError, match="big-endian"):
        construct_record("B", construct.Struct("A" / construct.Int32ub), types, "s")
    with pytest.raises(UsageError, match="not supported"):
        construct_record("F", construct.Struct("A" / construct.Float32l), types, "s")


def test_isf_entries_describe_the_fields_for_dmfkd():
    types = RecordTypes(ENUMS, {"T": {"fields": DECLARED}})
    user = types.isf_user_types()["T"]
    assert user["size"] == types.get("T").size
    assert user["fields"]["Kind"]["type"] == {"kind": "enum", "name": "KIND"}
    assert user["fields"]["Text"]["type"] == {"kind": "array", "count": 5, "subtype": {"kind": "base", "name": "char"}}
    assert user["fields"]["Wide"]["type"]["subtype"] == {"kind": "base", "name": "wchar_t"}
    assert user["fields"]["Id"]["type"] == {"kind": "struct", "name": "_GUID"}
    assert user["fields"]["Time"]["type"] == {"kind": "base", "name": "unsigned long long"}
    assert types.isf_enums() == {"KIND": {"size": 4, "base": "long", "constants": {"KindA": 1, "KindB": 7}}}
    assert types.uses_wchar()
    described = types.described()["T"]["fields"]
    assert described["Values"] == {"offset": _ctypes_struct(CTYPES).Values.offset, "size": 12, "type": "LONG",
                                   "count": 3}
