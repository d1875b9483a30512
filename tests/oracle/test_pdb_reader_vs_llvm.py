"""dmfkd's PDB reader against LLVM's llvm-pdbutil on real Microsoft-toolchain PDBs
(tests/data/msvc-pdb/{x64,x86,ARM64}/xcpt4.pdb, with every record kind MSVC emits, including the
IPI stream's LF_SUBSTR_LIST that stops volatility3's pdbconv):

- every struct/class/union definition: size, data members (names, offsets) and bitfield positions
  and widths; every forward reference resolves to the definition llvm-pdbutil resolves it to;
- every enum: its constants with their values;
- every data symbol (S_GDATA32/S_LDATA32 of the globals and the module-scope data of every module
  stream): its RVA = section virtual address + offset;
- the .exe's CodeView (RSDS) record names its .pdb by GUID and age (nt/pe.py reading the image
  mapped as the loader maps it).

Skips with one line when llvm-pdbutil is missing (apt-get install llvm-14).
"""
import os

import pytest

from dmfkd.nt import pe
from dmfkd.targets.pdb import PdbSymbols, read_identity
from dmfkd.targets.pdb.tpi import is_anonymous

from helpers.paths import DATA
from helpers.pe_images import MappedImage
from oracle import llvm_pdbutil

ARCHES = ["x64", "x86", "ARM64"]
UDT_KINDS = ("LF_STRUCTURE", "LF_CLASS", "LF_UNION", "LF_INTERFACE")
BASE = 0x140000000


def _paths(arch):
    folder = os.path.join(DATA, "msvc-pdb", arch)
    return os.path.join(folder, "xcpt4.pdb"), os.path.join(folder, "xcpt4.exe")


@pytest.fixture(scope="module", params=ARCHES)
def case(request):
    if llvm_pdbutil.tool() is None:
        pytest.skip("llvm-pdbutil not installed (apt-get install llvm-14)")
    pdb_path, exe_path = _paths(request.param)
    symbols = PdbSymbols.open(pdb_path, image_base=BASE)
    yield request.param, pdb_path, exe_path, symbols, llvm_pdbutil.types(pdb_path)
    symbols.close()


def _field_list_members(records, index):
    members, enumerates = [], []
    seen = set()
    while index is not None and index not in seen:
        seen.add(index)
        record = records[index]
        members += record.members
        enumerates += record.enumerates
        index = record.continuation
    return members, enumerates


def test_every_structure_class_and_union_has_llvms_size_members_offsets_and_bitfields(case):
    arch, _, _, symbols, records = case
    types = symbols.types
    checked = 0
    for index, record in sorted(records.items()):
        if record.kind not in UDT_KINDS or record.forward:
            continue
        layout = symbols.type_layout_at(index)
        if is_anonymous(record.name):
            assert symbols.type_layout("__unnamed_%x" % index) == layout
        elif types.find_record(record.name) == index:
            assert symbols.type_layout(record.name) == layout
        else:
            assert layout.name == record.name      # a second definition of a name (C allows it)
        assert layout.size == record.size, record.name
        members, _ = _field_list_members(records, record.field_list)
        expected = []
        for name, type_index, offset in members:
            if name not in [m[0] for m in expected]:
                expected.append((name, type_index, offset))
        assert list(layout.fields) == [name for name, _, _ in expected], record.name
        for name, type_index, offset in expected:
            field = layout.fields[name]
            assert field.offset == offset, (record.name, name)
            bits = records[type_index].bitfield if type_index >= 0x1000 else None
            if bits is not None:
                assert (field.bit_position, field.bit_length) == (bits[1], bits[2]), (record.name, name)
            else:
                assert field.bit_position is None and field.bit_length is None
        checked += 1
    assert checked > 100


def test_every_definition_is_found_where_llvm_finds_it(case):
    """Forward references resolve to llvm-pdbutil's definition; names to their first definition."""
    _, _, _, symbols, records = case
    types = symbols.types
    first = {}
    for index, record in sorted(records.items()):
        if record.kind in UDT_KINDS + ("LF_ENUM",) and not record.forward:
            first.setdefault((record.kind == "LF_ENUM", record.name), index)
    for index, record in records.items():
        if record.kind in UDT_KINDS + ("LF_ENUM",) and record.forward and record.forward_target is not None:
            assert types.definition(index) == record.forward_target, hex(index)
    for (is_enum, name), index in first.items():
        found = types.find_enum(name) if is_enum else types.find_record(name)
        assert found == index, name


def test_every_enum_has_llvms_constants(case):
    _, _, _, symbols, records = case
    checked = 0
    for index, record in sorted(records.items()):
        if record.kind != "LF_ENUM" or record.forward or symbols.types.find_enum(record.name) != index:
            continue
        _, enumerates = _field_list_members(records, record.field_list)
        enum = symbols.enum_type(record.name)
        assert list(enum.constants.items()) == list(dict(enumerates).items()), record.name
        checked += 1
    assert checked >= 50


def test_every_data_symbol_rva_is_llvms(case):
    _, pdb_path, _, symbols, _ = case
    sections = llvm_pdbutil.sections(pdb_path)
    assert [s.virtual_address for s in symbols.sections()] == sections

    def rva(section, offset):
        return sections[section - 1] + offset if 1 <= section <= len(sections) else None

    expected = [(0, name, rva(section, offset)) for name, section, offset in llvm_pdbutil.globals_data(pdb_path)]
    expected += [(module, name, rva(section, offset))
                 for module, name, section, offset in llvm_pdbutil.module_data(pdb_path)]
    expected = [item for item in expected if item[2] is not None]     # absolute symbols have no address
    mine = symbols.data_symbols()
    assert sorted(mine) == sorted(expected)
    assert len([m for m in mine if m[0] == 0]) > 40 and len([m for m in mine if m[0] > 0]) >= 10
    # by name: a name only one record carries resolves to it
    names = {}
    for _, name, address in expected:
        names.setdefault(name, set()).add(address)
    for name, addresses in names.items():
        if len(addresses) == 1:
            assert symbols.address_of("xcpt4!" + name) == BASE + addresses.pop(), name


def test_the_exe_names_its_pdb_by_guid_and_age(case):
    arch, pdb_path, exe_path, symbols, _ = case
    summary = llvm_pdbutil.summary(pdb_path)
    info = pe.read_image(MappedImage(exe_path, BASE), BASE)
    assert info.headers == pe.OK and info.codeview_status == pe.OK
    assert info.arch == {"x64": "x64", "x86": "x86", "ARM64": "arm64"}[arch] == symbols.arch
    assert str(info.codeview.guid).upper() == summary["guid"] == str(symbols.pdb_guid).upper()
    assert info.codeview.age == summary["age"] == symbols.pdb_age
    assert info.codeview.path.lower().endswith("xcpt4.pdb")
    identity = read_identity(pdb_path)
    assert (identity.guid, identity.age) == (info.codeview.guid, info.codeview.age)
