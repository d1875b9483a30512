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
- which modules are loaded (see _modules.py) decides between DbgException "Failed to find
  module 'mod'" and SymbolException in ``getOffset``/``typeInfo``/``sizeof`` and whether
  ``x mod!...`` fails;
- with no dump open: ``ptrSize()`` is 8, the calls that need a target fail naming their dbgeng
  method with E_UNEXPECTED, ``dbgCommand("||")`` is None.
tests/oracle/pykd_probe.py checks all of the above call by call against the real module.

Decisions where the real module could not be observed (documented so a reader of a diff against
the real pykd knows which lines are guesses):
- live target, secondary data: dbgeng keeps secondary data only in dumps
  (reading-bug-check-callback-data.md). ``enumTagged()`` raises
  DbgException("Call IDebugDataSpaces3::StartEnumTagged failed\nHRESULT 0x80004001") and
  ``loadTaggedBuffer`` fails likewise with ReadTagged - the stricter of the two plausible
  behaviours (the other is []), so callers are forced to handle it.
- live target: ``bugCheckData()`` returns (0, 0, 0, 0, 0) (KiBugCheckData of a running system);
  ``getDumpType()`` raises DbgException.
- every write (setByte ... setPtr, writeBytes ... writeDoubles, writeCStr, writeWStr) raises
  ``MemoryException`` for its address - what dbgeng's WriteVirtual gives on a dump - on every
  target, live included: dmfkd must never write (CONTRACT), and a test proves it by this.
  Register/MSR writes (setReg, setIP, setSP, setFP, wrmsr) raise DbgException.
- ``dbgCommand`` knows "||", ".enumtag", "x <glob>", ".bugcheck", ".echo", "as/aS/ad/al";
  anything else raises DbgException('Call IDebugControl::ExecuteWide failed\nHRESULT 0x80040205')
  (the real one's answer to an unknown command; `r` the real one answers on dumps with a context -
  a known difference, tests/oracle/test_pykd_standin.py KNOWN).
- ``initialize()`` succeeds the first time (Windows behaviour; under Wine the real one raises
  'CLRCreateInstance failed' but initialises anyway) and raises 'pykd is already initialized' after.

Every public function call is counted under its name (``call_counts()``), including output
(dprint, each write is one engine output call inside WinDbg) and symbol look-ups; object methods
that read the target count as "typedVar.deref". ``engine_calls()`` is the total.

The package is laid out along the sections of the pykd API (its private modules are not part of
the surface; everything public is imported here):

    _errors      exception classes and HRESULT messages      _enums       the boost.python enums
    _session     open systems, engine-call counting, reads    _targets     loadDump & co., target state
    _memory      load*/ptr*/isValid/compareMemory             _writes      set*/write*: every write raises
    _modules     which modules are loaded
    _symbols     getOffset, findSymbol, typeInfo              _typed_vars  typedVar and friends
    _commands    tagged data, dprint, dbgCommand
"""
from dmfemu.pykd._errors import (ArgumentError, CallException, CPUException, DBG_E_EXECUTE, DBG_E_WAIT, DbgException,
                                 E_INVALIDARG, E_NOINTERFACE, E_NOTIMPL, E_UNEXPECTED, ERROR_FILE_NOT_FOUND,
                                 ERROR_PARTIAL_COPY, ERROR_READ_FAULT, MemoryException, RPC_S_INVALID_STRING_UUID,
                                 SymbolException, TypeException)
from dmfemu.pykd._enums import (CPUType, dumpType, outputFlag)
from dmfemu.pykd._session import (attach, call_counts, detach, engine_calls, reset_counts)
from dmfemu.pykd._targets import (appendSymbolPath, bugCheckData, closeDump, deinitialize, getCPUMode, getCPUType,
                                  getDumpFormat, getDumpType, getSymbolPath, getSystemVersion, initialize,
                                  is64bitSystem, isDumpAnalyzing, isKernelDebugging, isWindbgExt, loadDump, pageSize,
                                  ptrSize, setSymbolPath, systemVersion)
from dmfemu.pykd._memory import (addr64, compareMemory, isValid, isVaRegionValid, loadAnsiString, loadBytes,
                                 loadChars, loadCStr, loadDoubles, loadDWords, loadFloats, loadPtrList, loadPtrs,
                                 loadQWords, loadSignBytes, loadSignDWords, loadSignQWords, loadSignWords,
                                 loadUnicodeString, loadWChars, loadWords, loadWStr, ptrByte, ptrDouble, ptrDWord,
                                 ptrFloat, ptrMWord, ptrPtr, ptrQWord, ptrSignByte, ptrSignDWord, ptrSignMWord,
                                 ptrSignQWord, ptrSignWord, ptrWord)
# the writers are made in a loop in _writes.py; each of them raises
from dmfemu.pykd._writes import (WRITE_FUNCTIONS, setByte, setDouble, setDWord, setFloat, setFP, setIP,
                                 setPtr, setQWord, setReg, setSignByte, setSignDWord, setSignQWord, setSignWord, setSP,
                                 setWord, writeBytes, writeCStr, writeDoubles, writeDWords, writeFloats, writeQWords,
                                 writeSignBytes, writeSignDWords, writeSignQWords, writeSignWords, writeWords,
                                 writeWStr, wrmsr)
from dmfemu.pykd._symbols import (findSymbol, getOffset, typeInfo)
from dmfemu.pykd._commands import (aliases, dbgCommand, dprint, dprintln, enumTagged, loadTaggedBuffer)
from dmfemu.pykd._typed_vars import (containingRecord, sizeof, typedVar, typedVarArray, typedVarList)

__version__ = "0.3.4.15"
version = __version__

#: the whole public surface: pykd 0.3.4.15's names and the stand-in's attach/detach/call counting
__all__ = ["__version__", "addr64", "aliases", "appendSymbolPath", "ArgumentError", "attach", "bugCheckData",
           "call_counts", "CallException", "closeDump", "compareMemory", "containingRecord", "CPUException",
           "CPUType", "DBG_E_EXECUTE", "DBG_E_WAIT", "dbgCommand", "DbgException", "deinitialize", "detach", "dprint",
           "dprintln", "dumpType", "E_INVALIDARG", "E_NOINTERFACE", "E_NOTIMPL", "E_UNEXPECTED", "engine_calls",
           "enumTagged", "ERROR_FILE_NOT_FOUND", "ERROR_PARTIAL_COPY", "ERROR_READ_FAULT", "findSymbol", "getCPUMode",
           "getCPUType", "getDumpFormat", "getDumpType", "getOffset", "getSymbolPath", "getSystemVersion",
           "initialize", "is64bitSystem", "isDumpAnalyzing", "isKernelDebugging", "isValid", "isVaRegionValid",
           "isWindbgExt", "loadAnsiString", "loadBytes", "loadChars", "loadCStr", "loadDoubles", "loadDump",
           "loadDWords", "loadFloats", "loadPtrList", "loadPtrs", "loadQWords", "loadSignBytes", "loadSignDWords",
           "loadSignQWords", "loadSignWords", "loadTaggedBuffer", "loadUnicodeString", "loadWChars", "loadWords",
           "loadWStr", "MemoryException", "outputFlag", "pageSize", "ptrByte", "ptrDouble", "ptrDWord", "ptrFloat",
           "ptrMWord", "ptrPtr", "ptrQWord", "ptrSignByte", "ptrSignDWord", "ptrSignMWord", "ptrSignQWord",
           "ptrSignWord", "ptrSize", "ptrWord", "reset_counts", "RPC_S_INVALID_STRING_UUID", "setByte", "setDouble",
           "setDWord", "setFloat", "setFP", "setIP", "setPtr", "setQWord", "setReg", "setSignByte", "setSignDWord",
           "setSignQWord", "setSignWord", "setSP", "setSymbolPath", "setWord", "sizeof", "SymbolException",
           "systemVersion", "typedVar", "typedVarArray", "typedVarList", "TypeException", "typeInfo", "version",
           "WRITE_FUNCTIONS", "writeBytes", "writeCStr", "writeDoubles", "writeDWords", "writeFloats", "writeQWords",
           "writeSignBytes", "writeSignDWords", "writeSignQWords", "writeSignWords", "writeWords", "writeWStr",
           "wrmsr"]

# The functions name the package as their module, as they did when the stand-in was one file
# (help(), repr()); classes and enums keep the module names the real pykd reports.
for _name in __all__:
    _value = globals()[_name]
    if getattr(_value, "__module__", "").startswith(__name__ + ".") and callable(_value) \
            and not isinstance(_value, type):
        _value.__module__ = __name__
del _name, _value
