"""Offline symbols from volatility3's Intermediate Symbol Format (ISF JSON).

What WinDbg takes from a PDB, dmfkd takes from an ISF file: symbol addresses and type layouts.
dmfemu writes one for its emulated driver (``driver.isf.json``); volatility3's own tools
(``pdbconv``) write them for real PDBs. Layout of the file (volatility3 schema 6.x):

    {"metadata": {"format": "6.2.0", ..., "dmfkd": {"module": "dmfdemo", "image_base": N,
                                                  "arch": "x64", "dmf_version": "1.1.154"}},
     "base_types": {"unsigned long": {"kind": "int", "size": 4, "signed": false, "endian": "little"},
                    "pointer": {...}, ...},
     "user_types": {"_X": {"kind": "struct", "size": 16,
                           "fields": {"F": {"offset": 0, "type": DESCRIPTOR}}}},
     "enums": {"E": {"size": 4, "base": "long", "constants": {"A": 0}}},
     "symbols": {"g_X": {"address": RVA, "type": DESCRIPTOR (optional)}}}

DESCRIPTOR is {"kind": "base"|"struct"|"union"|"class"|"enum", "name": N},
{"kind": "pointer", "subtype": D}, {"kind": "array", "count": C, "subtype": D},
{"kind": "bitfield", "bit_position": P, "bit_length": L, "type": D} or {"kind": "function"}.

Symbol addresses are RVAs relative to the image base, as in volatility3; the base comes from
``metadata["dmfkd"]["image_base"]`` unless the caller passes one (e.g. the module's load address
the debugger reports). The whole file is validated when loaded, so a bad file fails once, up
front, with a FormatError naming the file and the bad entry - never later with a KeyError.
"""
import fnmatch
import os
from typing import Any, Dict, List, Optional, Tuple

from dmfkd import bounded_input
from dmfkd.errors import FormatError, SymbolError
from dmfkd.targets.symbols import EnumType, Field, Symbols, TypeLayout

_USER_KINDS = ("struct", "union", "class")
_DESCRIPTOR_KINDS = ("base", "pointer", "array", "struct", "union", "class", "enum", "bitfield", "function")
_BASE_KINDS = ("int", "char", "bool", "float", "void")
# a descriptor nests at most this deep (pointer to array of pointers ...); deeper is a hostile file
_MAX_DESCRIPTOR_DEPTH = 32
_MAX_ARRAY_COUNT = 1 << 32
#: the largest ISF text read (after decompression). A driver's ISF (its own types plus the WDK headers
#: it includes) is a few MB; a gzip or xz bomb is refused at this size instead of filling memory, and the
#: JSON value bound (dmfkd.bounded_input.MAX_JSON_VALUES) keeps what json.loads builds from it bounded too.
MAX_ISF_BYTES = 32 * 1024 * 1024


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_json(path: str):
    """The ISF document: a regular file only, at most MAX_ISF_BYTES (after decompression), JSON nesting
    and integer sizes bounded before json.loads (dmfkd.bounded_input)."""
    return bounded_input.read_json(path, MAX_ISF_BYTES, "ISF JSON")


class IsfSymbols(Symbols):
    """Symbols and types of one module, read from an ISF JSON file (plain, .gz or .xz)."""

    def __init__(self, document: Dict[str, Any], source: str = "<isf>", base: Optional[int] = None):
        self.source = source
        self._validate(document)
        self.metadata = document["metadata"]
        self.base_types = document["base_types"]
        self.user_types = document["user_types"]
        self.enums = document.get("enums", {})
        self.symbols = document["symbols"]
        extra = self.metadata.get("dmfkd") or {}
        #: module name symbols belong to ("dmfdemo"); None when the file does not say
        self.module = extra.get("module")
        #: load address symbol RVAs are added to; None when unknown (address_of then refuses)
        self.image_base = base if base is not None else extra.get("image_base")
        self.arch = extra.get("arch")
        self.dmf_version = extra.get("dmf_version")

    @classmethod
    def load(cls, path: str, base: Optional[int] = None) -> "IsfSymbols":
        if base is not None and (not _is_int(base) or base < 0):
            raise FormatError(path, "image base must be a non-negative integer, got %r" % (base,))
        return cls(_read_json(path), source=path, base=base)

    # -- validation ---------------------------------------------------------------------------
    def _bad(self, what: str):
        raise FormatError(self.source, what)

    def _validate(self, doc) -> None:
        if not isinstance(doc, dict):
            self._bad("not an ISF file: the top level is a %s, not an object" % type(doc).__name__)
        for section in ("metadata", "base_types", "user_types", "symbols"):
            if section not in doc:
                self._bad("not an ISF file: no %r section" % section)
            if not isinstance(doc[section], dict):
                self._bad("ISF %r is a %s, not an object" % (section, type(doc[section]).__name__))
        if not isinstance(doc.get("enums", {}), dict):
            self._bad("ISF 'enums' is not an object")
        meta = doc["metadata"]
        if "format" not in meta or not isinstance(meta["format"], str):
            self._bad("ISF metadata has no 'format' version string")
        major = meta["format"].split(".")[0]
        if not major.isdigit() or not 4 <= int(major) <= 6:
            self._bad("ISF format %r not supported (expected 4.x-6.x)" % meta["format"])
        extra = meta.get("dmfkd")
        if extra is not None:
            if not isinstance(extra, dict):
                self._bad("ISF metadata 'dmfkd' is not an object")
            if "image_base" in extra and (not _is_int(extra["image_base"]) or extra["image_base"] < 0):
                self._bad("ISF metadata dmfkd.image_base is not a non-negative integer: %r"
                          % (extra["image_base"],))
            if "module" in extra and not isinstance(extra["module"], str):
                self._bad("ISF metadata dmfkd.module is not a string")
        for name, base in doc["base_types"].items():
            where = "base_types[%r]" % name
            if not isinstance(base, dict):
                self._bad("ISF %s is not an object" % where)
            if base.get("kind") not in _BASE_KINDS:
                self._bad("ISF %s has kind %r (expected one of %s)" % (where, base.get("kind"),
                                                                       ", ".join(_BASE_KINDS)))
            if not _is_int(base.get("size")) or base["size"] < 0:
                self._bad("ISF %s.size is not a non-negative integer" % where)
        enums = doc.get("enums", {})
        for name, enum in enums.items():
            where = "enums[%r]" % name
            if not isinstance(enum, dict) or not _is_int(enum.get("size")) or enum["size"] <= 0:
                self._bad("ISF %s has no positive integer size" % where)
            if not isinstance(enum.get("constants", {}), dict):
                self._bad("ISF %s.constants is not an object" % where)
        for name, user in doc["user_types"].items():
            where = "user_types[%r]" % name
            if not isinstance(user, dict):
                self._bad("ISF %s is not an object" % where)
            if user.get("kind") not in _USER_KINDS:
                self._bad("ISF %s has kind %r (expected struct, union or class)" % (where, user.get("kind")))
            if not _is_int(user.get("size")) or user["size"] < 0:
                self._bad("ISF %s.size is not a non-negative integer" % where)
            fields = user.get("fields")
            if not isinstance(fields, dict):
                self._bad("ISF %s.fields is not an object" % where)
            for fname, field in fields.items():
                fwhere = "%s.fields[%r]" % (where, fname)
                if not isinstance(field, dict):
                    self._bad("ISF %s is not an object" % fwhere)
                if not _is_int(field.get("offset")) or field["offset"] < 0:
                    self._bad("ISF %s.offset is not a non-negative integer" % fwhere)
                if field["offset"] > user["size"]:
                    self._bad("ISF %s.offset 0x%x lies past the end of the %d-byte type"
                              % (fwhere, field["offset"], user["size"]))
                self._validate_descriptor(field.get("type"), fwhere + ".type", doc, 0)
        for name, sym in doc["symbols"].items():
            where = "symbols[%r]" % name
            if not isinstance(sym, dict):
                self._bad("ISF %s is not an object" % where)
            if not _is_int(sym.get("address")) or sym["address"] < 0:
                self._bad("ISF %s.address is not a non-negative integer" % where)
            if "type" in sym:
                self._validate_descriptor(sym["type"], where + ".type", doc, 0)

    def _validate_descriptor(self, desc, where: str, doc, depth: int) -> None:
        if depth > _MAX_DESCRIPTOR_DEPTH:
            self._bad("ISF %s nests deeper than %d levels" % (where, _MAX_DESCRIPTOR_DEPTH))
        if not isinstance(desc, dict):
            self._bad("ISF %s is not a type descriptor object" % where)
        kind = desc.get("kind")
        if not isinstance(kind, str) or kind not in _DESCRIPTOR_KINDS:
            self._bad("ISF %s has kind %r (expected one of %s)" % (where, kind, ", ".join(_DESCRIPTOR_KINDS)))
        if kind in ("base", "enum") or kind in _USER_KINDS:
            # a JSON object or array where a type name belongs would be unhashable in the lookups below
            if not isinstance(desc.get("name"), str):
                self._bad("ISF %s.name is not a string" % where)
        if kind == "base":
            if desc.get("name") not in doc["base_types"]:
                self._bad("ISF %s names base type %r, which base_types does not define" % (where, desc.get("name")))
        elif kind in _USER_KINDS:
            if desc.get("name") not in doc["user_types"]:
                self._bad("ISF %s names %s %r, which user_types does not define" % (where, kind, desc.get("name")))
        elif kind == "enum":
            if desc.get("name") not in doc.get("enums", {}):
                self._bad("ISF %s names enum %r, which enums does not define" % (where, desc.get("name")))
        elif kind == "pointer":
            self._validate_descriptor(desc.get("subtype"), where + ".subtype", doc, depth + 1)
        elif kind == "array":
            count = desc.get("count")
            if not _is_int(count) or not 0 <= count < _MAX_ARRAY_COUNT:
                self._bad("ISF %s.count is not an integer in [0, 2^32)" % where)
            self._validate_descriptor(desc.get("subtype"), where + ".subtype", doc, depth + 1)
        elif kind == "bitfield":
            for key in ("bit_position", "bit_length"):
                if not _is_int(desc.get(key)) or not 0 <= desc[key] <= 64:
                    self._bad("ISF %s.%s is not an integer in [0, 64]" % (where, key))
            self._validate_descriptor(desc.get("type"), where + ".type", doc, depth + 1)

    # -- names ----------------------------------------------------------------------------------
    def _split(self, name: str, what: str) -> str:
        """Strip "module!" and check the module, like WinDbg (module names are case-insensitive)."""
        if "!" not in name:
            return name
        module, _, bare = name.partition("!")
        if self.module is not None and module.lower() != self.module.lower():
            raise SymbolError("%s: %s %r: this ISF file describes module %r, not %r"
                              % (self.source, what, name, self.module, module))
        return bare

    # -- Symbols protocol ---------------------------------------------------------------------
    def address_of(self, name: str) -> int:
        bare = self._split(name, "symbol")
        sym = self.symbols.get(bare)
        if sym is None:
            raise SymbolError("%s: no symbol %r" % (self.source, name))
        if self.image_base is None:
            raise SymbolError("%s: symbol %r is an RVA and the image base is unknown (no "
                              "metadata.dmfkd.image_base; pass the module's base address)" % (self.source, name))
        return self.image_base + sym["address"]

    def symbol_type(self, name: str) -> Optional[Dict[str, Any]]:
        """The ISF type descriptor of a symbol, or None when the file gives none."""
        bare = self._split(name, "symbol")
        sym = self.symbols.get(bare)
        if sym is None:
            raise SymbolError("%s: no symbol %r" % (self.source, name))
        return sym.get("type")

    def user_type_name(self, name: str) -> str:
        """Resolve a type name as the user types it ("dmfdemo!DMF_OBJECT", "_DMF_OBJECT") to the
        user_types key. A PDB typedef `X` usually names struct `_X`, so `_X` is tried second."""
        bare = self._split(name, "type")
        if bare in self.user_types:
            return bare
        if not bare.startswith("_") and "_" + bare in self.user_types:
            return "_" + bare
        raise SymbolError("%s: no type %r" % (self.source, name))

    def type_layout(self, name: str) -> TypeLayout:
        key = self.user_type_name(name)
        user = self.user_types[key]
        fields = {}
        for fname, field in user["fields"].items():
            desc = field["type"]
            bits = desc if desc["kind"] == "bitfield" else None
            storage = desc["type"] if bits is not None else desc
            fields[fname] = Field(fname, field["offset"], self.descriptor_name(desc), self.descriptor_size(desc),
                                  None if bits is None else bits["bit_position"],
                                  None if bits is None else bits["bit_length"],
                                  storage["name"] if storage["kind"] == "enum" else None)
        return TypeLayout(key, user["size"], fields)

    def enum_type(self, name: str) -> EnumType:
        bare = self._split(name, "enum")
        key = bare if bare in self.enums else ("_" + bare if "_" + bare in self.enums else None)
        if key is None:
            raise SymbolError("%s: no enum %r" % (self.source, name))
        enum = self.enums[key]
        constants = {str(k): v for k, v in enum.get("constants", {}).items() if _is_int(v)}
        return EnumType(key, enum["size"], constants)

    def search(self, pattern: str) -> List[Tuple[str, int]]:
        """Symbols matching a WinDbg-style glob ("dmfdemo!g_*", "*!g_DmfModuleCrashDump", "g_*"),
        case-insensitive like `x`, as ("module!name", address) in file order."""
        if self.image_base is None:
            raise SymbolError("%s: symbol addresses are RVAs and the image base is unknown" % self.source)
        module = self.module or "module"
        pat = pattern.lower()
        out = []
        for name, sym in self.symbols.items():
            full = "%s!%s" % (module, name)
            subject = full if "!" in pat else name
            if fnmatch.fnmatchcase(subject.lower(), pat):
                out.append((full, self.image_base + sym["address"]))
        return out

    # -- descriptors ----------------------------------------------------------------------------
    @property
    def pointer_size(self) -> int:
        pointer = self.base_types.get("pointer")
        if pointer is not None and pointer["size"] in (4, 8):
            return pointer["size"]
        return 4 if self.arch == "x86" else 8

    def descriptor_name(self, desc: Dict[str, Any]) -> str:
        """C-like spelling of a type descriptor: "unsigned long", "_X *", "unsigned char[16]"."""
        kind = desc["kind"]
        if kind == "pointer":
            return self.descriptor_name(desc["subtype"]) + " *"
        if kind == "array":
            return "%s[%d]" % (self.descriptor_name(desc["subtype"]), desc["count"])
        if kind == "bitfield":
            return "%s : %d" % (self.descriptor_name(desc["type"]), desc["bit_length"])
        if kind == "function":
            return "<function>"
        return desc["name"]

    def descriptor_size(self, desc: Dict[str, Any]) -> Optional[int]:
        kind = desc["kind"]
        if kind == "base":
            return self.base_types[desc["name"]]["size"]
        if kind == "pointer":
            return self.pointer_size
        if kind == "array":
            inner = self.descriptor_size(desc["subtype"])
            return None if inner is None else inner * desc["count"]
        if kind in _USER_KINDS:
            return self.user_types[desc["name"]]["size"]
        if kind == "enum":
            return self.enums[desc["name"]]["size"]
        if kind == "bitfield":
            return self.descriptor_size(desc["type"])
        return None

    def __repr__(self) -> str:
        return "IsfSymbols(%r, module=%r, image_base=%s)" % (
            os.path.basename(self.source), self.module,
            "None" if self.image_base is None else hex(self.image_base))
