"""ISF JSON (volatility3's Intermediate Symbol Format) describing an emulated DMF driver, and the
construct walker that turns the shared layouts (dmfkd.layouts.dmf) into field offsets.

The ISF is what a PDB is to WinDbg: dmfkd resolves `dmfdemo!g_DmfModuleCrashDump` and the field
offsets of DMF_CONTEXT_CrashDump etc. from it. Symbol addresses are RVAs relative to the image base
(volatility3's convention); the base itself is in `metadata["dmfkd"]["image_base"]`.
Every user type is generated from the same construct definitions the extension parses with - no
offset is typed twice.
"""
import json
from typing import Dict, List, NamedTuple, Optional, Tuple

import construct as cs


class FieldInfo(NamedTuple):
    offset: int
    size: int
    con: object          # the construct of the field (unwrapped of its name)


def _strip(con):
    """Remove wrappers that do not change the bytes (names, defaults, constants, renames)."""
    while isinstance(con, (cs.Renamed, cs.Default, cs.Const, cs.Transformed)) or (
        type(con).__name__ in ("Renamed", "Default", "Const")
    ):
        con = con.subcon
    return con


def _as_struct(con):
    """The Struct behind an Adapter/Aligned/Padded wrapper, or None."""
    seen = 0
    while seen < 8:
        if isinstance(con, cs.Struct):
            return con
        if isinstance(con, (cs.Array, cs.FormatField, cs.Bytes, cs.BytesInteger)):
            return None
        sub = getattr(con, "subcon", None)
        if sub is None:
            return None
        con = sub
        seen += 1
    return None


def struct_fields(con, base: int = 0, prefix: str = "") -> Dict[str, FieldInfo]:
    """{"Field" or "Outer.Inner": FieldInfo(offset, size, construct)} of a fixed-size construct Struct,
    in declaration order; nested structs are listed both as a whole and field by field."""
    struct = _as_struct(con)
    if struct is None:
        raise TypeError("not a construct Struct: %r" % (con,))
    out = {}  # type: Dict[str, FieldInfo]
    offset = 0
    for sub in struct.subcons:
        size = sub.sizeof()
        name = getattr(sub, "name", None)
        if name:
            inner = _strip(sub)
            out[prefix + name] = FieldInfo(base + offset, size, inner)
            if _as_struct(inner) is not None:
                out.update(struct_fields(inner, base + offset, prefix + name + "."))
        offset += size
    return out


class Layout(object):
    """Offsets and size of one construct Struct, for reading/writing single fields in emulated memory."""

    def __init__(self, con, name: str = ""):
        self.con = con
        self.name = name
        self.size = con.sizeof()
        self.fields = struct_fields(con)
        self.offsets = dict((name, info.offset) for name, info in self.fields.items())

    def __contains__(self, field: str) -> bool:
        return field in self.fields

    def off(self, *names: str) -> int:
        """Offset of the first of `names` that exists (DMF renamed a few fields between versions)."""
        for name in names:
            info = self.fields.get(name)
            if info is not None:
                return info.offset
        raise KeyError("%s has none of the fields %s" % (self.name or "layout", ", ".join(names)))

    def sizeof(self, name: str) -> int:
        return self.fields[name].size

    def build(self, values: dict) -> bytes:
        return self.con.build(values)

    def parse(self, data: bytes):
        return self.con.parse(data)
