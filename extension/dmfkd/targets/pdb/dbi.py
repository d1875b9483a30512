"""The DBI stream: the machine type, the global/public symbol streams, one entry per module
(object file) with its symbol stream, and - through the optional debug header - the image's
section headers, which turn a symbol's section:offset into an RVA.

    header (64 bytes): i32 VersionSignature (-1), u32 VersionHeader, u32 Age, u16 GlobalStreamIndex,
        u16 BuildNumber, u16 PublicStreamIndex, u16 PdbDllVersion, u16 SymRecordStream, u16 PdbDllRbld,
        i32 ModInfoSize, SectionContributionSize, SectionMapSize, SourceInfoSize, TypeServerMapSize,
        u32 MFCTypeServerIndex, i32 OptionalDbgHeaderSize, ECSubstreamSize, u16 Flags, u16 Machine, u32 pad
    then the substreams in that order: module infos, section contributions, section map, source
    info, type server map, EC names, optional debug header (u16 stream numbers; [5] = section headers).

Section contributions, the section map and source info are not needed and not read.
"""
import struct
from typing import List, NamedTuple, Optional

from dmfkd.errors import FormatError

DBI_HEADER = struct.Struct("<iIIHHHHHHiiiiiIiiHHI")
MODULE_INFO_FIXED = struct.Struct("<I HHiIIHHII HH IIIHHIII")
SECTION_HEADER = struct.Struct("<8sIIIIIIHHI")
NO_STREAM = 0xFFFF
DEBUG_STREAM_SECTION_HEADERS = 5
DEBUG_STREAM_OMAP_FROM_SOURCE = 4
MACHINES = {0x8664: "x64", 0x14C: "x86", 0xAA64: "arm64"}
MAX_MODULES = 1 << 16               # module indexes are u16 in S_PROCREF
MAX_DEBUG_STREAMS = 16
MAX_SECTIONS = 0xFFFF               # IMAGE_FILE_HEADER.NumberOfSections is a u16


class ModuleInfo(NamedTuple):
    index: int                       # 0-based; S_PROCREF's module number is index + 1
    name: str
    object_file: str
    symbol_stream: Optional[int]     # None: the module has no symbols
    symbol_bytes: int                # symbols occupy [4, symbol_bytes) of the stream


class SectionHeader(NamedTuple):
    name: str
    virtual_address: int
    virtual_size: int


class DbiStream:
    def __init__(self, data: bytes, source: str, file_offset=None):
        self.source = source
        self._file_offset = file_offset or (lambda position: None)
        if len(data) < DBI_HEADER.size:
            raise self._error("DBI stream cut short (%d bytes, header is %d)" % (len(data), DBI_HEADER.size), 0)
        (signature, version, age, global_stream, _build, public_stream, _dll, symbol_records, _rbld,
         module_bytes, contribution_bytes, section_map_bytes, source_bytes, type_server_bytes, _mfc,
         debug_header_bytes, ec_bytes, _flags, machine, _pad) = DBI_HEADER.unpack_from(data, 0)
        if signature != -1:
            raise self._error("DBI stream of a pre-2000 PDB (no version signature): not supported", 0)
        sizes = (module_bytes, contribution_bytes, section_map_bytes, source_bytes, type_server_bytes, ec_bytes,
                 debug_header_bytes)
        if any(size < 0 for size in sizes) or DBI_HEADER.size + sum(sizes) > len(data):
            raise self._error("DBI substream sizes %s run past the %d-byte stream"
                              % ("/".join(map(str, sizes)), len(data)), 0x18)
        self.version = version
        self.age = age
        self.machine = machine
        self.arch = MACHINES.get(machine)
        self.global_stream = None if global_stream == NO_STREAM else global_stream
        self.public_stream = None if public_stream == NO_STREAM else public_stream
        self.symbol_record_stream = None if symbol_records == NO_STREAM else symbol_records
        start = DBI_HEADER.size
        self.modules = self._parse_modules(data, start, start + module_bytes)
        debug_start = DBI_HEADER.size + sum(sizes[:6])
        # eleven stream numbers are defined; more would be another format's, and are not needed
        count = min(debug_header_bytes // 2, MAX_DEBUG_STREAMS)
        self.debug_streams = list(struct.unpack_from("<%dH" % count, data, debug_start))

    def _error(self, what: str, position: Optional[int]) -> FormatError:
        return FormatError(self.source, what, None if position is None else self._file_offset(position))

    def _parse_modules(self, data: bytes, pos: int, end: int) -> List[ModuleInfo]:
        modules = []  # type: List[ModuleInfo]
        while pos < end:
            if len(modules) >= MAX_MODULES:
                raise self._error("more than %d modules in the DBI stream" % MAX_MODULES, pos)
            if pos + MODULE_INFO_FIXED.size > end:
                raise self._error("DBI module %d cut short" % len(modules), pos)
            fields = MODULE_INFO_FIXED.unpack_from(data, pos)
            stream, symbol_bytes = fields[11], fields[12]
            names = []
            cursor = pos + MODULE_INFO_FIXED.size
            for _ in range(2):
                stop = data.find(b"\0", cursor, end)
                if stop < 0:
                    raise self._error("DBI module %d: name runs past the module list" % len(modules), cursor)
                names.append(data[cursor:stop].decode("utf-8", "replace"))
                cursor = stop + 1
            if stream == NO_STREAM or symbol_bytes < 4:
                symbol_stream = None
            else:
                symbol_stream = stream
            modules.append(ModuleInfo(len(modules), names[0], names[1], symbol_stream, symbol_bytes))
            pos = (cursor + 3) & ~3
        return modules

    def debug_stream(self, which: int) -> Optional[int]:
        if which < len(self.debug_streams) and self.debug_streams[which] != NO_STREAM:
            return self.debug_streams[which]
        return None


def parse_section_headers(data: bytes) -> List[SectionHeader]:
    """IMAGE_SECTION_HEADERs (40 bytes each) as the linker copied them into the PDB."""
    out = []
    count = min(len(data) // SECTION_HEADER.size, MAX_SECTIONS)
    for pos in range(0, count * SECTION_HEADER.size, SECTION_HEADER.size):
        name, virtual_size, virtual_address = SECTION_HEADER.unpack_from(data, pos)[:3]
        out.append(SectionHeader(name.rstrip(b"\0").decode("ascii", "replace"), virtual_address, virtual_size))
    return out
