"""A loaded PE image read through the Target protocol: machine, SizeOfImage, TimeDateStamp,
CheckSum, and the CodeView (RSDS) record of its debug directory - the PDB's GUID, age and path,
which is how a symbol path finds the PDB that belongs to the image.

    DOS header: "MZ" ... u32 e_lfanew @0x3C
    NT headers: "PE\\0\\0", IMAGE_FILE_HEADER (20 bytes: u16 Machine, u16 NumberOfSections,
        u32 TimeDateStamp, ..., u16 SizeOfOptionalHeader), optional header (PE32 0x10B / PE32+ 0x20B)
        with SizeOfImage, CheckSum, NumberOfRvaAndSizes and the data directories ([6] = debug)
    IMAGE_DEBUG_DIRECTORY (28 bytes): ..., u32 Type (2 = CodeView), u32 SizeOfData,
        u32 AddressOfRawData (an RVA), u32 PointerToRawData
    RSDS record: "RSDS", GUID (16 bytes), u32 Age, the PDB path (NUL-terminated)

Memory is hostile and may be missing: every field is bounded before it is used, and a page the dump
does not hold is reported as "not in dump" in the result, never raised. Nothing here prints.
"""
import struct
import uuid
from typing import NamedTuple, Optional

from dmfkd.errors import MemoryReadError

IMAGE_DOS_SIGNATURE = b"MZ"
IMAGE_NT_SIGNATURE = b"PE\0\0"
PE32_MAGIC = 0x10B
PE32_PLUS_MAGIC = 0x20B
IMAGE_DIRECTORY_ENTRY_DEBUG = 6
IMAGE_DEBUG_TYPE_CODEVIEW = 2
DEBUG_DIRECTORY_SIZE = 28
RSDS = b"RSDS"
MACHINES = {0x8664: "x64", 0x14C: "x86", 0xAA64: "arm64", 0x1C4: "arm"}

MAX_LFANEW = 0x10000            # e_lfanew past this is not a header a loader accepted
MAX_DEBUG_ENTRIES = 32
MAX_CODEVIEW_SIZE = 24 + 1024   # RSDS + GUID + age + a path (MAX_PATH is 260; allow long paths)
MAX_IMAGE_SIZE = 1 << 31

# result states
OK = "ok"
NOT_IN_DUMP = "not in dump"
NO_CODEVIEW = "no CodeView record"


class CodeView(NamedTuple):
    guid: uuid.UUID
    age: int
    #: the PDB path as the linker wrote it, for display (control characters shown as '?')
    path: str
    #: the same bytes as stored (hostile: symbol_path.pdb_file_name checks them before any lookup)
    raw_path: bytes = b""


class ImageInfo(NamedTuple):
    base: int
    #: OK, NOT_IN_DUMP (the header page is missing) or "not a PE image (...)"
    headers: str
    machine: Optional[int] = None
    arch: Optional[str] = None
    size_of_image: Optional[int] = None
    time_date_stamp: Optional[int] = None
    checksum: Optional[int] = None
    #: OK (codeview is set), NOT_IN_DUMP, NO_CODEVIEW, or a one-line reason the record is unusable
    codeview_status: str = NO_CODEVIEW
    codeview: Optional[CodeView] = None


def _read(target, address: int, size: int) -> Optional[bytes]:
    try:
        data = target.read(address, size)
    except MemoryReadError:
        return None
    return data if len(data) == size else None


def read_image(target, base: int, expected_size: Optional[int] = None) -> ImageInfo:
    """The headers and CodeView record of the image loaded at `base`. `expected_size` (the loader
    entry's SizeOfImage) bounds RVAs when the header's own SizeOfImage is not believable."""
    dos = _read(target, base, 0x40)
    if dos is None:
        return ImageInfo(base, NOT_IN_DUMP)
    if dos[:2] != IMAGE_DOS_SIGNATURE:
        return ImageInfo(base, "not a PE image (no MZ signature)")
    lfanew = struct.unpack_from("<I", dos, 0x3C)[0]
    if lfanew < 0x40 or lfanew > MAX_LFANEW:
        return ImageInfo(base, "not a PE image (e_lfanew 0x%x)" % lfanew)
    nt = _read(target, base + lfanew, 0x18 + 2)
    if nt is None:
        return ImageInfo(base, NOT_IN_DUMP)
    if nt[:4] != IMAGE_NT_SIGNATURE:
        return ImageInfo(base, "not a PE image (no PE signature)")
    machine, _sections, time_date_stamp, _, _, optional_size, _ = struct.unpack_from("<HHIIIHH", nt, 4)
    magic = struct.unpack_from("<H", nt, 0x18)[0]
    if magic not in (PE32_MAGIC, PE32_PLUS_MAGIC):
        return ImageInfo(base, "not a PE image (optional header magic 0x%x)" % magic, machine,
                         MACHINES.get(machine), time_date_stamp=time_date_stamp)
    directories_at = 0x60 if magic == PE32_MAGIC else 0x70
    needed = directories_at + 8 * (IMAGE_DIRECTORY_ENTRY_DEBUG + 1)
    optional = _read(target, base + lfanew + 0x18, needed)
    if optional is None:
        return ImageInfo(base, NOT_IN_DUMP, machine, MACHINES.get(machine), time_date_stamp=time_date_stamp)
    size_of_image, _headers_size, checksum = struct.unpack_from("<III", optional, 0x38)
    directory_count = struct.unpack_from("<I", optional, directories_at - 4)[0]
    info = ImageInfo(base, OK, machine, MACHINES.get(machine), size_of_image, time_date_stamp, checksum)
    if optional_size < needed or directory_count <= IMAGE_DIRECTORY_ENTRY_DEBUG:
        return info
    debug_rva, debug_size = struct.unpack_from("<II", optional, directories_at + 8 * IMAGE_DIRECTORY_ENTRY_DEBUG)
    limit = size_of_image if 0 < size_of_image <= MAX_IMAGE_SIZE else (expected_size or MAX_IMAGE_SIZE)
    if not debug_rva or not debug_size:
        return info
    if debug_rva >= limit or debug_size > limit - debug_rva:
        return info._replace(codeview_status="debug directory at RVA 0x%x (%d bytes) lies outside the image"
                             % (debug_rva, debug_size))
    entries = min(debug_size // DEBUG_DIRECTORY_SIZE, MAX_DEBUG_ENTRIES)
    table = _read(target, base + debug_rva, entries * DEBUG_DIRECTORY_SIZE)
    if table is None:
        return info._replace(codeview_status=NOT_IN_DUMP)
    status = NO_CODEVIEW
    for index in range(entries):
        kind, data_size, data_rva = struct.unpack_from("<III", table, index * DEBUG_DIRECTORY_SIZE + 12)
        if kind != IMAGE_DEBUG_TYPE_CODEVIEW:
            continue
        if data_size < 24 or data_size > MAX_CODEVIEW_SIZE:
            status = "CodeView record of %d bytes is not an RSDS record" % data_size
            continue
        if not data_rva or data_rva >= limit or data_size > limit - data_rva:
            status = "CodeView record at RVA 0x%x is not mapped in the image" % data_rva
            continue
        record = _read(target, base + data_rva, data_size)
        if record is None:
            status = NOT_IN_DUMP
            continue
        parsed = parse_rsds(record)
        if parsed is None:
            status = "CodeView record is %r, not RSDS (an old NB10 record?)" % record[:4]
            continue
        return info._replace(codeview_status=OK, codeview=parsed)
    return info._replace(codeview_status=status)


_CONTROL = {code: "?" for code in list(range(0x20)) + [0x7F]}


def parse_rsds(record: bytes) -> Optional[CodeView]:
    """GUID, age and path of an RSDS record; None when it is not one."""
    if len(record) < 24 or record[:4] != RSDS:
        return None
    guid = uuid.UUID(bytes_le=bytes(record[4:20]))
    age = struct.unpack_from("<I", record, 20)[0]
    raw = bytes(record[24:]).split(b"\0", 1)[0]
    # shown to the user: decoded leniently, control characters made visible; symbol_path rejects
    # anything that is not a plain file name before it is used as one
    return CodeView(guid, age, raw.decode("utf-8", "replace").translate(_CONTROL), raw)


def guid_age_text(guid: uuid.UUID, age: int) -> str:
    """The symbol-store key of a PDB: GUID as 32 upper-case hex digits, then the age in hex."""
    return "%s%X" % (guid_hex(guid), age)


def guid_hex(guid: uuid.UUID) -> str:
    """A GUID as Windows prints it in a symbol store path: Data1-Data4 upper-case, no dashes."""
    return str(guid).replace("-", "").upper()
