"""The MSVC layout engine every structure of layouts/ is laid out with.

A structure is an architecture-independent :class:`Spec` - an ordered field list and a pack value;
:func:`cached_layout` lays it out with MSVC rules (``/Zp8``: a member is aligned to min(its alignment,
pack); a struct's alignment is its largest member alignment capped by pack; its size is rounded up to
that; ``ULONGLONG`` is 8-aligned on x86 too; ``GUID`` is 16 bytes, 4-aligned) and gives a
:class:`Layout`:

* ``layout.construct`` - a construct ``Struct`` (explicit ``Padding``; every field has a zero
  ``Default`` so ``build`` accepts partial dictionaries); ``layout.parse(data)`` /
  ``layout.build(dict)`` / ``layout.sizeof()`` delegate to it.
* ``layout.size``, ``layout.align``, ``layout.offsets`` (``{name: offset}``; nested members also as
  ``"Outer.Inner"``, array elements of nested structs as ``"Outer[i].Inner"``), ``layout.sizes``.
* Fast paths for hot loops (one ``struct`` call, no construct): ``layout.unpack_from(buffer,
  offset=0) -> dict`` (flat dotted names, GUIDs as ``uuid.UUID``, scalar arrays as tuples, byte
  arrays as ``bytes``), ``layout.pack(values) -> bytes`` and ``layout.pack_into(buffer, offset,
  values)`` (missing names are zero), and ``layout.fmt(name)`` - the ``struct`` format letter of a
  scalar field (``"<Q"``, ``"<I"``...) for ``struct.unpack_from(fmt, buf, layout.offsets[name])``.

``arch`` is ``"x64"``, ``"x86"`` or ``"arm64"``; arm64 uses the x64 rules (LLP64, same alignments).
"""
import struct
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

import construct as cs

from dmfkd.errors import LayoutError

#: the all-zero GUID (a free slot's, an unset config field's)
ZERO_GUID = uuid.UUID(int=0)

_POINTER_SIZE = {"x64": 8, "x86": 4, "arm64": 8}


def pointer_size(arch: str) -> int:
    try:
        return _POINTER_SIZE[arch]
    except KeyError:
        raise LayoutError("unknown architecture %r (expected x64, x86 or arm64)" % (arch,)) from None


def memory_allocation_alignment(arch: str) -> int:
    """MEMORY_ALLOCATION_ALIGNMENT: 16 on 64-bit, 8 on x86 (spec/dmf.md §4.2)."""
    return 16 if pointer_size(arch) == 8 else 8


def align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


# --------------------------------------------------------------------------------------------------
# Layout engine
# --------------------------------------------------------------------------------------------------

class _GuidAdapter(cs.Adapter):
    """GUID in memory form (Data1 LE u32, Data2 LE u16, Data3 LE u16, Data4[8]) <-> uuid.UUID."""

    def _decode(self, obj, context, path):
        return uuid.UUID(bytes_le=bytes(obj))

    def _encode(self, obj, context, path):
        if isinstance(obj, uuid.UUID):
            return obj.bytes_le
        return bytes(obj)


_GUID = _GuidAdapter(cs.Bytes(16))

# Scalar kinds: size, alignment, struct letter. "ptr" is resolved per architecture.
_SCALARS = {
    "u8": (1, 1, "B"), "bool": (1, 1, "B"),
    "u16": (2, 2, "H"),
    "u32": (4, 4, "I"), "i32": (4, 4, "i"), "enum": (4, 4, "I"),
    "u64": (8, 8, "Q"),
}
_CONSTRUCT_INT = {"B": cs.Int8ul, "H": cs.Int16ul, "I": cs.Int32ul, "i": cs.Int32sl, "Q": cs.Int64ul}

# A field type is one of:
#   "u8" "bool" "u16" "u32" "i32" "enum" "u64" "ptr" "guid"
#   ("bytes", n)            raw byte array (CHAR[n], WCHAR[n/2] as 2n...)
#   ("array", scalar, n)    array of n scalars (tuple in unpack_from)
#   ("struct", spec)        nested structure (a _Spec)
#   ("structs", spec, n)    array of n nested structures
FieldType = Any


class Spec:
    """An architecture-independent description: name, fields, pack."""

    def __init__(self, name: str, fields: Sequence[Tuple[str, FieldType]], pack: int = 8):
        self.name = name
        self.fields = list(fields)
        self.pack = pack


class Layout:
    """One structure laid out for one architecture. See the module docstring."""

    def __init__(self, name: str, arch: str, size: int, align: int, construct_struct,
                 offsets: Dict[str, int], sizes: Dict[str, int], fmt: str,
                 value_plan: List[Tuple[str, str, int]], scalar_fmt: Dict[str, str],
                 complete: bool = True, note: str = ""):
        self.name = name
        self.arch = arch
        self.size = size
        self.align = align
        self.construct = construct_struct
        self.offsets = offsets
        self.sizes = sizes
        self._struct = struct.Struct(fmt)
        # value_plan: (flat name, kind, count) with kind in "int", "guid", "bytes", "ints"
        self._plan = value_plan
        self._scalar_fmt = scalar_fmt
        #: False for DMF_OBJECT prefix layouts whose tail is unknown (spec/dmf.md §4.3)
        self.complete = complete
        self.note = note

    def __repr__(self):
        return "<Layout %s %s size=%d>" % (self.name, self.arch, self.size)

    # construct-compatible surface
    def parse(self, data, **kw):
        """construct parse of the first ``size`` bytes; short input is a LayoutError (one line)."""
        if len(data) < self.size:
            raise LayoutError("%s (%s) needs %d bytes, %d available" % (self.name, self.arch, self.size, len(data)))
        return self.construct.parse(bytes(data[:self.size]), **kw)

    def build(self, obj=None, **kw):
        return self.construct.build({} if obj is None else obj, **kw)

    def sizeof(self, **kw) -> int:
        return self.size

    # fast paths
    def fmt(self, name: str) -> str:
        """``struct`` format of one scalar field, e.g. ``"<Q"`` (KeyError if not scalar)."""
        return self._scalar_fmt[name]

    def field_names(self) -> List[str]:
        return [name for name, _, _ in self._plan]

    def unpack_from(self, buffer, offset: int = 0) -> Dict[str, Any]:
        if len(buffer) - offset < self.size:
            raise LayoutError("%s (%s) needs %d bytes, %d available"
                              % (self.name, self.arch, self.size, max(0, len(buffer) - offset)))
        raw = self._struct.unpack_from(buffer, offset)
        out = {}
        i = 0
        for name, kind, count in self._plan:
            if kind == "int":
                out[name] = raw[i]
                i += 1
            elif kind == "guid":
                out[name] = uuid.UUID(bytes_le=raw[i])
                i += 1
            elif kind == "bytes":
                out[name] = raw[i]
                i += 1
            else:
                out[name] = tuple(raw[i:i + count])
                i += count
        return out

    def _values(self, values) -> list:
        flat = []
        for name, kind, count in self._plan:
            v = values.get(name) if values else None
            if kind == "int":
                flat.append(0 if v is None else int(v))
            elif kind == "guid":
                if v is None:
                    v = ZERO_GUID
                flat.append(v.bytes_le if isinstance(v, uuid.UUID) else bytes(v))
            elif kind == "bytes":
                flat.append(b"" if v is None else bytes(v))
            else:
                seq = [0] * count if v is None else [int(x) for x in v]
                if len(seq) != count:
                    raise LayoutError("%s.%s expects %d values, got %d" % (self.name, name, count, len(seq)))
                flat.extend(seq)
        unknown = set(values or ()) - set(self.offsets)
        if unknown:
            raise LayoutError("%s has no field(s) %s" % (self.name, ", ".join(sorted(unknown))))
        return flat

    def pack(self, values: Optional[Dict[str, Any]] = None) -> bytes:
        """Flat dotted names as in unpack_from; missing fields are zero, padding is zero."""
        return self._struct.pack(*self._values(values))

    def pack_into(self, buffer, offset: int, values: Optional[Dict[str, Any]] = None) -> None:
        self._struct.pack_into(buffer, offset, *self._values(values))


def _resolve_scalar(kind: str, ptr: int) -> Tuple[int, int, str]:
    if kind == "ptr":
        return (ptr, ptr, "Q" if ptr == 8 else "I")
    if kind == "guid":
        return (16, 4, "16s")
    return _SCALARS[kind]


class _Computed:
    """Intermediate result of laying out a spec (used recursively for nested structures)."""

    def __init__(self):
        self.size = 0
        self.align = 1
        self.items = []      # (offset, construct subcon with name) incl. padding
        self.offsets = {}
        self.sizes = {}
        self.fmt_parts = []  # struct letters incl. pad "x"
        self.plan = []
        self.scalar_fmt = {}


def _compute(spec: Spec, arch: str) -> _Computed:
    ptr = pointer_size(arch)
    out = _Computed()
    pos = 0
    subcons = []

    def pad_to(target):
        nonlocal pos
        if target > pos:
            subcons.append(cs.Padding(target - pos))
            out.fmt_parts.append("%dx" % (target - pos))
            pos = target

    for name, ftype in spec.fields:
        if isinstance(ftype, str):
            size, align, letter = _resolve_scalar(ftype, ptr)
            align = min(align, spec.pack)
            pad_to(align_up(pos, align))
            out.offsets[name] = pos
            out.sizes[name] = size
            if ftype == "guid":
                subcons.append(name / cs.Default(_GUID, ZERO_GUID))
                out.plan.append((name, "guid", 1))
            else:
                subcons.append(name / cs.Default(_CONSTRUCT_INT[letter], 0))
                out.plan.append((name, "int", 1))
                out.scalar_fmt[name] = "<" + letter
            out.fmt_parts.append(letter)
            pos += size
        elif ftype[0] == "bytes":
            n = ftype[1]
            pad_to(pos)
            out.offsets[name] = pos
            out.sizes[name] = n
            subcons.append(name / cs.Default(cs.Bytes(n), bytes(n)))
            out.fmt_parts.append("%ds" % n)
            out.plan.append((name, "bytes", 1))
            pos += n
        elif ftype[0] == "array":
            kind, count = ftype[1], ftype[2]
            size, align, letter = _resolve_scalar(kind, ptr)
            align = min(align, spec.pack)
            pad_to(align_up(pos, align))
            out.offsets[name] = pos
            out.sizes[name] = size * count
            for k in range(count):
                out.offsets["%s[%d]" % (name, k)] = pos + k * size
                out.sizes["%s[%d]" % (name, k)] = size
                out.scalar_fmt["%s[%d]" % (name, k)] = "<" + letter
            subcons.append(name / cs.Default(cs.Array(count, _CONSTRUCT_INT[letter]), [0] * count))
            out.fmt_parts.append("%d%s" % (count, letter))
            out.plan.append((name, "ints", count))
            pos += size * count
        elif ftype[0] in ("struct", "structs"):
            inner = _compute(ftype[1], arch)
            count = 1 if ftype[0] == "struct" else ftype[2]
            align = min(inner.align, spec.pack)
            pad_to(align_up(pos, align))
            out.offsets[name] = pos
            out.sizes[name] = inner.size * count
            inner_struct = cs.Struct(*inner.items)
            if ftype[0] == "struct":
                subcons.append(name / cs.Default(inner_struct, {}))
                prefixes = [name]
            else:
                subcons.append(name / cs.Default(cs.Array(count, inner_struct), [{}] * count))
                prefixes = ["%s[%d]" % (name, k) for k in range(count)]
            for k, prefix in enumerate(prefixes):
                base = pos + k * inner.size
                if ftype[0] == "structs":
                    out.offsets[prefix] = base
                    out.sizes[prefix] = inner.size
                for iname, ioff in inner.offsets.items():
                    out.offsets[prefix + "." + iname] = base + ioff
                    out.sizes[prefix + "." + iname] = inner.sizes[iname]
                for iname, ifmt in inner.scalar_fmt.items():
                    out.scalar_fmt[prefix + "." + iname] = ifmt
                out.fmt_parts.extend(inner.fmt_parts)
                out.plan.extend((prefix + "." + pname, kind, cnt) for pname, kind, cnt in inner.plan)
            pos += inner.size * count
        else:
            raise ValueError("bad field type %r" % (ftype,))
        if not isinstance(ftype, str) and ftype[0] == "bytes":
            align = 1
        out.align = max(out.align, min(align, spec.pack))
    out.align = min(out.align, spec.pack)
    pad_to(align_up(pos, out.align))
    out.size = pos
    out.items = subcons
    return out


_CACHE = {}  # type: Dict[Tuple[str, str], Layout]


def cached_layout(spec: Spec, arch: str, complete: bool = True, note: str = "", key: Optional[str] = None) -> Layout:
    cache_key = (key or spec.name, arch)
    found = _CACHE.get(cache_key)
    if found is not None:
        return found
    computed = _compute(spec, arch)
    layout = Layout(spec.name, arch, computed.size, computed.align, cs.Struct(*computed.items),
                    computed.offsets, computed.sizes, "<" + "".join(computed.fmt_parts), computed.plan,
                    computed.scalar_fmt, complete=complete, note=note)
    assert layout._struct.size == layout.size, (spec.name, arch)
    _CACHE[cache_key] = layout
    return layout


# --------------------------------------------------------------------------------------------------
# Structure specs (architecture independent). Field names follow DMF / wdm.h.
# --------------------------------------------------------------------------------------------------


def layout_of(spec: Spec, arch: str) -> Layout:
    """The Layout of any spec (e.g. ``DMF_CALLBACKS_WDF``) for an architecture."""
    return cached_layout(spec, arch)
