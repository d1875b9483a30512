"""dmfkd.targets.isf: the ISF JSON reader, on a small hand-written file and on malformed ones.

Expected values below are read off tests/data/isf/small.isf.json by hand (RVA + image base
0xfffff80000000000), not produced by the reader.
"""
import copy
import gzip
import json

import pytest

from dmfkd.errors import FormatError, SymbolError
from dmfkd.targets.isf import IsfSymbols
from dmfkd.targets.symbols import Field

from helpers.paths import SMALL_ISF as SMALL
BASE = 0xFFFFF80000000000


@pytest.fixture
def isf():
    return IsfSymbols.load(SMALL)


@pytest.fixture
def document():
    with open(SMALL) as f:
        return json.load(f)


def write(tmp_path, doc, name="bad.isf.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(path)


def test_metadata(isf):
    assert isf.module == "dmfdemo"
    assert isf.image_base == BASE
    assert isf.arch == "x64"
    assert isf.dmf_version == "1.1.154"
    assert isf.pointer_size == 8


def test_address_of_qualified_and_bare(isf):
    assert isf.address_of("dmfdemo!g_DmfModuleCrashDump") == BASE + 0x3000
    assert isf.address_of("g_DmfModuleCrashDump") == BASE + 0x3000
    assert isf.address_of("DMFDEMO!DriverEntry") == BASE + 0x1000  # module names are case-insensitive
    assert isf.has_symbol("dmfdemo!g_DemoRecord")
    assert not isf.has_symbol("dmfdemo!g_Nope")


def test_wrong_module_and_unknown_symbol(isf):
    with pytest.raises(SymbolError, match="describes module 'dmfdemo', not 'otherdrv'"):
        isf.address_of("otherdrv!g_DmfModuleCrashDump")
    with pytest.raises(SymbolError, match="no symbol 'g_Missing'"):
        isf.address_of("g_Missing")


def test_base_override():
    moved = IsfSymbols.load(SMALL, base=0xFFFFF80512340000)
    assert moved.image_base == 0xFFFFF80512340000
    assert moved.address_of("dmfdemo!g_DemoRecord") == 0xFFFFF80512340000 + 0x3040


def test_no_image_base_refuses_addresses_but_gives_types(tmp_path, document):
    del document["metadata"]["dmfkd"]
    syms = IsfSymbols.load(write(tmp_path, document))
    assert syms.module is None and syms.image_base is None
    with pytest.raises(SymbolError, match="image base is unknown"):
        syms.address_of("g_DemoRecord")
    assert syms.type_layout("_GUID").size == 16
    # without a module name in the file, any "module!" prefix is accepted
    assert syms.type_layout("anymod!_GUID").size == 16


def test_type_layout_fields(isf):
    layout = isf.type_layout("dmfdemo!_DEMO_RECORD")
    assert layout.name == "_DEMO_RECORD"
    assert layout.size == 48
    assert list(layout.fields) == ["Signature", "State", "Guid", "Next", "Buffer", "Flags", "Delta"]
    assert layout.fields["Signature"] == Field("Signature", 0, "unsigned long", 4)
    assert layout.fields["State"] == Field("State", 4, "_DEMO_STATE", 4, enum="_DEMO_STATE")
    assert layout.fields["Guid"] == Field("Guid", 8, "_GUID", 16)
    assert layout.fields["Next"] == Field("Next", 24, "_DEMO_RECORD *", 8)
    assert layout.fields["Buffer"] == Field("Buffer", 32, "void *", 8)
    assert layout.fields["Flags"] == Field("Flags", 40, "unsigned long : 2", 4, 3, 2)
    assert layout.fields["Delta"] == Field("Delta", 44, "long", 4)
    guid = isf.type_layout("_GUID")
    assert guid.fields["Data4"] == Field("Data4", 8, "unsigned char[8]", 8)


def test_enum_constants_by_name(isf):
    state = isf.type_layout("_DEMO_RECORD").fields["State"]
    enum = isf.enum_type(state.enum)
    assert enum.name == "_DEMO_STATE" and enum.size == 4
    assert enum.constants and all(enum.name_of(v) == k for k, v in enum.constants.items())
    assert isf.enum_type("DEMO_STATE") == enum  # typedef spelling, as for structs
    with pytest.raises(SymbolError, match="no enum"):
        isf.enum_type("NOPE")


def test_typedef_name_without_underscore(isf):
    # a PDB typedef DEMO_RECORD names struct _DEMO_RECORD
    assert isf.type_layout("DEMO_RECORD").name == "_DEMO_RECORD"
    with pytest.raises(SymbolError, match="no type 'NOPE'"):
        isf.type_layout("NOPE")


def test_search_glob(isf):
    assert isf.search("*!g_DmfModuleCrashDump") == [("dmfdemo!g_DmfModuleCrashDump", BASE + 0x3000)]
    assert isf.search("dmfdemo!g_*") == [("dmfdemo!g_DmfModuleCrashDump", BASE + 0x3000),
                                         ("dmfdemo!g_DemoRecord", BASE + 0x3040)]
    assert isf.search("G_DEMO*") == [("dmfdemo!g_DemoRecord", BASE + 0x3040)]  # case-insensitive, like `x`
    assert isf.search("other!g_*") == []


def test_symbol_type_descriptor(isf):
    assert isf.symbol_type("g_DemoRecord") == {"kind": "struct", "name": "_DEMO_RECORD"}
    assert isf.symbol_type("DriverEntry") is None


def test_gzip_isf(tmp_path, document):
    path = tmp_path / "small.isf.json.gz"
    with gzip.open(str(path), "wt", encoding="utf-8") as f:
        json.dump(document, f)
    assert IsfSymbols.load(str(path)).address_of("g_DemoRecord") == BASE + 0x3040


# -- malformed files: one FormatError naming the file and what is wrong -------------------------

def _mutate(document, change):
    doc = copy.deepcopy(document)
    change(doc)
    return doc


MALFORMED = [
    ("not json", "{\"metadata\": ", "not JSON"),
    ("top-level list", [1, 2], "top level is a list"),
    ("no symbols", lambda d: d.pop("symbols"), "no 'symbols' section"),
    ("user_types not object", lambda d: d.__setitem__("user_types", []), "'user_types' is a list"),
    ("no format", lambda d: d["metadata"].pop("format"), "no 'format' version"),
    ("future format", lambda d: d["metadata"].__setitem__("format", "9.0.0"), "format '9.0.0' not supported"),
    ("offset is a string", lambda d: d["user_types"]["_GUID"]["fields"]["Data2"].__setitem__("offset", "4"),
     "user_types['_GUID'].fields['Data2'].offset is not a non-negative integer"),
    ("offset past the type", lambda d: d["user_types"]["_GUID"]["fields"]["Data2"].__setitem__("offset", 99),
     "lies past the end of the 16-byte type"),
    ("unknown struct", lambda d: d["user_types"]["_DEMO_RECORD"]["fields"]["Guid"]["type"].__setitem__("name", "_NOPE"),
     "names struct '_NOPE', which user_types does not define"),
    ("unknown base", lambda d: d["symbols"]["g_DmfModuleCrashDump"]["type"]["subtype"].__setitem__("name", "bogus"),
     "names base type 'bogus'"),
    ("bad kind", lambda d: d["user_types"]["_GUID"].__setitem__("kind", "blob"), "kind 'blob'"),
    ("negative address", lambda d: d["symbols"]["DriverEntry"].__setitem__("address", -1),
     "symbols['DriverEntry'].address is not a non-negative integer"),
    ("huge array", lambda d: d["user_types"]["_GUID"]["fields"]["Data4"]["type"].__setitem__("count", 1 << 40),
     "count is not an integer in"),
    ("bad image base", lambda d: d["metadata"]["dmfkd"].__setitem__("image_base", "0xfffff800"),
     "image_base is not a non-negative integer"),
    ("enum without size", lambda d: d["enums"]["_DEMO_STATE"].pop("size"), "enums['_DEMO_STATE'] has no positive"),
]


@pytest.mark.parametrize("label,change,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_isf(tmp_path, document, label, change, message):
    doc = _mutate(document, change) if callable(change) else change
    path = write(tmp_path, doc)
    with pytest.raises(FormatError) as info:
        IsfSymbols.load(path)
    text = str(info.value)
    assert text.startswith(path + ": ")
    assert message in text
    assert "\n" not in text


def test_descriptor_nesting_bounded(tmp_path, document):
    desc = {"kind": "base", "name": "unsigned long"}
    for _ in range(100):
        desc = {"kind": "pointer", "subtype": desc}
    document["symbols"]["deep"] = {"address": 0, "type": desc}
    with pytest.raises(FormatError, match="nests deeper than"):
        IsfSymbols.load(write(tmp_path, document))


def test_missing_file(tmp_path):
    missing = str(tmp_path / "nope.json")
    with pytest.raises(FormatError, match="no such file"):
        IsfSymbols.load(missing)
