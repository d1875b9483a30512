"""The debugger host: a Target over whatever pykd is attached to (WinDbg, or standalone dbgeng).

This is the ONLY dmfkd module that imports pykd, and it does so inside functions, so importing
dmfkd never needs pykd (ARCHITECTURE.md). Rules kept here (spec/pykd.md §2, §5, §6, §9):
- one ``loadBytes`` per request, converted once with ``bytes()``; never per-item ``ptr*`` loops;
- every engine call is wrapped: a pykd exception becomes a DmfkdError with one clear line
  (MemoryException -> MemoryReadError, so commands show "unreadable" and go on);
- GUIDs are handed to pykd bare and lower-case (braces make UuidFromString fail);
- output inside WinDbg goes through ``dprint(text, dml=True)`` (DbgOut is "ascii", so the text is
  made ASCII-safe first by dmfkd.render.Output).

How ``tagged()`` fills ``TaggedBlob.size`` - pykd's enumTagged returns GUIDs only:
1. the first block of each GUID: ``len(loadTaggedBuffer(guid))``. The buffer is kept, so a later
   ``read_tagged``/``read_blob`` costs no engine call. A zero-size block makes dbgeng's ReadTagged
   fail with HRESULT 0x80070057 (spec/real-pykd-under-wine.md): it is reported as size 0, b"";
2. later blocks with a GUID already seen (ReadTagged only ever returns the first one,
   spec/dump-format.md §3.3): their size is taken from the block headers of one
   ``dbgCommand(".enumtag")`` when that output lists exactly the blocks enumTagged listed, in
   order; otherwise it is unknown and ``size``/``declared_size`` are None. Their bytes are never
   readable through the engine: ``read_blob`` raises TagNotFoundError saying so.
Sizes are filled when ``tagged()`` is first called (not at construction), then cached.
"""
import os
import re
import uuid
from typing import List, Optional, Tuple

from dmfkd.errors import DmfkdError, FormatError, MemoryReadError, SymbolError, TagNotFoundError, UsageError
from dmfkd.guids import guid_text, parse_guid
from dmfkd.render import Output, ascii_safe
from dmfkd.targets.base import BugCheck, TaggedBlob, Target
from dmfkd.targets.symbols import Field, Symbols, TypeLayout

# loadBytes takes an unsigned long count (pykd/pymod.cpp, kdlib memaccess.cpp)
_MAX_ENGINE_READ = 0xFFFFFFFF

# HRESULTs dbgeng answers ReadTagged with (spec/real-pykd-under-wine.md)
_HRESULT_ZERO_SIZE = "0x80070057"
_HRESULT_NO_SUCH_TAG = "0x80004002"

# `.enumtag` block header: {XXXXXXXX-XXXX-XXXX-XXXXXXXXXXXXXXXX} - 0x200 bytes (last hyphen missing)
_ENUMTAG_HEADER = re.compile(r"^\{([0-9A-Fa-f]{8})-([0-9A-Fa-f]{4})-([0-9A-Fa-f]{4})-?([0-9A-Fa-f]{4})-?"
                             r"([0-9A-Fa-f]{12})\}\s+-\s+0x([0-9A-Fa-f]+)\s+bytes\s*$")
# `||`: ".  0 64-bit Kernel bitmap dump: F:\dumps\MEMORY.DMP" ("." current, "#" last event, " " other)
_SYSTEM_LINE = re.compile(r"^\.?\s*\d+\s.*?dump:\s*(.+?)\s*$", re.IGNORECASE)
# `x pattern`: "fffff800`12345678 dmfdemo!g_DmfModuleCrashDump = <no type information>", or with a
# value / a function prototype after the name; 32-bit targets print 8 hex digits without the backtick
_X_LINE = re.compile(r"^\s*([0-9A-Fa-f]{8}(?:`?[0-9A-Fa-f]{8})?)\s+(\S+!\S+)")


def _import_pykd():
    import pykd  # noqa: the one and only pykd import of dmfkd

    return pykd


def _first_line(exc: BaseException) -> str:
    """pykd messages are 'Call X failed\\nHRESULT 0x...': keep both parts on one line."""
    return " ".join(part.strip() for part in str(exc).splitlines() if part.strip()) or type(exc).__name__


def pykd_available() -> bool:
    """True when pykd imports AND the debugger has a target (a dump or a kernel session)."""
    try:
        pykd = _import_pykd()
    except ImportError:
        return False
    try:
        if pykd.isDumpAnalyzing() or pykd.isKernelDebugging():
            return True
        # a live user-mode session (UMDF drivers use DMF too): any target has a processor type. Not
        # ptrSize: the real pykd answers 8 with no target at all (tests/oracle pykd_probe "no_target")
        pykd.getCPUType()
        return True
    except Exception:  # pykd.DbgException ("pykd is not initialized", no target: HRESULT 0x8000ffff)
        return False


class _DmlOutput(Output):
    """Output inside WinDbg: plain text through dprint, DML through dprint(..., dml=True)."""

    def __init__(self, pykd):
        super().__init__(stream=None, dml=True)
        self._pykd = pykd

    def write(self, text: str) -> None:
        self._pykd.dprint(ascii_safe(text), False)

    def write_dml(self, text: str) -> None:
        self._pykd.dprint(ascii_safe(text), True)


def windbg_output() -> Optional[Output]:
    """An Output writing through pykd with DML when running inside WinDbg, else None."""
    try:
        pykd = _import_pykd()
    except ImportError:
        return None
    try:
        inside = bool(pykd.isWindbgExt())
    except Exception:
        return None
    return _DmlOutput(pykd) if inside else None


class PykdTarget(Target):
    """The debugger's current target, read through pykd. Read-only; all reads are bulk."""

    def __init__(self, _pykd=None, _dump_path: Optional[str] = None, _owns_dump: bool = False,
                 _dump_id: Optional[int] = None):
        if _pykd is None:
            try:
                _pykd = _import_pykd()
            except ImportError as exc:
                raise UsageError("pykd is not installed (it exists for Windows CPython 3.9: "
                                 "pip install pykd==0.3.4.15): %s" % exc)
        self._pykd = _pykd
        self._dump_path = _dump_path
        self._owns_dump = _owns_dump
        self._dump_id = _dump_id       # loadDump's id: closeDump(id) closes this dump, not another one
        self._name = None              # type: Optional[str]
        self._tagged = None            # type: Optional[List[TaggedBlob]]
        self._buffers = {}             # type: Dict[uuid.UUID, bytes]
        self._file = None              # the dump file opened directly, for header facts pykd has no call for
        self._file_tried = False
        self.pointer_size = int(self._call("ptrSize"))
        self.arch = self._arch()
        self.is_live = not bool(self._call("isDumpAnalyzing"))
        self.symbols = PykdSymbols(_pykd)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def open_dump(cls, path: str) -> "PykdTarget":
        """Standalone pykd (python.exe, no WinDbg): start dbgeng and open `path` with it."""
        try:
            pykd = _import_pykd()
        except ImportError as exc:
            raise UsageError("--pykd-dump needs the pykd module (Windows CPython 3.9, "
                             "pip install pykd==0.3.4.15): %s" % exc)
        try:
            pykd.initialize()
        except pykd.DbgException:
            # under Wine: 'CLRCreateInstance failed' although the engine is up; a 2nd call:
            # 'pykd is already initialized' (spec/real-pykd-under-wine.md) - both harmless
            pass
        try:
            # with another dump open the real 0.3.4.15 opens one more system and returns its id
            # (observed, tests/oracle/test_pykd_standin.py); the new one is current
            dump_id = pykd.loadDump(path)
        except pykd.DbgException as exc:
            raise FormatError(path, "dbgeng cannot open it as a dump (%s)" % _first_line(exc))
        dump_id = dump_id if isinstance(dump_id, int) else None
        try:
            return cls(pykd, _dump_path=path, _owns_dump=True, _dump_id=dump_id)
        except DmfkdError:
            cls._close(pykd, dump_id)
            raise

    @staticmethod
    def _close(pykd, dump_id: Optional[int] = None) -> None:
        try:
            if dump_id is None:
                pykd.closeDump()
            else:
                pykd.closeDump(dump_id)
        except (pykd.DbgException, OverflowError):
            pass  # already closed: nothing is left to release

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._owns_dump:
            self._owns_dump = False
            self._close(self._pykd, self._dump_id)

    # -- engine calls ---------------------------------------------------------------------------
    def _call(self, func: str, *args):
        """Call pykd.<func>(*args); any pykd exception becomes a one-line DmfkdError."""
        pykd = self._pykd
        try:
            return getattr(pykd, func)(*args)
        except pykd.MemoryException as exc:
            if args and isinstance(args[0], int):
                raise MemoryReadError(args[0], 0, reason="pykd.%s: %s" % (func, _first_line(exc)))
            raise DmfkdError("pykd.%s failed: %s" % (func, _first_line(exc)))
        except pykd.DbgException as exc:
            raise DmfkdError("pykd.%s failed: %s" % (func, _first_line(exc)))

    def _arch(self) -> str:
        cpu = self._call("getCPUType")
        name = getattr(cpu, "name", None) or str(cpu).rsplit(".", 1)[-1]
        return {"AMD64": "x64", "I386": "x86", "ARM64": "arm64"}.get(name, "x64" if self.pointer_size == 8 else "x86")

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = self._dump_path or self._path_from_debugger() or "pykd"
        return self._name

    @property
    def path(self) -> Optional[str]:
        """The dump file the debugger has open (None on a live session)."""
        if self.is_live:
            return None
        path = self._dump_path or self._path_from_debugger()
        return path if path and os.path.isfile(path) else None

    def _dump_file(self):
        """The same dump read directly: pykd has no call for the header's attributes, dump type or
        triage data block table, so those come from the file (opened once, closed with the target)."""
        if not self._file_tried:
            self._file_tried = True
            path = self.path
            if path:
                from dmfkd.targets.dumpfile import DumpFile

                try:
                    self._file = DumpFile(path)
                except FormatError:
                    self._file = None
        return self._file

    def dump_header(self):
        dump = self._dump_file()
        return dump.dump_header() if dump is not None else None

    def triage_data_blocks(self):
        dump = self._dump_file()
        return dump.triage_data_blocks() if dump is not None else None

    def triage_drivers(self):
        # a triage dump's memory holds no module list: its own driver list is in the file (dmfkd lm)
        dump = self._dump_file()
        return dump.triage_drivers() if dump is not None else None

    def _path_from_debugger(self) -> Optional[str]:
        try:
            text = self._call("dbgCommand", "||") or ""
        except DmfkdError:
            return None
        # several dumps can be open at once (one line each); "." marks the current one
        # (".  1 64-bit Kernel triage dump: ...", observed on the real pykd)
        paths = []
        for line in text.splitlines():
            match = _SYSTEM_LINE.match(line.strip().lstrip("#").lstrip())
            if match:
                if line.lstrip().startswith("."):
                    return match.group(1)
                paths.append(match.group(1))
        return paths[0] if paths else None

    # -- memory ---------------------------------------------------------------------------------
    def read(self, address: int, size: int) -> bytes:
        if size == 0:
            return b""  # pykd's loadBytes(va, 0) raises; an empty read needs no engine call
        if size < 0 or size > _MAX_ENGINE_READ or not 0 <= address < 1 << 64:
            # pykd's C++ signature takes a 64-bit address and a 32-bit count; outside that boost.python
            # would raise ArgumentError (a TypeError), not a DbgException
            raise MemoryReadError(address, size, reason="outside what one engine read can ask for")
        pykd = self._pykd
        try:
            return bytes(pykd.loadBytes(address, size))
        except pykd.MemoryException as exc:
            raise MemoryReadError(address, size, reason="pykd: %s" % _first_line(exc))
        except pykd.DbgException as exc:
            raise MemoryReadError(address, size, reason="pykd: %s" % _first_line(exc))

    def read_physical(self, address: int, size: int) -> bytes:
        if size == 0:
            return b""
        if size < 0 or size > _MAX_ENGINE_READ or not 0 <= address < 1 << 64:
            raise MemoryReadError(address, size, physical=True,
                                  reason="outside what one engine read can ask for")
        pykd = self._pykd
        try:
            return bytes(pykd.loadBytes(address, size, True))
        except pykd.DbgException as exc:
            raise MemoryReadError(address, size, physical=True, reason="pykd: %s" % _first_line(exc))

    # -- secondary data -------------------------------------------------------------------------
    def tagged(self) -> List[TaggedBlob]:
        if self._tagged is None:
            self._tagged = self._enumerate()
        return list(self._tagged)

    def _enumerate(self) -> List[TaggedBlob]:
        pykd = self._pykd
        try:
            ids = list(pykd.enumTagged())
        except pykd.DbgException as exc:
            if self.is_live:
                return []  # secondary data exists only in dumps (spec/pykd.md §5)
            raise DmfkdError("pykd.enumTagged failed: %s" % _first_line(exc))
        guids = [uuid.UUID(str(text)) for text in ids]
        header_sizes = self._enumtag_sizes(guids) if len(set(guids)) != len(guids) else None
        blobs = []
        seen = set()
        for index, guid in enumerate(guids):
            if guid not in seen:
                seen.add(guid)
                size = len(self._load_first(guid))  # type: Optional[int]
            else:
                size = header_sizes[index] if header_sizes is not None else None
            blobs.append(TaggedBlob(index, guid, size, size, None, False))
        return blobs

    def _enumtag_sizes(self, guids: List[uuid.UUID]) -> Optional[List[int]]:
        """Block sizes from `.enumtag` headers, only when they list exactly `guids` in order."""
        try:
            text = self._pykd.dbgCommand(".enumtag") or ""
        except self._pykd.DbgException:
            return None
        found = []  # type: List[Tuple[uuid.UUID, int]]
        for line in text.splitlines():
            match = _ENUMTAG_HEADER.match(line.strip())
            if match:
                found.append((uuid.UUID("".join(match.groups()[:5])), int(match.group(6), 16)))
        if [g for g, _ in found] != guids:
            return None
        return [size for _, size in found]

    def _load_first(self, guid: uuid.UUID) -> bytes:
        """The payload ReadTagged gives for `guid` (its first block), cached."""
        if guid in self._buffers:
            return self._buffers[guid]
        pykd = self._pykd
        try:
            data = bytes(pykd.loadTaggedBuffer(guid_text(guid)))
        except pykd.DbgException as exc:
            message = _first_line(exc)
            if _HRESULT_ZERO_SIZE in message:
                data = b""  # dbgeng's ReadTagged refuses zero-size blocks (spec/real-pykd-under-wine.md)
            elif _HRESULT_NO_SUCH_TAG in message:
                raise TagNotFoundError("%s: no secondary data tagged %s" % (self.name, guid_text(guid)))
            else:
                raise DmfkdError("pykd.loadTaggedBuffer(%s) failed: %s" % (guid_text(guid), message))
        self._buffers[guid] = data
        return data

    def read_tagged(self, guid) -> bytes:
        # bare lower-case text for pykd: braces make UuidFromString fail (spec/pykd.md §5)
        return self._load_first(parse_guid(guid))

    def read_blob(self, blob: TaggedBlob) -> bytes:
        blobs = self.tagged()
        first = next((b.index for b in blobs if b.guid == blob.guid), None)
        if first is None:
            raise TagNotFoundError("%s: no secondary data tagged %s" % (self.name, blob.guid_text))
        if first != blob.index:
            raise TagNotFoundError("%s: block #%d repeats GUID %s; the debugger engine only returns the "
                                   "first block (#%d) - read the dump file directly to see this one"
                                   % (self.name, blob.index, blob.guid_text, first))
        return self._load_first(blob.guid)

    # -- crash facts ----------------------------------------------------------------------------
    def bugcheck(self) -> Optional[BugCheck]:
        try:
            data = tuple(self._call("bugCheckData"))
        except DmfkdError:
            return None
        if len(data) != 5 or data[0] == 0:
            return None
        return BugCheck(int(data[0]), (int(data[1]), int(data[2]), int(data[3]), int(data[4])))

    @property
    def build(self) -> Optional[int]:
        try:
            return int(self._call("getSystemVersion").buildNumber)
        except (DmfkdError, AttributeError, ValueError):
            return None

    def __repr__(self) -> str:
        return "PykdTarget(%r, arch=%s, live=%s)" % (self.name, self.arch, self.is_live)


def _symbol_failure(pykd, exc: BaseException, what: str, name: str) -> str:
    """One line for a failed getOffset/typeInfo. The real 0.3.4.15 says which of two things went
    wrong (observed, tests/oracle/test_pykd_standin.py): a plain DbgException "Failed to find
    module 'mod'" - the module is not loaded in the target; a SymbolException ("<sym> symbol is
    not found", "'<T>' - symbol not found") - the module is loaded but its PDB is missing or lacks
    the name."""
    message = _first_line(exc)
    module = name.partition("!")[0] if "!" in name else None
    symbol_exception = getattr(pykd, "SymbolException", ())
    if not isinstance(exc, symbol_exception) and module and "failed to find module" in message.lower():
        return ("debugger: no %s %s - module %s is not loaded in this target (lm m %s lists it when it is) (%s)"
                % (what, name, module, module, message))
    if isinstance(exc, symbol_exception) and module:
        return ("debugger: no %s %s - module %s is loaded but its symbols do not have it (is its PDB on the "
                "symbol path? .reload /f %s) (%s)" % (what, name, module, module, message))
    return "debugger: no %s %s (%s)" % (what, name, message)


class PykdSymbols(Symbols):
    """Symbols and types from the debugger's PDBs through pykd."""

    module = None
    image_base = None

    def __init__(self, _pykd=None):
        self._pykd = _pykd if _pykd is not None else _import_pykd()
        self._layouts = {}  # type: Dict[str, TypeLayout]

    def address_of(self, name: str) -> int:
        pykd = self._pykd
        try:
            return int(pykd.getOffset(name))
        except pykd.DbgException as exc:
            raise SymbolError(_symbol_failure(pykd, exc, "symbol", name))

    def type_layout(self, name: str) -> TypeLayout:
        if name in self._layouts:
            return self._layouts[name]
        pykd = self._pykd
        try:
            info = pykd.typeInfo(name)
            fields = {}
            for field_name, field_type in info.fields():
                try:
                    size = int(field_type.size())  # type: Optional[int]
                except pykd.DbgException:
                    size = None  # e.g. a function or an incomplete type
                fields[field_name] = Field(field_name, int(info.fieldOffset(field_name)),
                                           str(field_type.name()), size)
            layout = TypeLayout(str(info.name()), int(info.size()), fields)
        except pykd.DbgException as exc:
            raise SymbolError(_symbol_failure(pykd, exc, "type", name))
        self._layouts[name] = layout
        return layout

    def search(self, pattern: str) -> List[Tuple[str, int]]:
        """`x pattern` through dbgCommand, parsed: [("module!name", address)]."""
        pykd = self._pykd
        try:
            # nothing found prints nothing: dbgCommand returns None (observed on the real one)
            text = pykd.dbgCommand("x " + pattern) or ""
        except pykd.DbgException as exc:
            module, bang, _ = pattern.partition("!")
            if bang and module and not any(c in module for c in "*?["):
                # dbgeng refuses `x mod!...` when mod is not loaded (ExecuteWide 0x80040205)
                raise SymbolError("debugger: x %s failed - is module %s loaded? (lm m %s) (%s)"
                                  % (pattern, module, module, _first_line(exc)))
            raise SymbolError("debugger: x %s failed (%s)" % (pattern, _first_line(exc)))
        out = []
        for line in text.splitlines():
            match = _X_LINE.match(line)
            if match:
                out.append((match.group(2), int(match.group(1).replace("`", ""), 16)))
        return out

    def overlay(self, type_name: str, data: bytes):
        """A pykd typedVar of `type_name` over bytes already read (spec/pykd.md §3, buffer overlay)."""
        pykd = self._pykd
        try:
            return pykd.typedVar(type_name, list(data))
        except pykd.DbgException as exc:
            raise SymbolError("debugger: cannot overlay %s on %d bytes (%s)" % (type_name, len(data),
                                                                                  _first_line(exc)))
