"""A stand-in for the `pykd` module (0.3.4.15), so dmfkd's WinDbg code path runs in tests on Linux.

Tests install it with ``sys.modules["pykd"] = dmfemu.pykd`` and give it a target with
``attach(target, symbols=None)``: a ``dmfkd.targets.dumpfile.DumpFile`` (post-mortem, like WinDbg
on MEMORY.DMP) or a ``dmfemu.target.EmulatorTarget`` (a live kernel before any crash).
Standalone pykd (``initialize()`` + ``loadDump(path)``) is mimicked too.

What is mimicked, and from where (spec/pykd.md §2-§6, §10; spec/real-pykd-under-wine.md, the
observed behaviour of the real module; kdlib's dbgmem.cpp/memaccess.cpp/tagged.cpp for the rest):
- module-level functions with the real names and argument names; return types as the real one:
  ``loadBytes`` -> list of int, ``ptr*`` -> int, ``loadCStr`` -> str, ``bugCheckData`` -> tuple,
  ``enumTagged`` -> list of lower-case brace-less GUID str, ``dbgCommand`` -> str or None;
- the exception classes, their hierarchy and their message texts;
- all-or-nothing memory reads: a block read is validated as a whole first and fails with
  ``MemoryException`` naming the START address (kdlib loadArray), a count of 0 fails too;
- enums as boost.python enums: int subclasses with ``.name``, ``str()`` = name,
  ``repr()`` = "pykd.pykd.<Enum>.<Name>", class dicts ``values``/``names``, dbgeng's values
  (``dumpType.KernelFull`` == 1026);
- several dumps at once (standalone): ``loadDump`` while one is open opens one more system (lowest
  free id, now current); ``closeDump()`` closes the current one, ``closeDump(id)`` that one, then the
  lowest remaining id is current; ``||`` lists them ("." current, "#" the last loaded one);
- which modules are loaded (see ``_loaded_modules``) decides between DbgException "Failed to find
  module 'mod'" and SymbolException in ``getOffset``/``typeInfo``/``sizeof`` and whether
  ``x mod!...`` fails;
- with no dump open: ``ptrSize()`` is 8, the calls that need a target fail naming their dbgeng
  method with E_UNEXPECTED, ``dbgCommand("||")`` is None.
tests/oracle/pykd_probe.py checks all of the above call by call against the real module.

Decisions where the real module could not be observed (documented so a reader of a diff against
the real pykd knows which lines are guesses):
- live target, secondary data: dbgeng keeps secondary data only in dumps
  (reading-bug-check-callback-data.md). ``enumTagged()`` raises
  DbgException("Call IDebugDataSpaces3::StartEnumTagged failed\\nHRESULT 0x80004001") and
  ``loadTaggedBuffer`` fails likewise with ReadTagged - the stricter of the two plausible
  behaviours (the other is []), so callers are forced to handle it.
- live target: ``bugCheckData()`` returns (0, 0, 0, 0, 0) (KiBugCheckData of a running system);
  ``getDumpType()`` raises DbgException.
- every write (setByte ... setPtr, writeBytes ... writeDoubles, writeCStr, writeWStr) raises
  ``MemoryException`` for its address - what dbgeng's WriteVirtual gives on a dump - on every
  target, live included: dmfkd must never write (CONTRACT), and a test proves it by this.
  Register/MSR writes (setReg, setIP, setSP, setFP, wrmsr) raise DbgException.
- ``dbgCommand`` knows "||", ".enumtag", "x <glob>", ".bugcheck", ".echo", "as/aS/ad/al";
  anything else raises DbgException('Call IDebugControl::ExecuteWide failed\\nHRESULT 0x80040205')
  (the real one's answer to an unknown command; `r` the real one answers on dumps with a context -
  a known difference, tests/oracle/test_pykd_standin.py KNOWN).
- ``initialize()`` succeeds the first time (Windows behaviour; under Wine the real one raises
  'CLRCreateInstance failed' but initialises anyway) and raises 'pykd is already initialized' after.

Every public function call is counted under its name (``call_counts()``), including output
(dprint, each write is one engine output call inside WinDbg) and symbol look-ups; object methods
that read the target count as "typedVar.deref". ``engine_calls()`` is the total.
"""
import collections
import functools
import operator
import os
import re
import struct
import sys
import uuid
from typing import Any, Dict, List, Optional, Tuple

__version__ = "0.3.4.15"
version = __version__

_MASK64 = (1 << 64) - 1
_PAGE = 0x1000
_MAX_CSTR = 0x10000          # kdlib loadCStr/loadWStr maxLength
_MAX_LIST_ITEMS = 1 << 20    # bound for loadPtrList/typedVarList on a cyclic list


# ---------------------------------------------------------------------------------------------
# exceptions (pykd/dbgexcept.h registerExceptions; spec/pykd.md §6)

class DbgException(Exception):
    """Pykd base exception class"""


class MemoryException(DbgException):
    """Target memory access exception class"""


class SymbolException(DbgException):
    """Symbol exception"""


class TypeException(SymbolException):
    """type exception"""


class CallException(DbgException):
    """Function call exception"""


class CPUException(DbgException):
    """CPU exception"""


class ArgumentError(TypeError):
    """What boost.python raises when an argument does not convert to the C++ type."""


for _cls in (DbgException, MemoryException, SymbolException, TypeException, CallException, CPUException):
    _cls.__module__ = "pykd"
ArgumentError.__module__ = "Boost.Python"


def _memory_error(address: int, physical: bool = False) -> MemoryException:
    # kdlib MemoryException text: lower-case hex, no padding (spec/real-pykd-under-wine.md)
    return MemoryException("Memory exception at 0x%x target %s address"
                           % (address & _MASK64, "physical" if physical else "virtual"))


def _hresult_error(call: str, hresult: int) -> DbgException:
    return DbgException("Call %s failed\nHRESULT 0x%x" % (call, hresult))


E_NOTIMPL = 0x80004001
E_NOINTERFACE = 0x80004002
E_INVALIDARG = 0x80070057
E_UNEXPECTED = 0x8000FFFF
ERROR_FILE_NOT_FOUND = 0x80070002
ERROR_PARTIAL_COPY = 0x8007012B
ERROR_READ_FAULT = 0x8007001E
DBG_E_WAIT = 0xD0000147
DBG_E_EXECUTE = 0x80040205
RPC_S_INVALID_STRING_UUID = 0x6A9


# ---------------------------------------------------------------------------------------------
# boost.python-like enums

class _BoostEnum(int):
    name = ""

    def __repr__(self) -> str:
        # boost.python registers the enums in the extension module pykd.pykd (observed repr)
        return "pykd.pykd.%s.%s" % (type(self).__name__, self.name)

    def __str__(self) -> str:
        return self.name


def _enum(type_name: str, doc: str, members):
    cls = type(type_name, (_BoostEnum,), {"__doc__": doc, "__module__": "pykd.pykd", "values": {}, "names": {}})
    for name, value in members:
        item = int.__new__(cls, value)
        item.name = name
        setattr(cls, name, item)
        cls.values[value] = item
        cls.names[name] = item
    return cls


CPUType = _enum("CPUType", "type of CPU", [("I386", 0), ("AMD64", 1), ("ARM64", 2), ("ARM", 3)])
# dbgeng's DEBUG_DUMP_* / DEBUG_KERNEL_*_DUMP qualifiers; user and kernel names share values, and
# `values` maps each value to the kernel name (observed on the real 0.3.4.15)
dumpType = _enum("dumpType", "Dump type", [("Small", 1024), ("Default", 1025), ("Full", 1026), ("Image", 1027),
                                           ("KernelSmall", 1024), ("Kernel", 1025), ("KernelFull", 1026)])
outputFlag = _enum("outputFlag", "Output flags", [("Normal", 1), ("Error", 2), ("Warning", 4),
                                                  ("Verbose", 8), ("Prompt", 16), ("PromptRegister", 32),
                                                  ("ExtensionWarning", 64), ("Debuggee", 128),
                                                  ("DebuggeePrompt", 256), ("Symbols", 512),
                                                  ("Status", 1024), ("All", 2047)])

_CPU_BY_ARCH = {"x64": CPUType.AMD64, "x86": CPUType.I386, "arm64": CPUType.ARM64}
# DUMP_HEADER DumpType -> dbgeng debuggee qualifier as pykd names it (spec/real-pykd-under-wine.md:
# full and bitmap dumps are KernelFull, triage dumps KernelSmall)
_DUMP_TYPE = {1: dumpType.KernelFull, 2: dumpType.Kernel, 4: dumpType.KernelSmall,
              5: dumpType.KernelFull, 6: dumpType.KernelFull}


# ---------------------------------------------------------------------------------------------
# state and engine-call counting

class _System(object):
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
        self.systems = collections.OrderedDict()  # type: Dict[int, _System]
        self.current = None         # type: Optional[int]
        self.event = None           # type: Optional[int]  (the system of the last event: the last loaded)
        self.symbol_path = ""
        self.aliases = collections.OrderedDict()  # type: Dict[str, str]

    def system(self) -> Optional[_System]:
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


_state = _State()
_counts = collections.Counter()  # type: collections.Counter


def _engine(func):
    """Count every call of a public pykd function under its name."""
    name = func.__name__

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _counts[name] += 1
        return func(*args, **kwargs)

    return wrapper


def engine_calls() -> int:
    """Total number of pykd calls made since the last reset_counts()."""
    return sum(_counts.values())


def call_counts() -> Dict[str, int]:
    """Calls per function name since the last reset_counts()."""
    return dict(_counts)


def reset_counts() -> None:
    _counts.clear()


def attach(target, symbols=None, path: Optional[str] = None) -> None:
    """Make `target` the debugger's one and current target (system 0), as WinDbg after opening it.

    `symbols` (a dmfkd Symbols, e.g. IsfSymbols) plays the PDBs; default: target.symbols.
    `path` is what `||` reports (default: target.path when the target has one)."""
    _close_all()
    _state.initialized = True
    _state.systems[0] = _System(target, symbols if symbols is not None else getattr(target, "symbols", None),
                                path if path is not None else getattr(target, "path", None), False)
    _state.current = 0


def _close_all() -> None:
    for system in _state.systems.values():
        if system.opened_by_us:
            system.target.close()
    _state.systems.clear()
    _state.current = _state.event = None


def detach() -> None:
    """Forget the targets and the initialisation (back to a freshly imported pykd)."""
    _close_all()
    _state.__init__()


def _target(engine_call: str = "IDebugControl::GetActualProcessorType"):
    if not _state.initialized:
        raise DbgException("pykd is not initialized")
    if _state.target is None:
        # the real engine without a target answers E_UNEXPECTED, naming the dbgeng method the pykd
        # call needed (observed before the first loadDump and after closing all)
        raise _hresult_error(engine_call, E_UNEXPECTED)
    return _state.target


def _symbols():
    _target()
    if _state.symbols is None:
        raise SymbolException("no symbols are loaded for the target")
    return _state.symbols


def _ptr_size() -> int:
    return int(_target().pointer_size)


def _check_uint(func: str, value, bits: int = 64) -> int:
    if not isinstance(value, int):
        raise ArgumentError("Python argument types in\n    pykd.%s(%s)\ndid not match C++ signature"
                            % (func, type(value).__name__))
    if value < 0 or value >> bits:
        raise ArgumentError("Python argument types in\n    pykd.%s(int)\ndid not match C++ signature"
                            " (value %d out of range)" % (func, value))
    return value


def _to_addr(func: str, offset) -> int:
    if not isinstance(offset, int):
        raise ArgumentError("Python argument types in\n    pykd.%s(%s)\ndid not match C++ signature"
                            % (func, type(offset).__name__))
    return offset & _MASK64


def _addr64_of(offset: int) -> int:
    """kdlib addr64: on a 32-bit target a 32-bit address is sign-extended."""
    offset &= _MASK64
    if _ptr_size() == 4 and offset >> 32 == 0 and offset & 0x80000000:
        return offset | 0xFFFFFFFF00000000
    return offset


def _target_va(address: int) -> int:
    """The address as the target object understands it (32-bit targets take 32-bit VAs)."""
    if _ptr_size() == 4 and address >> 32 == 0xFFFFFFFF:
        return address & 0xFFFFFFFF
    return address


def _read_virtual(address: int, size: int, report: Optional[int] = None) -> bytes:
    """All-or-nothing read; on failure MemoryException names `report` (default: `address`)."""
    from dmfkd.errors import DmfkdError

    target = _target()
    try:
        data = target.read(_target_va(address), size)
    except (DmfkdError, NotImplementedError, ValueError):
        raise _memory_error(address if report is None else report)
    if len(data) != size:
        raise _memory_error(address if report is None else report)
    return bytes(data)


def _read_physical(address: int, size: int) -> bytes:
    from dmfkd.errors import DmfkdError

    target = _target()
    try:
        data = target.read_physical(address, size)
    except (DmfkdError, NotImplementedError, ValueError, AttributeError):
        raise _memory_error(address, physical=True)
    if len(data) != size:
        raise _memory_error(address, physical=True)
    return bytes(data)


def _load_array(func: str, offset, count, phyAddr, item_size: int) -> bytes:
    """kdlib loadArray: validate the whole region first, MemoryException at the start address;
    a virtual read of 0 items fails too (isVaRegionValid(addr, 0) is false), a physical one
    returns nothing."""
    address = _to_addr(func, offset)
    count = _check_uint(func, count, 32)
    length = count * item_size
    if phyAddr:
        if count == 0:
            return b""
        return _read_physical(address, length)
    if count == 0 or length > 0xFFFFFFFF:
        _target()
        raise _memory_error(address)
    return _read_virtual(_addr64_of(address), length, report=address)


# ---------------------------------------------------------------------------------------------
# engine life cycle (standalone mode)

@_engine
def initialize():
    """Initialize local debug engine, only for console mode"""
    if _state.initialized:
        raise DbgException("pykd is already initialized")
    _state.initialized = True


@_engine
def deinitialize():
    """Deintialize debug engine, only for console mode"""
    detach()


@_engine
def loadDump(path):
    """Load crash dump"""
    from dmfkd.errors import DmfkdError
    from dmfkd.targets.dumpfile import DumpFile

    _state.initialized = True  # kdlib's loadDump initialises the engine itself
    if not os.path.exists(path):
        raise _hresult_error("IDebugClient4::OpenDumpFileWide", ERROR_FILE_NOT_FOUND)
    try:
        target = DumpFile(path)
    except (DmfkdError, OSError):
        raise _hresult_error("IDebugClient4::OpenDumpFileWide", E_INVALIDARG)
    symbols = getattr(target, "symbols", None)
    beside = os.path.join(os.path.dirname(os.path.abspath(path)), "driver.isf.json")
    if symbols is None and os.path.exists(beside):
        # dmfemu writes the driver's "PDB" next to the dump; dbgeng would find it on the symbol path
        from dmfkd.targets.isf import IsfSymbols

        symbols = IsfSymbols.load(beside)
    # A dump opened while another is open becomes one more system with the lowest free id, and the
    # current one; both stay open (observed on the real 0.3.4.15: ids 0, 1, 2; after closeDump(1) the
    # next loadDump gets 1 again)
    dump_id = 0
    while dump_id in _state.systems:
        dump_id += 1
    _state.systems[dump_id] = _System(target, symbols, path, True)
    _state.current = _state.event = dump_id
    return dump_id


@_engine
def closeDump(id=None):
    """Close crash dump"""
    # closeDump([unsigned long id]) - no id: the current system. Observed on the real one: the closed
    # system is gone from `||` and the lowest remaining id becomes current; nothing open ->
    # TerminateCurrentProcess fails; an unknown id -> SetCurrentProcessId fails (E_NOINTERFACE)
    if id is not None:
        id = _check_closedump_id(id)
    if id is None:
        if _state.current is None:
            raise _hresult_error("IDebugClient::TerminateCurrentProcess", E_UNEXPECTED)
        id = _state.current
    elif id not in _state.systems:
        raise _hresult_error("IDebugSystemObjects::SetCurrentProcessId", E_NOINTERFACE)
    system = _state.systems.pop(id)
    if system.opened_by_us:
        system.target.close()
    _state.current = min(_state.systems) if _state.systems else None
    if _state.event == id:
        _state.event = None


def _check_closedump_id(value) -> int:
    if not isinstance(value, int):
        raise ArgumentError("Python argument types in\n    pykd.closeDump(%s)\ndid not match C++ signature"
                            % type(value).__name__)
    if value < 0:
        raise OverflowError("can't convert negative value to unsigned int")
    if value >> 32:
        raise OverflowError("value too large to convert to unsigned int")
    return value


@_engine
def setSymbolPath(path):
    """Set current symbol path"""
    if not _state.initialized:
        raise DbgException("pykd is not initialized")
    _state.symbol_path = str(path)


@_engine
def getSymbolPath():
    """Returns current symbol path"""
    if not _state.initialized:
        raise DbgException("pykd is not initialized")
    return _state.symbol_path


@_engine
def appendSymbolPath(path):
    """Append current symbol path"""
    if not _state.initialized:
        raise DbgException("pykd is not initialized")
    _state.symbol_path = (_state.symbol_path + ";" + str(path)).lstrip(";")


# ---------------------------------------------------------------------------------------------
# target state (spec/pykd.md §4)

@_engine
def isDumpAnalyzing():
    """Check if it is a dump analyzing ( not living debuggee )"""
    if not _state.initialized:
        raise DbgException("pykd is not initialized")
    return _state.target is not None and not _state.target.is_live


@_engine
def isKernelDebugging():
    """Check if kernel dubugging is running"""
    if not _state.initialized:
        raise DbgException("pykd is not initialized")
    return _state.target is not None


@_engine
def isWindbgExt():
    """Check if script works in windbg context"""
    # pydbgio.h: WinDbg replaces sys.stdout with a DbgOut that has writedml
    return hasattr(sys.stdout, "writedml")


@_engine
def is64bitSystem():
    """Check if target system has 64 address space"""
    return _ptr_size() == 8


@_engine
def ptrSize():
    """Return effective pointer size"""
    if _state.initialized and _state.target is None:
        return 8  # observed: the real one answers 8 with no dump open (the x64 host's size)
    return _ptr_size()


@_engine
def pageSize():
    """Get the page size for the currently executing processor context"""
    _target()
    return _PAGE


def _cpu():
    arch = getattr(_target(), "arch", "x64")
    if arch not in _CPU_BY_ARCH:
        raise CPUException("unknown CPU type %r" % (arch,))
    return _CPU_BY_ARCH[arch]


@_engine
def getCPUType():
    """Return type of physical processor: CPUType"""
    return _cpu()


@_engine
def getCPUMode():
    """Return current processor mode: CPUType"""
    return _cpu()


@_engine
def getDumpType():
    """Return type of the dump"""
    target = _target()
    if target.is_live:
        raise DbgException("target is not a dump")
    value = getattr(target, "dump_type", None)
    if value not in _DUMP_TYPE:
        raise DbgException("unknown dump type %r" % (value,))
    return _DUMP_TYPE[value]


@_engine
def getDumpFormat():
    """Return format of the dump"""
    _target()
    return 0


@_engine
def bugCheckData():
    """Function reads the kernel bug check code and related parameters
And return tuple: (code, arg1, arg2, arg3, arg4)"""
    bugcheck = _target("IDebugControl::ReadBugCheckData").bugcheck()
    if bugcheck is None:
        return (0, 0, 0, 0, 0)
    return (int(bugcheck.code),) + tuple(int(p) for p in bugcheck.parameters)


class systemVersion(object):
    """Operation system version"""

    def __init__(self, build: int, description: str = ""):
        self.buildNumber = build
        self.buildString = description
        self.servicePack = 0
        self.win32Major, self.win32Minor = _windows_version(build)

    def __str__(self) -> str:
        return "Major Version: %d\nMinor Version: %d\nBuild: %d\nDescription: %s\n" % (
            self.win32Major, self.win32Minor, self.buildNumber, self.buildString)


systemVersion.__module__ = "pykd.pykd"


def _windows_version(build: int) -> Tuple[int, int]:
    for first_build, version_pair in ((10240, (10, 0)), (9600, (6, 3)), (9200, (6, 2)), (7600, (6, 1)),
                                      (6000, (6, 0)), (3790, (5, 2)), (2600, (5, 1))):
        if build >= first_build:
            return version_pair
    return (5, 0)


_KDBG_NT_BUILD_LAB = 0x208   # KDDEBUGGER_DATA64.NtBuildLab (dmfemu/kernel.py KDBG_POINTERS)
_MAX_BUILD_LAB = 0x100


def _build_lab(target) -> str:
    """The kernel's NtBuildLab string through the KDBG, "" when unreadable (dbgeng's buildString is
    "Built by: " + this, observed on triage and emulator dumps alike)."""
    kdbg = getattr(target, "kdbg_va", 0)
    if not kdbg:
        kernel = getattr(getattr(target, "machine", None), "kernel_state", None)
        kdbg = getattr(kernel, "kdbg_va", 0)
    if not kdbg:
        return ""
    try:
        pointer = _target_va(struct.unpack("<Q", _read_virtual(_target_va(kdbg) + _KDBG_NT_BUILD_LAB, 8))[0])
    except MemoryException:
        return ""
    if int(target.pointer_size) == 4:
        pointer &= 0xFFFFFFFF
    data = b""
    step = 8
    # small steps, single bytes near the end: a triage dump saves the string's own bytes only (its
    # data block ends right after the NUL), a bigger read would run past it
    while len(data) < _MAX_BUILD_LAB and b"\0" not in data:
        try:
            data += _read_virtual(pointer + len(data), step)
        except MemoryException:
            if step == 1:
                return ""
            step = 1
    return data.split(b"\0", 1)[0].decode("latin-1")


@_engine
def getSystemVersion():
    """Return systemVersion"""
    target = _target()
    lab = _build_lab(target)
    return systemVersion(int(getattr(target, "build", 0) or 0), ("Built by: " + lab) if lab else "")


# ---------------------------------------------------------------------------------------------
# memory reads (spec/pykd.md §2; kdlib memaccess.cpp)

def _unpack_list(fmt: str, data: bytes, size: int) -> list:
    return list(struct.unpack("<%d%s" % (len(data) // size, fmt), data))


@_engine
def loadBytes(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of unsigned bytes"""
    return list(_load_array("loadBytes", offset, count, phyAddr, 1))


@_engine
def loadWords(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of unsigned shorts"""
    return _unpack_list("H", _load_array("loadWords", offset, count, phyAddr, 2), 2)


@_engine
def loadDWords(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of unsigned long ( double word )"""
    return _unpack_list("I", _load_array("loadDWords", offset, count, phyAddr, 4), 4)


@_engine
def loadQWords(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of unsigned long long ( quad word )"""
    return _unpack_list("Q", _load_array("loadQWords", offset, count, phyAddr, 8), 8)


@_engine
def loadSignBytes(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of signed bytes"""
    return _unpack_list("b", _load_array("loadSignBytes", offset, count, phyAddr, 1), 1)


@_engine
def loadSignWords(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of signed words"""
    return _unpack_list("h", _load_array("loadSignWords", offset, count, phyAddr, 2), 2)


@_engine
def loadSignDWords(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of signed longs"""
    return _unpack_list("i", _load_array("loadSignDWords", offset, count, phyAddr, 4), 4)


@_engine
def loadSignQWords(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of signed long longs"""
    return _unpack_list("q", _load_array("loadSignQWords", offset, count, phyAddr, 8), 8)


@_engine
def loadFloats(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of floats"""
    return _unpack_list("f", _load_array("loadFloats", offset, count, phyAddr, 4), 4)


@_engine
def loadDoubles(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of doubles"""
    return _unpack_list("d", _load_array("loadDoubles", offset, count, phyAddr, 8), 8)


@_engine
def loadChars(address, count, phyAddr=False):
    """Load string from target memory"""
    # boost.python converts std::string with strict UTF-8: non-UTF-8 bytes raise UnicodeDecodeError
    return _load_array("loadChars", address, count, phyAddr, 1).decode("utf-8")


@_engine
def loadWChars(address, count, phyAddr=False):
    """Load string from target memory"""
    return _load_array("loadWChars", address, count, phyAddr, 2).decode("utf-16-le", "surrogatepass")


def _load_terminated(offset: int, unit: int) -> bytes:
    """kdlib loadCStr/loadWStr: a string of at most 0x10000 bytes read up to its terminator;
    a fault before the terminator (or no terminator within the limit) -> MemoryException."""
    start = _addr64_of(offset)
    data = b""
    while len(data) < _MAX_CSTR:
        here = start + len(data)
        chunk = _read_virtual(here, min(_PAGE - (here & (_PAGE - 1)), _MAX_CSTR - len(data)), report=start)
        data += chunk
        for pos in range(0, len(data) - unit + 1, unit):
            if data[pos:pos + unit] == b"\0" * unit:
                return data[:pos]
    raise _memory_error(start)


@_engine
def loadCStr(offset):
    """Load string from the target buffer containing 0-terminated ansi-string"""
    return _load_terminated(_to_addr("loadCStr", offset), 1).decode("utf-8")


@_engine
def loadWStr(offset):
    """Load string from the target buffer containing 0-terminated unicode-string"""
    return _load_terminated(_to_addr("loadWStr", offset), 2).decode("utf-16-le", "surrogatepass")


def _counted_string(offset: int, unit: int) -> bytes:
    # UNICODE_STRING / ANSI_STRING: USHORT Length, USHORT MaximumLength, (pad), PVOID Buffer
    psize = _ptr_size()
    header = _read_virtual(_addr64_of(offset), 4 + (psize if psize == 4 else 12))
    length = struct.unpack_from("<H", header, 0)[0]
    buffer = struct.unpack_from("<I" if psize == 4 else "<Q", header, 4 if psize == 4 else 8)[0]
    if length == 0:
        return b""
    return _read_virtual(_addr64_of(buffer), length - length % unit)


@_engine
def loadUnicodeString(offset):
    """Return string represention of windows UNICODE_STRING type"""
    return _counted_string(_to_addr("loadUnicodeString", offset), 2).decode("utf-16-le", "surrogatepass")


@_engine
def loadAnsiString(offset):
    """Return string represention of windows ANSI_STRING type"""
    return _counted_string(_to_addr("loadAnsiString", offset), 1).decode("utf-8")


def _read_scalar(func: str, offset, fmt: str, size: int):
    address = _addr64_of(_to_addr(func, offset))
    return struct.unpack("<" + fmt, _read_virtual(address, size))[0]


@_engine
def ptrByte(offset):
    """Read an unsigned 1-byte integer from the target memory"""
    return _read_scalar("ptrByte", offset, "B", 1)


@_engine
def ptrWord(offset):
    """Read an unsigned 2-byte integer from the target memory"""
    return _read_scalar("ptrWord", offset, "H", 2)


@_engine
def ptrDWord(offset):
    """Read an unsigned 4-byte integer from the target memory"""
    return _read_scalar("ptrDWord", offset, "I", 4)


@_engine
def ptrQWord(offset):
    """Read an unsigned 8-byte integer from the target memory"""
    return _read_scalar("ptrQWord", offset, "Q", 8)


@_engine
def ptrMWord(offset):
    """Read an unsigned mashine's word wide integer from the target memory"""
    if _ptr_size() == 8:
        return _read_scalar("ptrMWord", offset, "Q", 8)
    return _read_scalar("ptrMWord", offset, "I", 4)


@_engine
def ptrSignByte(offset):
    """Read an signed 1-byte integer from the target memory"""
    return _read_scalar("ptrSignByte", offset, "b", 1)


@_engine
def ptrSignWord(offset):
    """Read an signed 2-byte integer from the target memory"""
    return _read_scalar("ptrSignWord", offset, "h", 2)


@_engine
def ptrSignDWord(offset):
    """Read an signed 4-byte integer from the target memory"""
    return _read_scalar("ptrSignDWord", offset, "i", 4)


@_engine
def ptrSignQWord(offset):
    """Read an signed 8-byte integer from the target memory"""
    return _read_scalar("ptrSignQWord", offset, "q", 8)


@_engine
def ptrSignMWord(offset):
    """Read an signed mashine's word wide integer from the target memory"""
    if _ptr_size() == 8:
        return _read_scalar("ptrSignMWord", offset, "q", 8)
    return _read_scalar("ptrSignMWord", offset, "i", 4)


@_engine
def ptrFloat(offset):
    """Read a float with single precision from the target memory"""
    return _read_scalar("ptrFloat", offset, "f", 4)


@_engine
def ptrDouble(offset):
    """Read a float with single precision from the target memory"""
    return _read_scalar("ptrDouble", offset, "d", 8)


def _ptr_at(address: int) -> int:
    # kdlib ptrPtr: a 32-bit pointer comes back sign-extended by addr64
    if _ptr_size() == 8:
        return struct.unpack("<Q", _read_virtual(address, 8))[0]
    return _addr64_of(struct.unpack("<I", _read_virtual(address, 4))[0])


@_engine
def ptrPtr(offset):
    """Read an pointer value from the target memory"""
    return _ptr_at(_addr64_of(_to_addr("ptrPtr", offset)))


@_engine
def loadPtrs(offset, count):
    """Read the block of the target's memory and return it as a list of pointers"""
    address = _addr64_of(_to_addr("loadPtrs", offset))
    count = _check_uint("loadPtrs", count, 32)
    psize = _ptr_size()
    if count == 0:
        raise _memory_error(address)
    data = _read_virtual(address, count * psize)
    values = _unpack_list("Q" if psize == 8 else "I", data, psize)
    return values if psize == 8 else [_addr64_of(v) for v in values]


@_engine
def loadPtrList(offset):
    """Return list of pointers, each points to next"""
    head = _addr64_of(_to_addr("loadPtrList", offset))
    out = []
    seen = set()
    entry = _ptr_at(head)
    while entry != head and entry != 0:
        if entry in seen or len(out) >= _MAX_LIST_ITEMS:
            # the real loop would spin forever on a cycle that misses the head
            raise DbgException("loadPtrList: list at 0x%x does not return to its head" % head)
        seen.add(entry)
        out.append(entry)
        entry = _ptr_at(entry)
    return out


def _region_valid(address: int, length: int) -> bool:
    if length == 0 or length > 0xFFFFFFFF:
        return False
    try:
        _read_virtual(address, length)
    except MemoryException:
        return False
    return True


@_engine
def isValid(offset):
    """Check if the virtual address is valid"""
    return _region_valid(_addr64_of(_to_addr("isValid", offset)), 1)


@_engine
def isVaRegionValid(offset, length):
    """Check if the virtaul addresses region is valid"""
    return _region_valid(_to_addr("isVaRegionValid", offset), _check_uint("isVaRegionValid", length))


@_engine
def compareMemory(offset1, offset2, length, phyAddr=False):
    """Compare two memory buffers by virtual or physical addresses"""
    length = _check_uint("compareMemory", length, 32)
    read = _read_physical if phyAddr else _read_virtual
    a = read(_to_addr("compareMemory", offset1) if phyAddr else _addr64_of(_to_addr("compareMemory", offset1)),
             length)
    b = read(_to_addr("compareMemory", offset2) if phyAddr else _addr64_of(_to_addr("compareMemory", offset2)),
             length)
    return a == b


@_engine
def addr64(offset):
    """Extend address to 64 bits formats"""
    return _addr64_of(_to_addr("addr64", offset))


# ---------------------------------------------------------------------------------------------
# writes: the target is read-only, every one of these raises

def _refuse_write(func: str, offset) -> None:
    address = _to_addr(func, offset)
    _target()
    exc = _memory_error(address)
    exc.read_only = True  # the stand-in's reason: dmfkd must never write to a target
    raise exc


def _make_memory_writer(func_name: str, doc: str):
    def writer(offset, *args, **kwargs):
        _refuse_write(func_name, offset)

    writer.__name__ = func_name
    writer.__qualname__ = func_name
    writer.__doc__ = doc + " (dmfemu stand-in: the target is read-only; always raises MemoryException)"
    return _engine(writer)


_MEMORY_WRITERS = [
    ("setByte", "Write an unsigned 1-byte integer to the target memory"),
    ("setWord", "Write an unsigned 2-byte integer to the target memory"),
    ("setDWord", "Write an unsigned 4-byte integer to the target memory"),
    ("setQWord", "Write an unsigned 8-byte integer to the target memory"),
    ("setSignByte", "Write an signed 1-byte integer to the target memory"),
    ("setSignWord", "Write an signed 2-byte integer to the target memory"),
    ("setSignDWord", "Write an signed 4-byte integer to the target memory"),
    ("setSignQWord", "Write an signed 8-byte integer to the target memory"),
    ("setFloat", "Write a float with single precision to the target memory"),
    ("setDouble", "Write a float with single precision to the target memory"),
    ("setPtr", "Write an pointer value to the target memory"),
    ("writeBytes", "Writing a list of unsigned bytes to the target's memory"),
    ("writeWords", "Writing a list of unsigned shorts to the target's memory"),
    ("writeDWords", "Writing a list of unsigned long ( double word ) to the target's memory"),
    ("writeQWords", "Writing a list of unsigned long long ( quad word ) to the target's memory"),
    ("writeSignBytes", "Writing a list of signed bytes to the target's memory"),
    ("writeSignWords", "Writing a list of signed words to the target's memory"),
    ("writeSignDWords", "Writing a list of signed longs to the target's memory"),
    ("writeSignQWords", "Writing a list of signed long longs to the target's memory"),
    ("writeFloats", "Writing a list of floats to the target's memory"),
    ("writeDoubles", "Writing a list of doubles to the target's memory"),
    ("writeCStr", "Write string as a 0 terminated ansi string to the buffer"),
    ("writeWStr", "Write string as a 0 terminated unicode string to the buffer"),
]
for _name, _doc in _MEMORY_WRITERS:
    globals()[_name] = _make_memory_writer(_name, _doc)


def _make_state_writer(func_name: str, doc: str):
    def writer(*args, **kwargs):
        _target()
        raise DbgException("%s: the target is read-only" % func_name)

    writer.__name__ = func_name
    writer.__qualname__ = func_name
    writer.__doc__ = doc + " (dmfemu stand-in: the target is read-only; always raises DbgException)"
    return _engine(writer)


_STATE_WRITERS = [
    ("setReg", "Set a CPU register value by its name"),
    ("setIP", "Change instruction pointer"),
    ("setSP", "Change stack pointer"),
    ("setFP", "Change frame pointer"),
    ("wrmsr", "Set MSR value"),
]
for _name, _doc in _STATE_WRITERS:
    globals()[_name] = _make_state_writer(_name, _doc)

#: every function of this module that would change the target; each one raises
WRITE_FUNCTIONS = tuple(n for n, _ in _MEMORY_WRITERS) + tuple(n for n, _ in _STATE_WRITERS)


# ---------------------------------------------------------------------------------------------
# secondary (tagged) data (spec/pykd.md §5; kdlib tagged.cpp)

_UUID_STRING = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


def _blobs():
    target = _target("IDebugDataSpaces3::StartEnumTagged")
    if target.is_live:
        raise _hresult_error("IDebugDataSpaces3::StartEnumTagged", E_NOTIMPL)
    return target.tagged()


@_engine
def enumTagged():
    """Return the list of secondary callback data IDs (as a strings)"""
    # UuidToString: lower-case, hyphenated, no braces; every block in file order, repeats included
    return [str(blob.guid) for blob in _blobs()]


@_engine
def loadTaggedBuffer(id):
    """Read the buffer of secondary callback data by ID"""
    if not isinstance(id, str) or not _UUID_STRING.match(id):
        # RPC UuidFromString takes exactly the bare 36-character form (braces are refused)
        raise DbgException("Call UuidFromString failed\nRPC_STATUS 0x%x" % RPC_S_INVALID_STRING_UUID)
    target = _target()
    if target.is_live:
        raise _hresult_error("IDebugDataSpaces4::ReadTagged", E_NOTIMPL)
    wanted = uuid.UUID(id)
    for blob in target.tagged():
        if blob.guid != wanted:
            continue
        # ReadTagged answers the FIRST block with this GUID (spec/dump-format.md §3.3)
        if blob.declared_size == 0:
            raise _hresult_error("IDebugDataSpaces4::ReadTagged", E_INVALIDARG)
        if getattr(blob, "truncated", False):
            raise _hresult_error("IDebugDataSpaces4::ReadTagged", ERROR_READ_FAULT)
        return list(target.read_blob(blob))
    raise _hresult_error("IDebugDataSpaces4::ReadTagged", E_NOINTERFACE)


# ---------------------------------------------------------------------------------------------
# output (spec/pykd.md §6)

@_engine
def dprint(str, dml=False):
    """Print out string. If dml = True string is printed with dml highlighting ( only for windbg )"""
    if dml and hasattr(sys.stdout, "writedml"):
        sys.stdout.writedml(str)
    else:
        sys.stdout.write(str)


@_engine
def dprintln(str, dml=False):
    """Print out string and insert end of line symbol. If dml = True string is printed with dml highlighting ( only for windbg )"""
    text = str + "\n"
    if dml and hasattr(sys.stdout, "writedml"):
        sys.stdout.writedml(text)
    else:
        sys.stdout.write(text)


# ---------------------------------------------------------------------------------------------
# debugger commands

def _hex_addr(value: int) -> str:
    if _ptr_size() == 8:
        return "%08x`%08x" % (value >> 32, value & 0xFFFFFFFF)
    return "%08x" % (value & 0xFFFFFFFF)


def _enumtag_guid(guid: uuid.UUID) -> str:
    # dbgeng prints the last two groups joined (spec/dbgeng-oracle.md): {XXXXXXXX-XXXX-XXXX-XXXXXXXXXXXXXXXX}
    text = str(guid).upper()
    return "{%s%s}" % (text[:23], text[24:])


# bytes `.enumtag` prints as "." (observed on the real 0.3.4.15 over every byte value): the C0
# controls except TAB, DEL, and 0x80 0x81 0x8D 0x8F 0x90 0x98 0x99 0x9D
_ENUMTAG_DOT = frozenset([b for b in range(0x20) if b != 0x09] + [0x7F, 0x80, 0x81, 0x8D, 0x8F, 0x90, 0x98, 0x99, 0x9D])


def _enumtag_text() -> str:
    target = _target()
    if target.is_live:
        return ""
    lines = []
    firsts = {}  # type: Dict[uuid.UUID, Any]
    for blob in target.tagged():
        lines.append("%s - 0x%x bytes" % (_enumtag_guid(blob.guid), blob.declared_size))
        # each block's header, but the bytes dbgeng reads by GUID: a repeated GUID shows the FIRST
        # block's bytes again (observed on triage_arm64.dmp's repeats, spec/dump-format.md §3.3)
        first = firsts.setdefault(blob.guid, blob)
        data = b"" if blob.declared_size == 0 or first.declared_size == 0 else \
            target.read_blob(first)[:blob.declared_size]
        for pos in range(0, len(data), 16):
            chunk = data[pos:pos + 16]
            hex_part = " ".join("%02X" % b for b in chunk)
            # pykd hands dbgeng's text over as Latin-1 characters; which bytes dbgeng shows as "."
            # was read off the real one's output for all 256 values (_ENUMTAG_DOT)
            text = "".join("." if b in _ENUMTAG_DOT else chr(b) for b in chunk)
            lines.append("  %-47s  %s" % (hex_part, text))
    # no blank line between blocks (observed)
    return "\n".join(lines) + ("\n" if lines else "")


_DUMP_KIND = {1: "Full kernel dump", 2: "Kernel summary dump", 4: "Kernel triage dump",
              5: "Kernel bitmap dump", 6: "Kernel bitmap dump"}


def _system_line(system_id: int, system: _System) -> str:
    target = system.target
    bits = "64-bit" if int(target.pointer_size) == 8 else "32-bit"
    # "." marks the current system, "#" the one of the last event (the dump loaded last) when it is
    # not current any more (observed after closeDump(id) of another system)
    mark = "." if system_id == _state.current else "#" if system_id == _state.event else " "
    if target.is_live:
        return "%s%3d %s Local kernel\n" % (mark, system_id, bits)
    kind = _DUMP_KIND.get(getattr(target, "dump_type", None), "Kernel dump")
    return "%s%3d %s %s: %s\n" % (mark, system_id, bits, kind, system.path or getattr(target, "name", ""))


def _systems_text() -> str:
    # every open system, by id (observed: ".  0 64-bit Full kernel dump: Z:\\...\\demo-x64.dmp")
    return "".join(_system_line(i, system) for i, system in sorted(_state.systems.items()))


def _x_text(pattern: str) -> str:
    """`x [mod!]glob`: nothing found is no output (dbgCommand -> None); a module part without
    wildcards naming a module that is not loaded makes the command fail (observed)."""
    from dmfkd.errors import SymbolError

    module, bang, _ = pattern.partition("!")
    if bang and module and not any(c in module for c in "*?[") and module.lower() not in _loaded_modules():
        raise _hresult_error("IDebugControl::ExecuteWide", DBG_E_EXECUTE)
    symbols = _state.symbols
    if symbols is None or not bang:
        # without "mod!" x lists the current scope's locals - none in a dump without frames
        # (observed: `x g_Dmf*` prints nothing even with the driver's PDB loaded)
        return ""
    try:
        found = symbols.search(pattern)
    except (SymbolError, NotImplementedError, AttributeError):
        return ""
    return "".join("%s %s = <no type information>\n" % (_hex_addr(addr), name) for name, addr in found)


def _bugcheck_text() -> str:
    code, a1, a2, a3, a4 = bugCheckData.__wrapped__()
    return "Bugcheck code %08X\nArguments %s %s %s %s\n" % (code, _hex_addr(a1), _hex_addr(a2), _hex_addr(a3),
                                                          _hex_addr(a4))


def _run_command(command: str) -> str:
    text = command.strip()
    word, _, rest = text.partition(" ")
    rest = rest.strip()
    if text == "||":
        return _systems_text()
    if word == ".enumtag":
        return _enumtag_text()
    if word == "x":
        return _x_text(rest) if rest else ""
    if word == ".bugcheck":
        _target()
        return _bugcheck_text()
    if word == ".echo":
        return rest + "\n"
    if word in ("as", "aS"):
        name, _, value = rest.partition(" ")
        value = value.strip()
        if word == "aS" and value.startswith('"') and value.count('"') >= 2:
            value = value[1:value.index('"', 1)]  # aS Name "Phrase": the phrase ends at its quote
        if name:
            _state.aliases[name] = value
        return ""
    if word == "ad":
        for name in ([n for n in _state.aliases] if rest in ("*", "/q *") else [rest]):
            _state.aliases.pop(name, None)
        return ""
    if word == "al":
        # dbgeng's text, trailing blanks included (observed on the real one)
        if not _state.aliases:
            return "No aliases\n"
        lines = ["  Alias            Value  ", " -------          ------- "]
        lines += [" %-16s %s " % (k, v) for k, v in _state.aliases.items()]
        return "\n".join(lines) + "\n"
    raise _hresult_error("IDebugControl::ExecuteWide", DBG_E_EXECUTE)


@_engine
def dbgCommand(command, suppressOutput=True, outputMask=outputFlag.Normal):
    """Run a debugger's command and return it's result as a string"""
    if str(command).strip() == "||" and _state.initialized:
        text = _systems_text()  # answers with no system open too (observed: None)
    else:
        _target()
        text = _run_command(str(command))
    if not suppressOutput and text:
        sys.stdout.write(text)
    # pydbgeng.h debugCommand: an empty output comes back as None, not ""
    return text if text else None


def aliases() -> Dict[str, str]:
    """Aliases defined through dbgCommand("as ...") (test helper, not a pykd function)."""
    return dict(_state.aliases)


# ---------------------------------------------------------------------------------------------
# symbols and types (spec/pykd.md §3), backed by a dmfkd Symbols (IsfSymbols for full types)

# Which modules are "loaded" - dbgeng's answer decides between "Failed to find module 'mod'"
# (DbgException) and "<sym> symbol is not found" (SymbolException) in getOffset/typeInfo and whether
# `x mod!...` fails. The stand-in's list is the union of:
# - "nt": dbgeng names the kernel image nt and lists it in every kernel session (lm on triage and
#   emulator dumps alike);
# - the dump's own module list: the triage dump's driver list (TRIAGE_DUMP.DriverListOffset), else
#   the kernel's PsLoadedModuleList walked in memory (dmfemu.kernel builds one in every emulator
#   dump); a live EmulatorTarget: its machine's images;
# - the attached Symbols' module (the "PDB" dmfkd was given is for a module that is loaded).
# Names as dbgeng derives them: the file name without extension (dmfdemo.sys -> dmfdemo), matched
# case-insensitively; "dmfdemo.sys!x" and "ntoskrnl!x" are not found (observed on the real one).

_KERNEL_IMAGES = ("ntoskrnl", "ntkrnlmp", "ntkrnlpa", "ntkrpamp")
_MAX_MODULES = 4096            # bound for a hostile/cyclic module list
_LDR_BASE_NAME = {8: 0x58, 4: 0x2C}   # KLDR_DATA_TABLE_ENTRY.BaseDllName (dmfemu/kernel.py LDR64/LDR32)
_LDR_DLL_BASE = {8: 0x30, 4: 0x18}    # KLDR_DATA_TABLE_ENTRY.DllBase
_TRIAGE_DRIVER_ENTRY = 0x90    # DUMP_DRIVER_ENTRY64: DriverNameOffset, pad, KLDR_DATA_TABLE_ENTRY (x64/arm64)


def _module_name(file_name: str) -> str:
    base = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return "nt" if stem.lower() in _KERNEL_IMAGES else stem


def _triage_drivers(target) -> List[Tuple[str, Optional[int]]]:
    """(file name, DllBase) of the triage dump's driver list, [] for other dumps."""
    triage = getattr(target, "triage", None)
    path = getattr(target, "path", None)
    if triage is None or path is None:
        return []
    out = []  # type: List[Tuple[str, Optional[int]]]
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            count = min(int(triage["DriverCount"]), size // _TRIAGE_DRIVER_ENTRY, _MAX_MODULES)
            handle.seek(int(triage["DriverListOffset"]))
            table = handle.read(count * _TRIAGE_DRIVER_ENTRY)
            for index in range(len(table) // _TRIAGE_DRIVER_ENTRY):
                entry = index * _TRIAGE_DRIVER_ENTRY
                name_offset = struct.unpack_from("<I", table, entry)[0]
                base = struct.unpack_from("<Q", table, entry + 8 + _LDR_DLL_BASE[8])[0]
                handle.seek(name_offset)
                head = handle.read(4)
                if len(head) != 4:
                    continue
                length = min(struct.unpack("<I", head)[0], 512)  # DUMP_STRING: ULONG Length (chars), WCHAR[]
                out.append((handle.read(2 * length).decode("utf-16-le", "replace"), base))
    except (OSError, KeyError, TypeError, ValueError, struct.error):
        return out
    return out


def _module_list(target) -> List[Tuple[str, Optional[int]]]:
    """(BaseDllName, DllBase) of every entry of the PsLoadedModuleList in the target's memory (bounded)."""
    header = getattr(target, "header", None)
    head = getattr(header, "PsLoadedModuleList", 0) if header is not None else 0
    if not head:
        kernel = getattr(getattr(target, "machine", None), "kernel_state", None)
        head = getattr(kernel, "module_list", 0)
    psize = int(target.pointer_size)
    if not head or psize not in _LDR_BASE_NAME:
        return []
    fmt = "<Q" if psize == 8 else "<I"
    out = []  # type: List[Tuple[str, Optional[int]]]
    try:
        head = _target_va(head)
        entry = _target_va(struct.unpack(fmt, _read_virtual(head, psize))[0])
        seen = set()
        while entry != head and entry and entry not in seen and len(out) < _MAX_MODULES:
            seen.add(entry)
            base = struct.unpack(fmt, _read_virtual(entry + _LDR_DLL_BASE[psize], psize))[0]
            raw = _read_virtual(entry + _LDR_BASE_NAME[psize], 2 * psize)
            length = struct.unpack_from("<H", raw, 0)[0]
            buffer = _target_va(struct.unpack_from(fmt, raw, psize)[0])
            if 0 < length <= 512:
                out.append((_read_virtual(buffer, length & ~1).decode("utf-16-le", "replace"), base))
            entry = _target_va(struct.unpack(fmt, _read_virtual(entry, psize))[0])
    except MemoryException:
        pass
    return out


def _loaded_modules() -> Dict[str, Tuple[str, Optional[int]]]:
    """lower-case module name -> (module name, image base or None), for the current system
    (computed once per system)."""
    target = _target()
    system = _state.system()
    if system.modules is not None:
        return system.modules
    files = _triage_drivers(target) or _module_list(target)
    machine = getattr(target, "machine", None)
    if not files and machine is not None:
        files = [(name, base) for name, (base, _) in (getattr(machine, "images", {}) or {}).items()]
    modules = collections.OrderedDict()  # type: Dict[str, Tuple[str, Optional[int]]]
    modules["nt"] = ("nt", None)
    for file_name, base in files:
        name = _module_name(file_name)
        modules[name.lower()] = (name, base)
    module = getattr(system.symbols, "module", None)
    if module and str(module).lower() not in modules:
        modules[str(module).lower()] = (str(module), getattr(system.symbols, "image_base", None))
    system.modules = modules
    return modules


_IMAGE_DIRECTORIES_READ = (0, 6)   # IMAGE_DIRECTORY_ENTRY_EXPORT, IMAGE_DIRECTORY_ENTRY_DEBUG


def _has_symbol_scope(module: str) -> bool:
    """Can dbgeng build a symbol table for the module without its PDB? Observed on the real one: a
    failed "mod!T*" / "mod!T[n]" says "T symbol is not found" when the module's PE headers and the
    export and debug directories they declare are in the dump (emulator dumps: dmfdemo and nt),
    and only "symbol not found" when not (the emulator triage dump's dmfdemo - no image page; a
    Windows triage dump's nt - export directory not saved)."""
    base = _loaded_modules().get(module.lower(), (module, None))[1]
    if base is None:
        return False
    base = _addr64_of(base)
    try:
        dos = _read_virtual(base, 0x40)
        if dos[:2] != b"MZ":
            return False
        nt = base + struct.unpack_from("<I", dos, 0x3C)[0]
        head = _read_virtual(nt, 0x18)
        optional = _read_virtual(nt + 0x18, struct.unpack_from("<H", head, 0x14)[0])
        magic = struct.unpack_from("<H", optional, 0)[0]
        directories = 112 if magic == 0x20B else 96   # PE32+ / PE32 optional header
        for index in _IMAGE_DIRECTORIES_READ:
            rva, size = struct.unpack_from("<II", optional, directories + 8 * index)
            if rva and size:
                _read_virtual(base + rva, 1)
    except (MemoryException, struct.error):
        return False
    return True


def _split_symbol(name: str) -> Tuple[Optional[str], str]:
    """("mod", "sym") for "mod!sym", (None, "sym") for "sym" or "!sym"; SymbolException for "" and
    "mod!" (kdlib: 'invalid symbol name: ...')."""
    module, bang, bare = name.partition("!")
    if not bang:
        module, bare = "", name
    if not bare:
        raise SymbolException("invalid symbol name: %s" % name)
    return (module or None), bare


def _require_module(module: str) -> None:
    if module.lower() not in _loaded_modules():
        raise DbgException("Failed to find module '%s'" % module)


def _symbols_module_is(module: str) -> bool:
    symbols = _state.symbols
    own = getattr(symbols, "module", None)
    return symbols is not None and (own is None or str(own).lower() == module.lower())


@_engine
def getOffset(name):
    """Return traget virtual address for specified symbol"""
    from dmfkd.errors import SymbolError

    name = str(name)
    module, bare = _split_symbol(name)
    _target()
    symbols = _state.symbols
    # the address comes back through kdlib addr64: sign-extended on a 32-bit target (observed, x86 PDB)
    if module is None:
        # without a module dbgeng searches every module's symbols
        if symbols is not None:
            try:
                return _addr64_of(symbols.address_of(bare))
            except SymbolError:
                pass
        raise SymbolException("failed to find module for symbol: %s" % bare)
    _require_module(module)
    if _symbols_module_is(module):
        try:
            return _addr64_of(symbols.address_of("%s!%s" % (getattr(symbols, "module", None) or module, bare)))
        except SymbolError:
            pass
    raise SymbolException("%s symbol is not found" % bare)


@_engine
def findSymbol(offset, showDisplacement=True):
    """Find symbol by the target virtual memory offset"""
    address = _to_addr("findSymbol", offset)
    symbols = _symbols()
    best = None
    for name, addr in _search_all(symbols):
        if addr <= address and (best is None or addr > best[1]):
            best = (name, addr)
    if best is None:
        return _hex_addr(address)
    disp = address - best[1]
    if disp and showDisplacement:
        return "%s+0x%x" % (best[0], disp)
    return best[0]


def _search_all(symbols) -> List[Tuple[str, int]]:
    from dmfkd.errors import SymbolError

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


class _Type(object):
    """Internal type model behind typeInfo/typedVar."""

    def __init__(self, kind: str, name: str, size: int, **extra):
        self.kind = kind          # base, pointer, array, struct, union, enum, bitfield, void, function
        self.name = name
        self.size = size
        self.base_kind = extra.get("base_kind", "int")
        self.signed = extra.get("signed", False)
        self.target = extra.get("target")        # callable -> _Type (lazy, types may be recursive)
        self.count = extra.get("count", 0)
        self.fields = extra.get("fields")        # callable -> list of (name, offset, _Type)
        self.bit_position = extra.get("bit_position", 0)
        self.bit_length = extra.get("bit_length", 0)
        self.constants = extra.get("constants", {})

    def field_list(self) -> List[Tuple[str, int, "_Type"]]:
        return self.fields() if self.fields is not None else []

    def element(self) -> "_Type":
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


def _named_base(name: str) -> _Type:
    kind, size, signed = _BASE_NAMES[name]
    if kind == "void":
        return _Type("void", "Void", 0)
    return _Type("base", name, size, base_kind=kind, signed=signed)


def _pointer_to(target: _Type, psize: int) -> _Type:
    return _Type("pointer", target.name + "*", psize, target=lambda: target)


def _array_of(element: _Type, count: int) -> _Type:
    return _Type("array", "%s[%d]" % (element.name, count), element.size * count, target=lambda: element,
                 count=count)


class _TypeFactory(object):
    """Builds _Type objects from the attached symbol source (ISF descriptors when available)."""

    def __init__(self, symbols):
        self.symbols = symbols
        self.cache = {}  # type: Dict[str, _Type]

    @property
    def pointer_size(self) -> int:
        size = getattr(self.symbols, "pointer_size", None)
        return size if size in (4, 8) else _ptr_size()

    def by_name(self, name: str, derived: bool = False) -> _Type:
        """A type by the name pykd users type: "UInt4B", "mod!T", "T" (any module), "mod!T*",
        "mod!T[2]". Failures as the real 0.3.4.15 words them (observed): module not loaded ->
        DbgException "Failed to find module 'mod'"; loaded but no such type -> SymbolException
        "'T' - symbol not found" ("T symbol is not found" under * or [n]); no module given and no
        module has it -> SymbolException "failed to find module for symbol: T". Base-type names
        only exist without a module ("nt!UInt4B" is not found)."""
        from dmfkd.errors import SymbolError

        text = name.strip()
        if text.endswith("*"):
            return _pointer_to(self.by_name(text[:-1], True), self.pointer_size)
        match = re.match(r"^(.*)\[(\d+)\]$", text)
        if match:
            return _array_of(self.by_name(match.group(1), True), int(match.group(2)))
        if text in self.cache:
            return self.cache[text]
        module, bare = _split_symbol(text)
        if module is None and bare in _BASE_NAMES:
            return _named_base(bare)
        if module is not None:
            _require_module(module)
            if derived and bare in _BASE_NAMES:
                return _named_base(bare)  # observed: "nt!UInt4B*" is a type, "nt!UInt4B" is not
        built = None
        symbols = self.symbols
        if symbols is not None and (module is None or _symbols_module_is(module)):
            own = getattr(symbols, "module", None)
            try:
                built = self._user(bare if module is None else "%s!%s" % (own or module, bare))
            except SymbolError:
                built = None
        if built is None:
            if module is None:
                raise SymbolException("failed to find module for symbol: %s" % bare)
            if derived:
                if not _has_symbol_scope(module):
                    raise SymbolException("symbol not found")
                raise SymbolException("%s symbol is not found" % bare)
            raise SymbolException("'%s' - symbol not found" % bare)
        self.cache[text] = built
        return built

    def _user(self, name: str) -> _Type:
        symbols = self.symbols
        if hasattr(symbols, "user_type_name"):
            key = symbols.user_type_name(name)
            user = symbols.user_types[key]
            fields = user["fields"]

            def field_list(fields=fields):
                out = [(fname, f["offset"], self.from_descriptor(f["type"])) for fname, f in fields.items()]
                out.sort(key=lambda item: item[1])
                return out

            return _Type("union" if user["kind"] == "union" else "struct", key, user["size"], fields=field_list)
        layout = symbols.type_layout(name)

        def layout_fields(layout=layout):
            out = []
            for field in layout.fields.values():
                size = field.size or 0
                if size in (1, 2, 4, 8):
                    ftype = _Type("base", "UInt%dB" % size, size, base_kind="int")
                else:
                    ftype = _array_of(_named_base("UInt1B"), size)
                out.append((field.name, field.offset, ftype))
            out.sort(key=lambda item: item[1])
            return out

        return _Type("struct", layout.name, layout.size, fields=layout_fields)

    def from_descriptor(self, desc: Dict[str, Any]) -> _Type:
        kind = desc["kind"]
        symbols = self.symbols
        if kind == "base":
            base = symbols.base_types[desc["name"]]
            if base["kind"] == "void":
                return _Type("void", "Void", 0)
            name = _base_pykd_name(desc["name"], base["kind"], base["size"], base.get("signed", False))
            return _Type("base", name, base["size"], base_kind=base["kind"], signed=base.get("signed", False))
        if kind == "pointer":
            sub = desc["subtype"]
            target = functools.partial(self.from_descriptor, sub)
            name = self.from_descriptor(sub).name if sub["kind"] != "pointer" else "Ptr"
            return _Type("pointer", name + "*", self.pointer_size, target=target)
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
            return _Type("enum", desc["name"], enum["size"], base_kind="int",
                         signed=symbols.base_types.get(enum.get("base"), {}).get("signed", False),
                         constants=enum.get("constants", {}))
        if kind == "bitfield":
            inner = self.from_descriptor(desc["type"])
            return _Type("bitfield", inner.name, inner.size, base_kind=inner.base_kind, signed=inner.signed,
                         bit_position=desc["bit_position"], bit_length=desc["bit_length"])
        return _Type("function", "Function", 0)


def _factory() -> _TypeFactory:
    symbols = _state.symbols if _state.initialized else None
    cached = getattr(_factory, "cached", None)
    if cached is None or cached.symbols is not symbols:
        cached = _TypeFactory(symbols)
        _factory.cached = cached
    return cached


def _resolve_type(value) -> _Type:
    if isinstance(value, typeInfo):
        return value._type
    if isinstance(value, str):
        return _factory().by_name(value)
    raise ArgumentError("expected a type name or a typeInfo, got %s" % type(value).__name__)


class typeInfo(object):
    """Class representing typeInfo"""

    def __init__(self, name):
        _counts["typeInfo"] += 1
        self._type = _resolve_type(name)

    @classmethod
    def _of(cls, model: _Type) -> "typeInfo":
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
        return typeInfo._of(_pointer_to(self._type, ptrSize or _factory().pointer_size))

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
        _counts["typedVar"] += 1
        if len(args) == 1:
            name = args[0]
            symbols = _symbols()
            address = getOffset.__wrapped__(name)
            desc = symbols.symbol_type(name) if hasattr(symbols, "symbol_type") else None
            if desc is None:
                raise TypeException("'%s' - symbol has no type information" % (name,))
            model = _factory().from_descriptor(desc)
            self._init(model, address, None)
        elif len(args) == 2:
            model = _resolve_type(args[0])
            where = args[1]
            if isinstance(where, int):
                self._init(model, _addr64_of(where), None)
            else:
                # PythonObjectAccessor (pydataaccess.h): any indexable sequence of byte values
                data = bytes(int(b) & 0xFF for b in where)
                if len(data) < model.size:
                    raise MemoryException("Memory exception at 0x%x target virtual address" % len(data))
                self._init(model, 0, data)
        else:
            raise ArgumentError("typedVar takes 1 or 2 arguments")

    def _init(self, model: _Type, address: int, data: Optional[bytes]) -> None:
        self._type = model
        self._address = address
        if data is None:
            data = _read_virtual(address, model.size) if model.size else b""
        self._data = data[:model.size]

    @classmethod
    def _of(cls, model: _Type, address: int, data: bytes) -> "typedVar":
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
            return _addr64_of(value) if _state.target is not None else value
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
        return typeInfo._of(self._type)._field(key)

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
            _counts["typedVar.deref"] += 1
            return typedVar._of(element, address, _read_virtual(address, element.size))
        name, offset, ftype = self._field(index)
        return self._member(offset, ftype)

    def _member(self, offset: int, ftype: _Type) -> "typedVar":
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
        return typeInfo._of(self._type).getNumberFields()

    def getAddress(self):
        return self._address

    def sizeof(self):
        return self._type.size

    def rawBytes(self):
        return list(self._data)

    def type(self):
        return typeInfo._of(self._type)

    def deref(self):
        if self._type.kind != "pointer":
            raise TypeException("%s : type is not a pointer" % self._type.name)
        return self._element(0)

    def castTo(self, type_):
        model = _resolve_type(type_)
        if model.size <= len(self._data):
            return typedVar._of(model, self._address, self._data)
        if not self._address:
            raise MemoryException("Memory exception at 0x%x target virtual address" % len(self._data))
        _counts["typedVar.deref"] += 1
        return typedVar._of(model, self._address, _read_virtual(self._address, model.size))

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
                shown = ("0x%x" % int(value)) if value._type.kind not in ("struct", "union", "array") else value._type.name
                lines.append("   +0x%04x %-30s : %s" % (offset, name, shown))
            return "\n".join(lines)
        if t.kind == "array":
            return "%s at 0x%x" % (t.name, self._address)
        value = self._value()
        return ("%s" % value) if isinstance(value, float) else "%d (0x%x)" % (value, value & _MASK64)

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


@_engine
def sizeof(name):
    """Return a size of the type or variable"""
    try:
        return _resolve_type(name).size
    except SymbolException:
        # not a type: the size of a variable (a plain DbgException - module not loaded - stays)
        symbols = _state.symbols
        if symbols is not None and hasattr(symbols, "symbol_type"):
            from dmfkd.errors import SymbolError

            try:
                desc = symbols.symbol_type(name)
            except SymbolError:
                desc = None
            if desc is not None:
                return _factory().from_descriptor(desc).size
        raise


@_engine
def typedVarArray(addr, typeName, count):
    """Return a list of the typedVar class instances. Each item represents an item of the counted array in the target memory"""
    model = _resolve_type(typeName)
    count = _check_uint("typedVarArray", count, 32)
    address = _addr64_of(_to_addr("typedVarArray", addr))
    data = _read_virtual(address, model.size * count) if count and model.size else b""
    return [typedVar._of(model, address + i * model.size, data[i * model.size:(i + 1) * model.size])
            for i in range(count)]


@_engine
def containingRecord(addr, typeName, fieldName):
    """Return instance of the typedVar class. It's value are loaded from the target memory.The start address is calculated by the same method as the standard macro CONTAINING_RECORD does"""
    model = _resolve_type(typeName)
    offset = typeInfo._of(model).fieldOffset(fieldName)
    address = (_addr64_of(_to_addr("containingRecord", addr)) - offset) & _MASK64
    return typedVar._of(model, address, _read_virtual(address, model.size))


@_engine
def typedVarList(headAddr, typeName, listEntryFieldName):
    """Return a list of the typedVar class instances. Each item represents an item of the linked list in the target memory"""
    model = _resolve_type(typeName)
    offset = typeInfo._of(model).fieldOffset(listEntryFieldName)
    head = _addr64_of(_to_addr("typedVarList", headAddr))
    out = []
    seen = set()
    entry = _ptr_at(head)
    while entry != head and entry != 0:
        if entry in seen or len(out) >= _MAX_LIST_ITEMS:
            raise DbgException("typedVarList: list at 0x%x does not return to its head" % head)
        seen.add(entry)
        item = (entry - offset) & _MASK64
        out.append(typedVar._of(model, item, _read_virtual(item, model.size)))
        entry = _ptr_at(entry)
    return out


def _public_names() -> List[str]:
    return sorted(n for n, v in globals().items() if not n.startswith("_") and n not in (
        "collections", "functools", "operator", "os", "re", "struct", "sys", "uuid",
        "Any", "Dict", "List", "Optional", "Tuple"))
