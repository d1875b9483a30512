"""Opening and closing targets (standalone pykd: initialize / loadDump / closeDump, the symbol path)
and what pykd says about the current target (spec/pykd.md §4): dump or live, pointer size, CPU,
dump type, bug-check data, system version.
"""
import os
import struct
import sys
from typing import Tuple

from dmfkd.errors import DmfkdError
from dmfkd.layouts import debugger_data
from dmfkd.layouts.windows import PAGE_SIZE
from dmfkd.targets.dumpfile import DumpFile
from dmfkd.targets.isf import IsfSymbols

from dmfemu.pykd._errors import (ArgumentError, CPUException, DbgException, E_INVALIDARG, E_NOINTERFACE, E_UNEXPECTED,
                                 ERROR_FILE_NOT_FOUND, hresult_error, MemoryException)
from dmfemu.pykd._enums import CPU_BY_ARCH, DUMP_TYPE_BY_HEADER
from dmfemu.pykd._session import counted, current_target, detach, pointer_size, read_virtual, state, System, target_va


@counted
def initialize():
    """Initialize local debug engine, only for console mode"""
    if state.initialized:
        raise DbgException("pykd is already initialized")
    state.initialized = True


@counted
def deinitialize():
    """Deintialize debug engine, only for console mode"""
    detach()


@counted
def loadDump(path):
    """Load crash dump"""
    state.initialized = True  # kdlib's loadDump initialises the engine itself
    if not os.path.exists(path):
        raise hresult_error("IDebugClient4::OpenDumpFileWide", ERROR_FILE_NOT_FOUND)
    try:
        target = DumpFile(path)
    except (DmfkdError, OSError):
        raise hresult_error("IDebugClient4::OpenDumpFileWide", E_INVALIDARG)
    symbols = getattr(target, "symbols", None)
    beside = os.path.join(os.path.dirname(os.path.abspath(path)), "driver.isf.json")
    if symbols is None and os.path.exists(beside):
        # dmfemu writes the driver's "PDB" next to the dump; dbgeng would find it on the symbol path
        symbols = IsfSymbols.load(beside)
    # A dump opened while another is open becomes one more system with the lowest free id, and the
    # current one; both stay open (observed on the real 0.3.4.15: ids 0, 1, 2; after closeDump(1) the
    # next loadDump gets 1 again)
    dump_id = 0
    while dump_id in state.systems:
        dump_id += 1
    state.systems[dump_id] = System(target, symbols, path, True)
    state.current = state.event = dump_id
    return dump_id


@counted
def closeDump(id=None):
    """Close crash dump"""
    # closeDump([unsigned long id]) - no id: the current system. Observed on the real one: the closed
    # system is gone from `||` and the lowest remaining id becomes current; nothing open ->
    # TerminateCurrentProcess fails; an unknown id -> SetCurrentProcessId fails (E_NOINTERFACE)
    if id is not None:
        id = _check_closedump_id(id)
    if id is None:
        if state.current is None:
            raise hresult_error("IDebugClient::TerminateCurrentProcess", E_UNEXPECTED)
        id = state.current
    elif id not in state.systems:
        raise hresult_error("IDebugSystemObjects::SetCurrentProcessId", E_NOINTERFACE)
    system = state.systems.pop(id)
    if system.opened_by_us:
        system.target.close()
    state.current = min(state.systems) if state.systems else None
    if state.event == id:
        state.event = None


def _check_closedump_id(value) -> int:
    if not isinstance(value, int):
        raise ArgumentError("Python argument types in\n    pykd.closeDump(%s)\ndid not match C++ signature"
                            % type(value).__name__)
    if value < 0:
        raise OverflowError("can't convert negative value to unsigned int")
    if value >> 32:
        raise OverflowError("value too large to convert to unsigned int")
    return value


@counted
def setSymbolPath(path):
    """Set current symbol path"""
    if not state.initialized:
        raise DbgException("pykd is not initialized")
    state.symbol_path = str(path)


@counted
def getSymbolPath():
    """Returns current symbol path"""
    if not state.initialized:
        raise DbgException("pykd is not initialized")
    return state.symbol_path


@counted
def appendSymbolPath(path):
    """Append current symbol path"""
    if not state.initialized:
        raise DbgException("pykd is not initialized")
    state.symbol_path = (state.symbol_path + ";" + str(path)).lstrip(";")


@counted
def isDumpAnalyzing():
    """Check if it is a dump analyzing ( not living debuggee )"""
    if not state.initialized:
        raise DbgException("pykd is not initialized")
    return state.target is not None and not state.target.is_live


@counted
def isKernelDebugging():
    """Check if kernel dubugging is running"""
    if not state.initialized:
        raise DbgException("pykd is not initialized")
    return state.target is not None


@counted
def isWindbgExt():
    """Check if script works in windbg context"""
    # pydbgio.h: WinDbg replaces sys.stdout with a DbgOut that has writedml
    return hasattr(sys.stdout, "writedml")


@counted
def is64bitSystem():
    """Check if target system has 64 address space"""
    return pointer_size() == 8


@counted
def ptrSize():
    """Return effective pointer size"""
    if state.initialized and state.target is None:
        return 8  # observed: the real one answers 8 with no dump open (the x64 host's size)
    return pointer_size()


@counted
def pageSize():
    """Get the page size for the currently executing processor context"""
    current_target()
    return PAGE_SIZE


def _cpu():
    arch = getattr(current_target(), "arch", "x64")
    if arch not in CPU_BY_ARCH:
        raise CPUException("unknown CPU type %r" % (arch,))
    return CPU_BY_ARCH[arch]


@counted
def getCPUType():
    """Return type of physical processor: CPUType"""
    return _cpu()


@counted
def getCPUMode():
    """Return current processor mode: CPUType"""
    return _cpu()


@counted
def getDumpType():
    """Return type of the dump"""
    target = current_target()
    if target.is_live:
        raise DbgException("target is not a dump")
    value = getattr(target, "dump_type", None)
    if value not in DUMP_TYPE_BY_HEADER:
        raise DbgException("unknown dump type %r" % (value,))
    return DUMP_TYPE_BY_HEADER[value]


@counted
def getDumpFormat():
    """Return format of the dump"""
    current_target()
    return 0


@counted
def bugCheckData():
    """Function reads the kernel bug check code and related parameters
And return tuple: (code, arg1, arg2, arg3, arg4)"""
    bugcheck = current_target("IDebugControl::ReadBugCheckData").bugcheck()
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
        build_lab = debugger_data.kddebugger_data64().offsets["NtBuildLab"]
        pointer = target_va(struct.unpack("<Q", read_virtual(target_va(kdbg) + build_lab, 8))[0])
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
            data += read_virtual(pointer + len(data), step)
        except MemoryException:
            if step == 1:
                return ""
            step = 1
    return data.split(b"\0", 1)[0].decode("latin-1")


@counted
def getSystemVersion():
    """Return systemVersion"""
    target = current_target()
    lab = _build_lab(target)
    return systemVersion(int(getattr(target, "build", 0) or 0), ("Built by: " + lab) if lab else "")
