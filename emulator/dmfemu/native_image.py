"""A built native image of an emulated driver (a PE file made by dmfemu.native_build), read back so
the driver can map it: ``NativeImage.load(path)`` parses the PE headers, sections and the CodeView
(RSDS) record naming its PDB; ``install(...)`` writes the headers and the linker's own sections into
the driver's image region in emulated memory (dmfemu.driver does this for ``Driver(native_image=...)``).
TimeDateStamp / CheckSum are patched to the values dmfemu.kernel puts in the loaded-module entry, so
dbgeng matches the module with its PDB; the emulator's own code and data are never overwritten.
"""
import os
import struct
from typing import NamedTuple, Optional

from dmfkd.errors import DmfkdError

MACHINE = {0x8664: "x64", 0x14C: "x86", 0xAA64: "arm64"}
IMAGE_DEBUG_TYPE_CODEVIEW = 2


class NativeBuildError(DmfkdError):
    """The native image could not be built or used (tools missing, compile/link failure, misplaced
    symbol, not a PE image of this driver)."""


class Section(NamedTuple):
    name: str
    rva: int
    virtual_size: int
    data: bytes


class CodeViewRecord(NamedTuple):
    guid: str                   # the PDB signature as dbgeng prints it (uppercase, no braces)
    age: int
    pdb_name: str


class NativeImage(object):
    """A PE file read back: what the driver hook copies into emulated memory."""

    def __init__(self, path: str, data: bytes):
        self.path = path
        self.module = os.path.splitext(os.path.basename(path))[0]
        if data[:2] != b"MZ" or len(data) < 0x40:
            raise NativeBuildError("%s: not a PE image (no MZ)" % path)
        pe = struct.unpack_from("<I", data, 0x3C)[0]
        if pe + 0x18 > len(data) or data[pe:pe + 4] != b"PE\0\0":
            raise NativeBuildError("%s: not a PE image (no PE signature)" % path)
        machine, count, self.timestamp = struct.unpack_from("<HHI", data, pe + 4)
        optional_size = struct.unpack_from("<H", data, pe + 0x14)[0]
        if machine not in MACHINE:
            raise NativeBuildError("%s: machine 0x%x is not x64, x86 or ARM64" % (path, machine))
        self.arch = MACHINE[machine]
        self.optional = pe + 0x18
        magic = struct.unpack_from("<H", data, self.optional)[0]
        self.size_of_image, self.size_of_headers, self.checksum = struct.unpack_from("<III", data,
                                                                                     self.optional + 0x38)
        directories = self.optional + (0x70 if magic == 0x20B else 0x60)
        self.debug_directory = struct.unpack_from("<II", data, directories + 6 * 8)
        self.headers = data[:self.size_of_headers]
        self.sections = []  # type: List[Section]
        table = self.optional + optional_size
        for index in range(count):
            name, vsize, rva, raw_size, raw_offset = struct.unpack_from("<8sIIII", data, table + 40 * index)
            raw = data[raw_offset:raw_offset + min(raw_size, vsize)]
            self.sections.append(Section(name.rstrip(b"\0").decode("ascii", "replace"), rva, vsize, raw))
        self.codeview = self._codeview()

    @classmethod
    def load(cls, path: str) -> "NativeImage":
        with open(path, "rb") as handle:
            return cls(path, handle.read())

    def read_rva(self, rva: int, size: int) -> bytes:
        if rva + size <= len(self.headers):
            return self.headers[rva:rva + size]
        for section in self.sections:
            if section.rva <= rva and rva + size <= section.rva + max(section.virtual_size, len(section.data)):
                chunk = section.data[rva - section.rva:rva - section.rva + size]
                return chunk + bytes(size - len(chunk))
        raise NativeBuildError("%s: RVA 0x%x is in no section" % (self.path, rva))

    def _codeview(self) -> Optional[CodeViewRecord]:
        rva, size = self.debug_directory
        for offset in range(0, size - size % 28, 28):
            _, _, _, _, kind, data_size, data_rva, _ = struct.unpack_from("<IIHHIIII", self.read_rva(rva + offset, 28))
            if kind != IMAGE_DEBUG_TYPE_CODEVIEW:
                continue
            record = self.read_rva(data_rva, data_size)
            if record[:4] != b"RSDS":
                continue
            d1, d2, d3 = struct.unpack_from("<IHH", record, 4)
            guid = "%08X%04X%04X%s" % (d1, d2, d3, record[12:20].hex().upper())
            age = struct.unpack_from("<I", record, 20)[0]
            return CodeViewRecord(guid, age, record[24:].split(b"\0", 1)[0].decode("ascii", "replace"))
        return None

    def install(self, space, base: int, mapped_size: int, keep_below: int, timestamp: int, checksum: int) -> None:
        """Write the PE headers and the sections at RVA >= keep_below into the image mapped at `base`.
        TimeDateStamp / CheckSum are patched to what the loaded-module entry says (dbgeng compares
        them), SizeOfImage to the mapped size; below keep_below the emulator's bytes stay."""
        if self.size_of_image > mapped_size:
            raise NativeBuildError("%s: SizeOfImage 0x%x > mapped 0x%x" % (self.path, self.size_of_image, mapped_size))
        headers = bytearray(self.headers)
        pe = struct.unpack_from("<I", headers, 0x3C)[0]
        struct.pack_into("<I", headers, pe + 8, timestamp)
        struct.pack_into("<I", headers, self.optional + 0x38, mapped_size)
        struct.pack_into("<I", headers, self.optional + 0x40, checksum)
        space.write(base, bytes(headers))
        for section in self.sections:
            if section.rva < keep_below:
                continue
            if section.data:
                space.write(base + section.rva, section.data)

    def __repr__(self) -> str:
        return "NativeImage(%r, %s, SizeOfImage=0x%x, %s)" % (self.path, self.arch, self.size_of_image,
                                                              self.codeview)
