"""WinDbg's symbol path, to find the PDB an image's CodeView record names.

Elements (``;``-separated; from ``--symbols PATH`` first, then ``_NT_SYMBOL_PATH``):

    DIR                       a folder: DIR/<pdb> (flat), and a symbol store laid out in it
    cache*DIR                 where later servers cache what they download (searched as a store too)
    srv*CACHE*URL             a symbol server, downloading into the store CACHE
    srv*URL / srv**URL        the same with the cache of an earlier cache* element, or the default
                              cache (<user cache dir>/dmfkd/symbols)
    srv*DIR                   a local symbol store
    symsrv*symsrv.dll*...     the same as srv*...

A symbol store holds <pdb>/<GUID><age>/<pdb> (one tier), or <xx>/<pdb>/<GUID><age>/<pdb> when the
store has an index2.txt (two tiers: xx = the name's first two characters); a file.ptr in the key
folder names where the file is ("PATH:...") or why it is not ("MSG:...").

Lookup is by (PDB name, GUID, age). Every PDB found is opened far enough to read its own GUID and
age; one that does not match is not a match, and is reported as found-but-mismatched.

The name, GUID and age come from the dump and are hostile: only the last component of the CodeView
path is used (split on both slashes), and only when it is a plain file name ending in .pdb (no
"..", drive, UNC, NUL or control characters, at most 255 characters). Files are read only inside
the symbol folders and caches (symbolic links that lead out are refused) and written only inside a
cache, under a temporary name renamed once the download is complete and checked.
"""
import os
import stat
import sys
import uuid
from typing import Callable, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from dmfkd.errors import FormatError, SymbolError, UsageError
from dmfkd.nt.pe import guid_age_text
from dmfkd.targets import symbol_server
from dmfkd.targets.pdb import read_identity

MICROSOFT_SYMBOL_SERVER = "https://msdl.microsoft.com/download/symbols"
MAX_NAME = 255
MAX_CODEVIEW_PATH = 32768
_FORBIDDEN = set('<>:"|?*')
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {"COM%d" % i for i in range(10)} | {"LPT%d" % i for i in range(10)}

MATCHED = "matched"
MISMATCHED = "mismatched"
NOT_FOUND = "not found"

Progress = Optional[Callable[[str], None]]


def default_cache_dir() -> str:
    """<user cache dir>/dmfkd/symbols: %LOCALAPPDATA% on Windows, ~/Library/Caches on macOS,
    $XDG_CACHE_HOME or ~/.cache elsewhere."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dmfkd", "symbols")


def pdb_file_name(codeview_path) -> str:
    """The PDB file name to look up, from an image's CodeView path (str or bytes, hostile): its
    last component when that is a plain file name ending in .pdb; else SymbolError saying why."""
    if isinstance(codeview_path, (bytes, bytearray)):
        raw = bytes(codeview_path)
        if len(raw) > MAX_CODEVIEW_PATH:
            raise SymbolError("CodeView PDB path of %d bytes is too long to be a path" % len(raw))
        if any(byte < 0x20 or byte == 0x7F for byte in raw):
            raise SymbolError("CodeView PDB path %r has NUL or control bytes: not used" % raw[:80])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SymbolError("CodeView PDB path %r is not valid UTF-8: not used" % raw[:80])
    else:
        text = str(codeview_path)
        if len(text) > MAX_CODEVIEW_PATH:
            raise SymbolError("CodeView PDB path of %d characters is too long to be a path" % len(text))
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
            raise SymbolError("CodeView PDB path %r has NUL or control characters: not used" % text[:80])
    name = text.replace("\\", "/").rsplit("/", 1)[-1]
    shown = name if len(name) <= 80 else name[:77] + "..."
    if not name or name in (".", ".."):
        raise SymbolError("CodeView PDB path %r names no file" % text[:80])
    if len(name) > MAX_NAME:
        raise SymbolError("CodeView PDB file name of %d characters is longer than %d" % (len(name), MAX_NAME))
    if _FORBIDDEN & set(name):
        raise SymbolError("CodeView PDB file name %r is not a plain file name (drive, stream or wildcard "
                          "characters)" % shown)
    if not name.lower().endswith(".pdb") or len(name) == 4:
        raise SymbolError("CodeView PDB file name %r does not end in .pdb" % shown)
    if name != name.strip() or name.startswith("."):
        raise SymbolError("CodeView PDB file name %r starts with a dot or a space" % shown)
    if name.split(".")[0].upper() in _RESERVED:
        raise SymbolError("CodeView PDB file name %r is a Windows device name" % shown)
    return name


class Mismatch(NamedTuple):
    """A PDB that was found under the right name but is not the one the image wants."""

    path: str
    guid: Optional[uuid.UUID]          # None: unreadable (reason says why)
    age: Optional[int]
    reason: str = ""

    def describe(self) -> str:
        if self.guid is None:
            return "%s (%s)" % (self.path, self.reason)
        return "%s (GUID %s age %d)" % (self.path, str(self.guid).upper(), self.age)


class LookupResult(NamedTuple):
    status: str                         # MATCHED, MISMATCHED or NOT_FOUND
    path: Optional[str] = None          # the matching PDB
    name: Optional[str] = None          # the file name looked up (None: the CodeView name was refused)
    mismatches: Tuple[Mismatch, ...] = ()
    notes: Tuple[str, ...] = ()         # servers that failed, file.ptr messages, unsupported .pd_

    def describe(self) -> str:
        """One line for the user."""
        if self.status == MATCHED:
            return "%s: %s" % (MATCHED, self.path)
        if self.status == MISMATCHED:
            return "%s: found %s" % (MISMATCHED, "; ".join(m.describe() for m in self.mismatches[:3]))
        detail = "; ".join(self.notes[:3])
        return NOT_FOUND + (" (%s)" % detail if detail else "")


class Element(NamedTuple):
    kind: str                   # "folder", "cache" or "server"
    text: str                   # as the user wrote it
    stores: Tuple[str, ...]     # folder/cache: (DIR,); server: (downstream cache, upstream stores ...)


def _is_url(text: str) -> bool:
    return "://" in text


def _check_url(text: str, element: str) -> str:
    scheme = text.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise UsageError("symbol path element %r: %s:// symbol servers are not supported (http:// and https:// "
                         "are)" % (element, scheme))
    return text


class SymbolPath:
    """A parsed symbol path; ``locate`` finds a PDB on it."""

    def __init__(self, elements: Sequence[Element], timeout: float = symbol_server.DEFAULT_TIMEOUT,
                 deadline: float = symbol_server.DEFAULT_DEADLINE, max_bytes: int = symbol_server.DEFAULT_MAX_BYTES):
        self.elements = list(elements)
        self.timeout = timeout
        self.deadline = deadline
        self.max_bytes = max_bytes
        self._failed_servers = {}  # type: dict       # url -> why it cannot be used (asked once per session)

    # -- parsing --------------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, default_cache: Optional[str] = None, **limits) -> "SymbolPath":
        """Elements of one ``;``-separated symbol path (see the module docstring)."""
        return cls(_parse_elements([text], default_cache or default_cache_dir()), **limits)

    @classmethod
    def from_sources(cls, symbols: Iterable[str] = (), environ=None, default_cache: Optional[str] = None,
                     **limits) -> "SymbolPath":
        """``--symbols`` values (each may itself hold several ``;``-separated elements) followed by
        ``_NT_SYMBOL_PATH``."""
        environ = os.environ if environ is None else environ
        texts = list(symbols) + [environ.get("_NT_SYMBOL_PATH", "")]
        return cls(_parse_elements(texts, default_cache or default_cache_dir()), **limits)

    def __bool__(self) -> bool:
        return bool(self.elements)

    def describe(self) -> str:
        return ";".join(element.text for element in self.elements) or "(empty)"

    def roots(self) -> List[str]:
        """Every local folder of the path: the only places files are read from."""
        out = []
        for element in self.elements:
            out += [store for store in element.stores if not _is_url(store)]
        return out

    def servers(self) -> List[str]:
        """Every symbol server URL of the path, in order."""
        out = []  # type: List[str]
        for element in self.elements:
            out += [store for store in element.stores if _is_url(store) and store not in out]
        return out

    # -- lookup ----------------------------------------------------------------------------------
    def locate(self, codeview_path, guid: uuid.UUID, age: int, progress: Progress = None,
               offline: bool = False) -> LookupResult:
        """Find the PDB named by an image's CodeView record (path, GUID, age). offline: only the local
        folders and caches (a server's downstream cache included), no download - what a search over
        every loaded module may cost."""
        try:
            name = pdb_file_name(codeview_path)
        except SymbolError as exc:
            return LookupResult(NOT_FOUND, notes=(str(exc),))
        if not isinstance(guid, uuid.UUID) or not isinstance(age, int) or not 0 <= age <= 0xFFFFFFFF:
            return LookupResult(NOT_FOUND, name=name, notes=("the CodeView record's GUID/age is unusable",))
        key = guid_age_text(guid, age)
        roots = [os.path.realpath(root) for root in self.roots()]
        mismatches = []  # type: List[Mismatch]
        notes = []  # type: List[str]
        seen = set()

        def consider(path: str) -> Optional[str]:
            """path when it is the PDB wanted; records a mismatch otherwise."""
            real = os.path.realpath(path)
            if real in seen:
                return None
            seen.add(real)
            if not _inside(real, roots):
                notes.append("%s leads outside the symbol folders: not read" % path)
                return None
            if not os.path.exists(real):
                notes.append("%s does not exist" % path)
                return None
            try:
                if not stat.S_ISREG(os.stat(real).st_mode):
                    mismatches.append(Mismatch(path, None, None, "not a regular file"))
                    return None
                identity = read_identity(real)
            except FormatError as exc:
                mismatches.append(Mismatch(path, None, None, exc.what))
                return None
            except OSError as exc:
                mismatches.append(Mismatch(path, None, None, exc.strerror or str(exc)))
                return None
            if identity.guid == guid and identity.age == age:
                return path
            mismatches.append(Mismatch(path, identity.guid, identity.age))
            return None

        for element in self.elements:
            if element.kind in ("folder", "cache"):
                found = self._search_folder(element.stores[0], name, key, element.kind == "folder", consider, notes)
            else:
                found = self._search_server(element, name, guid, age, consider, notes, progress, offline)
            if found is not None:
                return LookupResult(MATCHED, found, name, tuple(mismatches), tuple(notes))
        status = MISMATCHED if any(m.guid is not None for m in mismatches) else NOT_FOUND
        return LookupResult(status, None, name, tuple(mismatches), tuple(notes))

    def _search_folder(self, folder: str, name: str, key: str, flat: bool, consider, notes) -> Optional[str]:
        if not os.path.isdir(folder):
            return None
        candidates = [os.path.join(folder, name)] if flat else []
        candidates += _store_candidates(folder, name, key)
        for candidate in candidates:
            if os.path.lexists(candidate) and consider(candidate) is not None:
                return candidate
        return self._follow_local_ptr(folder, name, key, consider, notes)

    def _follow_local_ptr(self, store: str, name: str, key: str, consider, notes) -> Optional[str]:
        for key_folder in _key_folders(store, name, key):
            pointer = os.path.join(key_folder, "file.ptr")
            if not os.path.isfile(pointer):
                continue
            try:
                with open(pointer, "rb") as handle:
                    text = handle.read(symbol_server.FILE_PTR_MAX)
            except OSError as exc:
                notes.append("%s: %s" % (pointer, exc.strerror or exc))
                continue
            found = self._follow_ptr(text, pointer, consider, notes)
            if found is not None:
                return found
        return None

    def _follow_ptr(self, text: bytes, where: str, consider, notes) -> Optional[str]:
        """A file.ptr's "PATH:<file>" (followed only to a file inside the symbol folders) or
        "MSG:<reason>" (kept as a note)."""
        line = text.decode("utf-8", "replace").strip().splitlines()[0] if text.strip() else ""
        kind, _, value = line.partition(":")
        value = value.strip()
        printable = "".join(char if char.isprintable() else "?" for char in value)[:200]
        if kind.upper() == "MSG":
            notes.append("%s says: %s" % (where, printable))
            return None
        if kind.upper() != "PATH" or not value:
            notes.append("%s is not a file pointer (%r)" % (where, printable[:60]))
            return None
        if not os.path.isabs(value):
            notes.append("%s points to %s, which is not a file here" % (where, printable))
            return None
        return consider(value)

    def _search_server(self, element: Element, name: str, guid: uuid.UUID, age: int, consider, notes,
                       progress: Progress, offline: bool = False) -> Optional[str]:
        cache = element.stores[0]
        for store in element.stores:
            if not _is_url(store):
                found = self._search_folder(store, name, guid_age_text(guid, age), False, consider, notes)
                if found is not None:
                    return found
                continue
            if offline:
                continue
            if store in self._failed_servers:
                notes.append(self._failed_servers[store])
                continue
            found = self._download(store, cache, name, guid, age, consider, notes, progress)
            if found is not None:
                return found
        return None

    def _download(self, url: str, cache: str, name: str, guid: uuid.UUID, age: int, consider, notes,
                  progress: Progress) -> Optional[str]:
        server = symbol_server.SymbolServer(url, self.timeout, self.deadline, self.max_bytes)
        key = guid_age_text(guid, age)
        answer = server.fetch(name, key, cache, progress)
        if answer.status == "ok":
            return self._store_download(answer.path, url, cache, name, guid, age, consider, notes)
        if answer.status == "failed":
            self._failed_servers[url] = answer.reason
            notes.append(answer.reason)
            return None
        pointer = server.file_ptr(name, key)
        if pointer.status == "ok":
            return self._follow_ptr(pointer.data, "%s/%s/%s/file.ptr" % (url, name, key), consider, notes)
        if server.has_compressed(name, key):
            notes.append("%s has %s only compressed (%s): compressed .pd_ files are not supported"
                         % (url, name, name[:-1] + "_"))
        return None

    def _store_download(self, temporary: str, url: str, cache: str, name: str, guid: uuid.UUID, age: int,
                        consider, notes) -> Optional[str]:
        """Check a downloaded file, then rename it to <cache>/<name>/<key>/<name>."""
        try:
            try:
                identity = read_identity(temporary)
            except FormatError as exc:
                notes.append("%s/%s is not a usable PDB (%s)" % (url, name, exc.what))
                return None
            if identity.guid != guid or identity.age != age:
                notes.append("%s answered a PDB with GUID %s age %d, not the one asked for"
                             % (url, str(identity.guid).upper(), identity.age))
                return None
            folder = os.path.join(cache, name, guid_age_text(guid, age))
            os.makedirs(folder, exist_ok=True)
            if not _inside(os.path.realpath(folder), [os.path.realpath(cache)]):
                notes.append("%s leads outside the cache: download discarded" % folder)
                return None
            final = os.path.join(folder, name)
            os.replace(temporary, final)
            return consider(final)
        except OSError as exc:
            notes.append("cannot store %s in the cache %s (%s)" % (name, cache, exc.strerror or exc))
            return None
        finally:
            _remove(temporary)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _inside(real: str, roots: Sequence[str]) -> bool:
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _entry(folder: str, name: str) -> str:
    """folder/name, matching name case-insensitively when the exact spelling is absent (stores
    made on Windows keep the case the PDB was stored with)."""
    exact = os.path.join(folder, name)
    if os.path.exists(exact) or not os.path.isdir(folder):
        return exact
    try:
        lowered = name.lower()
        for entry in os.listdir(folder):
            if entry.lower() == lowered:
                return os.path.join(folder, entry)
    except OSError:
        pass
    return exact


def _key_folders(store: str, name: str, key: str) -> List[str]:
    """<store>[/<xx>]/<name>/<key>: two-tier when the store has index2.txt, else one-tier."""
    tiers = [store]
    if os.path.isfile(os.path.join(store, "index2.txt")):
        tiers = [_entry(store, name[:2])] + tiers
    return [_entry(_entry(tier, name), key) for tier in tiers]


def _store_candidates(store: str, name: str, key: str) -> List[str]:
    return [_entry(folder, name) for folder in _key_folders(store, name, key)]


def _parse_elements(texts: Iterable[str], default_cache: str) -> List[Element]:
    elements = []  # type: List[Element]
    cache = default_cache
    for text in texts:
        for raw in (text or "").split(";"):
            item = raw.strip()
            if not item:
                continue
            parts = [part.strip() for part in item.split("*")]
            head = parts[0].lower()
            if head == "symsrv" and len(parts) >= 2:
                parts = ["srv"] + parts[2:]
                head = "srv"
            if len(parts) == 1:
                if _is_url(item):
                    raise UsageError("symbol path element %r: a server needs srv* in front (srv*%s)" % (item, item))
                elements.append(Element("folder", item, (item,)))
            elif head == "cache":
                cache = parts[1] if len(parts) > 1 and parts[1] else default_cache
                if _is_url(cache):
                    raise UsageError("symbol path element %r: the cache must be a local folder" % item)
                elements.append(Element("cache", item, (cache,)))
            elif head == "srv":
                stores = [part for part in parts[1:]]
                if not any(stores):
                    stores = ["", MICROSOFT_SYMBOL_SERVER]
                for store in stores:
                    if _is_url(store):
                        _check_url(store, item)
                if stores and _is_url(stores[0]):
                    stores = [""] + stores       # srv*URL: the cache in front
                stores = [store or cache for store in stores]
                elements.append(Element("server", item, tuple(stores)))
            else:
                raise UsageError("symbol path element %r: expected a folder, cache*DIR, srv*CACHE*URL or srv*URL"
                                 % item)
    return elements


def check_pdb(path: str, guid: Optional[uuid.UUID], age: Optional[int], allow_mismatch: bool = False
              ) -> Tuple[str, List[str]]:
    """`--pdb FILE`: the PDB given outright. Its GUID/age must be the image's (from the dump's
    CodeView record) unless allow_mismatch, which turns the refusal into a warning. Returns (path,
    warnings); raises FormatError for a file that is not a PDB, SymbolError for a mismatch."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise FormatError(path, "cannot open (%s)" % (exc.strerror or exc))
    except ValueError:  # a NUL byte in the path
        raise FormatError(path, "cannot open (a NUL byte in the path)")
    if not stat.S_ISREG(info.st_mode):
        raise FormatError(path, "not a regular file (a PDB must be a plain file)")
    identity = read_identity(path)
    if guid is None or age is None:
        return path, ["%s: the image has no CodeView record in the dump, so this PDB cannot be checked against it"
                      % path]
    if identity.guid == guid and identity.age == age:
        return path, []
    both = ("%s has GUID %s age %d; the image was linked with GUID %s age %d"
            % (path, str(identity.guid).upper(), identity.age, str(guid).upper(), age))
    if not allow_mismatch:
        raise SymbolError("%s: not its PDB (--allow-mismatched-pdb loads it anyway)" % both)
    return path, ["%s: loaded anyway, types and addresses may be wrong" % both]

