"""Symbol and type information: what WinDbg gets from a PDB, dmfkd gets from this protocol.

Three sources implement it: the debugger (pykd getOffset/typeInfo, in targets/pykd.py), ISF JSON
files (volatility3's Intermediate Symbol Format; dmfemu writes one for its emulated driver) and the
driver's own PDB (the targets/pdb/ package, found through a symbol path: targets/symbol_path.py;
dmfkd/driver_symbols.py decides which source a command gets).
"""
from typing import Dict, List, NamedTuple, Optional, Tuple


class Field(NamedTuple):
    name: str
    offset: int
    type_name: str
    size: Optional[int] = None
    #: a bitfield's first bit inside its storage unit and its width; None for ordinary fields
    bit_position: Optional[int] = None
    bit_length: Optional[int] = None
    #: the enum type of the field (or of the bitfield's storage), so a value can be shown by name
    enum: Optional[str] = None


class TypeLayout(NamedTuple):
    name: str
    size: int
    fields: Dict[str, Field]


class EnumType(NamedTuple):
    name: str
    size: int
    #: constant name -> value, in declaration order
    constants: Dict[str, int]

    def name_of(self, value: int) -> Optional[str]:
        """The first constant with this value (C allows aliases), or None."""
        for key, constant in self.constants.items():
            if constant == value:
                return key
        return None


class Symbols:
    """Protocol: resolve "module!name" (or bare "name") to an address, a type name to a layout,
    an enum name to its constants, and search symbols by a WinDbg-style glob."""

    #: module the symbols belong to ("dmfdemo"); None when the source does not say
    module = None  # type: Optional[str]

    def address_of(self, name: str) -> int:  # raises dmfkd.errors.SymbolError
        raise NotImplementedError

    def type_layout(self, name: str) -> TypeLayout:  # raises dmfkd.errors.SymbolError
        raise NotImplementedError

    def enum_type(self, name: str) -> EnumType:  # raises dmfkd.errors.SymbolError
        from dmfkd.errors import SymbolError

        raise SymbolError("no enum %r" % name)

    def search(self, pattern: str) -> List[Tuple[str, int]]:
        """("module!name", address) of every symbol matching the glob, case-insensitive."""
        raise NotImplementedError

    def has_symbol(self, name: str) -> bool:
        from dmfkd.errors import SymbolError

        try:
            self.address_of(name)
            return True
        except SymbolError:
            return False
