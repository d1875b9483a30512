"""DMF structures per architecture and per DMF version (spec/dmf.md §0.2, §1.2, §2.1-2.4, §2.7, §2.10,
§2.13, §3.1-3.4, §4.2-4.4), defined once and used both ways: the extension parses with them, the
emulator (dmfemu) builds with them.

Every structure is described as an ordered field list; :func:`_compute` lays it out with MSVC rules
(``/Zp8``: a member is aligned to min(its alignment, pack); a struct's alignment is its largest
member alignment capped by pack; its size is rounded up to that; ``ULONGLONG`` is 8-aligned on x86
too; ``GUID`` is 16 bytes, 4-aligned) and yields a :class:`Layout`:

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

Accessors (all cached; ``arch`` is ``"x64"``, ``"x86"`` or ``"arm64"`` - arm64 uses the x64 rules,
LLP64 with the same alignments; ``version`` is anything :func:`parse_dmf_version` accepts):

    ring_buffer(arch), dmf_config_ring_buffer(arch), data_source(arch)
    crashdump_context(arch, version_label)            # "V1" | "V3" | "V4" | "V5"
    crashdump_context_for_dmf(arch, dmf_version)      # explicit DMF-version dispatch
    crashdump_context_version(arch, context_size) -> "V1"|"V3"|"V4"|"V5"   (LayoutError otherwise)
    crashdump_config(arch, nested), crashdump_config_nested(arch, config_size) -> bool
    crashdump_config_for_dmf(arch, dmf_version)
    dmf_object(arch, dmf_version)                     # full HEAD layout (>= 1.1.146) or a prefix layout
    dmf_object_head(arch), dmf_object_prefix(arch, dmf_version)
    module_state_values(dmf_version) -> {name: value}
    bugcheck_reason_callback_record(arch), bugcheck_secondary_dump_data(arch)
    data_source_create(), data_source_open()          # pack 1, 24 bytes, arch independent
    ktriage_dump_data_array(arch), kaddress_range(arch), ktriage_dump_data_array_size(arch, n)
    wdf_object_context_type_info(arch), wdf_context_header(arch), wdf_context_offset(arch)
    dmf_module_collection(arch), dmf_device_context(arch)
    livekerneldump_config(arch, dmf_version), livekerneldump_context(arch, dmf_version, rs3=True)
    livekerneldump_data_buffer(arch), livekerneldump_client_structure(arch),
    livekerneldump_input_buffer(arch)
    parse_dmf_version(text_or_tuple_or_int) -> (major, minor, build), format_dmf_version(v)
    pointer_size(arch), memory_allocation_alignment(arch), file_object_orphan(arch), nt_success(status)

The architecture-independent field lists (``RING_BUFFER``, ``DATA_SOURCE``,
``CRASHDUMP_CONTEXT_SPECS[label]``, ``DMF_OBJECT_HEAD``, ...; each a ``_Spec`` with ``.name``,
``.fields`` = [(name, type)], ``.pack``) are public too: dmfemu.isf turns them into ISF types.
Constants: NTSTATUS values, IOCTL codes, CrashDump constants (spec/dmf.md §2.1), bug-check reasons,
pool tags, ``module_state_values(version)``, ``DMF_OBJECT_SIGNATURE``, version tuples ``V1_1_85``...
"""
import struct
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import construct as cs

from dmfkd.errors import LayoutError

__all__ = [
    "Layout", "layout_of", "parse_dmf_version", "pointer_size", "memory_allocation_alignment",
    "ring_buffer", "dmf_config_ring_buffer", "data_source", "crashdump_context",
    "crashdump_context_for_dmf", "crashdump_context_version", "crashdump_context_label_for_dmf",
    "crashdump_config", "crashdump_config_nested", "crashdump_config_for_dmf", "dmf_object",
    "dmf_object_head", "dmf_object_prefix", "dmf_object_is_complete", "module_state_values",
    "bugcheck_reason_callback_record", "bugcheck_secondary_dump_data", "data_source_create",
    "data_source_open", "ktriage_dump_data_array", "kaddress_range", "ktriage_dump_data_array_size",
    "wdf_object_context_type_info", "wdf_context_header", "wdf_context_offset",
    "dmf_module_collection", "dmf_device_context", "livekerneldump_config",
    "livekerneldump_context", "livekerneldump_data_buffer", "livekerneldump_client_structure",
    "livekerneldump_input_buffer",
]

# --------------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------------

DmfVersion = Tuple[int, int, int]

#: DMF_OBJECT.Signature (spec/dmf.md §4.3), an 8-byte ULONGLONG.
DMF_OBJECT_SIGNATURE = 0x12345678

#: DMF versions at which a layout in this module changes (spec/dmf.md §0.3).
V1_0 = (1, 0, 0)
V1_1_80 = (1, 1, 80)
V1_1_81 = (1, 1, 81)          # DMF_OBJECT.ReferenceCountLock inserted
V1_1_84 = (1, 1, 84)
V1_1_85 = (1, 1, 85)          # nested CrashDump config, context V3, LiveKernelDump additions
V1_1_116 = (1, 1, 116)        # context V4
V1_1_135 = (1, 1, 135)        # DMF_OBJECT ModuleConfigSize / ClientModuleInstanceNameSizeBytes
V1_1_136 = (1, 1, 136)        # ModuleState_PreCreate inserted
V1_1_146 = (1, 1, 146)        # DMF_OBJECT.AddedToParentChildModuleList; HEAD layout valid from here
V1_1_154 = (1, 1, 154)        # context V5
HEAD_VERSION = V1_1_154

# NTSTATUS values used by RingBuffer / CrashDump / LiveKernelDump (spec/dmf.md §2.7).
STATUS_SUCCESS = 0x00000000
STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_NO_MORE_FILES = 0x80000006
STATUS_UNSUCCESSFUL = 0xC0000001
STATUS_NOT_IMPLEMENTED = 0xC0000002
STATUS_INVALID_HANDLE = 0xC0000008
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_INSUFFICIENT_RESOURCES = 0xC000009A
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_NOT_SUPPORTED = 0xC00000BB
STATUS_INVALID_ADDRESS = 0xC0000141

NTSTATUS_NAMES = {
    STATUS_SUCCESS: "STATUS_SUCCESS",
    STATUS_BUFFER_OVERFLOW: "STATUS_BUFFER_OVERFLOW",
    STATUS_NO_MORE_FILES: "STATUS_NO_MORE_FILES",
    STATUS_UNSUCCESSFUL: "STATUS_UNSUCCESSFUL",
    STATUS_NOT_IMPLEMENTED: "STATUS_NOT_IMPLEMENTED",
    STATUS_INVALID_HANDLE: "STATUS_INVALID_HANDLE",
    STATUS_INVALID_PARAMETER: "STATUS_INVALID_PARAMETER",
    STATUS_ACCESS_DENIED: "STATUS_ACCESS_DENIED",
    STATUS_INSUFFICIENT_RESOURCES: "STATUS_INSUFFICIENT_RESOURCES",
    STATUS_BUFFER_TOO_SMALL: "STATUS_BUFFER_TOO_SMALL",
    STATUS_NOT_SUPPORTED: "STATUS_NOT_SUPPORTED",
    STATUS_INVALID_ADDRESS: "STATUS_INVALID_ADDRESS",
}


def nt_success(status: int) -> bool:
    """NT_SUCCESS: severity bits 00 or 01 (warnings such as BUFFER_OVERFLOW fail it)."""
    return (status & 0xFFFFFFFF) < 0x80000000


# IOCTL codes: CTL_CODE(FILE_DEVICE_UNKNOWN=0x22, function, METHOD_BUFFERED, access) (spec/dmf.md §2.7).
FILE_DEVICE_UNKNOWN = 0x22
METHOD_BUFFERED = 0
FILE_ANY_ACCESS = 0
FILE_READ_ACCESS = 1
FILE_WRITE_ACCESS = 2


def ctl_code(device_type: int, function: int, method: int, access: int) -> int:
    return (device_type << 16) | (access << 14) | (function << 2) | method


IOCTL_DATA_SOURCE_CREATE = ctl_code(FILE_DEVICE_UNKNOWN, 2048, METHOD_BUFFERED, FILE_WRITE_ACCESS)
IOCTL_DATA_SOURCE_DESTROY = ctl_code(FILE_DEVICE_UNKNOWN, 2049, METHOD_BUFFERED, FILE_WRITE_ACCESS)
IOCTL_DATA_SOURCE_WRITE = ctl_code(FILE_DEVICE_UNKNOWN, 2050, METHOD_BUFFERED, FILE_WRITE_ACCESS)
IOCTL_CRASH_DRIVER = ctl_code(FILE_DEVICE_UNKNOWN, 2051, METHOD_BUFFERED, FILE_WRITE_ACCESS)
IOCTL_DATA_SOURCE_READ = ctl_code(FILE_DEVICE_UNKNOWN, 2052, METHOD_BUFFERED, FILE_READ_ACCESS)
IOCTL_DATA_SOURCE_OPEN = ctl_code(FILE_DEVICE_UNKNOWN, 2053, METHOD_BUFFERED, FILE_READ_ACCESS)
IOCTL_DATA_SOURCE_CAPTURE = ctl_code(FILE_DEVICE_UNKNOWN, 2054, METHOD_BUFFERED, FILE_READ_ACCESS)
IOCTL_LIVEKERNELDUMP_CREATE = ctl_code(FILE_DEVICE_UNKNOWN, 4800, METHOD_BUFFERED, FILE_WRITE_ACCESS)

# RingBuffer (spec/dmf.md §1.1).
RingBuffer_Mode_Invalid = 0
RingBuffer_Mode_FailIfFullOnWrite = 1
RingBuffer_Mode_DeleteOldestIfFullOnWrite = 2
RingBuffer_Mode_Maximum = 3

# CrashDump (spec/dmf.md §2.1).
CrashDump_MAXIMUM_NUMBER_OF_DATA_SOURCES = 8
CrashDump_MINIMUM_NUMBER_OF_DATA_SOURCES = 1
CrashDump_COMPONENT_NAME_STRING = 256
RINGBUFFER_INDEX_INVALID = -1
RINGBUFFER_INDEX_SELF = 0
RINGBUFFER_INDEX_CLIENT_FIRST = 1
BUG_CHECK_PRIVATE = 0xDEADDEAD
ENCRYPTION_KEY_STRING_SIZE = 32
DATA_SOURCE_KEY_BUFFER_SIZE = ENCRYPTION_KEY_STRING_SIZE + 1
GUID_DEVINTERFACE_CrashDump = uuid.UUID("F4A58486-FD91-4BF9-96BC-DDA5CF571EDF")
DataSourceMode_Invalid = 0
DataSourceMode_Write = 1
DataSourceMode_Read = 2
DataSourceMode_Maximum = 3


def file_object_orphan(arch: str) -> int:
    """FILE_OBJECT_ORPHAN = (WDFFILEOBJECT)-1 at the pointer width (spec/dmf.md §2.1)."""
    return (1 << (8 * pointer_size(arch))) - 1


# Bug-check callback reasons (wdm.h order, spec/dmf.md §2.10) and states.
KbCallbackInvalid = 0
KbCallbackReserved1 = 1
KbCallbackSecondaryDumpData = 2
KbCallbackDumpIo = 3
KbCallbackAddPages = 4
KbCallbackSecondaryMultiPartDumpData = 5
KbCallbackRemovePages = 6
KbCallbackTriageDumpData = 7
BufferEmpty = 0
BufferInserted = 1
KB_TRIAGE_DUMP_DATA_FLAG_BUGCHECK_ACTIVE = 0x1

# Pool tags as they appear in memory (spec/dmf.md §0.2, §4.1).
TAG_RINGBUFFER = b"RBMo"
TAG_CRASHDUMP = b"CDMo"
TAG_LIVEKERNELDUMP = b"LKmD"
TAG_INSTANCE_NAME = b"Dmf0"
TAG_MODULE_CONFIG = b"Dmf1"
TAG_CALLBACKS_DMF = b"Dmf2"
TAG_CALLBACKS_WDF = b"Dmf3"
TAG_DMF_OBJECT = b"Dmf4"
TAG_COLLECTION = b"Dmf6"
TAG_COLLECTION_ARRAY = b"Dmf8"

# ModuleOpenedDuringType (spec/dmf.md §4.3).
MODULE_OPENED_DURING = {
    "Invalid": 0, "Manual": 1, "Create": 2, "PrepareHardware": 3, "D0Entry": 4,
    "D0EntrySystemPowerUp": 5,
}

# DmfFeature index into DMF_MODULE_COLLECTION.DmfObjectFeature (spec/dmf.md §4.4).
DmfFeature_Invalid = 0
DmfFeature_BranchTrack = 1
DmfFeature_LiveKernelDump = 2
DmfFeature_NumberOfFeatures = 3

# LiveKernelDump (spec/dmf.md §3.1, §3.3).
LIVEKERNELDUMP_REPORT_TYPE_CHARS = 12
LIVEKERNELDUMP_DATA_BUFFER_COUNT = 256
LIVEKERNELDUMP_TRIAGE_BLOCK_OVERHEAD = 8


def module_state_values(dmf_version) -> Dict[str, int]:
    """ModuleStateType by DMF version: ModuleState_PreCreate exists since v1.1.136 and shifts every
    later value by one (spec/dmf.md §4.3)."""
    names = ["Invalid", "Created", "Opening", "Opened", "Closing", "Closed", "Destroying"]
    if parse_dmf_version(dmf_version) >= V1_1_136:
        names.insert(1, "PreCreate")
    return {name: value for value, name in enumerate(names)}


# --------------------------------------------------------------------------------------------------
# DMF versions and architectures
# --------------------------------------------------------------------------------------------------

def parse_dmf_version(value) -> DmfVersion:
    """``"1.1.154"``, ``"v1.1.154"``, ``"1.0"``, ``(1, 1, 154)`` or ``DMF_VERSION`` as an int
    (``0x0101009A``: major byte, minor byte, build word) -> ``(1, 1, 154)``."""
    if isinstance(value, tuple) and 1 <= len(value) <= 3 and all(isinstance(p, int) for p in value):
        parts = list(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 0xFFFFFFFF:
            raise LayoutError("DMF version 0x%x is not a DMF_VERSION value" % value)
        parts = [(value >> 24) & 0xFF, (value >> 16) & 0xFF, value & 0xFFFF]
    elif isinstance(value, str):
        text = value.strip()
        if text[:1] in ("v", "V"):
            text = text[1:]
        try:
            parts = [int(p, 10) for p in text.split(".")]
        except ValueError:
            raise LayoutError("not a DMF version: %r (expected like 1.1.154)" % (value,)) from None
        if not 1 <= len(parts) <= 3:
            raise LayoutError("not a DMF version: %r (expected like 1.1.154)" % (value,))
    else:
        raise LayoutError("not a DMF version: %r (expected like 1.1.154)" % (value,))
    if any(p < 0 for p in parts):
        raise LayoutError("not a DMF version: %r (expected like 1.1.154)" % (value,))
    while len(parts) < 3:
        parts.append(0)
    return (parts[0], parts[1], parts[2])


def format_dmf_version(version) -> str:
    major, minor, build = parse_dmf_version(version)
    return "%d.%d.%d" % (major, minor, build)


_POINTER_SIZE = {"x64": 8, "x86": 4, "arm64": 8}


def pointer_size(arch: str) -> int:
    try:
        return _POINTER_SIZE[arch]
    except KeyError:
        raise LayoutError("unknown architecture %r (expected x64, x86 or arm64)" % (arch,)) from None


def memory_allocation_alignment(arch: str) -> int:
    """MEMORY_ALLOCATION_ALIGNMENT: 16 on 64-bit, 8 on x86 (spec/dmf.md §4.2)."""
    return 16 if pointer_size(arch) == 8 else 8


def _align_up(value: int, alignment: int) -> int:
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
_ZERO_GUID = uuid.UUID(int=0)

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


class _Spec:
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
                    v = _ZERO_GUID
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


def _compute(spec: _Spec, arch: str) -> _Computed:
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
            pad_to(_align_up(pos, align))
            out.offsets[name] = pos
            out.sizes[name] = size
            if ftype == "guid":
                subcons.append(name / cs.Default(_GUID, _ZERO_GUID))
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
            pad_to(_align_up(pos, align))
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
            pad_to(_align_up(pos, align))
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
    pad_to(_align_up(pos, out.align))
    out.size = pos
    out.items = subcons
    return out


_CACHE = {}  # type: Dict[Tuple[str, str], Layout]


def _layout(spec: _Spec, arch: str, complete: bool = True, note: str = "", key: Optional[str] = None) -> Layout:
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

LIST_ENTRY = _Spec("LIST_ENTRY", [("Flink", "ptr"), ("Blink", "ptr")])

# spec/dmf.md §1.1
DMF_CONFIG_RingBuffer = _Spec("DMF_CONFIG_RingBuffer", [
    ("ItemCount", "u32"), ("ItemSize", "u32"), ("Mode", "enum"),
])

# spec/dmf.md §1.2 - DMF_CONTEXT_RingBuffer is exactly one RING_BUFFER.
RING_BUFFER = _Spec("RING_BUFFER", [
    ("MemoryRing", "ptr"),
    ("ItemSize", "u32"),
    ("Items", "ptr"),
    ("ReadPointer", "ptr"),
    ("WritePointer", "ptr"),
    ("BufferEnd", "ptr"),
    ("TotalSize", "u32"),
    ("Mode", "enum"),
    ("ItemsCount", "u32"),
    ("ItemsPresentCount", "u32"),
])

# spec/dmf.md §2.3
DATA_SOURCE = _Spec("DATA_SOURCE", [
    ("DmfModuleDataSourceRingBuffer", "ptr"),
    ("FileObject", ("array", "ptr", 3)),
    ("RingBufferGuid", "guid"),
    ("RingBufferEncryptionKey", ("bytes", DATA_SOURCE_KEY_BUFFER_SIZE)),
    ("RingBufferEncryptionKeySize", "u32"),
    ("RingBufferData", "ptr"),
    ("RingBufferSize", "u32"),
    ("RingBufferSizeOfEachEntry", "u32"),
    ("CurrentRingBufferIndex", "u32"),
])

# spec/dmf.md §2.4 (wdm.h)
KBUGCHECK_REASON_CALLBACK_RECORD = _Spec("KBUGCHECK_REASON_CALLBACK_RECORD", [
    ("Entry", ("struct", LIST_ENTRY)),
    ("CallbackRoutine", "ptr"),
    ("Component", "ptr"),
    ("Checksum", "ptr"),
    ("Reason", "enum"),
    ("State", "u8"),
])

# spec/dmf.md §2.10
KBUGCHECK_SECONDARY_DUMP_DATA = _Spec("KBUGCHECK_SECONDARY_DUMP_DATA", [
    ("InBuffer", "ptr"),
    ("InBufferLength", "u32"),
    ("MaximumAllowed", "u32"),
    ("Guid", "guid"),
    ("OutBuffer", "ptr"),
    ("OutBufferLength", "u32"),
])

# spec/dmf.md §2.13 (wdm.h)
KADDRESS_RANGE = _Spec("KADDRESS_RANGE", [("Address", "ptr"), ("Size", "ptr")])
KTRIAGE_DUMP_DATA_ARRAY = _Spec("KTRIAGE_DUMP_DATA_ARRAY", [
    ("List", ("struct", LIST_ENTRY)),
    ("NumBlocksUsed", "u32"),
    ("NumBlocksTotal", "u32"),
    ("DataSize", "u32"),
    ("MaxDataSize", "u32"),
    ("ComponentNameBufferLength", "u32"),
    ("ComponentName", "ptr"),
])

# The V1 source spells the first record "BugCheckCallbacRecordAdditional" (spec/dmf.md §2.4); one
# name is used for all versions so readers need no per-version spelling.
_RECORD = ("struct", KBUGCHECK_REASON_CALLBACK_RECORD)
CRASHDUMP_CONTEXT_SPECS = {
    "V1": _Spec("DMF_CONTEXT_CrashDump_V1", [
        ("DataSourceCount", "u32"),
        ("BugCheckCallbackRecordAdditional", _RECORD),
        ("DataSource", "ptr"),
        ("BugCheckCallbackRecordRingBuffer", "ptr"),
        ("SurpriseRemoved", "bool"),
    ]),
    "V3": _Spec("DMF_CONTEXT_CrashDump_V3", [
        ("DataSourceCount", "u32"),
        ("BugCheckCallbackRecordAdditional", _RECORD),
        ("DataSource", "ptr"),
        ("BugCheckCallbackRecordRingBuffer", "ptr"),
        ("TriageDumpDataArrayMemory", "ptr"),
        ("TriageDumpDataArray", "ptr"),
        ("BugCheckCallbackRecordTriageDumpData", _RECORD),
        ("SurpriseRemoved", "bool"),
    ]),
    "V4": _Spec("DMF_CONTEXT_CrashDump_V4", [
        ("DataSourceCount", "u32"),
        ("BugCheckCallbackRecordAdditional", _RECORD),
        ("DataSource", "ptr"),
        ("DataSourceMemory", "ptr"),
        ("BugCheckCallbackRecordRingBuffer", "ptr"),
        ("BugCheckCallbackRecordRingBufferMemory", "ptr"),
        ("TriageDumpDataArrayMemory", "ptr"),
        ("TriageDumpDataArray", "ptr"),
        ("BugCheckCallbackRecordTriageDumpData", _RECORD),
        ("SurpriseRemoved", "bool"),
    ]),
    "V5": _Spec("DMF_CONTEXT_CrashDump_V5", [
        ("DataSourceCount", "u32"),
        ("BugCheckCallbackRecordAdditional", _RECORD),
        ("DataSource", "ptr"),
        ("DataSourceMemory", "ptr"),
        ("BugCheckCallbackRecordRingBuffer", "ptr"),
        ("BugCheckCallbackRecordRingBufferMemory", "ptr"),
        ("TriageDumpDataArrayMemory", "ptr"),
        ("TriageDumpDataArray", "ptr"),
        ("DumpDataBlock", "ptr"),
        ("BugCheckCallbackRecordTriageDumpData", _RECORD),
        ("SurpriseRemoved", "bool"),
    ]),
}

# spec/dmf.md §2.2 (a) flat, v1.0 - v1.1.84
DMF_CONFIG_CrashDump_Flat = _Spec("DMF_CONFIG_CrashDump_Flat", [
    ("ComponentName", "ptr"),
    ("RingBufferDataGuid", "guid"),
    ("AdditionalDataGuid", "guid"),
    ("BufferSize", "u32"),
    ("BufferCount", "u32"),
    ("RingBufferMaximumSize", "u32"),
    ("EvtCrashDumpQuery", "ptr"),
    ("EvtCrashDumpWrite", "ptr"),
    ("DataSourceCount", "u32"),
])
# spec/dmf.md §2.2 (b) nested, v1.1.85 - HEAD
CrashDump_SecondaryData = _Spec("CrashDump_SecondaryData", [
    ("RingBufferDataGuid", "guid"),
    ("AdditionalDataGuid", "guid"),
    ("BufferSize", "u32"),
    ("BufferCount", "u32"),
    ("RingBufferMaximumSize", "u32"),
    ("EvtCrashDumpQuery", "ptr"),
    ("EvtCrashDumpWrite", "ptr"),
    ("DataSourceCount", "u32"),
])
CrashDump_TriageDumpData = _Spec("CrashDump_TriageDumpData", [
    ("TriageDumpDataArraySize", "u32"),
    ("EvtCrashDumpStoreTriageDumpData", "ptr"),
])
DMF_CONFIG_CrashDump_Nested = _Spec("DMF_CONFIG_CrashDump_Nested", [
    ("ComponentName", "ptr"),
    ("SecondaryData", ("struct", CrashDump_SecondaryData)),
    ("TriageDumpData", ("struct", CrashDump_TriageDumpData)),
])

# spec/dmf.md §2.7 - pack(1), identical for CREATE and OPEN, 24 bytes on both architectures
DATA_SOURCE_CREATE = _Spec("DATA_SOURCE_CREATE", [
    ("EntriesCount", "u32"), ("EntrySize", "u32"), ("Guid", "guid"),
], pack=1)
DATA_SOURCE_OPEN = _Spec("DATA_SOURCE_OPEN", DATA_SOURCE_CREATE.fields, pack=1)

# spec/dmf.md §4.2 (wdfobject.h / fxhandle.h)
WDF_OBJECT_CONTEXT_TYPE_INFO = _Spec("WDF_OBJECT_CONTEXT_TYPE_INFO", [
    ("Size", "u32"),
    ("ContextName", "ptr"),
    ("ContextSize", "ptr"),
    ("UniqueType", "ptr"),
    ("EvtDriverGetUniqueContextType", "ptr"),
])
WDF_CONTEXT_HEADER = _Spec("FxContextHeader", [
    ("Object", "ptr"),
    ("NextHeader", "ptr"),
    ("EvtCleanupCallback", "ptr"),
    ("EvtDestroyCallback", "ptr"),
    ("ContextTypeInfo", "ptr"),
])

# spec/dmf.md §4.3 nested members of DMF_OBJECT (names from MOD.h / INT.h / DEF.h)
DMF_CALLBACKS_DMF = _Spec("DMF_CALLBACKS_DMF", [("Size", "u32"), ("Callbacks", ("array", "ptr", 7))])
DMF_CALLBACKS_WDF = _Spec("DMF_CALLBACKS_WDF", [("Size", "u32"), ("Callbacks", ("array", "ptr", 29))])
DMF_CALLBACKS_INTERNAL = _Spec("DMF_CALLBACKS_INTERNAL", [("Size", "u32"), ("Callbacks", ("array", "ptr", 4))])
DMF_MODULE_DESCRIPTOR = _Spec("DMF_MODULE_DESCRIPTOR", [
    ("Size", "u32"),
    ("ModuleName", "ptr"),
    ("ModuleOptions", "u32"),
    ("OpenOption", "enum"),
    ("ModuleConfigSize", "u32"),
    ("CallbacksDmf", "ptr"),
    ("CallbacksWdf", "ptr"),
    ("ModuleTransportMethod", "ptr"),
    ("ModuleBranchTrackInitialize", "ptr"),
    ("ModuleLiveKernelDumpInitialize", "ptr"),
    ("NumberOfAuxiliaryLocks", "u32"),
    ("ModuleContextAttributes", "ptr"),
    ("InFlightRecorderSize", "u32"),
    ("SupportedTransportInterfaceGuid", "guid"),
    ("RequiredTransportInterfaceGuid", "guid"),
    ("WdfAddCustomType", "ptr"),
])
DMF_MODULE_ATTRIBUTES = _Spec("DMF_MODULE_ATTRIBUTES", [
    ("SizeOfHeader", "u32"),
    ("ModuleConfigPointer", "ptr"),
    ("SizeOfModuleSpecificConfig", "u32"),
    ("InstanceCreator", "ptr"),
    ("ClientCallbacks", "ptr"),
    ("ResultantDmfModule", "ptr"),
    ("ClientModuleInstanceName", "ptr"),
    ("DynamicModuleImmediate", "bool"),
    ("DynamicModule", "bool"),
    ("TransportModuleAdd", "ptr"),
    ("PassiveLevel", "bool"),
    ("IsTransportModule", "bool"),
])
DMF_MODULE_EVENT_CALLBACKS = _Spec("DMF_MODULE_EVENT_CALLBACKS", [
    ("EvtModuleOnDeviceNotificationPostOpen", "ptr"),
    ("EvtModuleOnDeviceNotificationPreClose", "ptr"),
])
DMF_SYNCHRONIZATION = _Spec("DMF_SYNCHRONIZATION", [
    ("SynchronizationDispatchSpinLock", "ptr"),
    ("SynchronizationPassiveWaitLock", "ptr"),
    ("LockHeldByThread", "ptr"),
])
# KEVENT = DISPATCHER_HEADER {Lock, SignalState, WaitListHead} (24 / 16 bytes, spec/dmf.md §0.2).
KEVENT = _Spec("KEVENT", [("Lock", "i32"), ("SignalState", "i32"), ("WaitListHead", ("struct", LIST_ENTRY))])

# HEAD (v1.1.146+) full layout, spec/dmf.md §4.3
DMF_OBJECT_HEAD = _Spec("DMF_OBJECT", [
    ("ChildListEntry", ("struct", LIST_ENTRY)),
    ("ModuleConfig", "ptr"),
    ("ModuleConfigSize", "ptr"),
    ("ModuleContext", "ptr"),
    ("ReferenceCount", "i32"),
    ("ReferenceCountLock", "ptr"),
    ("ParentDevice", "ptr"),
    ("MemoryDmfObject", "ptr"),
    ("ModuleState", "enum"),
    ("ModuleOpenedDuring", "enum"),
    ("ModuleNotificationRegisteredDuring", "enum"),
    ("ModuleName", "ptr"),
    ("ClientModuleInstanceName", "ptr"),
    ("ClientModuleInstanceNameSizeBytes", "ptr"),
    ("Signature", "u64"),
    ("InternalCallbacksDmf", ("struct", DMF_CALLBACKS_DMF)),
    ("InternalCallbacksWdf", ("struct", DMF_CALLBACKS_WDF)),
    ("InternalCallbacksInternal", ("struct", DMF_CALLBACKS_INTERNAL)),
    ("ModuleDescriptor", ("struct", DMF_MODULE_DESCRIPTOR)),
    ("ModuleAttributes", ("struct", DMF_MODULE_ATTRIBUTES)),
    ("Callbacks", ("struct", DMF_MODULE_EVENT_CALLBACKS)),
    ("IsClosePending", "bool"),
    ("NeedToCallPreClose", "bool"),
    ("DynamicModuleImmediate", "bool"),
    ("ChildObjectList", ("struct", LIST_ENTRY)),
    ("NumberOfChildModules", "u32"),
    ("NeedToCleanupInterfaceBindings", "bool"),
    ("InterfaceBindings", "ptr"),
    ("InterfaceBindingsLock", "ptr"),
    ("TransportModule", "ptr"),
    ("DmfObjectParent", "ptr"),
    ("ModuleCollection", "ptr"),
    ("Synchronizations", ("structs", DMF_SYNCHRONIZATION, 5)),
    ("InFlightRecorder", "ptr"),
    ("UsingDefaultInFlightRecorder", "bool"),
    ("ClientEvtCleanupCallback", "ptr"),
    ("IsTransport", "bool"),
    ("DesiredTransportInterfaceGuid", "guid"),
    ("ObjectToDereference", "ptr"),
    ("ModuleCanBeDeletedEvent", ("struct", KEVENT)),
    ("ModuleClosed", "bool"),
    ("AddedToParentChildModuleList", "bool"),
])

# Prefix layouts: only the fields up to Signature are known for older versions (spec/dmf.md §4.3
# "stable prefix"); the tail moved in 14 revisions and is not described.
DMF_OBJECT_PREFIX_V1_1_80 = _Spec("DMF_OBJECT_prefix_le_1_1_80", [
    ("ChildListEntry", ("struct", LIST_ENTRY)),
    ("ModuleConfig", "ptr"),
    ("ModuleConfigMemory", "ptr"),
    ("ModuleContext", "ptr"),
    ("ReferenceCount", "i32"),
    ("ParentDevice", "ptr"),
    ("MemoryDmfObject", "ptr"),
    ("ModuleState", "enum"),
    ("ModuleOpenedDuring", "enum"),
    ("ModuleNotificationRegisteredDuring", "enum"),
    ("ModuleName", "ptr"),
    ("ClientModuleInstanceNameMemory", "ptr"),
    ("ClientModuleInstanceName", "ptr"),
    ("Signature", "u64"),
])
DMF_OBJECT_PREFIX_V1_1_81 = _Spec("DMF_OBJECT_prefix_1_1_81_to_134", [
    ("ChildListEntry", ("struct", LIST_ENTRY)),
    ("ModuleConfig", "ptr"),
    ("ModuleConfigMemory", "ptr"),
    ("ModuleContext", "ptr"),
    ("ReferenceCount", "i32"),
    ("ReferenceCountLock", "ptr"),
    ("ParentDevice", "ptr"),
    ("MemoryDmfObject", "ptr"),
    ("ModuleState", "enum"),
    ("ModuleOpenedDuring", "enum"),
    ("ModuleNotificationRegisteredDuring", "enum"),
    ("ModuleName", "ptr"),
    ("ClientModuleInstanceNameMemory", "ptr"),
    ("ClientModuleInstanceName", "ptr"),
    ("Signature", "u64"),
])
DMF_OBJECT_PREFIX_V1_1_135 = _Spec("DMF_OBJECT_prefix_1_1_135_to_145", DMF_OBJECT_HEAD.fields[:15])

# spec/dmf.md §4.4
DMF_CALLBACKS_WDF_CHECK = _Spec("DMF_CALLBACKS_WDF_CHECK", [
    ("Size", "u32"), ("Checks", ("bytes", 29)),
])
DMF_MODULE_COLLECTION = _Spec("DMF_MODULE_COLLECTION", [
    ("ModuleCollectionHandleMemory", "ptr"),
    ("ClientDriverDmfModules", "ptr"),
    ("ClientDriverDmfModulesMemory", "ptr"),
    ("NumberOfClientDriverDmfModules", "i32"),
    ("ManualCallToD0EntrySucceeded", "bool"),
    ("DmfObjectFeature", ("array", "ptr", DmfFeature_NumberOfFeatures)),
    ("DmfCallbacksWdfCheck", ("struct", DMF_CALLBACKS_WDF_CHECK)),
    ("ManualDestroyCallbackIsPending", "bool"),
    ("ClientDevice", "ptr"),
])
DMF_DEVICE_CONTEXT = _Spec("DMF_DEVICE_CONTEXT", [
    ("WdfDevice", "ptr"),
    ("ClientImplementsEvtWdfDriverDeviceAdd", "bool"),
    ("DmfCollection", "ptr"),
    ("WdfControlDevice", "ptr"),
    ("WdfClientDriverDevice", "ptr"),
    ("IsFilterDevice", "bool"),
    ("EvtDmfDeviceLog", "ptr"),
])

# spec/dmf.md §3.1 - §3.4
_LKD_CONFIG_FIELDS = [
    ("LiveKernelDumpFeatureInitialize", "ptr"),
    ("GuidDeviceInterface", "guid"),
    ("ReportType", ("bytes", 2 * LIVEKERNELDUMP_REPORT_TYPE_CHARS)),
    ("GuidSecondaryData", "guid"),
]
DMF_CONFIG_LiveKernelDump_V1_0 = _Spec("DMF_CONFIG_LiveKernelDump_le_1_1_84", _LKD_CONFIG_FIELDS)
DMF_CONFIG_LiveKernelDump = _Spec("DMF_CONFIG_LiveKernelDump", _LKD_CONFIG_FIELDS + [
    ("IncludeDmfDataInBugCheckTriageDump", "bool"),
])
_LKD_CTX_BASE = [
    ("DataBufferSource", "ptr"),            # DataBufferSource.DmfModuleRingBuffer
    ("BugCheckParameterDmfCollection", "ptr"),
    ("DmfDataSize", "u32"),
]
_LKD_CTX_RS3 = [
    ("LiveKernelDumpIoctlHandler", "ptr"),
    ("BufferQueue", "ptr"),
]
_LKD_CTX_85_RS3 = [("CrashDumpModule", "ptr")]
_LKD_CTX_85 = [("NumberOfDataBuffers", "u32"), ("TelemetryDataSize", "u32")]
LKD_CONTEXT_SPECS = {
    (False, False): _Spec("DMF_CONTEXT_LiveKernelDump_le_1_1_84_noRS3", _LKD_CTX_BASE),
    (False, True): _Spec("DMF_CONTEXT_LiveKernelDump_le_1_1_84", _LKD_CTX_BASE + _LKD_CTX_RS3),
    (True, False): _Spec("DMF_CONTEXT_LiveKernelDump_noRS3", _LKD_CTX_BASE + _LKD_CTX_85),
    (True, True): _Spec("DMF_CONTEXT_LiveKernelDump", _LKD_CTX_BASE + _LKD_CTX_RS3 + _LKD_CTX_85_RS3 + _LKD_CTX_85),
}
LKD_DATA_BUFFER = _Spec("DATA_BUFFER", [
    ("Address", "ptr"), ("Size", "u32"), ("Valid", "bool"),
], pack=1)
LIVEKERNELDUMP_CLIENT_STRUCTURE = _Spec("LIVEKERNELDUMP_CLIENT_STRUCTURE", [
    ("Address", "ptr"), ("Size", "u32"),
], pack=1)
LIVEKERNELDUMP_INPUT_BUFFER = _Spec("LIVEKERNELDUMP_INPUT_BUFFER", [
    ("BugCheckCode", "u32"),
    ("BugCheckParameter", "ptr"),
    ("ExcludeDmfData", "bool"),
    ("NumberOfClientStructures", "u32"),
    ("ArrayOfClientStructures", "ptr"),
    ("SizeOfSecondaryData", "u32"),
    ("SecondaryDataBuffer", "ptr"),
], pack=1)


# --------------------------------------------------------------------------------------------------
# Accessors
# --------------------------------------------------------------------------------------------------

def layout_of(spec: _Spec, arch: str) -> Layout:
    """The Layout of any public spec (e.g. ``DMF_CALLBACKS_WDF``) for an architecture."""
    return _layout(spec, arch)


def ring_buffer(arch: str) -> Layout:
    """RING_BUFFER = DMF_CONTEXT_RingBuffer (spec/dmf.md §1.2)."""
    return _layout(RING_BUFFER, arch)


def dmf_config_ring_buffer(arch: str) -> Layout:
    return _layout(DMF_CONFIG_RingBuffer, arch)


def data_source(arch: str) -> Layout:
    return _layout(DATA_SOURCE, arch)


CRASHDUMP_CONTEXT_LABELS = ("V1", "V3", "V4", "V5")


def crashdump_context(arch: str, version: str) -> Layout:
    """DMF_CONTEXT_CrashDump for a context label "V1" | "V3" | "V4" | "V5" (spec/dmf.md §2.4)."""
    spec = CRASHDUMP_CONTEXT_SPECS.get(version)
    if spec is None:
        raise LayoutError("DMF CrashDump context %r: unknown layout (known: V1, V3, V4, V5)" % (version,))
    return _layout(spec, arch)


def crashdump_context_label_for_dmf(dmf_version) -> str:
    """Context label by release range: V1 <= 1.1.84 < V3 <= 1.1.115 < V4 <= 1.1.153 < V5."""
    v = parse_dmf_version(dmf_version)
    if v < V1_1_85:
        return "V1"
    if v < V1_1_116:
        return "V3"
    if v < V1_1_154:
        return "V4"
    return "V5"


def crashdump_context_for_dmf(arch: str, dmf_version) -> Layout:
    return crashdump_context(arch, crashdump_context_label_for_dmf(dmf_version))


def crashdump_context_version(arch: str, context_size: int) -> str:
    """Context label from `_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO.ContextSize` (spec/dmf.md §2.4)."""
    for label in CRASHDUMP_CONTEXT_LABELS:
        if crashdump_context(arch, label).size == context_size:
            return label
    raise LayoutError("DMF CrashDump context of %d bytes: unknown layout" % (context_size,))


def crashdump_config(arch: str, nested: bool) -> Layout:
    """Flat (v1.0-v1.1.84) or nested (v1.1.85+) DMF_CONFIG_CrashDump (spec/dmf.md §2.2)."""
    return _layout(DMF_CONFIG_CrashDump_Nested if nested else DMF_CONFIG_CrashDump_Flat, arch)


def crashdump_config_nested(arch: str, config_size: int) -> bool:
    """Variant from ModuleConfigSize: 80/60 flat, 96/68 nested. x64 88 is the never-released
    dev-branch variant (spec/dmf.md §2.2) and reported as unknown; on x86 that variant is 68 bytes
    and layout-identical to the nested one."""
    if config_size == crashdump_config(arch, False).size:
        return False
    if config_size == crashdump_config(arch, True).size:
        return True
    raise LayoutError("DMF CrashDump config of %d bytes: unknown layout" % (config_size,))


def crashdump_config_for_dmf(arch: str, dmf_version) -> Layout:
    return crashdump_config(arch, parse_dmf_version(dmf_version) >= V1_1_85)


def dmf_object_head(arch: str) -> Layout:
    """Full DMF_OBJECT of v1.1.146+ (976 / 536 bytes, spec/dmf.md §4.3)."""
    return _layout(DMF_OBJECT_HEAD, arch)


def dmf_object_prefix(arch: str, dmf_version) -> Layout:
    """The known prefix (ChildListEntry .. Signature) for a DMF version (spec/dmf.md §4.3)."""
    v = parse_dmf_version(dmf_version)
    if v <= V1_1_80:
        spec = DMF_OBJECT_PREFIX_V1_1_80
    elif v < V1_1_135:
        spec = DMF_OBJECT_PREFIX_V1_1_81
    else:
        spec = DMF_OBJECT_PREFIX_V1_1_135
    return _layout(spec, arch, complete=False,
                   note="prefix only: fields after Signature are version specific")


def dmf_object_is_complete(dmf_version) -> bool:
    return parse_dmf_version(dmf_version) >= V1_1_146


def dmf_object(arch: str, dmf_version) -> Layout:
    """HEAD full layout for v1.1.146+, otherwise the prefix layout of that version
    (``layout.complete`` is False: ChildObjectList, DmfObjectParent, ModuleCollection... unknown)."""
    if dmf_object_is_complete(dmf_version):
        return dmf_object_head(arch)
    return dmf_object_prefix(arch, dmf_version)


def bugcheck_reason_callback_record(arch: str) -> Layout:
    return _layout(KBUGCHECK_REASON_CALLBACK_RECORD, arch)


def bugcheck_secondary_dump_data(arch: str) -> Layout:
    return _layout(KBUGCHECK_SECONDARY_DUMP_DATA, arch)


def data_source_create() -> Layout:
    return _layout(DATA_SOURCE_CREATE, "x64")


def data_source_open() -> Layout:
    return _layout(DATA_SOURCE_OPEN, "x64")


def ktriage_dump_data_array(arch: str) -> Layout:
    """The KTRIAGE_DUMP_DATA_ARRAY header; Blocks[] (KADDRESS_RANGE) start at ``.size``."""
    return _layout(KTRIAGE_DUMP_DATA_ARRAY, arch)


def kaddress_range(arch: str) -> Layout:
    return _layout(KADDRESS_RANGE, arch)


def ktriage_dump_data_array_size(arch: str, blocks: int) -> int:
    """FIELD_OFFSET(KTRIAGE_DUMP_DATA_ARRAY, Blocks) + n * sizeof(KADDRESS_RANGE) (spec/dmf.md §2.13)."""
    return ktriage_dump_data_array(arch).size + blocks * kaddress_range(arch).size


def wdf_object_context_type_info(arch: str) -> Layout:
    return _layout(WDF_OBJECT_CONTEXT_TYPE_INFO, arch)


def wdf_context_header(arch: str) -> Layout:
    """FxContextHeader without its Context[] tail (40 / 20 bytes, spec/dmf.md §4.2)."""
    return _layout(WDF_CONTEXT_HEADER, arch)


def wdf_context_offset(arch: str) -> int:
    """Offset of the context bytes from their header: ALIGN_UP(40, 16) = 48 / ALIGN_UP(20, 8) = 24."""
    return _align_up(wdf_context_header(arch).size, memory_allocation_alignment(arch))


def dmf_module_collection(arch: str) -> Layout:
    return _layout(DMF_MODULE_COLLECTION, arch)


def dmf_device_context(arch: str) -> Layout:
    return _layout(DMF_DEVICE_CONTEXT, arch)


def livekerneldump_config(arch: str, dmf_version=HEAD_VERSION) -> Layout:
    if parse_dmf_version(dmf_version) >= V1_1_85:
        return _layout(DMF_CONFIG_LiveKernelDump, arch)
    return _layout(DMF_CONFIG_LiveKernelDump_V1_0, arch)


def livekerneldump_context(arch: str, dmf_version=HEAD_VERSION, rs3: bool = True) -> Layout:
    """DMF_CONTEXT_LiveKernelDump; ``rs3`` = built with IS_WIN10_RS3_OR_LATER (spec/dmf.md §3.2)."""
    return _layout(LKD_CONTEXT_SPECS[(parse_dmf_version(dmf_version) >= V1_1_85, bool(rs3))], arch)


def livekerneldump_data_buffer(arch: str) -> Layout:
    """LiveKernelDump DATA_BUFFER, pack 1, 13 / 9 bytes (spec/dmf.md §3.3)."""
    return _layout(LKD_DATA_BUFFER, arch)


def livekerneldump_client_structure(arch: str) -> Layout:
    return _layout(LIVEKERNELDUMP_CLIENT_STRUCTURE, arch)


def livekerneldump_input_buffer(arch: str) -> Layout:
    """pack 1, 37 / 25 bytes: pointer-size dependent (spec/dmf.md Q-LKD-6)."""
    return _layout(LIVEKERNELDUMP_INPUT_BUFFER, arch)
