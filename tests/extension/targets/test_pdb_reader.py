"""The PDB reader (targets/pdb) on hand-built PDBs (tests/helpers/pdb_builder.py: every record placed
by the test) and on the real MSVC PDBs in tests/data/msvc-pdb (facts as llvm-pdbutil prints them; the
full comparison with llvm-pdbutil is tests/oracle/test_pdb_reader_vs_llvm.py)."""
import os
import struct
import uuid

import pytest

from dmfkd.decode import TypeDecoder
from dmfkd.errors import FormatError, SymbolError
from dmfkd.targets.pdb import PdbSymbols, read_identity
from dmfkd.targets.symbols import EnumType, Field, Symbols

from helpers import pdb_builder as B
from helpers.paths import DATA

MSVC = {arch: os.path.join(DATA, "msvc-pdb", arch, "xcpt4.pdb") for arch in ("x64", "x86", "ARM64")}
BASE = 0xFFFFF80012340000


def _open(tmp_path, data, name="drv.pdb", **kwargs):
    path = tmp_path / name
    path.write_bytes(data)
    return PdbSymbols.open(str(path), **kwargs)


# A small driver: struct _DEVICE_CONTEXT { ULONG Signature; UCHAR Flags:3; UCHAR Kind:5; STATE State;
# struct _DEVICE_CONTEXT *Next; UCHAR Name[16];
# union { ULONG AsUlong; USHORT Low; } u; } (the union anonymous, as MSVC names it), typedef DEVICE_CONTEXT, enum _STATE { Idle, Busy, Gone = -1 }.
T_FWD, T_PTR, T_BITS3, T_BITS5, T_ENUM_FIELDS, T_ENUM, T_ARRAY, T_UNION_FIELDS, T_UNION, T_FIELDS, T_STRUCT = range(
    0x1000, 0x100B)
DRIVER_TYPES = [
    B.leaf(B.LF_STRUCTURE, B.struct_payload("_DEVICE_CONTEXT", 0, 0, B.PROP_FORWARD, unique=".?AU_DEVICE_CONTEXT@@")),
    B.pointer(T_FWD),
    B.leaf(B.LF_BITFIELD, struct.pack("<IBB", B.T_UCHAR, 3, 0)),
    B.leaf(B.LF_BITFIELD, struct.pack("<IBB", B.T_UCHAR, 5, 3)),
    B.leaf(B.LF_FIELDLIST, B.enumerate_("Idle", 0) + B.enumerate_("Busy", 1) + B.enumerate_("Gone", -1)),
    B.leaf(B.LF_ENUM, B.enum_payload("_STATE", T_ENUM_FIELDS)),
    B.array(B.T_UCHAR, 16),
    B.leaf(B.LF_FIELDLIST, B.member("AsUlong", B.T_ULONG, 0) + B.member("Low", 0x21, 0)),
    B.leaf(B.LF_UNION, B.union_payload("<unnamed-tag>", T_UNION_FIELDS, 4)),
    B.leaf(B.LF_FIELDLIST, B.member("Signature", B.T_ULONG, 0) + B.member("Flags", T_BITS3, 4)
           + B.member("Kind", T_BITS5, 4) + B.member("State", T_ENUM, 8) + B.member("Next", T_PTR, 16)
           + B.member("Name", T_ARRAY, 24) + B.member("u", T_UNION, 40)),
    B.leaf(B.LF_STRUCTURE, B.struct_payload("_DEVICE_CONTEXT", T_FIELDS, 48, unique=".?AU_DEVICE_CONTEXT@@")),
]
DRIVER_SYMBOLS = [B.data_symbol(B.S_GDATA32, "g_Global", 2, 0x10), B.udt("DEVICE_CONTEXT", T_STRUCT),
                  B.public("g_Global", 2, 0x10), B.public("DriverEntry", 1, 0x40),
                  B.procref("Helper", 1, 4)]
DRIVER_MODULE = [B.procedure(B.S_GPROC32, "Helper", 1, 0x80, end=4 + 60),
                 B.data_symbol(B.S_LDATA32, "s_FunctionStatic", 2, 0x99), B.sym(B.S_END, b""),
                 B.data_symbol(B.S_LDATA32, "g_DmfModuleCrashDump", 2, 0x20, B.T_64PVOID)]


@pytest.fixture
def driver(tmp_path):
    data = B.pdb_file(DRIVER_TYPES, DRIVER_SYMBOLS, [DRIVER_MODULE], sections=[0x1000, 0x4000])
    with _open(tmp_path, data, image_base=BASE) as symbols:
        yield symbols


def test_identity_arch_and_module(driver, tmp_path):
    assert isinstance(driver, Symbols)
    assert (driver.pdb_guid, driver.pdb_age, driver.arch, driver.module) == (B.GUID, 1, "x64", "drv")
    identity = read_identity(driver.source)
    assert (identity.guid, identity.age) == (B.GUID, 1)
    other = _open(tmp_path, B.pdb_file(machine=0x14C, age=7), name="x.pdb", module="mydriver")
    assert (other.arch, other.pdb_age, other.module, other.pointer_size, other.image_base) == ("x86", 7, "mydriver", 4,
                                                                                              None)


def test_type_layout_spells_fields_like_the_isf_reader(driver):
    layout = driver.type_layout("drv!_DEVICE_CONTEXT")
    assert (layout.name, layout.size) == ("_DEVICE_CONTEXT", 48)
    assert list(layout.fields.values()) == [
        Field("Signature", 0, "unsigned long", 4),
        Field("Flags", 4, "unsigned char : 3", 1, 0, 3),
        Field("Kind", 4, "unsigned char : 5", 1, 3, 5),
        Field("State", 8, "_STATE", 4, enum="_STATE"),
        Field("Next", 16, "_DEVICE_CONTEXT *", 8),
        Field("Name", 24, "unsigned char[16]", 16),
        Field("u", 40, "__unnamed_1008", 4),
    ]
    # the anonymous union resolves by the name it is spelled with
    union = driver.type_layout(layout.fields["u"].type_name)
    assert list(union.fields) == ["AsUlong", "Low"] and union.size == 4


def test_x_and_underscore_x_and_typedefs_resolve(driver):
    assert driver.type_layout("DEVICE_CONTEXT").name == "_DEVICE_CONTEXT"      # S_UDT typedef
    assert driver.type_layout("_DEVICE_CONTEXT") == driver.type_layout("DEVICE_CONTEXT")
    assert driver.enum_type("STATE") == EnumType("_STATE", 4, {"Idle": 0, "Busy": 1, "Gone": -1})
    assert driver.enum_type("_STATE").name_of(1) == "Busy"
    with pytest.raises(SymbolError, match="no type 'NOPE'"):
        driver.type_layout("NOPE")
    with pytest.raises(SymbolError, match="no enum"):
        driver.enum_type("_DEVICE_CONTEXT")
    with pytest.raises(SymbolError, match="describes module 'drv', not 'other'"):
        driver.type_layout("other!_DEVICE_CONTEXT")
    with pytest.raises(SymbolError):
        driver.type_layout("__unnamed_1005")        # an enum, not a structure


def test_symbols_resolve_globals_file_statics_functions_and_publics(driver):
    assert driver.address_of("drv!g_Global") == BASE + 0x4010
    # a file static lives in its module stream only (lld-link), not in a function's scope
    assert driver.address_of("g_DmfModuleCrashDump") == BASE + 0x4020
    assert driver.symbol_type_name("g_DmfModuleCrashDump") == "void *"
    assert driver.address_of("Helper") == BASE + 0x1080                 # S_PROCREF -> S_GPROC32
    assert driver.address_of("DriverEntry") == BASE + 0x1040            # a public only
    with pytest.raises(SymbolError):
        driver.address_of("s_FunctionStatic")                             # inside Helper's scope
    with pytest.raises(SymbolError, match="no symbol"):
        driver.address_of("drv!missing")
    assert driver.has_symbol("g_Global") and not driver.has_symbol("missing")


def test_search_is_a_case_insensitive_glob_like_x(driver):
    assert driver.search("*!g_DmfModuleCrashDump") == [("drv!g_DmfModuleCrashDump", BASE + 0x4020)]
    assert driver.search("drv!G_*") == [("drv!g_Global", BASE + 0x4010), ("drv!g_DmfModuleCrashDump", BASE + 0x4020)]
    assert driver.search("other!g_*") == []
    assert [name for name, _ in driver.search("*")] == ["drv!DriverEntry", "drv!Helper", "drv!g_Global",
                                                         "drv!g_DmfModuleCrashDump"]


def test_without_an_image_base_addresses_are_refused_but_rvas_are_known(tmp_path):
    symbols = _open(tmp_path, B.pdb_file(DRIVER_TYPES, DRIVER_SYMBOLS, [DRIVER_MODULE], sections=[0x1000, 0x4000]))
    assert symbols.rva_of("g_Global") == 0x4010
    with pytest.raises(SymbolError, match="image base is unknown"):
        symbols.address_of("g_Global")
    with pytest.raises(SymbolError, match="image base is unknown"):
        symbols.search("*")
    with pytest.raises(FormatError, match="non-negative integer"):
        PdbSymbols.open(symbols.source, image_base=-1)


def test_type_decoder_decodes_records_with_pdb_types_unchanged(driver):
    record = struct.pack("<IBxxxI4xQ16s", 0xFEEDF00D, 0b10101_011, 1, 0xFFFFF80000001000, b"dmfdemo") + \
        struct.pack("<I4x", 0x11223344)
    fields = TypeDecoder(driver, "drv!DEVICE_CONTEXT").fields(record)
    assert fields["Signature"] == 0xFEEDF00D and fields["Next"] == 0xFFFFF80000001000
    assert fields["State"] == 1 and fields["State"].name == "Busy"          # the enum's name, from the PDB
    assert (fields["Flags"], fields["Kind"]) == (0b011, 0b10101)             # the bits of each bitfield
    assert fields["Name"] == [ord(c) for c in "dmfdemo"] + [0] * 9
    assert fields["u"] == {"AsUlong": 0x11223344, "Low": 0x3344}


def test_x86_publics_answer_by_their_c_names(tmp_path):
    symbols = _open(tmp_path, B.pdb_file(symbols=[B.public("_g_Only", 1, 8), B.public("_Routine@8", 1, 0x10),
                                                  B.public("@Fast@4", 1, 0x20)], machine=0x14C), image_base=0x80000000)
    assert symbols.address_of("g_Only") == 0x80001008
    assert symbols.address_of("Routine") == 0x80001010 and symbols.address_of("Fast") == 0x80001020
    assert symbols.address_of("_Routine@8") == 0x80001010


def test_a_symbol_in_a_section_the_pdb_does_not_have_has_no_address(tmp_path):
    symbols = _open(tmp_path, B.pdb_file(symbols=[B.data_symbol(B.S_GDATA32, "__guard_flags", 3, 0x100)],
                                         sections=[0x1000]), image_base=0)
    with pytest.raises(SymbolError):
        symbols.address_of("__guard_flags")


def test_old_and_new_record_variants(tmp_path):
    """LF_STRUCTURE_ST (length-prefixed names), LF_STRUCTURE2/LF_UNION2 (32-bit properties), a size
    of 32 KiB or more (an LF_ULONG numeric), unknown leaf kinds and unknown field-list members."""
    fields = B.leaf(B.LF_FIELDLIST, B.member("A", B.T_ULONG, 0, kind=B.LF_MEMBER_ST) + B.member("Big", B.T_UCHAR,
                                                                                                 0x9000))
    types = [
        fields,
        B.leaf(B.LF_STRUCTURE_ST, struct.pack("<HHIII", 2, 0, 0x1000, 0, 0) + B.numeric(0x9001) + B.pascal("OLD")),
        B.leaf(B.LF_STRUCTURE2, struct.pack("<IIII", 0, 0x1000, 0, 0) + B.numeric(2) + B.numeric(0x9001) + B.cstr("NEW")),
        B.leaf(B.LF_UNION2, struct.pack("<II", 0, 0x1000) + B.numeric(2) + B.numeric(0x9001) + B.cstr("NEWU")),
        B.leaf(0x7777, b"whatever this is"),
        B.leaf(B.LF_FIELDLIST, B.member("Kept", B.T_ULONG, 0) + struct.pack("<HH", 0x1599, 0) + B.member("Lost", 0x22, 4)),
        B.leaf(B.LF_STRUCTURE, B.struct_payload("PARTLY", 0x1005, 8)),
        B.leaf(B.LF_FIELDLIST, B.member("Odd", 0x1004, 0)),
        B.leaf(B.LF_STRUCTURE, B.struct_payload("ODD", 0x1007, 8)),
    ]
    # length-prefixed names come with the Visual Studio 2002/2003 type stream version
    symbols = _open(tmp_path, B.pdb_file(tpi=B.tpi_stream(types, version=19990903)))
    for name in ("OLD", "NEW", "NEWU"):
        layout = symbols.type_layout(name)
        assert layout.size == 0x9001 and list(layout.fields) == ["A", "Big"], name
        assert layout.fields["Big"].offset == 0x9000
    assert list(symbols.type_layout("PARTLY").fields) == ["Kept"]
    assert symbols.type_layout("ODD").fields["Odd"] == Field("Odd", 0, "<type 0x7777>", None)


def test_forward_references_resolve_by_unique_name_then_by_name(tmp_path):
    types = [
        B.leaf(B.LF_STRUCTURE, B.struct_payload("S", 0, 0, B.PROP_FORWARD, unique=".?AUS@B@@")),
        B.leaf(B.LF_STRUCTURE, B.struct_payload("T", 0, 0, B.PROP_FORWARD)),
        B.leaf(B.LF_STRUCTURE, B.struct_payload("Incomplete", 0, 0, B.PROP_FORWARD)),
        B.leaf(B.LF_FIELDLIST, B.member("s", 0x1000, 0) + B.member("t", 0x1001, 8) + B.member("i", 0x1002, 16)),
        B.leaf(B.LF_STRUCTURE, B.struct_payload("S", 0, 4, unique=".?AUS@A@@")),      # same name, other unique
        B.leaf(B.LF_STRUCTURE, B.struct_payload("S", 0, 8, unique=".?AUS@B@@")),
        B.leaf(B.LF_STRUCTURE, B.struct_payload("T", 0, 12)),
        B.leaf(B.LF_STRUCTURE, B.struct_payload("HOLDER", 0x1003, 24)),
    ]
    symbols = _open(tmp_path, B.pdb_file(types))
    layout = symbols.type_layout("HOLDER")
    assert [(f.type_name, f.size) for f in layout.fields.values()] == [("S", 8), ("T", 12), ("Incomplete", None)]
    assert symbols.type_layout("S").size == 4                    # by name: the first definition


@pytest.mark.parametrize("records, what", [
    # a modifier, a pointer, an array of itself
    ([B.leaf(B.LF_MODIFIER, struct.pack("<IH", 0x1000, 1))], "nest deeper"),
    ([B.pointer(0x1000)], "nest deeper"),
    ([B.array(0x1000, 64)], "nest deeper"),
    # a member whose type index is past the table
    ([B.leaf(B.LF_FIELDLIST, B.member("x", 0x5000, 0))], "outside the type table"),
    # a field list continued by a record that is not a field list
    ([B.leaf(B.LF_FIELDLIST, B.member("x", B.T_ULONG, 0) + B.index(0x1001)), B.pointer(B.T_ULONG)],
     "not a field list"),
    # a numeric leaf kind that does not exist
    ([B.leaf(B.LF_FIELDLIST, struct.pack("<HHIH", B.LF_MEMBER, 3, B.T_ULONG, 0x8FFF) + b"x\0")],
     "unknown numeric leaf"),
])
def test_hostile_types_are_one_format_error(tmp_path, records, what):
    field_list = 0x1000 + next((i for i, r in enumerate(records) if struct.unpack_from("<H", r, 2)[0] == B.LF_FIELDLIST),
                               len(records))
    holder = B.leaf(B.LF_FIELDLIST, B.member("m", 0x1000, 0))
    types = list(records) + ([] if field_list < 0x1000 + len(records) else [holder])
    types.append(B.leaf(B.LF_STRUCTURE, B.struct_payload("HOSTILE", field_list, 8)))
    symbols = _open(tmp_path, B.pdb_file(types))
    with pytest.raises(FormatError, match=what) as info:
        symbols.type_layout("HOSTILE")
    assert str(info.value).startswith(symbols.source) and "\n" not in str(info.value)


def test_field_list_continuations_that_loop_end(tmp_path):
    types = [B.leaf(B.LF_FIELDLIST, B.member("a", B.T_ULONG, 0) + B.index(0x1001)),
             B.leaf(B.LF_FIELDLIST, B.member("b", B.T_ULONG, 4) + B.index(0x1000)),
             B.leaf(B.LF_STRUCTURE, B.struct_payload("LOOP", 0x1000, 8))]
    assert list(_open(tmp_path, B.pdb_file(types)).type_layout("LOOP").fields) == ["a", "b"]


def test_msvc_fixture_facts(tmp_path):
    """As llvm-pdbutil prints them for tests/data/msvc-pdb/x64/xcpt4.pdb (see PROVENANCE.md)."""
    with PdbSymbols.open(MSVC["x64"], image_base=0x140000000) as symbols:
        assert symbols.pdb_guid == uuid.UUID("C8C2329E-0E99-49E6-8B6F-132BECA69E7E") and symbols.pdb_age == 1
        layout = symbols.type_layout("EXCEPTION_RECORD")
        assert (layout.name, layout.size) == ("_EXCEPTION_RECORD", 152)
        assert [(f.name, f.offset) for f in layout.fields.values()] == [
            ("ExceptionCode", 0), ("ExceptionFlags", 4), ("ExceptionRecord", 8), ("ExceptionAddress", 16),
            ("NumberParameters", 24), ("ExceptionInformation", 32)]
        assert layout.fields["ExceptionInformation"].type_name == "unsigned long long[15]"
        assert symbols.enum_type("_TP_CALLBACK_PRIORITY").constants == {
            "TP_CALLBACK_PRIORITY_HIGH": 0, "TP_CALLBACK_PRIORITY_NORMAL": 1, "TP_CALLBACK_PRIORITY_LOW": 2,
            "TP_CALLBACK_PRIORITY_INVALID": 3, "TP_CALLBACK_PRIORITY_COUNT": 3}
        # a file static: `S_LDATA32 GS_ExceptionRecord addr = 0003:0112`, section 3 at 0xA000
        assert symbols.search("*!gs_exceptionrecord") == [("xcpt4!GS_ExceptionRecord", 0x140000000 + 0xA000 + 112)]
    for arch, expected in (("x86", "x86"), ("ARM64", "arm64")):
        with PdbSymbols.open(MSVC[arch]) as symbols:
            assert symbols.arch == expected


@pytest.mark.parametrize("arch", sorted(MSVC))
def test_lookups_by_search_agree_with_the_full_indexes(arch):
    """A name is found by searching for its bytes (no index built); the full indexes - built only
    for listings - must give the same first definition / first record for every name."""
    searched = PdbSymbols.open(MSVC[arch])
    indexed = PdbSymbols.open(MSVC[arch])
    records, enums, unique = indexed.types._name_index()
    for table, enum in ((records, False), (enums, True)):
        for name, type_index in table.items():
            assert searched.types._find(name, enum) == type_index, name
    for name, type_index in unique.items():
        assert searched.types._find(name, None, unique=True) == type_index, name
    assert searched.types._names is None
    by_search, by_index = searched._globals(), indexed._globals()
    for kind, table in by_index.tables.items():
        assert table, kind
        for name in table:
            assert by_search.get(kind, name.decode("utf-8", "surrogateescape")) == \
                by_index.get(kind, name.decode("utf-8", "surrogateescape")), (kind, name)
    assert by_search._tables is None
    searched.close()
    indexed.close()
