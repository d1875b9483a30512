"""Typed variables: typedVar and its arrays, lists and CONTAINING_RECORD, read from the target in one
block per variable; sizeof.
"""
import operator
import struct
from typing import Optional

from dmfkd.errors import SymbolError

from dmfemu.pykd._errors import ArgumentError, DbgException, MASK64, MemoryException, SymbolException, TypeException
from dmfemu.pykd._session import (address64, check_uint, counted, counts, current_symbols, read_virtual, state,
                                  to_address)
from dmfemu.pykd._memory import MAX_LIST_ITEMS, pointer_at
from dmfemu.pykd._symbols import getOffset, resolve_type, type_factory, type_info_of, TypeModel


def _numeric(method_name: str):
    op = getattr(operator, method_name)

    def forward(self, other):
        return op(self._value(), int(other) if isinstance(other, typedVar) else other)

    def backward(self, other):
        return op(int(other) if isinstance(other, typedVar) else other, self._value())

    return forward, backward


class typedVar(object):
    """Class of non-primitive type object, child class of typeClass. Data from target is copied into object instance"""

    def __init__(self, *args):
        counts["typedVar"] += 1
        if len(args) == 1:
            name = args[0]
            symbols = current_symbols()
            address = getOffset.__wrapped__(name)
            desc = symbols.symbol_type(name) if hasattr(symbols, "symbol_type") else None
            if desc is None:
                raise TypeException("'%s' - symbol has no type information" % (name,))
            model = type_factory().from_descriptor(desc)
            self._init(model, address, None)
        elif len(args) == 2:
            model = resolve_type(args[0])
            where = args[1]
            if isinstance(where, int):
                self._init(model, address64(where), None)
            else:
                # PythonObjectAccessor (pydataaccess.h): any indexable sequence of byte values
                data = bytes(int(b) & 0xFF for b in where)
                if len(data) < model.size:
                    raise MemoryException("Memory exception at 0x%x target virtual address" % len(data))
                self._init(model, 0, data)
        else:
            raise ArgumentError("typedVar takes 1 or 2 arguments")

    def _init(self, model: TypeModel, address: int, data: Optional[bytes]) -> None:
        self._type = model
        self._address = address
        if data is None:
            data = read_virtual(address, model.size) if model.size else b""
        self._data = data[:model.size]

    @classmethod
    def _of(cls, model: TypeModel, address: int, data: bytes) -> "typedVar":
        obj = cls.__new__(cls)
        obj._type = model
        obj._address = address
        obj._data = data[:model.size]
        return obj

    # -- values -----------------------------------------------------------------------------
    def _value(self):
        t = self._type
        if t.kind in ("struct", "union", "array", "void", "function"):
            raise TypeException("%s : type is not a number" % t.name)
        if t.kind == "base" and t.base_kind == "float":
            return struct.unpack("<f" if t.size == 4 else "<d", self._data)[0]
        value = int.from_bytes(self._data, "little", signed=bool(t.signed) and t.kind != "bitfield")
        if t.kind == "bitfield":
            value = (value >> t.bit_position) & ((1 << t.bit_length) - 1)
            if t.signed and t.bit_length and value >> (t.bit_length - 1):
                value -= 1 << t.bit_length
        if t.kind == "pointer" and t.size == 4:
            return address64(value) if state.target is not None else value
        return value

    def __int__(self):
        return int(self._value())

    def __index__(self):
        return int(self._value())

    def __float__(self):
        return float(self._value())

    def __bool__(self):
        if self._type.kind in ("struct", "union", "array"):
            return any(self._data)
        return bool(self._value())

    def __hash__(self):
        return hash(self._value())

    def __eq__(self, other):
        if isinstance(other, (typedVar, int, float)):
            return self._value() == (other._value() if isinstance(other, typedVar) else other)
        return NotImplemented

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __neg__(self):
        return -self._value()

    def __invert__(self):
        return ~self._value()

    def __pos__(self):
        return +self._value()

    # -- structure --------------------------------------------------------------------------
    def _field(self, key):
        return type_info_of(self._type)._field(key)

    def _element(self, index: int) -> "typedVar":
        t = self._type
        if t.kind == "array":
            if not 0 <= index < t.count:
                raise IndexError("index out of range")
            element = t.element()
            start = index * element.size
            return typedVar._of(element, self._address + start if self._address else 0,
                                self._data[start:start + element.size])
        if t.kind == "pointer":
            element = t.element()
            address = self._value() + index * element.size
            counts["typedVar.deref"] += 1
            return typedVar._of(element, address, read_virtual(address, element.size))
        name, offset, ftype = self._field(index)
        return self._member(offset, ftype)

    def _member(self, offset: int, ftype: TypeModel) -> "typedVar":
        return typedVar._of(ftype, self._address + offset if self._address else 0,
                            self._data[offset:offset + ftype.size])

    def field(self, key):
        if isinstance(key, int):
            return self._element(key)
        _, offset, ftype = self._field(key)
        return self._member(offset, ftype)

    def fields(self):
        return [(name, offset, self._member(offset, ftype)) for name, offset, ftype in self._type.field_list()]

    def fieldName(self, index):
        return self._field(index)[0]

    def fieldOffset(self, name):
        return self._field(name)[1]

    def getNumberFields(self):
        return type_info_of(self._type).getNumberFields()

    def getAddress(self):
        return self._address

    def sizeof(self):
        return self._type.size

    def rawBytes(self):
        return list(self._data)

    def type(self):
        return type_info_of(self._type)

    def deref(self):
        if self._type.kind != "pointer":
            raise TypeException("%s : type is not a pointer" % self._type.name)
        return self._element(0)

    def castTo(self, type_):
        model = resolve_type(type_)
        if model.size <= len(self._data):
            return typedVar._of(model, self._address, self._data)
        if not self._address:
            raise MemoryException("Memory exception at 0x%x target virtual address" % len(self._data))
        counts["typedVar.deref"] += 1
        return typedVar._of(model, self._address, read_virtual(self._address, model.size))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        for fname, offset, ftype in self._type.field_list():
            if fname == name:
                return self._member(offset, ftype)
        raise AttributeError("'%s' has no field '%s'" % (self._type.name, name))

    def __getitem__(self, key):
        return self._element(key) if isinstance(key, int) else self.field(key)

    def __len__(self):
        return self.getNumberFields()

    def __str__(self):
        t = self._type
        if t.kind in ("struct", "union"):
            lines = ["struct/class: %s at 0x%x" % (t.name, self._address)]
            for name, offset, value in self.fields():
                scalar = value._type.kind not in ("struct", "union", "array")
                shown = ("0x%x" % int(value)) if scalar else value._type.name
                lines.append("   +0x%04x %-30s : %s" % (offset, name, shown))
            return "\n".join(lines)
        if t.kind == "array":
            return "%s at 0x%x" % (t.name, self._address)
        value = self._value()
        return ("%s" % value) if isinstance(value, float) else "%d (0x%x)" % (value, value & MASK64)

    def __repr__(self):
        return "<pykd.typedVar %s>" % self._type.name


typedVar.__module__ = "pykd.pykd"
for _op in ("add", "sub", "mul", "floordiv", "truediv", "mod", "and_", "or_", "xor", "lshift", "rshift",
            "lt", "le", "gt", "ge"):
    _fwd, _bwd = _numeric(_op)
    _dunder = _op.rstrip("_")
    setattr(typedVar, "__%s__" % _dunder, _fwd)
    if _op not in ("lt", "le", "gt", "ge"):
        setattr(typedVar, "__r%s__" % _dunder, _bwd)


@counted
def sizeof(name):
    """Return a size of the type or variable"""
    try:
        return resolve_type(name).size
    except SymbolException:
        # not a type: the size of a variable (a plain DbgException - module not loaded - stays)
        symbols = state.symbols
        if symbols is not None and hasattr(symbols, "symbol_type"):
            try:
                desc = symbols.symbol_type(name)
            except SymbolError:
                desc = None
            if desc is not None:
                return type_factory().from_descriptor(desc).size
        raise


@counted
def typedVarArray(addr, typeName, count):
    """Return a list of the typedVar class instances. Each item represents an item of the counted array in the target memory"""
    model = resolve_type(typeName)
    count = check_uint("typedVarArray", count, 32)
    address = address64(to_address("typedVarArray", addr))
    data = read_virtual(address, model.size * count) if count and model.size else b""
    return [typedVar._of(model, address + i * model.size, data[i * model.size:(i + 1) * model.size])
            for i in range(count)]


@counted
def containingRecord(addr, typeName, fieldName):
    """Return instance of the typedVar class. It's value are loaded from the target memory.The start address is calculated by the same method as the standard macro CONTAINING_RECORD does"""
    model = resolve_type(typeName)
    offset = type_info_of(model).fieldOffset(fieldName)
    address = (address64(to_address("containingRecord", addr)) - offset) & MASK64
    return typedVar._of(model, address, read_virtual(address, model.size))


@counted
def typedVarList(headAddr, typeName, listEntryFieldName):
    """Return a list of the typedVar class instances. Each item represents an item of the linked list in the target memory"""
    model = resolve_type(typeName)
    offset = type_info_of(model).fieldOffset(listEntryFieldName)
    head = address64(to_address("typedVarList", headAddr))
    out = []
    seen = set()
    entry = pointer_at(head)
    while entry != head and entry != 0:
        if entry in seen or len(out) >= MAX_LIST_ITEMS:
            raise DbgException("typedVarList: list at 0x%x does not return to its head" % head)
        seen.add(entry)
        item = (entry - offset) & MASK64
        out.append(typedVar._of(model, item, read_virtual(item, model.size)))
        entry = pointer_at(entry)
    return out
