"""Hand-built PDB files (MSF 7.0) for the PDB reader's tests: every byte chosen by the test, so a
record kind, a hostile length or a self-referencing type can be put exactly where it is wanted.

    records = [leaf(LF_FIELDLIST, member(...)), leaf(LF_STRUCTURE, struct_payload(...))]
    data = pdb_file(types=records, symbols=[sym(S_GDATA32, ...)], modules=[[sym(...)]], sections=[0x1000])

Type indexes start at 0x1000 in the order of `types`.
"""
import struct
import uuid
from typing import List, Optional, Sequence

MAGIC = b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0"
GUID = uuid.UUID("0c0ffee0-1234-4abc-8def-0123456789ab")

LF_MODIFIER, LF_POINTER, LF_PROCEDURE, LF_ARGLIST = 0x1001, 0x1002, 0x1008, 0x1201
LF_FIELDLIST, LF_BITFIELD, LF_ARRAY = 0x1203, 0x1205, 0x1503
LF_CLASS, LF_STRUCTURE, LF_UNION, LF_ENUM = 0x1504, 0x1505, 0x1506, 0x1507
LF_STRUCTURE_ST, LF_STRUCTURE2, LF_UNION2 = 0x1005, 0x1609, 0x160A
LF_MEMBER, LF_ENUMERATE, LF_INDEX, LF_NESTTYPE, LF_ONEMETHOD, LF_BCLASS = 0x150D, 0x1502, 0x1404, 0x1510, 0x1511, 0x1400
LF_MEMBER_ST = 0x1405
S_UDT, S_LDATA32, S_GDATA32, S_PUB32, S_GPROC32, S_LPROC32, S_END, S_PROCREF = (
    0x1108, 0x110C, 0x110D, 0x110E, 0x1110, 0x110F, 0x0006, 0x1125)
PROP_FORWARD, PROP_UNIQUE = 0x80, 0x200
T_ULONG, T_UCHAR, T_INT4, T_VOID, T_64PVOID, T_UQUAD = 0x22, 0x20, 0x74, 0x03, 0x603, 0x23


def cstr(text: str) -> bytes:
    return text.encode("utf-8") + b"\0"


def pascal(text: str) -> bytes:
    raw = text.encode("utf-8")
    return bytes([len(raw)]) + raw


def numeric(value: int) -> bytes:
    if 0 <= value < 0x8000:
        return struct.pack("<H", value)
    if -0x80000000 <= value < 0:
        return struct.pack("<Hi", 0x8003, value)
    if value <= 0xFFFFFFFF:
        return struct.pack("<HI", 0x8004, value)
    return struct.pack("<HQ", 0x800A, value)


def _pad(data: bytes) -> bytes:
    """LF_PADn bytes up to a 4-byte boundary (counting the 2-byte length in front)."""
    extra = -(len(data) + 2) % 4
    return data + bytes(0xF0 | (extra - i) for i in range(extra))


def leaf(kind: int, payload: bytes) -> bytes:
    body = _pad(struct.pack("<H", kind) + payload)
    return struct.pack("<H", len(body)) + body


def member(name: str, type_index: int, offset: int, kind: int = LF_MEMBER) -> bytes:
    name_bytes = pascal(name) if kind == LF_MEMBER_ST else cstr(name)
    return _pad_member(struct.pack("<HHI", kind, 3, type_index) + numeric(offset) + name_bytes)


def enumerate_(name: str, value: int) -> bytes:
    return _pad_member(struct.pack("<HH", LF_ENUMERATE, 3) + numeric(value) + cstr(name))


def index(continuation: int) -> bytes:
    return struct.pack("<HHI", LF_INDEX, 0, continuation)


def _pad_member(data: bytes) -> bytes:
    extra = -len(data) % 4
    return data + bytes(0xF0 | (extra - i) for i in range(extra))


def struct_payload(name: str, field_list: int, size: int, properties: int = 0, unique: Optional[str] = None,
                   count: int = 0) -> bytes:
    if unique is not None:
        properties |= PROP_UNIQUE
    data = struct.pack("<HHIII", count, properties, field_list, 0, 0) + numeric(size) + cstr(name)
    return data + (cstr(unique) if unique is not None else b"")


def union_payload(name: str, field_list: int, size: int, properties: int = 0) -> bytes:
    return struct.pack("<HHI", 0, properties, field_list) + numeric(size) + cstr(name)


def enum_payload(name: str, field_list: int, underlying: int = T_INT4, properties: int = 0) -> bytes:
    return struct.pack("<HHII", 0, properties, underlying, field_list) + cstr(name)


def pointer(referent: int, size: int = 8) -> bytes:
    return leaf(LF_POINTER, struct.pack("<II", referent, 0x0C | (size << 13)))


def array(element: int, total: int) -> bytes:
    return leaf(LF_ARRAY, struct.pack("<II", element, T_UQUAD) + numeric(total) + b"\0")


def tpi_stream(records: Sequence[bytes], begin: int = 0x1000, end: Optional[int] = None,
               version: int = 20040203) -> bytes:
    body = b"".join(records)
    end = begin + len(records) if end is None else end
    header = struct.pack("<IIIII HH IIiIiIiI", version, 56, begin, end, len(body), 0xFFFF, 0xFFFF, 4, 0,
                         0, 0, 0, 0, 0, 0)
    return header + body


def info_stream(guid: uuid.UUID = GUID, age: int = 1, version: int = 20140508) -> bytes:
    return struct.pack("<III", version, 0x5F000000, age) + guid.bytes_le + bytes(8)


def sym(kind: int, payload: bytes) -> bytes:
    return leaf(kind, payload)


def data_symbol(kind: int, name: str, section: int, offset: int, type_index: int = T_ULONG) -> bytes:
    return sym(kind, struct.pack("<IIH", type_index, offset, section) + cstr(name))


def public(name: str, section: int, offset: int) -> bytes:
    return sym(S_PUB32, struct.pack("<IIH", 0, offset, section) + cstr(name))


def udt(name: str, type_index: int) -> bytes:
    return sym(S_UDT, struct.pack("<I", type_index) + cstr(name))


def procedure(kind: int, name: str, section: int, offset: int, end: int = 0) -> bytes:
    return sym(kind, struct.pack("<IIIIIIIIHB", 0, end, 0, 16, 0, 16, 0x1000, offset, section, 0) + cstr(name))


def procref(name: str, module: int, offset: int) -> bytes:
    return sym(S_PROCREF, struct.pack("<IIH", 0, offset, module) + cstr(name))


def section_headers(addresses: Sequence[int]) -> bytes:
    return b"".join(struct.pack("<8sIIIIIIHHI", (".s%d" % i).encode(), 0x1000, va, 0, 0, 0, 0, 0, 0, 0)
                    for i, va in enumerate(addresses))


def dbi_stream(symbol_stream: int, section_stream: int, module_streams: Sequence[Optional[int]] = (),
               module_sizes: Sequence[int] = (), machine: int = 0x8664, age: int = 1) -> bytes:
    modules = b""
    for number, (stream, size) in enumerate(zip(module_streams, module_sizes)):
        fixed = struct.pack("<I HHiIIHHII HH IIIHHIII", 0, 0, 0, 0, 0, 0, number, 0, 0, 0, 0,
                            0xFFFF if stream is None else stream, size, 0, 0, 0, 0, 0, 0, 0)
        entry = fixed + cstr("m%d.obj" % number) + cstr("m%d.obj" % number)
        modules += entry + bytes(-len(entry) % 4)
    debug = struct.pack("<11H", *[section_stream if i == 5 else 0xFFFF for i in range(11)])
    header = struct.pack("<iIIHHHHHHiiiiiIiiHHI", -1, 19990903, age, 0xFFFF, 0, 0xFFFF, 0, symbol_stream, 0,
                         len(modules), 0, 0, 0, 0, 0, len(debug), 0, 0, machine, 0)
    return header + modules + debug


def msf(streams: Sequence[bytes], block_size: int = 4096) -> bytes:
    """Blocks: 0 superblock, 1-2 free block maps, the streams, the directory, the block map."""
    blocks = [bytes(block_size)] * 3
    lists = []
    for data in streams:
        numbers = []
        for start in range(0, len(data), block_size):
            numbers.append(len(blocks))
            blocks.append(data[start:start + block_size].ljust(block_size, b"\0"))
        lists.append(numbers)
    directory = struct.pack("<I", len(streams)) + b"".join(struct.pack("<I", len(d)) for d in streams)
    directory += b"".join(struct.pack("<%dI" % len(numbers), *numbers) for numbers in lists)
    directory_blocks = []
    for start in range(0, len(directory), block_size):
        directory_blocks.append(len(blocks))
        blocks.append(directory[start:start + block_size].ljust(block_size, b"\0"))
    block_map = len(blocks)
    blocks.append(struct.pack("<%dI" % len(directory_blocks), *directory_blocks).ljust(block_size, b"\0"))
    blocks[0] = (MAGIC + struct.pack("<6I", block_size, 1, len(blocks), len(directory), 0, block_map)).ljust(
        block_size, b"\0")
    return b"".join(blocks)


def pdb_file(types: Sequence[bytes] = (), symbols: Sequence[bytes] = (), modules: Sequence[Sequence[bytes]] = (),
             sections: Sequence[int] = (0x1000, 0x2000), machine: int = 0x8664, guid: uuid.UUID = GUID, age: int = 1,
             tpi: Optional[bytes] = None, block_size: int = 4096) -> bytes:
    """A whole PDB: streams 0 (old directory), 1 info, 2 TPI, 3 DBI, 4 IPI (empty TPI), 5 symbol
    records, 6 section headers, 7... one per module (u32 4, then its symbols)."""
    module_data = [struct.pack("<I", 4) + b"".join(records) for records in modules]
    streams: List[bytes] = [b"", info_stream(guid, age), tpi if tpi is not None else tpi_stream(types), b"",
                            tpi_stream([]), b"".join(symbols), section_headers(sections)]
    streams[3] = dbi_stream(5, 6, [7 + i for i in range(len(module_data))], [len(d) for d in module_data], machine,
                            age)
    return msf(streams + module_data, block_size)
