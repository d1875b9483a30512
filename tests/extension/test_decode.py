"""dmfkd.decode: default/--type/--schema decoders, the fast JSONL path, grep and merge."""
import json
import os
import struct
import uuid

import pytest
from dmfkd.decode import (
    RecordDecoder,
    SchemaDecoder,
    TypeDecoder,
    ascii_text,
    grep_records,
    make_decoder,
    merge_rows,
    record_dicts,
    records_jsonl,
)
from dmfkd.dmf.ringbuffer import decode_crash_blob
from dmfkd.errors import SymbolError, UsageError
from dmfkd.render.cells import EnumValue, FileTime, Hex
from dmfkd.targets.symbols import EnumType, Field, Symbols, TypeLayout

G = uuid.UUID("F4A58486-FD91-4BF9-96BC-DDA5CF571EDF")


def blob_of(records, guid=G):
    key = guid.hex.upper().encode()
    body = b"".join(records)
    s = len(records[0])
    return bytes(b ^ key[j % 32] for j, b in enumerate(body[:s])) + body[s:]


def test_ascii_text():
    assert ascii_text(b"ab\x00\x7f~ \xff") == "ab..~ ."


@pytest.mark.parametrize("count,cut", [(1, 0), (7, 0), (7, 5), (300, 13), (1234, 0)])
def test_records_jsonl_equals_json_dumps(count, cut):
    s = 16
    recs = [os.urandom(s) for _ in range(count)]
    blob = blob_of(recs)
    if cut:
        blob = blob[:-cut]
    ring = decode_crash_blob(blob, G, s, capacity=count, present=count)
    slow = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in record_dicts(ring))
    fast = records_jsonl(ring)
    # the same JSON, lines of equal width: the index is right-aligned with (insignificant) spaces
    assert fast.replace(" ", "") == slow
    assert [json.loads(x) for x in fast.splitlines()] == record_dicts(ring)
    assert len({len(x) for x in fast.splitlines() if "partial" not in x}) == 1
    if count > 3:
        part = records_jsonl(ring, 2, 2)
        assert [json.loads(x)["index"] for x in part.splitlines()] == [2, 3]
    if count > 1000:
        part = records_jsonl(ring, 995, 10)
        assert [json.loads(x)["index"] for x in part.splitlines()] == list(range(995, 1005))
    assert records_jsonl(ring, count + 5) == ""


class FakeSymbols(Symbols):
    def __init__(self, layouts):
        self.layouts = layouts

    def type_layout(self, name):
        bare = name.split("!")[-1]
        if bare not in self.layouts:
            raise SymbolError("no type %s" % name)
        return self.layouts[bare]


def layout(name, size, *fields):
    return TypeLayout(name, size, {f[0]: Field(f[0], f[1], f[2], f[3]) for f in fields})


SYMBOLS = FakeSymbols({
    "EVT": layout("EVT", 64,
                  ("u32", 0, "unsigned long", 4), ("i16", 4, "short", 2), ("flag", 6, "BOOLEAN", 1),
                  ("bits", 7, "unsigned char : 3", 1), ("ptr", 8, "void *", 8), ("name", 16, "char[8]", 8),
                  ("wide", 24, "wchar_t[4]", 8), ("guid", 32, "_GUID", 16), ("f", 48, "float", 4),
                  ("inner", 52, "INNER", 8), ("raw", 60, "unsigned char[3]", 3), ("odd", 63, "SOMETHING", None)),
    "INNER": layout("INNER", 8, ("a", 0, "Int4B", 4), ("b", 4, "UInt4B", 4)),
    "PYKD": layout("PYKD", 16, ("c", 0, "Char[8]", 8), ("l", 8, "Long", 4), ("p", 12, "UInt2B", 2),
                   ("w", 14, "WChar[1]", 2)),
})


def test_type_decoder_fields():
    rec = bytearray(64)
    struct.pack_into("<IhBB", rec, 0, 0xDEADBEEF, -2, 1, 0x5)
    struct.pack_into("<Q", rec, 8, 0xFFFFE00012345678)
    rec[16:24] = b"hello\0zz"
    rec[24:32] = "hi".encode("utf-16-le") + bytes(4)
    rec[32:48] = G.bytes_le
    struct.pack_into("<f", rec, 48, 1.5)
    struct.pack_into("<iI", rec, 52, -7, 7)
    rec[60:63] = b"\x01\x02\x03"
    d = TypeDecoder(SYMBOLS, "drv!EVT")
    assert d.columns[:3] == ["u32", "i16", "flag"]
    f = d.fields(bytes(rec))
    assert f["u32"] == 0xDEADBEEF and f["i16"] == -2 and f["flag"] is True and f["bits"] == 5
    assert f["ptr"] == 0xFFFFE00012345678 and isinstance(f["ptr"], Hex) and f["name"] == "hello" and f["wide"] == "hi"
    assert f["guid"] == str(G) and f["f"] == 1.5 and f["inner"] == {"a": -7, "b": 7}
    assert f["raw"] == [1, 2, 3]
    assert f["odd"] is None  # a type without a size (function, incomplete): nothing to show
    # a partial record: fields past its end are None
    short = d.fields(bytes(rec[:20]))
    assert short["u32"] == 0xDEADBEEF and short["guid"] is None


class EnumSymbols(FakeSymbols):
    def enum_type(self, name):
        if name != "LEVEL":
            raise SymbolError("no enum %s" % name)
        return EnumType("LEVEL", 4, {"Error": 2, "Verbose": 5})


def test_bitfields_enums_and_times():
    """A bitfield is its bits (position and width from the symbols), an enum a value with its name, an
    8-byte field named like a time (or given with --time-field) a FILETIME when it holds a plausible date."""
    symbols = EnumSymbols({"EV": TypeLayout("EV", 32, {
        "Timestamp": Field("Timestamp", 0, "unsigned __int64", 8),
        "Level": Field("Level", 8, "LEVEL", 4, enum="LEVEL"),
        "Flags": Field("Flags", 12, "unsigned long : 3", 4, 4, 3),
        "Other": Field("Other", 16, "unsigned __int64", 8),
        "CounterTime": Field("CounterTime", 24, "unsigned __int64", 8)})})
    rec = struct.pack("<QIIQQ", 132500003448379745, 5, 0b1011_0000 | 0xF000, 132500003448379745, 12345)
    f = TypeDecoder(symbols, "EV").fields(rec)
    assert isinstance(f["Timestamp"], FileTime) and f["Timestamp"] == 132500003448379745
    assert isinstance(f["Level"], EnumValue) and f["Level"] == 5 and f["Level"].name == "Verbose"
    assert f["Flags"] == 0b011  # bits 4..6 of 0xF0B0
    assert not isinstance(f["Other"], FileTime)          # not named like a time
    assert f["CounterTime"] == 12345 and not isinstance(f["CounterTime"], FileTime)  # not a plausible date
    chosen = TypeDecoder(symbols, "EV", time_fields=["Other", "CounterTime"]).fields(rec)
    assert isinstance(chosen["Other"], FileTime) and isinstance(chosen["CounterTime"], FileTime)
    unnamed = struct.pack("<QIIQQ", 0, 9, 0, 0, 0)
    assert TypeDecoder(symbols, "EV").fields(unnamed)["Level"].name is None  # a value without a constant


def test_type_decoder_pykd_names_match_c_names():
    rec = b"dmf\0\0\0\0\0" + struct.pack("<iH", -5, 9) + "A".encode("utf-16-le")
    f = TypeDecoder(SYMBOLS, "PYKD").fields(rec)
    assert f == {"c": "dmf", "l": -5, "p": 9, "w": "A"}


def test_type_decoder_needs_symbols_and_a_type():
    with pytest.raises(UsageError):
        make_decoder(type_name="X!Y", symbols=None)
    with pytest.raises(SymbolError):
        make_decoder(type_name="X!NOPE", symbols=SYMBOLS)
    with pytest.raises(UsageError):
        make_decoder(type_name="A", schema="b.py:C", symbols=SYMBOLS)
    assert type(make_decoder()) is RecordDecoder


def test_schema_decoder(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("import construct as c\nREC = c.Struct('a' / c.Int16ul, 'b' / c.Bytes(2), 'n' / c.Struct('x' / c.Int8ul))\n"
                    "NOT = 5\n")
    d = SchemaDecoder("%s:REC" % path)
    assert d.columns == ["a", "b", "n"]
    assert d.fields(b"\x01\x00\xab\xcd\x07") == {"a": 1, "b": "abcd", "n": {"x": 7}}
    bad = d.fields(b"\x01")
    assert "decode_error" in bad
    for spec in ("nocolon", "%s:NOT" % path, "/nonexistent.py:X", ":X"):
        with pytest.raises(UsageError):
            SchemaDecoder(spec)
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(UsageError, match="boom"):
        SchemaDecoder("%s:X" % broken)


def test_grep_and_decoded_grep():
    recs = [b"alpha\0\0\0", b"\x01\x02beta\0\0", b"gamma\0\0\0"]
    ring = decode_crash_blob(blob_of(recs), G, 8, present=3)
    assert grep_records(ring, "BETA") == [1]
    assert grep_records(ring, "0102") == [1]
    assert grep_records(ring, "zzz") == []
    d = TypeDecoder(FakeSymbols({"T": layout("T", 8, ("v", 0, "unsigned char", 1))}), "T")
    assert grep_records(ring, "103", d) == [2]  # 'g' == 103, only in the decoded value


def test_merge_rows_orders_numbers_then_text_then_missing():
    a = [{"index": 0, "t": 5}, {"index": 1, "t": "x"}, {"index": 2}]
    b = [{"index": 0, "t": 1}, {"index": 1, "t": 5}, {"index": 2, "t": {"nested": 1}}]
    rows = merge_rows([("A", a), ("B", b)], "t")
    assert [(r["guid"], r["index"]) for r in rows] == [("B", 0), ("A", 0), ("B", 1), ("A", 1), ("A", 2), ("B", 2)]
    nested = merge_rows([("A", [{"index": 0, "h": {"t": 3}}, {"index": 1, "h": {"t": 1}}])], "h.t")
    assert [r["index"] for r in nested] == [1, 0]


def test_float_field_sized_by_the_symbols_not_its_name():
    """An ISF calling an 8-byte base type "float" (or a 4-byte one "double") made struct.unpack raise
    struct.error in every --type decode; the size from the symbols now picks the format."""
    symbols = FakeSymbols({"E": layout("E", 12, ("f", 0, "float", 8), ("d", 8, "double", 4))})
    rec = struct.pack("<df", 2.5, -0.5)
    assert TypeDecoder(symbols, "E").fields(rec) == {"f": 2.5, "d": -0.5}
