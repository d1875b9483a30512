"""Memory reads (spec/pykd.md §2; kdlib memaccess.cpp): load*/ptr*/isValid/compareMemory with the
real module's argument types, return types and all-or-nothing failures (a block read is validated
as a whole and fails with MemoryException naming its start address).
"""
import struct

from dmfkd.layouts.windows import PAGE_SIZE

from dmfemu.pykd._errors import DbgException, memory_error, MemoryException
from dmfemu.pykd._session import (address64, check_uint, counted, load_array, pointer_size, read_physical,
                                  read_virtual, to_address)


_MAX_CSTR = 0x10000          # kdlib loadCStr/loadWStr maxLength
MAX_LIST_ITEMS = 1 << 20    # bound for loadPtrList/typedVarList on a cyclic list


def _unpack_list(fmt: str, data: bytes, size: int) -> list:
    return list(struct.unpack("<%d%s" % (len(data) // size, fmt), data))


@counted
def loadBytes(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of unsigned bytes"""
    return list(load_array("loadBytes", offset, count, phyAddr, 1))


@counted
def loadWords(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of unsigned shorts"""
    return _unpack_list("H", load_array("loadWords", offset, count, phyAddr, 2), 2)


@counted
def loadDWords(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of unsigned long ( double word )"""
    return _unpack_list("I", load_array("loadDWords", offset, count, phyAddr, 4), 4)


@counted
def loadQWords(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of unsigned long long ( quad word )"""
    return _unpack_list("Q", load_array("loadQWords", offset, count, phyAddr, 8), 8)


@counted
def loadSignBytes(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of signed bytes"""
    return _unpack_list("b", load_array("loadSignBytes", offset, count, phyAddr, 1), 1)


@counted
def loadSignWords(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of signed words"""
    return _unpack_list("h", load_array("loadSignWords", offset, count, phyAddr, 2), 2)


@counted
def loadSignDWords(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of signed longs"""
    return _unpack_list("i", load_array("loadSignDWords", offset, count, phyAddr, 4), 4)


@counted
def loadSignQWords(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of signed long longs"""
    return _unpack_list("q", load_array("loadSignQWords", offset, count, phyAddr, 8), 8)


@counted
def loadFloats(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of floats"""
    return _unpack_list("f", load_array("loadFloats", offset, count, phyAddr, 4), 4)


@counted
def loadDoubles(offset, count, phyAddr=False):
    """Read the block of the target's memory and return it as list of doubles"""
    return _unpack_list("d", load_array("loadDoubles", offset, count, phyAddr, 8), 8)


@counted
def loadChars(address, count, phyAddr=False):
    """Load string from target memory"""
    # boost.python converts std::string with strict UTF-8: non-UTF-8 bytes raise UnicodeDecodeError
    return load_array("loadChars", address, count, phyAddr, 1).decode("utf-8")


@counted
def loadWChars(address, count, phyAddr=False):
    """Load string from target memory"""
    return load_array("loadWChars", address, count, phyAddr, 2).decode("utf-16-le", "surrogatepass")


def _load_terminated(offset: int, unit: int) -> bytes:
    """kdlib loadCStr/loadWStr: a string of at most 0x10000 bytes read up to its terminator;
    a fault before the terminator (or no terminator within the limit) -> MemoryException."""
    start = address64(offset)
    data = b""
    while len(data) < _MAX_CSTR:
        here = start + len(data)
        chunk = read_virtual(here, min(PAGE_SIZE - (here & (PAGE_SIZE - 1)), _MAX_CSTR - len(data)), report=start)
        data += chunk
        for pos in range(0, len(data) - unit + 1, unit):
            if data[pos:pos + unit] == b"\0" * unit:
                return data[:pos]
    raise memory_error(start)


@counted
def loadCStr(offset):
    """Load string from the target buffer containing 0-terminated ansi-string"""
    return _load_terminated(to_address("loadCStr", offset), 1).decode("utf-8")


@counted
def loadWStr(offset):
    """Load string from the target buffer containing 0-terminated unicode-string"""
    return _load_terminated(to_address("loadWStr", offset), 2).decode("utf-16-le", "surrogatepass")


def _counted_string(offset: int, unit: int) -> bytes:
    # UNICODE_STRING / ANSI_STRING: USHORT Length, USHORT MaximumLength, (pad), PVOID Buffer
    psize = pointer_size()
    header = read_virtual(address64(offset), 4 + (psize if psize == 4 else 12))
    length = struct.unpack_from("<H", header, 0)[0]
    buffer = struct.unpack_from("<I" if psize == 4 else "<Q", header, 4 if psize == 4 else 8)[0]
    if length == 0:
        return b""
    return read_virtual(address64(buffer), length - length % unit)


@counted
def loadUnicodeString(offset):
    """Return string represention of windows UNICODE_STRING type"""
    return _counted_string(to_address("loadUnicodeString", offset), 2).decode("utf-16-le", "surrogatepass")


@counted
def loadAnsiString(offset):
    """Return string represention of windows ANSI_STRING type"""
    return _counted_string(to_address("loadAnsiString", offset), 1).decode("utf-8")


def _read_scalar(func: str, offset, fmt: str, size: int):
    address = address64(to_address(func, offset))
    return struct.unpack("<" + fmt, read_virtual(address, size))[0]


@counted
def ptrByte(offset):
    """Read an unsigned 1-byte integer from the target memory"""
    return _read_scalar("ptrByte", offset, "B", 1)


@counted
def ptrWord(offset):
    """Read an unsigned 2-byte integer from the target memory"""
    return _read_scalar("ptrWord", offset, "H", 2)


@counted
def ptrDWord(offset):
    """Read an unsigned 4-byte integer from the target memory"""
    return _read_scalar("ptrDWord", offset, "I", 4)


@counted
def ptrQWord(offset):
    """Read an unsigned 8-byte integer from the target memory"""
    return _read_scalar("ptrQWord", offset, "Q", 8)


@counted
def ptrMWord(offset):
    """Read an unsigned mashine's word wide integer from the target memory"""
    if pointer_size() == 8:
        return _read_scalar("ptrMWord", offset, "Q", 8)
    return _read_scalar("ptrMWord", offset, "I", 4)


@counted
def ptrSignByte(offset):
    """Read an signed 1-byte integer from the target memory"""
    return _read_scalar("ptrSignByte", offset, "b", 1)


@counted
def ptrSignWord(offset):
    """Read an signed 2-byte integer from the target memory"""
    return _read_scalar("ptrSignWord", offset, "h", 2)


@counted
def ptrSignDWord(offset):
    """Read an signed 4-byte integer from the target memory"""
    return _read_scalar("ptrSignDWord", offset, "i", 4)


@counted
def ptrSignQWord(offset):
    """Read an signed 8-byte integer from the target memory"""
    return _read_scalar("ptrSignQWord", offset, "q", 8)


@counted
def ptrSignMWord(offset):
    """Read an signed mashine's word wide integer from the target memory"""
    if pointer_size() == 8:
        return _read_scalar("ptrSignMWord", offset, "q", 8)
    return _read_scalar("ptrSignMWord", offset, "i", 4)


@counted
def ptrFloat(offset):
    """Read a float with single precision from the target memory"""
    return _read_scalar("ptrFloat", offset, "f", 4)


@counted
def ptrDouble(offset):
    """Read a float with single precision from the target memory"""
    return _read_scalar("ptrDouble", offset, "d", 8)


def pointer_at(address: int) -> int:
    # kdlib ptrPtr: a 32-bit pointer comes back sign-extended by addr64
    if pointer_size() == 8:
        return struct.unpack("<Q", read_virtual(address, 8))[0]
    return address64(struct.unpack("<I", read_virtual(address, 4))[0])


@counted
def ptrPtr(offset):
    """Read an pointer value from the target memory"""
    return pointer_at(address64(to_address("ptrPtr", offset)))


@counted
def loadPtrs(offset, count):
    """Read the block of the target's memory and return it as a list of pointers"""
    address = address64(to_address("loadPtrs", offset))
    count = check_uint("loadPtrs", count, 32)
    psize = pointer_size()
    if count == 0:
        raise memory_error(address)
    data = read_virtual(address, count * psize)
    values = _unpack_list("Q" if psize == 8 else "I", data, psize)
    return values if psize == 8 else [address64(v) for v in values]


@counted
def loadPtrList(offset):
    """Return list of pointers, each points to next"""
    head = address64(to_address("loadPtrList", offset))
    out = []
    seen = set()
    entry = pointer_at(head)
    while entry != head and entry != 0:
        if entry in seen or len(out) >= MAX_LIST_ITEMS:
            # the real loop would spin forever on a cycle that misses the head
            raise DbgException("loadPtrList: list at 0x%x does not return to its head" % head)
        seen.add(entry)
        out.append(entry)
        entry = pointer_at(entry)
    return out


def _region_valid(address: int, length: int) -> bool:
    if length == 0 or length > 0xFFFFFFFF:
        return False
    try:
        read_virtual(address, length)
    except MemoryException:
        return False
    return True


@counted
def isValid(offset):
    """Check if the virtual address is valid"""
    return _region_valid(address64(to_address("isValid", offset)), 1)


@counted
def isVaRegionValid(offset, length):
    """Check if the virtaul addresses region is valid"""
    return _region_valid(to_address("isVaRegionValid", offset), check_uint("isVaRegionValid", length))


@counted
def compareMemory(offset1, offset2, length, phyAddr=False):
    """Compare two memory buffers by virtual or physical addresses"""
    length = check_uint("compareMemory", length, 32)
    read = read_physical if phyAddr else read_virtual
    a = read(to_address("compareMemory", offset1) if phyAddr else address64(to_address("compareMemory", offset1)),
             length)
    b = read(to_address("compareMemory", offset2) if phyAddr else address64(to_address("compareMemory", offset2)),
             length)
    return a == b


@counted
def addr64(offset):
    """Extend address to 64 bits formats"""
    return address64(to_address("addr64", offset))
