"""Hostile PDB files: broken MSF containers name what is wrong in one FormatError line; random
mutations (hypothesis: bit flips, truncations, wild stream sizes, block indexes and record lengths)
of a hand-built driver PDB and of a real MSVC PDB give only FormatError or SymbolError, quickly."""
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmfkd.errors import FormatError, SymbolError
from dmfkd.targets.pdb import PdbSymbols, read_identity

from helpers import pdb_builder as B
from helpers.paths import DATA

MSVC_X64 = os.path.join(DATA, "msvc-pdb", "x64", "xcpt4.pdb")


def _small_pdb() -> bytes:
    """A driver PDB with every structure the reader walks, in 512-byte blocks (so the directory,
    block map and streams span many blocks)."""
    types = [
        B.leaf(B.LF_STRUCTURE, B.struct_payload("_CTX", 0, 0, B.PROP_FORWARD, unique=".?AU_CTX@@")),
        B.pointer(0x1000),
        B.leaf(B.LF_BITFIELD, struct.pack("<IBB", B.T_ULONG, 4, 2)),
        B.leaf(B.LF_FIELDLIST, B.enumerate_("A", 0) + B.enumerate_("B", -5)),
        B.leaf(B.LF_ENUM, B.enum_payload("_E", 0x1003)),
        B.array(B.T_UCHAR, 16),
        B.leaf(B.LF_FIELDLIST, B.member("Next", 0x1001, 0) + B.member("Bits", 0x1002, 8) + B.member("E", 0x1004, 12)
               + B.member("Name", 0x1005, 16) + B.index(0x1007)),
        B.leaf(B.LF_FIELDLIST, B.member("Tail", B.T_UQUAD, 32)),
        B.leaf(B.LF_STRUCTURE, B.struct_payload("_CTX", 0x1006, 40, unique=".?AU_CTX@@")),
    ]
    symbols = [B.data_symbol(B.S_GDATA32, "g_Ctx", 2, 0x10, 0x1008), B.udt("CTX", 0x1008), B.public("Entry", 1, 0),
               B.procref("Helper", 1, 4)]
    module = [B.procedure(B.S_GPROC32, "Helper", 1, 0x80, end=4 + 60), B.data_symbol(B.S_LDATA32, "inner", 2, 1),
              B.sym(B.S_END, b""), B.data_symbol(B.S_LDATA32, "g_DmfModuleCrashDump", 2, 0x20, B.T_64PVOID)]
    return B.pdb_file(types, symbols, [module], block_size=512)


SMALL = _small_pdb()


def _exercise(path: str) -> None:
    """Everything a dmfkd command may ask of a PDB."""
    read_identity(path)
    with PdbSymbols.open(path, image_base=0x10000) as symbols:
        for name in ("CTX", "_CTX", "_E"):
            try:
                layout = symbols.type_layout(name)
                for field in layout.fields.values():
                    try:
                        symbols.type_layout(field.type_name)
                    except SymbolError:
                        pass
            except SymbolError:
                pass
        for name in ("_E", "E"):
            try:
                symbols.enum_type(name)
            except SymbolError:
                pass
        for name in ("g_Ctx", "g_DmfModuleCrashDump", "Helper", "Entry", "nothing"):
            try:
                symbols.address_of(name)
            except SymbolError:
                pass
        symbols.search("*")
        symbols.data_symbols()
        for index in range(symbols.types.begin, min(symbols.types.end, symbols.types.begin + 64)):
            try:
                symbols.type_layout_at(index)
            except SymbolError:
                pass
            symbols.types.type_name(index)
            symbols.types.type_size(index)


def _must_be_format_error(tmp_path, data: bytes, name: str = "hostile.pdb") -> FormatError:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(FormatError) as info:
        _exercise(str(path))
    message = str(info.value)
    assert message.startswith(str(path) + ": ") and "\n" not in message
    return info.value


def test_the_builders_pdb_reads_whole(tmp_path):
    path = tmp_path / "small.pdb"
    path.write_bytes(SMALL)
    _exercise(str(path))
    with PdbSymbols.open(str(path), image_base=0x10000) as symbols:
        assert list(symbols.type_layout("CTX").fields) == ["Next", "Bits", "E", "Name", "Tail"]
        assert symbols.address_of("g_DmfModuleCrashDump") == 0x10000 + 0x2000 + 0x20


def _superblock(data: bytes, **fields) -> bytes:
    names = ["block_size", "free_map", "num_blocks", "directory_bytes", "unknown", "block_map"]
    values = list(struct.unpack_from("<6I", data, 32))
    for key, value in fields.items():
        values[names.index(key)] = value
    return data[:32] + struct.pack("<6I", *values) + data[56:]


@pytest.mark.parametrize("change, what", [
    (lambda d: b"", "not a PDB file"),
    (lambda d: d[:40], "not a PDB file"),
    (lambda d: b"Microsoft C/C++ program database 2.00\r\n\x1aJG\0\0" + bytes(64), "program database 2.00"),
    (lambda d: b"MSCF" + bytes(64), "compressed symbol file"),
    (lambda d: b"PAGEDU64" + bytes(64), "not a PDB file"),
    (lambda d: _superblock(d, block_size=1000), "block size 1000"),
    (lambda d: _superblock(d, num_blocks=1 << 30), "cut short"),
    (lambda d: d[:len(d) // 2], "cut short"),
    (lambda d: _superblock(d, block_map=0), "outside blocks"),
    (lambda d: _superblock(d, block_map=10 ** 6), "outside blocks"),
    (lambda d: _superblock(d, directory_bytes=2), "directory size"),
    (lambda d: _superblock(d, directory_bytes=512 * 512), "directory size"),
])
def test_broken_containers_are_one_line(tmp_path, change, what):
    error = _must_be_format_error(tmp_path, change(SMALL))
    assert what in error.what


def _directory_offset(data: bytes) -> int:
    block_size, _, _, _, _, block_map = struct.unpack_from("<6I", data, 32)
    first = struct.unpack_from("<I", data, block_map * block_size)[0]
    return first * block_size


def test_wild_stream_sizes_and_block_indexes(tmp_path):
    directory = _directory_offset(SMALL)
    count = struct.unpack_from("<I", SMALL, directory)[0]
    too_many = bytearray(SMALL)
    struct.pack_into("<I", too_many, directory, 0x7FFFFFFF)
    assert "streams" in _must_be_format_error(tmp_path, bytes(too_many), "a.pdb").what
    huge = bytearray(SMALL)
    struct.pack_into("<I", huge, directory + 4 + 4 * 2, 0xFFFFFF00)       # the TPI stream's size
    assert "bytes" in _must_be_format_error(tmp_path, bytes(huge), "b.pdb").what
    wild = bytearray(SMALL)
    struct.pack_into("<I", wild, directory + 4 + 4 * count, 0xFFFFFFF0)   # the first stream block
    assert "block" in _must_be_format_error(tmp_path, bytes(wild), "c.pdb").what


def test_a_fifo_or_a_directory_is_refused_without_waiting(tmp_path):
    os.mkfifo(str(tmp_path / "fifo.pdb"))
    for path in (tmp_path / "fifo.pdb", tmp_path):
        with pytest.raises(FormatError):
            PdbSymbols.open(str(path))
    with pytest.raises(FormatError, match="cannot open"):
        PdbSymbols.open(str(tmp_path / "missing.pdb"))


def _mutations(size: int):
    flip = st.tuples(st.just("flip"), st.integers(0, size - 1), st.integers(0, 7))
    word = st.tuples(st.just("word"), st.integers(0, size - 4), st.sampled_from([0, 1, 0x7F, 0x1000, 0x8000, 0xFFFF,
                                                                                 0x7FFFFFFF, 0xFFFFFFFF]))
    cut = st.tuples(st.just("cut"), st.integers(0, size - 1), st.just(0))
    return st.lists(st.one_of(flip, word, cut), min_size=1, max_size=6)


def _apply(data: bytes, mutations) -> bytes:
    out = bytearray(data)
    for kind, where, value in mutations:
        if where >= len(out):
            continue
        if kind == "flip":
            out[where] ^= 1 << value
        elif kind == "word" and where + 4 <= len(out):
            struct.pack_into("<I", out, where, value)
        elif kind == "cut":
            del out[where:]
    return bytes(out)


def _only_format_or_symbol_errors(tmp_path, data: bytes) -> None:
    path = tmp_path / "fuzz.pdb"
    path.write_bytes(data)
    try:
        _exercise(str(path))
    except (FormatError, SymbolError) as exc:
        assert "\n" not in str(exc)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=_mutations(len(SMALL)))
def test_mutated_builder_pdbs_give_only_one_line_errors(tmp_path, mutations):
    _only_format_or_symbol_errors(tmp_path, _apply(SMALL, mutations))


MSVC_DATA = open(MSVC_X64, "rb").read()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=_mutations(len(MSVC_DATA)))
def test_mutated_msvc_pdbs_give_only_one_line_errors(tmp_path, mutations):
    _only_format_or_symbol_errors(tmp_path, _apply(MSVC_DATA, mutations))
