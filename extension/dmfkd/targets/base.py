"""The Target protocol every host adapter implements (ARCHITECTURE.md, "targets/").

A Target is read-only. Reads are bulk: callers ask for a whole structure or a whole ring in one
``read`` and parse it themselves; a read that cannot be satisfied raises MemoryReadError naming
the address, and the caller turns it into a visible "unreadable" value.
"""
import uuid
from typing import Callable, List, NamedTuple, Optional, Tuple

from dmfkd.errors import TagNotFoundError
from dmfkd.guids import guid_text, parse_guid


class TaggedBlob(NamedTuple):
    """One secondary-data blob, as `.enumtag` lists it, in file order (duplicates included)."""

    index: int                 # 0-based position in the region (file order)
    guid: uuid.UUID
    size: int                  # payload bytes present (may be < declared_size when truncated)
    declared_size: int         # DataSize from the blob header
    offset: Optional[int]      # file offset of the payload (None when the host cannot say, e.g. pykd)
    truncated: bool = False    # the payload runs past the end of the file

    @property
    def guid_text(self) -> str:
        return guid_text(self.guid)


class TriageDriver(NamedTuple):
    """One entry of a triage dump's driver list: what the kernel copied of a loaded module."""

    path: str                  # the image path as stored ("\\SystemRoot\\system32\\ntoskrnl.exe")
    base: int                  # DllBase
    size: int                  # SizeOfImage
    time_date_stamp: int
    checksum: int


class BugCheck(NamedTuple):
    code: int
    parameters: Tuple[int, int, int, int]


class DumpHeader(NamedTuple):
    """What a dump file's header says (targets that are dump files; None on a live target)."""

    path: str
    dump_type: int                   # 1 full, 4 triage, 5 / 6 bitmap
    dump_type_name: str
    arch: str
    build: int                       # MinorVersion (the Windows build)
    major_version: int
    processors: int
    system_time: int                 # FILETIME of the crash (or of the live dump)
    system_uptime: int               # 100 ns ticks
    directory_table_base: int
    kd_debugger_data_block: int
    ps_loaded_module_list: int
    ps_active_process_head: int
    pages: Optional[int]             # physical pages the dump holds (None for triage dumps)
    file_size: int
    required_dump_space: int
    attributes: Optional[int]        # DUMP_FILE_ATTRIBUTES; None when unwritten (the PAGE fill)
    attribute_names: Optional[List[str]]
    blob_region_offset: Optional[int]   # file offset of the secondary-data region; None when absent
    region_problem: Optional[str]    # why bytes after the primary data are not a blob region


class Target:
    """Base class documenting the protocol; hosts override what they support."""

    #: short human-readable name of the target (a file path, "pykd: <dump>", "emulator")
    name = "target"
    #: "x64", "x86" or "arm64"
    arch = "x64"
    #: 8 or 4
    pointer_size = 8
    #: True when memory is the running system (no secondary data, rings not yet reordered)
    is_live = False
    #: the dump file behind the target (None on a live target or when the host cannot say)
    path = None  # type: Optional[str]

    # -- symbols ------------------------------------------------------------------------------
    _symbols = None
    _symbols_loader = None  # type: Optional[Callable[[], object]]

    @property
    def symbols(self):
        """A dmfkd.targets.symbols.Symbols, or None when no symbol source is available. A source given
        with defer_symbols() is loaded here, on first use: commands that need no symbols (tags, info)
        never read - or fail on - a symbol file."""
        loader = self._symbols_loader
        if loader is not None:
            try:
                self._symbols = loader()
            except Exception as exc:
                # the same one-line error on every later use: a bad symbol file never turns into
                # "no symbols" for the code that asks next
                def fail(error=exc):
                    raise error
                self._symbols_loader = fail
                raise
            self._symbols_loader = None
        return self._symbols

    @symbols.setter
    def symbols(self, value) -> None:
        self._symbols_loader = None
        self._symbols = value

    def defer_symbols(self, loader: Callable[[], object]) -> None:
        """Load the symbols with `loader()` the first time `symbols` is read."""
        self._symbols_loader = loader

    # -- memory -------------------------------------------------------------------------------
    def read(self, address: int, size: int) -> bytes:
        """Read `size` bytes of kernel virtual memory, all or nothing (MemoryReadError)."""
        raise NotImplementedError

    def read_physical(self, address: int, size: int) -> bytes:
        raise NotImplementedError

    def read_pointer(self, address: int) -> int:
        raw = self.read(address, self.pointer_size)
        return int.from_bytes(raw, "little")

    def read_cstring(self, address: int, limit: int = 256) -> bytes:
        """Read a NUL-terminated byte string of at most `limit` bytes, tolerating a page end."""
        data = b""
        while len(data) < limit:
            chunk_len = min(limit - len(data), 0x1000 - ((address + len(data)) & 0xFFF))
            chunk = self.read(address + len(data), chunk_len)
            nul = chunk.find(b"\0")
            if nul >= 0:
                return data + chunk[:nul]
            data += chunk
        return data

    # -- secondary data -----------------------------------------------------------------------
    def tagged(self) -> List[TaggedBlob]:
        """Every secondary-data blob in file order; [] when the target has none."""
        return []

    def read_tagged(self, guid) -> bytes:
        """Payload of the FIRST blob with this GUID, like IDebugDataSpaces3::ReadTagged."""
        wanted = parse_guid(guid)
        for blob in self.tagged():
            if blob.guid == wanted:
                return self.read_blob(blob)
        raise TagNotFoundError("%s: no secondary data tagged %s" % (self.name, guid_text(wanted)))

    def read_blob(self, blob: TaggedBlob) -> bytes:
        raise NotImplementedError

    # -- crash facts --------------------------------------------------------------------------
    def bugcheck(self) -> Optional[BugCheck]:
        return None

    # -- dump-file facts (the host's, behind the protocol: readers never open files) -----------
    def dump_header(self) -> Optional[DumpHeader]:
        """The dump file's header facts; None on a live target."""
        return None

    def triage_data_blocks(self) -> Optional[List[Tuple[int, int]]]:
        """(VA, size) of a triage dump's data blocks in file order (the order they were added);
        None when the target is not a triage dump."""
        return None

    def triage_drivers(self) -> Optional[List[TriageDriver]]:
        """A triage dump's own driver list; None when the target has none (nt/loaded_modules.py
        then walks PsLoadedModuleList in memory)."""
        return None

    def close(self) -> None:
        pass
