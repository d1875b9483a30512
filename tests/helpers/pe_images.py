"""A PE file mapped at a base address the way the loader maps it (headers, then each section at its
RVA), behind the Target protocol, so nt/pe.py reads a real .exe/.sys as it reads a dump's memory."""
import struct

from dmfkd.errors import MemoryReadError
from dmfkd.targets.base import Target


class MappedImage(Target):
    """`missing` lists page-aligned RVAs to report as not in the dump."""

    def __init__(self, path, base, missing=()):
        with open(path, "rb") as handle:
            data = handle.read()
        self.name = str(path)
        self.base = base
        lfanew = struct.unpack_from("<I", data, 0x3C)[0]
        count, optional_size = struct.unpack_from("<H", data, lfanew + 6)[0], struct.unpack_from("<H", data, lfanew + 0x14)[0]
        magic = struct.unpack_from("<H", data, lfanew + 0x18)[0]
        self.pointer_size = 8 if magic == 0x20B else 4
        self.arch = "x86" if self.pointer_size == 4 else "x64"
        size_of_image, headers_size = struct.unpack_from("<II", data, lfanew + 0x18 + 0x38)
        image = bytearray(size_of_image)
        image[:headers_size] = data[:headers_size]
        table = lfanew + 0x18 + optional_size
        for index in range(count):
            vsize, rva, raw_size, raw_offset = struct.unpack_from("<IIII", data, table + 40 * index + 8)
            chunk = data[raw_offset:raw_offset + min(raw_size, vsize)]
            image[rva:rva + len(chunk)] = chunk
        self.image = bytes(image)
        self.missing = {rva & ~0xFFF for rva in missing}

    def read(self, address, size):
        rva = address - self.base
        if rva < 0 or size < 0 or rva + size > len(self.image):
            raise MemoryReadError(address, size, reason="outside the image")
        for page in range(rva & ~0xFFF, rva + size, 0x1000):
            if page in self.missing:
                raise MemoryReadError(address, size, reason="page not in the dump")
        return self.image[rva:rva + size]
