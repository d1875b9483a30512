"""The exception classes of pykd 0.3.4.15 (pykd/dbgexcept.h registerExceptions; spec/pykd.md §6),
the HRESULTs dbgeng answers with, and the messages the real module builds from them.
"""

#: addresses are 64-bit in every pykd call and message, whatever the target's pointer size
MASK64 = (1 << 64) - 1


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


def memory_error(address: int, physical: bool = False) -> MemoryException:
    # kdlib MemoryException text: lower-case hex, no padding (spec/real-pykd-under-wine.md)
    return MemoryException("Memory exception at 0x%x target %s address"
                           % (address & MASK64, "physical" if physical else "virtual"))


def hresult_error(call: str, hresult: int) -> DbgException:
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
