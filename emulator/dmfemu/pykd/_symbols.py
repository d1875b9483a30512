"""Symbols and types (spec/pykd.md §3): getOffset, findSymbol and typeInfo over a dmfkd Symbols
(IsfSymbols for full types); the type model typedVar shares.
"""
import functools
import re
from typing import Any, Dict, List, Tuple

from dmfkd.errors import SymbolError

from dmfemu.pykd._errors import ArgumentError, SymbolException, TypeException
from dmfemu.pykd._session import (address64, counted, counts, current_symbols, current_target, hex_address,
                                  pointer_size, state, to_address)
from dmfemu.pykd._modules import has_symbol_scope, require_module, split_symbol, symbols_module_is


@counted
def getOffset(name):
    """Return traget virtual address for specified symbol"""
    name = str(name)
    module, bare = split_symbol(name)
    current_target()
    symbols = state.symbols
    # the address comes back through kdlib addr64: sign-extended on a 32-bit target (observed, x86 PDB)
    if module is None:
        # without a module dbgeng searches every module's symbols
        if symbols is not None:
            try:
                return address64(symbols.address_of(bare))
            except SymbolError:
                pass
        raise SymbolException("failed to find module for symbol: %s" % bare)
    require_module(module)
    if symbols_module_is(module):
        try:
            return address64(symbols.address_of("%s!%s" % (getattr(symbols, "module", None) or module, bare)))
        except SymbolError:
            pass
    raise SymbolException("%s symbol is not found" % bare)


@counted
def findSymbol(offset, showDisplacement=True):
    """Find symbol by the target virtual memory offset"""
    address = to_address("findSymbol", offset)
    symbols = current_symbols()
    best = None
    for name, addr in _search_all(symbols):
        if addr <= address and (best is None or addr > best[1]):
            best = (name, addr)
    if best is None:
        return hex_address(address)
    disp = address - best[1]
    if disp and showDisplacement:
        return "%s+0x%x" % (best[0], disp)
    return best[0]


def _search_all(symbols) -> List[Tuple[str, int]]:
    try:
        return symbols.search("*")
    except (SymbolError, NotImplementedError, AttributeError):
        return []


_BASE_NAMES = {
    # pykd's names for PDB base types
    "UInt1B": ("int", 1, False), "UInt2B": ("int", 2, False), "UInt4B": ("int", 4, False),
    "UInt8B": ("int", 8, False), "Int1B": ("int", 1, True), "Int2B": ("int", 2, True),
    "Int4B": ("int", 4, True), "Int8B": ("int", 8, True), "Long": ("int", 4, True),
    "ULong": ("int", 4, False), "Bool": ("bool", 1, False), "Char": ("char", 1, True),
    "WChar": ("char", 2, False), "Float": ("float", 4, True), "Double": ("float", 8, True),
    "Void": ("void", 0, False),
}


class TypeModel(object):
    """Internal type model behind typeInfo/typedVar."""

    def __init__(self, kind: str, name: str, size: int, **extra):
        self.kind = kind          # base, pointer, array, struct, union, enum, bitfield, void, function
        self.name = name
        self.size = size
        self.base_kind = extra.get("base_kind", "int")
        self.signed = extra.get("signed", False)
        self.target = extra.get("target")        # callable -> TypeModel (lazy, types may be recursive)
        self.count = extra.get("count", 0)
        self.fields = extra.get("fields")        # callable -> list of (name, offset, TypeModel)
        self.bit_position = extra.get("bit_position", 0)
        self.bit_length = extra.get("bit_length", 0)
        self.constants = extra.get("constants", {})

    def field_list(self) -> List[Tuple[str, int, "TypeModel"]]:
        return self.fields() if self.fields is not None else []

    def element(self) -> "TypeModel":
        return self.target()


def _base_pykd_name(isf_name: str, kind: str, size: int, signed: bool) -> str:
    """pykd's name of a PDB base type: by size and signedness only - `unsigned long` is "UInt4B",
    `long` "Int4B", `unsigned char` "UInt1B", `char` "Char" (observed: the real 0.3.4.15 on the
    emulated driver's PDB, tests/oracle/test_pykd_standin.py)."""
    if kind == "int" or (kind == "char" and size == 1 and not signed):
        return "%sInt%dB" % ("" if signed else "U", size)
    if kind == "char":
        return "Char" if size == 1 else "WChar"
    if kind == "bool":
        return "Bool"
    if kind == "float":
        return "Float" if size == 4 else "Double"
    return "Void"


def _named_base(name: str) -> TypeModel:
    kind, size, signed = _BASE_NAMES[name]
    if kind == "void":
        return TypeModel("void", "Void", 0)
    return TypeModel("base", name, size, base_kind=kind, signed=signed)


def _pointer_to(target: TypeModel, psize: int) -> TypeModel:
    return TypeModel("pointer", target.name + "*", psize, target=lambda: target)


def _array_of(element: TypeModel, count: int) -> TypeModel:
    return TypeModel("array", "%s[%d]" % (element.name, count), element.size * count, target=lambda: element,
                     count=count)


class _TypeFactory(object):
    """Builds TypeModel objects from the attached symbol source (ISF descriptors when available)."""

    def __init__(self, symbols):
        self.symbols = symbols
        self.cache = {}  # type: Dict[str, TypeModel]

    @property
    def pointer_size(self) -> int:
        size = getattr(self.symbols, "pointer_size", None)
        return size if size in (4, 8) else pointer_size()

    def by_name(self, name: str, derived: bool = False) -> TypeModel:
        """A type by the name pykd users type: "UInt4B", "mod!T", "T" (any module), "mod!T*",
        "mod!T[2]". Failures as the real 0.3.4.15 words them (observed): module not loaded ->
        DbgException "Failed to find module 'mod'"; loaded but no such type -> SymbolException
        "'T' - symbol not found" ("T symbol is not found" under * or [n]); no module given and no
        module has it -> SymbolException "failed to find module for symbol: T". Base-type names
        only exist without a module ("nt!UInt4B" is not found)."""
        text = name.strip()
        if text.endswith("*"):
            return _pointer_to(self.by_name(text[:-1], True), self.pointer_size)
        match = re.match(r"^(.*)\[(\d+)\]$", text)
        if match:
            return _array_of(self.by_name(match.group(1), True), int(match.group(2)))
        if text in self.cache:
            return self.cache[text]
        module, bare = split_symbol(text)
        if module is None and bare in _BASE_NAMES:
            return _named_base(bare)
        if module is not None:
            require_module(module)
            if derived and bare in _BASE_NAMES:
                return _named_base(bare)  # observed: "nt!UInt4B*" is a type, "nt!UInt4B" is not
        built = None
        symbols = self.symbols
        if symbols is not None and (module is None or symbols_module_is(module)):
            own = getattr(symbols, "module", None)
            try:
                built = self._user(bare if module is None else "%s!%s" % (own or module, bare))
            except SymbolError:
                built = None
        if built is None:
            if module is None:
                raise SymbolException("failed to find module for symbol: %s" % bare)
            if derived:
                if not has_symbol_scope(module):
                    raise SymbolException("symbol not found")
                raise SymbolException("%s symbol is not found" % bare)
            raise SymbolException("'%s' - symbol not found" % bare)
        self.cache[text] = built
        return built

    def _user(self, name: str) -> TypeModel:
        symbols = self.symbols
        if hasattr(symbols, "user_type_name"):
            key = symbols.user_type_name(name)
            user = symbols.user_types[key]
            fields = user["fields"]

            def field_list(fields=fields):
                out = [(fname, f["offset"], self.from_descriptor(f["type"])) for fname, f in fields.items()]
                out.sort(key=lambda item: item[1])
                return out

            return TypeModel("union" if user["kind"] == "union" else "struct", key, user["size"], fields=field_list)
        layout = symbols.type_layout(name)

        def layout_fields(layout=layout):
            out = []
            for field in layout.fields.values():
                size = field.size or 0
                if size in (1, 2, 4, 8):
                    ftype = TypeModel("base", "UInt%dB" % size, size, base_kind="int")
                else:
                    ftype = _array_of(_named_base("UInt1B"), size)
                out.append((field.name, field.offset, ftype))
            out.sort(key=lambda item: item[1])
            return out

        return TypeModel("struct", layout.name, layout.size, fields=layout_fields)

    def from_descriptor(self, desc: Dict[str, Any]) -> TypeModel:
        kind = desc["kind"]
        symbols = self.symbols
        if kind == "base":
            base = symbols.base_types[desc["name"]]
            if base["kind"] == "void":
                return TypeModel("void", "Void", 0)
            name = _base_pykd_name(desc["name"], base["kind"], base["size"], base.get("signed", False))
            return TypeModel("base", name, base["size"], base_kind=base["kind"], signed=base.get("signed", False))
        if kind == "pointer":
            sub = desc["subtype"]
            target = functools.partial(self.from_descriptor, sub)
            name = self.from_descriptor(sub).name if sub["kind"] != "pointer" else "Ptr"
            return TypeModel("pointer", name + "*", self.pointer_size, target=target)
        if kind == "array":
            element = self.from_descriptor(desc["subtype"])
            return _array_of(element, desc["count"])
        if kind in ("struct", "union", "class"):
            key = desc["name"]
            if key not in self.cache:
                self.cache[key] = self._user(key)
            return self.cache[key]
        if kind == "enum":
            enum = symbols.enums[desc["name"]]
            return TypeModel("enum", desc["name"], enum["size"], base_kind="int",
                             signed=symbols.base_types.get(enum.get("base"), {}).get("signed", False),
                             constants=enum.get("constants", {}))
        if kind == "bitfield":
            inner = self.from_descriptor(desc["type"])
            return TypeModel("bitfield", inner.name, inner.size, base_kind=inner.base_kind, signed=inner.signed,
                             bit_position=desc["bit_position"], bit_length=desc["bit_length"])
        return TypeModel("function", "Function", 0)


def type_factory() -> _TypeFactory:
    symbols = state.symbols if state.initialized else None
    cached = getattr(type_factory, "cached", None)
    if cached is None or cached.symbols is not symbols:
        cached = _TypeFactory(symbols)
        type_factory.cached = cached
    return cached


def resolve_type(value) -> TypeModel:
    if isinstance(value, typeInfo):
        return value._type
    if isinstance(value, str):
        return type_factory().by_name(value)
    raise ArgumentError("expected a type name or a typeInfo, got %s" % type(value).__name__)


class typeInfo(object):
    """Class representing typeInfo"""

    def __init__(self, name):
        counts["typeInfo"] += 1
        self._type = resolve_type(name)

    @classmethod
    def _of(cls, model: TypeModel) -> "typeInfo":
        obj = cls.__new__(cls)
        obj._type = model
        return obj

    def name(self):
        return self._type.name

    def size(self):
        return self._type.size

    def _field(self, key):
        fields = self._type.field_list()
        if isinstance(key, int):
            if not 0 <= key < len(fields):
                raise IndexError("index out of range")
            return fields[key]
        for item in fields:
            if item[0] == key:
                return item
        raise TypeException("%s : field '%s' not found" % (self._type.name, key))

    def fieldOffset(self, key):
        return self._field(key)[1]

    def field(self, key):
        return typeInfo._of(self._field(key)[2])

    def fieldName(self, index):
        return self._field(index)[0]

    def fields(self):
        return [(name, typeInfo._of(t)) for name, _, t in self._type.field_list()]

    def hasField(self, name):
        return any(item[0] == name for item in self._type.field_list())

    def getNumberFields(self):
        if self._type.kind == "array":
            return self._type.count
        return len(self._type.field_list())

    def deref(self):
        if self._type.kind not in ("pointer", "array"):
            raise TypeException("%s : type is not a pointer" % self._type.name)
        return typeInfo._of(self._type.element())

    def ptrTo(self, ptrSize=0):
        return typeInfo._of(_pointer_to(self._type, ptrSize or type_factory().pointer_size))

    def arrayOf(self, count):
        return typeInfo._of(_array_of(self._type, count))

    def isArray(self):
        return self._type.kind == "array"

    def isPointer(self):
        return self._type.kind == "pointer"

    def isVoid(self):
        return self._type.kind == "void"

    def isBase(self):
        return self._type.kind == "base"

    def isUserDefined(self):
        return self._type.kind in ("struct", "union")

    def isEnum(self):
        return self._type.kind == "enum"

    def isBitField(self):
        return self._type.kind == "bitfield"

    def isFunction(self):
        return self._type.kind == "function"

    def isConstant(self):
        return False

    def bitOffset(self):
        return self._type.bit_position

    def bitWidth(self):
        return self._type.bit_length

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        for fname, _, ftype in self._type.field_list():
            if fname == name:
                return typeInfo._of(ftype)
        raise AttributeError("'%s' has no field '%s'" % (self._type.name, name))

    def __getitem__(self, index):
        return self.field(index)

    def __len__(self):
        return self.getNumberFields()

    def __contains__(self, name):
        return self.hasField(name)

    def __str__(self):
        lines = ["class/struct : %s Size: 0x%x (%d)" % (self._type.name, self._type.size, self._type.size)]
        for fname, offset, ftype in self._type.field_list():
            lines.append("   +0x%04x %-30s : %s" % (offset, fname, ftype.name))
        return "\n".join(lines)


typeInfo.__module__ = "pykd.pykd"


def type_info_of(model: TypeModel) -> typeInfo:
    """The typeInfo of a type model (what typedVar.type() and CONTAINING_RECORD hand out)."""
    return typeInfo._of(model)
