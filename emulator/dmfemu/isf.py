"""ISF JSON (volatility3's Intermediate Symbol Format) describing an emulated DMF driver.

The ISF is what a PDB is to WinDbg: dmfkd resolves `dmfdemo!g_DmfModuleCrashDump` and the field
offsets of DMF_CONTEXT_CrashDump etc. from it. Symbol addresses are RVAs relative to the image base
(volatility3's convention); the base itself is in `metadata["dmfkd"]["image_base"]`.
Every user type is generated from the same layouts (dmfkd.layouts, laid out by its engine) the
extension parses with - no offset is typed twice. Types a caller adds as plain construct Structs
(``extra_types``) are walked with :func:`struct_fields`.
"""
import json
from typing import Dict, NamedTuple, Optional

import construct

from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dmf_versions
from dmfkd.layouts import windows
from dmfkd.layouts.engine import layout_of

from dmfemu.driver import DMFDEMO_EVENT, dmfdemo_event
from dmfemu.kernel import PE_MACHINE


class FieldInfo(NamedTuple):
    offset: int
    size: int
    con: object          # the construct of the field (unwrapped of its name)


def _strip(con):
    """Remove wrappers that do not change the bytes (names, defaults, constants, renames)."""
    while isinstance(con, (construct.Renamed, construct.Default, construct.Const, construct.Transformed)) or (
        type(con).__name__ in ("Renamed", "Default", "Const")
    ):
        con = con.subcon
    return con


def _as_struct(con):
    """The Struct behind an Adapter/Aligned/Padded wrapper, or None."""
    seen = 0
    while seen < 8:
        if isinstance(con, construct.Struct):
            return con
        if isinstance(con, (construct.Array, construct.FormatField, construct.Bytes, construct.BytesInteger)):
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


# --------------------------------------------------------------------------------------------------
# ISF writer
# --------------------------------------------------------------------------------------------------

ISF_FORMAT = "6.2.0"

# The names a PDB gives these types: typedef names for DMF's anonymous structs, the struct tag
# (leading underscore) for wdm.h / wdfobject.h types.
_ISF_NAMES = {
    "LIST_ENTRY": "_LIST_ENTRY",
    "KBUGCHECK_REASON_CALLBACK_RECORD": "_KBUGCHECK_REASON_CALLBACK_RECORD",
    "KBUGCHECK_SECONDARY_DUMP_DATA": "_KBUGCHECK_SECONDARY_DUMP_DATA",
    "KTRIAGE_DUMP_DATA_ARRAY": "_KTRIAGE_DUMP_DATA_ARRAY",
    "KADDRESS_RANGE": "_KADDRESS_RANGE",
    "WDF_OBJECT_CONTEXT_TYPE_INFO": "_WDF_OBJECT_CONTEXT_TYPE_INFO",
    "KEVENT": "_KEVENT",
    "DMF_CONFIG_CrashDump_Flat": "DMF_CONFIG_CrashDump",
    "DMF_CONFIG_CrashDump_Nested": "DMF_CONFIG_CrashDump",
    "GUID": "_GUID",
}

# pointer fields whose target type a reader benefits from (what the PDB would say)
_POINTEES = {
    ("DMF_CONTEXT_CrashDump", "DataSource"): ("struct", "DATA_SOURCE"),
    ("DMF_CONTEXT_CrashDump", "BugCheckCallbackRecordRingBuffer"): ("struct", "_KBUGCHECK_REASON_CALLBACK_RECORD"),
    ("DMF_CONTEXT_CrashDump", "TriageDumpDataArray"): ("struct", "_KTRIAGE_DUMP_DATA_ARRAY"),
    ("DMF_CONFIG_CrashDump", "ComponentName"): ("base", "unsigned char"),
    ("RING_BUFFER", "Items"): ("base", "unsigned char"),
    ("RING_BUFFER", "ReadPointer"): ("base", "unsigned char"),
    ("RING_BUFFER", "WritePointer"): ("base", "unsigned char"),
    ("RING_BUFFER", "BufferEnd"): ("base", "unsigned char"),
    ("DMF_OBJECT", "ModuleName"): ("base", "char"),
    ("DMF_OBJECT", "ClientModuleInstanceName"): ("base", "char"),
    ("DMF_OBJECT", "DmfObjectParent"): ("struct", "DMF_OBJECT"),
    ("DMF_OBJECT", "TransportModule"): ("struct", "DMF_OBJECT"),
    ("DMF_OBJECT", "ModuleCollection"): ("struct", "DMF_MODULE_COLLECTION"),
    ("_WDF_OBJECT_CONTEXT_TYPE_INFO", "ContextName"): ("base", "char"),
    ("_WDF_OBJECT_CONTEXT_TYPE_INFO", "UniqueType"): ("struct", "_WDF_OBJECT_CONTEXT_TYPE_INFO"),
    ("_LIST_ENTRY", "Flink"): ("struct", "_LIST_ENTRY"),
    ("_LIST_ENTRY", "Blink"): ("struct", "_LIST_ENTRY"),
}

_CHAR_ARRAYS = {("DATA_SOURCE", "RingBufferEncryptionKey"), ("DMFDEMO_EVENT", "Message")}

_SCALAR_BASE = {"u8": "unsigned char", "bool": "unsigned char", "u16": "unsigned short",
                "u32": "unsigned long", "i32": "long", "enum": "long", "u64": "unsigned long long"}


def _base_types(pointer_size: int) -> dict:
    def integer(size, signed):
        return {"kind": "int", "size": size, "signed": signed, "endian": "little"}
    return {
        "char": {"kind": "char", "size": 1, "signed": True, "endian": "little"},
        "unsigned char": {"kind": "char", "size": 1, "signed": False, "endian": "little"},
        "unsigned short": integer(2, False),
        "short": integer(2, True),
        "unsigned long": integer(4, False),
        "long": integer(4, True),
        "unsigned long long": integer(8, False),
        "long long": integer(8, True),
        "pointer": integer(pointer_size, False),
        "void": {"kind": "void", "size": 0, "signed": False, "endian": "little"},
    }


class _IsfTypes(object):
    """Collects user types generated from dmfkd.layouts specs/layouts and construct Structs."""

    def __init__(self, arch: str):
        self.user_types = {}  # type: Dict[str, dict]
        self.add_spec(windows.GUID, layout_of(windows.GUID, arch))

    def isf_name(self, spec_name: str) -> str:
        if spec_name.startswith("DMF_CONTEXT_CrashDump_V"):
            return "DMF_CONTEXT_CrashDump"
        if spec_name.startswith("DMF_OBJECT"):
            return "DMF_OBJECT"
        return _ISF_NAMES.get(spec_name, spec_name)

    def _scalar(self, type_name: str, field: str, kind: str) -> dict:
        if kind == "ptr":
            target = _POINTEES.get((type_name, field))
            if target is None:
                return {"kind": "pointer", "subtype": {"kind": "base", "name": "void"}}
            return {"kind": "pointer", "subtype": {"kind": target[0], "name": target[1]}}
        if kind == "guid":
            return {"kind": "struct", "name": "_GUID"}
        return {"kind": "base", "name": _SCALAR_BASE[kind]}

    def add_spec(self, spec, layout, name: Optional[str] = None, prefix: str = "",
                 base: int = 0, size: Optional[int] = None) -> str:
        """One user type from a layouts spec; offsets come from the computed `layout` (nested
        members as "Outer.Inner" there), never from a second table."""
        type_name = name or self.isf_name(spec.name)
        fields = {}
        for field, ftype in spec.fields:
            offset = layout.offsets[prefix + field] - base
            if isinstance(ftype, str):
                desc = self._scalar(type_name, field, ftype)
            elif ftype[0] == "bytes":
                element = "char" if (type_name, field) in _CHAR_ARRAYS else "unsigned char"
                desc = {"kind": "array", "count": ftype[1], "subtype": {"kind": "base", "name": element}}
            elif ftype[0] == "array":
                desc = {"kind": "array", "count": ftype[2], "subtype": self._scalar(type_name, field, ftype[1])}
            else:
                inner = ftype[1]
                if ftype[0] == "struct":
                    inner_prefix = prefix + field + "."
                    inner_base = layout.offsets[prefix + field]
                    inner_size = layout.sizes[prefix + field]
                else:
                    inner_prefix = prefix + field + "[0]."
                    inner_base = layout.offsets[prefix + field + "[0]"]
                    inner_size = layout.sizes[prefix + field + "[0]"]
                inner_name = self.add_spec(inner, layout, prefix=inner_prefix, base=inner_base, size=inner_size)
                desc = {"kind": "struct", "name": inner_name}
                if ftype[0] == "structs":
                    desc = {"kind": "array", "count": ftype[2], "subtype": desc}
            fields[field] = {"offset": offset, "type": desc}
        total = layout.size if size is None else size
        if type_name not in self.user_types:
            self.user_types[type_name] = {"kind": "struct", "size": total, "fields": fields}
        return type_name

    def add_construct(self, name: str, con) -> str:
        """A user type from a plain construct Struct (walked with struct_fields)."""
        fields = {}
        for fname, info in struct_fields(con).items():
            if "." in fname:
                continue
            fields[fname] = {"offset": info.offset, "type": self._construct_desc(name, fname, info)}
        self.user_types[name] = {"kind": "struct", "size": con.sizeof(), "fields": fields}
        return name

    def _construct_desc(self, type_name: str, fname: str, info: FieldInfo) -> dict:
        con = info.con
        fmt = getattr(con, "fmtstr", None)
        if fmt:
            letter = fmt[-1]
            names = {"B": "unsigned char", "b": "char", "H": "unsigned short", "h": "short",
                     "I": "unsigned long", "i": "long", "L": "unsigned long", "l": "long",
                     "Q": "unsigned long long", "q": "long long"}
            return {"kind": "base", "name": names[letter]}
        element = "char" if (type_name, fname) in _CHAR_ARRAYS else "unsigned char"
        return {"kind": "array", "count": info.size, "subtype": {"kind": "base", "name": element}}


def build_isf(driver, extra_types: Optional[Dict[str, object]] = None) -> dict:
    """The ISF document of an emulated driver (dmfemu.driver.Driver): its symbols as RVAs and the DMF
    types of its DMF version and architecture."""
    arch = driver.arch
    version = driver.dmf_version
    types = _IsfTypes(arch)
    label = dmf_structures.crashdump_context_label_for_dmf(version)
    nested = tuple(version) >= dmf_versions.V1_1_85
    types.add_spec(dmf_structures.CRASHDUMP_CONTEXT_SPECS[label], dmf_structures.crashdump_context(arch, label))
    types.add_spec(dmf_structures.DMF_CONFIG_CrashDump_Nested if nested else dmf_structures.DMF_CONFIG_CrashDump_Flat,
                   dmf_structures.crashdump_config(arch, nested))
    types.add_spec(dmf_structures.DATA_SOURCE, dmf_structures.data_source(arch))
    ring_name = types.add_spec(dmf_structures.RING_BUFFER, dmf_structures.ring_buffer(arch))
    types.user_types["DMF_CONTEXT_RingBuffer"] = {
        "kind": "struct", "size": dmf_structures.ring_buffer(arch).size,
        "fields": {"RingBuffer": {"offset": 0, "type": {"kind": "struct", "name": ring_name}}}}
    types.add_spec(dmf_structures.DMF_CONFIG_RingBuffer, dmf_structures.dmf_config_ring_buffer(arch))
    object_layout = dmf_structures.dmf_object(arch, version)
    object_spec = dmf_structures.DMF_OBJECT_HEAD if object_layout.complete else _dmf_spec_named(object_layout.name)
    types.add_spec(object_spec, object_layout, name="DMF_OBJECT")
    types.add_spec(dmf_structures.DMF_MODULE_COLLECTION, dmf_structures.dmf_module_collection(arch))
    types.add_spec(windows.KBUGCHECK_REASON_CALLBACK_RECORD, windows.bugcheck_reason_callback_record(arch))
    types.add_spec(windows.KBUGCHECK_SECONDARY_DUMP_DATA, windows.bugcheck_secondary_dump_data(arch))
    types.add_spec(windows.KTRIAGE_DUMP_DATA_ARRAY, windows.ktriage_dump_data_array(arch))
    types.add_spec(windows.KADDRESS_RANGE, windows.kaddress_range(arch))
    types.add_spec(windows.WDF_OBJECT_CONTEXT_TYPE_INFO, windows.wdf_object_context_type_info(arch))
    types.add_spec(dmf_structures.DATA_SOURCE_CREATE, dmf_structures.data_source_create())
    types.add_spec(DMFDEMO_EVENT, dmfdemo_event())
    for name, con in (extra_types or {}).items():
        types.add_construct(name, con)

    symbols = {}
    prefix = driver.name.lower() + "!"
    for qualified, va in driver.machine.symbols.items():
        if not qualified.lower().startswith(prefix):
            continue
        name = qualified[len(prefix):]
        entry = {"address": va - driver.base}
        if name in driver.routines():
            entry["type"] = {"kind": "function"}
        elif name == "g_DmfModuleCrashDump":
            entry["type"] = {"kind": "pointer", "subtype": {"kind": "base", "name": "void"}}
        elif name.startswith("_WDF_") and name.endswith("_TYPE_INFO"):
            entry["type"] = {"kind": "struct", "name": "_WDF_OBJECT_CONTEXT_TYPE_INFO"}
        symbols[name] = entry
    return {
        "metadata": {
            "format": ISF_FORMAT,
            "producer": {"name": "dmfemu", "version": "0.1.0"},
            "windows": {"pe": {"machine": PE_MACHINE[arch]}},
            "dmfkd": {"module": driver.name, "image_base": driver.base, "arch": arch,
                      "dmf_version": dmf_versions.format_dmf_version(version)},
        },
        "base_types": _base_types(driver.ptr),
        "user_types": types.user_types,
        "enums": {},
        "symbols": symbols,
    }


def _dmf_spec_named(name: str):
    """The dmf_structures Spec called `name` (the DMF_OBJECT prefix of an older DMF version)."""
    for value in vars(dmf_structures).values():
        if getattr(value, "name", None) == name and hasattr(value, "fields"):
            return value
    raise KeyError("no layout spec named %s" % name)


def write_isf(path: str, driver, extra_types: Optional[Dict[str, object]] = None) -> dict:
    """Write the driver's ISF JSON to `path` (see module docstring); returns the document."""
    document = build_isf(driver, extra_types)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, sort_keys=True)
        handle.write("\n")
    return document
