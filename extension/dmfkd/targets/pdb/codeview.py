"""CodeView primitives shared by the type and symbol readers: leaf and symbol kind numbers,
numeric leaves, names, and the built-in ("simple") type indexes below 0x1000.

Every reader works on one record's bytes and the offset range [start, end) it may touch; running
past `end` raises RecordOverrun, which the caller turns into a FormatError naming the file offset.
"""
import struct
from typing import Dict, Optional, Tuple

# -- type leaf kinds (cvinfo.h LEAF_ENUM_e) --------------------------------------------------------
LF_MODIFIER = 0x1001
LF_POINTER = 0x1002
LF_ARRAY_ST = 0x1003
LF_CLASS_ST = 0x1004
LF_STRUCTURE_ST = 0x1005
LF_UNION_ST = 0x1006
LF_ENUM_ST = 0x1007
LF_PROCEDURE = 0x1008
LF_MFUNCTION = 0x1009
LF_ARGLIST = 0x1201
LF_FIELDLIST = 0x1203
LF_BITFIELD = 0x1205
LF_ARRAY = 0x1503
LF_CLASS = 0x1504
LF_STRUCTURE = 0x1505
LF_UNION = 0x1506
LF_ENUM = 0x1507
LF_STRIDED_ARRAY = 0x1516
LF_INTERFACE = 0x1519
LF_CLASS2 = 0x1608
LF_STRUCTURE2 = 0x1609
LF_UNION2 = 0x160A
LF_INTERFACE2 = 0x160B

# field list members (no length of their own: each kind's layout must be known to step over it)
LF_ENUMERATE_ST = 0x0403
LF_BCLASS = 0x1400
LF_VBCLASS = 0x1401
LF_IVBCLASS = 0x1402
LF_FRIENDFCN_ST = 0x1403
LF_INDEX = 0x1404
LF_MEMBER_ST = 0x1405
LF_STMEMBER_ST = 0x1406
LF_METHOD_ST = 0x1407
LF_NESTTYPE_ST = 0x1408
LF_VFUNCTAB = 0x1409
LF_FRIENDCLS = 0x140A
LF_ONEMETHOD_ST = 0x140B
LF_VFUNCOFF = 0x140C
LF_NESTTYPEEX_ST = 0x140D
LF_MEMBERMODIFY_ST = 0x140E
LF_ENUMERATE = 0x1502
LF_FRIENDFCN = 0x150C
LF_MEMBER = 0x150D
LF_STMEMBER = 0x150E
LF_METHOD = 0x150F
LF_NESTTYPE = 0x1510
LF_ONEMETHOD = 0x1511
LF_NESTTYPEEX = 0x1512
LF_MEMBERMODIFY = 0x1513
LF_BINTERFACE = 0x151A

#: leaves whose names are length-prefixed (Pascal) strings rather than NUL-terminated
ST_LEAVES = frozenset([LF_ARRAY_ST, LF_CLASS_ST, LF_STRUCTURE_ST, LF_UNION_ST, LF_ENUM_ST, LF_ENUMERATE_ST,
                       LF_FRIENDFCN_ST, LF_MEMBER_ST, LF_STMEMBER_ST, LF_METHOD_ST, LF_NESTTYPE_ST,
                       LF_ONEMETHOD_ST, LF_NESTTYPEEX_ST, LF_MEMBERMODIFY_ST])

# UDT property bits (CV_prop_t)
PROP_FORWARD_REF = 0x80
PROP_SCOPED = 0x100
PROP_UNIQUE_NAME = 0x200

# -- numeric leaves: a value < 0x8000 is itself; otherwise a kind and the bytes that follow ----------
LF_NUMERIC = 0x8000
_NUMERIC = {
    0x8000: ("<b", 1), 0x8001: ("<h", 2), 0x8002: ("<H", 2), 0x8003: ("<i", 4), 0x8004: ("<I", 4),
    0x8009: ("<q", 8), 0x800A: ("<Q", 8),
}
_NUMERIC_WIDE = {0x8017: True, 0x8018: False}          # LF_OCTWORD / LF_UOCTWORD: 16-byte integers
# non-integer numerics (reals, complex, decimal, date): skipped by their size, value None
_NUMERIC_OTHER = {0x8005: 4, 0x8006: 8, 0x8007: 10, 0x8008: 16, 0x800B: 6, 0x800C: 8, 0x800D: 16,
                  0x800E: 20, 0x800F: 32, 0x8019: 16, 0x801A: 8, 0x801C: 2}
LF_VARSTRING = 0x8010
LF_UTF8STRING = 0x801B

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


class RecordOverrun(Exception):
    """A field runs past the end of its record (internal; the reader reports a FormatError)."""

    def __init__(self, position: int, what: str = ""):
        super().__init__(position, what)
        self.position = position
        self.what = what


def u16(data: bytes, pos: int, end: int) -> int:
    if pos + 2 > end:
        raise RecordOverrun(pos)
    return _U16.unpack_from(data, pos)[0]


def u32(data: bytes, pos: int, end: int) -> int:
    if pos + 4 > end:
        raise RecordOverrun(pos)
    return _U32.unpack_from(data, pos)[0]


def numeric(data: bytes, pos: int, end: int) -> Tuple[Optional[int], int]:
    """(integer value or None for a non-integer, position after the leaf)."""
    leaf = u16(data, pos, end)
    pos += 2
    if leaf < LF_NUMERIC:
        return leaf, pos
    found = _NUMERIC.get(leaf)
    if found is not None:
        fmt, size = found
        if pos + size > end:
            raise RecordOverrun(pos, "numeric leaf")
        return struct.unpack_from(fmt, data, pos)[0], pos + size
    if leaf in _NUMERIC_WIDE:
        if pos + 16 > end:
            raise RecordOverrun(pos, "numeric leaf")
        return int.from_bytes(data[pos:pos + 16], "little", signed=_NUMERIC_WIDE[leaf]), pos + 16
    if leaf in _NUMERIC_OTHER:
        size = _NUMERIC_OTHER[leaf]
        if pos + size > end:
            raise RecordOverrun(pos, "numeric leaf")
        return None, pos + size
    if leaf == LF_VARSTRING:
        length = u16(data, pos, end)
        if pos + 2 + length > end:
            raise RecordOverrun(pos, "numeric leaf")
        return None, pos + 2 + length
    if leaf == LF_UTF8STRING:
        stop = data.find(b"\0", pos, end)
        if stop < 0:
            raise RecordOverrun(pos, "numeric leaf")
        return None, stop + 1
    raise RecordOverrun(pos - 2, "unknown numeric leaf 0x%04x" % leaf)


# names reach tables and terminals: control characters become '?'
_CONTROL = {code: "?" for code in list(range(0x20)) + [0x7F]}


def clean(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").translate(_CONTROL)


def name_at(data: bytes, pos: int, end: int, pascal: bool = False) -> Tuple[str, int]:
    """(name, position after it): NUL-terminated (a missing NUL ends the name at the record end),
    or a u8-length-prefixed string for the old *_ST records."""
    if pascal:
        if pos >= end:
            return "", pos
        length = data[pos]
        stop = min(pos + 1 + length, end)
        return clean(data[pos + 1:stop]), stop
    stop = data.find(b"\0", pos, end)
    if stop < 0:
        return clean(data[pos:end]), end
    return clean(data[pos:stop]), stop + 1


# -- simple (built-in) type indexes ---------------------------------------------------------------
# kind (low byte) -> (name spelled like the ISF reader spells base types, size)
SIMPLE_TYPES = {
    0x00: ("<no type>", None), 0x03: ("void", 0), 0x08: ("HRESULT", 4),
    0x10: ("signed char", 1), 0x20: ("unsigned char", 1), 0x70: ("char", 1),
    0x68: ("__int8", 1), 0x69: ("unsigned __int8", 1),
    0x71: ("wchar_t", 2), 0x7A: ("char16_t", 2), 0x7B: ("char32_t", 4), 0x7C: ("char8_t", 1),
    0x11: ("short", 2), 0x21: ("unsigned short", 2), 0x72: ("short", 2), 0x73: ("unsigned short", 2),
    0x12: ("long", 4), 0x22: ("unsigned long", 4), 0x74: ("int", 4), 0x75: ("unsigned int", 4),
    0x13: ("long long", 8), 0x23: ("unsigned long long", 8), 0x76: ("long long", 8),
    0x77: ("unsigned long long", 8),
    0x14: ("__int128", 16), 0x24: ("unsigned __int128", 16), 0x78: ("__int128", 16),
    0x79: ("unsigned __int128", 16),
    0x46: ("half", 2), 0x40: ("float", 4), 0x45: ("float", 4), 0x44: ("__real48", 6), 0x41: ("double", 8),
    0x42: ("long double", 10), 0x43: ("__float128", 16),
    0x30: ("bool", 1), 0x31: ("__bool16", 2), 0x32: ("__bool32", 4), 0x33: ("__bool64", 8),
}
# mode (bits 8..11) -> pointer size; 0 is "not a pointer"
SIMPLE_POINTER_SIZES = {1: 2, 2: 4, 3: 4, 4: 4, 5: 6, 6: 8, 7: 16}


def simple_type(type_index: int) -> Tuple[str, Optional[int]]:
    """(name, size) of a built-in type index (< 0x1000): "unsigned long", "void *" ..."""
    kind = type_index & 0xFF
    mode = (type_index >> 8) & 0xF
    name, size = SIMPLE_TYPES.get(kind, ("<simple type 0x%x>" % kind, None))
    if mode:
        return name + " *", SIMPLE_POINTER_SIZES.get(mode)
    return name, size


def kind_names() -> Dict[int, str]:
    """Leaf kind -> "LF_..." for messages."""
    return {value: key for key, value in globals().items() if key.startswith("LF_") and isinstance(value, int)}
