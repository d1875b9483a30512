"""A kernel with a loaded-module list of our choosing, behind the Target protocol: PsLoadedModuleList
with one KLDR_DATA_TABLE_ENTRY per module, and per module a header page holding a minimal PE32+
image (DOS header, NT headers, the debug directory, a CodeView RSDS record) - written here from the
PE format itself, so nt/pe.py and nt/loaded_modules.py read it as they read a dump.

    target = ModuleListTarget([Module("dmfdemo", guid, 1, "dmfdemo.pdb"), Module("hal", None)])
"""
import struct
import uuid
from typing import NamedTuple, Optional

from dmfkd.errors import MemoryReadError
from dmfkd.layouts import debugger_data
from dmfkd.targets.base import Target

HEAD = 0xFFFFF80000100000
ENTRIES = 0xFFFFF80000200000
NAMES = 0xFFFFF80000300000
IMAGES = 0xFFFFF80010000000
IMAGE_STRIDE = 0x100000
PAGE = 0x1000

LFANEW = 0x80
DEBUG_RVA = 0x200
RECORD_RVA = 0x300


class Module(NamedTuple):
    name: str                           # the image's name without .sys ("dmfdemo")
    guid: Optional[uuid.UUID]           # None: no CodeView record in the image
    age: int = 1
    pdb_path: bytes = b""               # the CodeView path as stored (default: <name>.pdb)


def pe_header_page(module: Module, size_of_image: int = IMAGE_STRIDE) -> bytes:
    """One 4 KiB page: DOS header -> NT headers (PE32+, x64) -> debug directory -> RSDS record."""
    page = bytearray(PAGE)
    page[0:2] = b"MZ"
    struct.pack_into("<I", page, 0x3C, LFANEW)
    page[LFANEW:LFANEW + 4] = b"PE\0\0"
    # IMAGE_FILE_HEADER: Machine, NumberOfSections, TimeDateStamp, PointerToSymbolTable, NumberOfSymbols,
    # SizeOfOptionalHeader, Characteristics
    struct.pack_into("<HHIIIHH", page, LFANEW + 4, 0x8664, 0, 0x5F5E1000, 0, 0, 0xF0, 0x22)
    optional = LFANEW + 0x18
    struct.pack_into("<H", page, optional, 0x20B)
    struct.pack_into("<III", page, optional + 0x38, size_of_image, PAGE, 0x1234)   # SizeOfImage, headers, CheckSum
    struct.pack_into("<I", page, optional + 0x6C, 16)                              # NumberOfRvaAndSizes
    if module.guid is not None:
        path = module.pdb_path or (module.name + ".pdb").encode("ascii")
        record = b"RSDS" + module.guid.bytes_le + struct.pack("<I", module.age) + path + b"\0"
        struct.pack_into("<II", page, optional + 0x70 + 8 * 6, DEBUG_RVA, 28)
        # IMAGE_DEBUG_DIRECTORY: Characteristics, TimeDateStamp, Major, Minor, Type, SizeOfData, AddressOfRawData,
        # PointerToRawData
        struct.pack_into("<IIHHIIII", page, DEBUG_RVA, 0, 0, 0, 0, 2, len(record), RECORD_RVA, 0)
        page[RECORD_RVA:RECORD_RVA + len(record)] = record[:PAGE - RECORD_RVA]
    return bytes(page)


class ModuleListTarget(Target):
    """x64 kernel memory holding a module list; every page not written is not in the dump."""

    arch = "x64"
    pointer_size = 8

    def __init__(self, modules, name: str = "synthetic.dmp"):
        self.name = name
        self.pages = {}
        layout = debugger_data.kldr_data_table_entry("x64")
        self.bases = {}
        links = [ENTRIES + index * 0x200 for index in range(len(modules))]
        self._write(HEAD, struct.pack("<QQ", links[0] if links else HEAD, links[-1] if links else HEAD))
        for index, module in enumerate(modules):
            base = IMAGES + index * IMAGE_STRIDE
            self.bases[module.name] = base
            raw = (module.name + ".sys").encode("utf-16-le")
            name_at = NAMES + index * 0x100
            self._write(name_at, raw)
            values = {"InLoadOrderLinks.Flink": links[index + 1] if index + 1 < len(links) else HEAD,
                      "DllBase": base, "SizeOfImage": IMAGE_STRIDE, "TimeDateStamp": 0x5F5E1000,
                      "BaseDllName.Length": len(raw), "BaseDllName.MaximumLength": len(raw),
                      "BaseDllName.Buffer": name_at}
            self._write(links[index], layout.pack(values))
            self._write(base, pe_header_page(module))

    def dump_header(self):
        class Header:
            ps_loaded_module_list = HEAD
        return Header()

    def _write(self, address: int, data: bytes) -> None:
        for offset in range(0, len(data)):
            page = (address + offset) & ~(PAGE - 1)
            self.pages.setdefault(page, bytearray(PAGE))[(address + offset) - page] = data[offset]

    def read(self, address: int, size: int) -> bytes:
        out = bytearray()
        position = address
        while len(out) < size:
            page = position & ~(PAGE - 1)
            if page not in self.pages:
                raise MemoryReadError(address, size, reason="not in the dump")
            take = min(size - len(out), page + PAGE - position)
            out += self.pages[page][position - page:position - page + take]
            position += take
        return bytes(out)
