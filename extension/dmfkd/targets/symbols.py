"""Symbol and type information: what WinDbg gets from a PDB, dmfkd gets from this protocol.

Two sources implement it: the debugger (pykd getOffset/typeInfo, in targets/pykd.py) and ISF JSON
files (volatility3's Intermediate Symbol Format; dmfemu writes one for its emulated driver).
"""
from typing import Dict, NamedTuple, Optional


class Field(NamedTuple):
    name: str
    offset: int
    type_name: str
    size: Optional[int] = None


class TypeLayout(NamedTuple):
    name: str
    size: int
    fields: Dict[str, Field]


class Symbols:
    """Protocol: resolve "module!name" (or bare "name") to an address, a type name to a layout."""

    def address_of(self, name: str) -> int:  # raises dmfkd.errors.SymbolError
        raise NotImplementedError

    def type_layout(self, name: str) -> TypeLayout:  # raises dmfkd.errors.SymbolError
        raise NotImplementedError

    def has_symbol(self, name: str) -> bool:
        from dmfkd.errors import SymbolError

        try:
            self.address_of(name)
            return True
        except SymbolError:
            return False
