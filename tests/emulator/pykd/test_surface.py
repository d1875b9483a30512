"""dmfemu.pykd's surface: the names, the exception hierarchy and the boost.python enums of pykd 0.3.4.15.

Expected values come from spec/real-pykd-under-wine.md (the observed behaviour of the real pykd 0.3.4.15)
and spec/pykd.md, never from the stand-in itself; the dumps are helpers.standin_dumps.
"""
from dmfemu import pykd


def test_version_and_exception_hierarchy():
    assert pykd.__version__ == "0.3.4.15"
    assert pykd.MemoryException.__mro__[:3] == (pykd.MemoryException, pykd.DbgException, Exception)
    assert issubclass(pykd.TypeException, pykd.SymbolException)
    assert issubclass(pykd.SymbolException, pykd.DbgException)
    assert issubclass(pykd.CallException, pykd.DbgException)
    assert issubclass(pykd.CPUException, pykd.DbgException)
    for cls in (pykd.DbgException, pykd.MemoryException, pykd.SymbolException, pykd.TypeException):
        assert cls.__module__ == "pykd"
    assert pykd.DbgException.__doc__ == "Pykd base exception class"
    assert pykd.MemoryException.__doc__ == "Target memory access exception class"


def test_boost_enums():
    assert isinstance(pykd.dumpType.KernelFull, int)
    assert str(pykd.dumpType.KernelSmall) == "KernelSmall"
    assert repr(pykd.dumpType.KernelSmall) == "pykd.pykd.dumpType.KernelSmall"  # observed on the real one
    assert int(pykd.dumpType.KernelFull) == 1026 and pykd.dumpType.values[1024].name == "KernelSmall"
    assert pykd.CPUType.AMD64.name == "AMD64"
    assert set(pykd.dumpType.names) == {"Small", "Default", "Full", "Image", "KernelSmall", "Kernel", "KernelFull"}


# Every public name the one-file stand-in had before it became a package (commit bc918ec): the
# names of the real pykd 0.3.4.15 the stand-in mimics, and its own attach/detach/call counting.
SURFACE = """
ArgumentError CPUException CPUType CallException DBG_E_EXECUTE DBG_E_WAIT DbgException ERROR_FILE_NOT_FOUND
ERROR_PARTIAL_COPY ERROR_READ_FAULT E_INVALIDARG E_NOINTERFACE E_NOTIMPL E_UNEXPECTED MemoryException
RPC_S_INVALID_STRING_UUID SymbolException TypeException WRITE_FUNCTIONS addr64 aliases appendSymbolPath attach
bugCheckData call_counts closeDump compareMemory containingRecord dbgCommand deinitialize detach dprint dprintln
dumpType engine_calls enumTagged findSymbol getCPUMode getCPUType getDumpFormat getDumpType getOffset getSymbolPath
getSystemVersion initialize is64bitSystem isDumpAnalyzing isKernelDebugging isVaRegionValid isValid isWindbgExt
loadAnsiString loadBytes loadCStr loadChars loadDWords loadDoubles loadDump loadFloats loadPtrList loadPtrs
loadQWords loadSignBytes loadSignDWords loadSignQWords loadSignWords loadTaggedBuffer loadUnicodeString loadWChars
loadWStr loadWords outputFlag pageSize ptrByte ptrDWord ptrDouble ptrFloat ptrMWord ptrPtr ptrQWord ptrSignByte
ptrSignDWord ptrSignMWord ptrSignQWord ptrSignWord ptrSize ptrWord reset_counts setByte setDWord setDouble setFP
setFloat setIP setPtr setQWord setReg setSP setSignByte setSignDWord setSignQWord setSignWord setSymbolPath setWord
sizeof systemVersion typeInfo typedVar typedVarArray typedVarList version writeBytes writeCStr writeDWords
writeDoubles writeFloats writeQWords writeSignBytes writeSignDWords writeSignQWords writeSignWords writeWStr
writeWords wrmsr
""".split()


def test_the_public_names_are_the_one_file_modules():
    public = set(name for name in dir(pykd) if not name.startswith("_"))
    # the package's private modules (_errors, _memory, ...) are attributes too, but not public ones
    assert public == set(SURFACE)
    assert set(pykd.__all__) == set(SURFACE) | {"__version__"}


def test_functions_name_the_package_as_their_module():
    functions = [getattr(pykd, name) for name in SURFACE if callable(getattr(pykd, name))
                 and not isinstance(getattr(pykd, name), type)]
    assert len(functions) == 99
    assert set(function.__module__ for function in functions) == {"dmfemu.pykd"}
    assert pykd.typedVar.__module__ == pykd.typeInfo.__module__ == "pykd.pykd"
