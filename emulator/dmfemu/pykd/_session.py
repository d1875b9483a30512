"""What the stand-in debugger holds: the systems (targets) it has open and which one is current, the
count of engine calls, and the helpers every pykd function reads a target through (argument checks,
address conversion, all-or-nothing reads).
"""
import collections
import functools
from typing import Dict, Optional

from dmfkd.errors import DmfkdError

from dmfemu.pykd._errors import (ArgumentError, DbgException, E_UNEXPECTED, hresult_error, MASK64, memory_error,
                                 SymbolException)


class System(object):
    """One debuggee dbgeng holds (`||` lists them): a target with its symbols."""

    def __init__(self, target, symbols, path: Optional[str], opened_by_us: bool):
        self.target = target
        self.symbols = symbols
        self.path = path
        self.opened_by_us = opened_by_us
        self.modules = None  # type: Optional[Dict[str, Tuple[str, Optional[int]]]]  filled on use


class _State:
    def __init__(self) -> None:
        self.initialized = False
        # dbgeng keeps every opened dump as a system with an id (loadDump returns it); one is current
        self.systems = collections.OrderedDict()  # type: Dict[int, System]
        self.current = None         # type: Optional[int]
        self.event = None           # type: Optional[int]  (the system of the last event: the last loaded)
        self.symbol_path = ""
        self.aliases = collections.OrderedDict()  # type: Dict[str, str]

    def system(self) -> Optional[System]:
        return self.systems.get(self.current) if self.current is not None else None

    @property
    def target(self):
        system = self.system()
        return system.target if system is not None else None

    @property
    def symbols(self):
        system = self.system()
        return system.symbols if system is not None else None

    @property
    def dump_path(self) -> Optional[str]:
        system = self.system()
        return system.path if system is not None else None

    @property
    def opened_by_us(self) -> bool:
        system = self.system()
        return system.opened_by_us if system is not None else False


state = _State()
counts = collections.Counter()  # type: collections.Counter


def counted(func):
    """Count every call of a public pykd function under its name."""
    name = func.__name__

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        counts[name] += 1
        return func(*args, **kwargs)

    return wrapper


def engine_calls() -> int:
    """Total number of pykd calls made since the last reset_counts()."""
    return sum(counts.values())


def call_counts() -> Dict[str, int]:
    """Calls per function name since the last reset_counts()."""
    return dict(counts)


def reset_counts() -> None:
    counts.clear()


def attach(target, symbols=None, path: Optional[str] = None) -> None:
    """Make `target` the debugger's one and current target (system 0), as WinDbg after opening it.

    `symbols` (a dmfkd Symbols, e.g. IsfSymbols) plays the PDBs; default: target.symbols.
    `path` is what `||` reports (default: target.path when the target has one)."""
    _close_all()
    state.initialized = True
    state.systems[0] = System(target, symbols if symbols is not None else getattr(target, "symbols", None),
                              path if path is not None else getattr(target, "path", None), False)
    state.current = 0


def _close_all() -> None:
    for system in state.systems.values():
        if system.opened_by_us:
            system.target.close()
    state.systems.clear()
    state.current = state.event = None


def detach() -> None:
    """Forget the targets and the initialisation (back to a freshly imported pykd)."""
    _close_all()
    state.__init__()


def current_target(engine_call: str = "IDebugControl::GetActualProcessorType"):
    if not state.initialized:
        raise DbgException("pykd is not initialized")
    if state.target is None:
        # the real engine without a target answers E_UNEXPECTED, naming the dbgeng method the pykd
        # call needed (observed before the first loadDump and after closing all)
        raise hresult_error(engine_call, E_UNEXPECTED)
    return state.target


def current_symbols():
    current_target()
    if state.symbols is None:
        raise SymbolException("no symbols are loaded for the target")
    return state.symbols


def pointer_size() -> int:
    return int(current_target().pointer_size)


def check_uint(func: str, value, bits: int = 64) -> int:
    if not isinstance(value, int):
        raise ArgumentError("Python argument types in\n    pykd.%s(%s)\ndid not match C++ signature"
                            % (func, type(value).__name__))
    if value < 0 or value >> bits:
        raise ArgumentError("Python argument types in\n    pykd.%s(int)\ndid not match C++ signature"
                            " (value %d out of range)" % (func, value))
    return value


def to_address(func: str, offset) -> int:
    if not isinstance(offset, int):
        raise ArgumentError("Python argument types in\n    pykd.%s(%s)\ndid not match C++ signature"
                            % (func, type(offset).__name__))
    return offset & MASK64


def address64(offset: int) -> int:
    """kdlib addr64: on a 32-bit target a 32-bit address is sign-extended."""
    offset &= MASK64
    if pointer_size() == 4 and offset >> 32 == 0 and offset & 0x80000000:
        return offset | 0xFFFFFFFF00000000
    return offset


def target_va(address: int) -> int:
    """The address as the target object understands it (32-bit targets take 32-bit VAs)."""
    if pointer_size() == 4 and address >> 32 == 0xFFFFFFFF:
        return address & 0xFFFFFFFF
    return address


def read_virtual(address: int, size: int, report: Optional[int] = None) -> bytes:
    """All-or-nothing read; on failure MemoryException names `report` (default: `address`)."""
    target = current_target()
    try:
        data = target.read(target_va(address), size)
    except (DmfkdError, NotImplementedError, ValueError):
        raise memory_error(address if report is None else report)
    if len(data) != size:
        raise memory_error(address if report is None else report)
    return bytes(data)


def read_physical(address: int, size: int) -> bytes:
    target = current_target()
    try:
        data = target.read_physical(address, size)
    except (DmfkdError, NotImplementedError, ValueError, AttributeError):
        raise memory_error(address, physical=True)
    if len(data) != size:
        raise memory_error(address, physical=True)
    return bytes(data)


def load_array(func: str, offset, count, phyAddr, item_size: int) -> bytes:
    """kdlib loadArray: validate the whole region first, MemoryException at the start address;
    a virtual read of 0 items fails too (isVaRegionValid(addr, 0) is false), a physical one
    returns nothing."""
    address = to_address(func, offset)
    count = check_uint(func, count, 32)
    length = count * item_size
    if phyAddr:
        if count == 0:
            return b""
        return read_physical(address, length)
    if count == 0 or length > 0xFFFFFFFF:
        current_target()
        raise memory_error(address)
    return read_virtual(address64(address), length, report=address)


def hex_address(value: int) -> str:
    if pointer_size() == 8:
        return "%08x`%08x" % (value >> 32, value & 0xFFFFFFFF)
    return "%08x" % (value & 0xFFFFFFFF)
