"""The kernel's loaded modules, as WinDbg's `lm` lists them, and whose PDB each one wants.

Full and bitmap dumps: the PsLoadedModuleList the dump header names, walked in memory
(KLDR_DATA_TABLE_ENTRY, layouts/debugger_data.py: InLoadOrderLinks, DllBase, SizeOfImage, BaseDllName).
Triage dumps: the dump's own driver list (Target.triage_drivers), since their memory holds no list.
Each module's PE headers and CodeView (RSDS) record are read from memory (nt/pe.py); when a symbol
path is given, its PDB is looked up by (name, GUID, age).

The list is hostile memory: the walk stops, with a warning, at a loop, a pointer the dump does not
hold, or more than MAX_MODULES entries; names are bounded and shown with control characters made
visible. Missing pages are values ("not in dump"), never exceptions.

    rows, warnings = loaded_modules(target, symbol_path=SymbolPath.parse(...), look_up={"dmfdemo"})
"""
from typing import Callable, Collection, List, NamedTuple, Optional, Tuple

from dmfkd.errors import LayoutError, MemoryReadError
from dmfkd.layouts import debugger_data
from dmfkd.nt import pe

MAX_MODULES = 4096
MAX_NAME_BYTES = 1024                   # UNICODE_STRING.Length of a module name (a path is < 520)
KERNEL_IMAGES = ("ntoskrnl", "ntkrnlmp", "ntkrnlpa", "ntkrpamp")

# symbol status
MATCHED = "matched"
MISMATCHED = "mismatched"
NOT_FOUND = "not found"
NO_CODEVIEW = "no CodeView in dump"
NOT_CHECKED = "not checked"


class LoadedModule(NamedTuple):
    name: str                           # as WinDbg names it: the image name without extension; "nt"
    image_name: str                     # "dmfdemo.sys"
    image_path: Optional[str]           # FullDllName / the triage list's path; None when unreadable
    base: int
    end: int                            # base + SizeOfImage
    time_date_stamp: Optional[int]      # the PE header's; the loader entry's when the header is not in the dump
    checksum: Optional[int]
    image: pe.ImageInfo                 # headers and CodeView status (pe.OK / pe.NOT_IN_DUMP / ...)
    symbol_status: str                  # MATCHED, MISMATCHED, NOT_FOUND, NO_CODEVIEW or NOT_CHECKED
    pdb_path: Optional[str] = None      # the matching PDB
    lookup: Optional[object] = None     # the symbol path's LookupResult (notes, mismatches)

    @property
    def codeview(self) -> Optional[pe.CodeView]:
        return self.image.codeview


def module_name(image_name: str) -> str:
    """dbgeng's module name for an image: its file name without the extension, further dots made
    underscores ("Microsoft.Bluetooth.Legacy.LEEnumerator.sys" -> "Microsoft_Bluetooth_Legacy_LEEnumerator",
    as dbgeng lists it), "nt" for the kernel."""
    base = image_name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return "nt" if stem.lower() in KERNEL_IMAGES else stem.replace(".", "_")


def _visible(text: str) -> str:
    return "".join(char if char.isprintable() else "?" for char in text)


def _read_unicode(target, length: int, buffer: int) -> Optional[str]:
    if length == 0:
        return ""
    if length > MAX_NAME_BYTES or not buffer:
        return None
    try:
        return _visible(target.read(buffer, length & ~1).decode("utf-16-le", "replace"))
    except MemoryReadError:
        return None


class _Entry(NamedTuple):
    path: Optional[str]
    image_name: Optional[str]
    base: int
    size: int
    time_date_stamp: Optional[int]
    checksum: Optional[int]


def list_head(target) -> Optional[int]:
    """PsLoadedModuleList as the dump header names it (Target.dump_header), or None (a live
    target: the caller passes nt!PsLoadedModuleList as `head`)."""
    header = target.dump_header()
    return (header.ps_loaded_module_list or None) if header is not None else None


def _walk(target, head: int, limit: int, warnings: List[str]) -> List[_Entry]:
    arch = target.arch if target.arch in ("x64", "x86", "arm64") else ("x86" if target.pointer_size == 4 else "x64")
    layout = debugger_data.kldr_data_table_entry(arch)
    entries = []  # type: List[_Entry]
    try:
        link = target.read_pointer(head)
    except MemoryReadError:
        warnings.append("PsLoadedModuleList at 0x%x is not in the dump: no module list" % head)
        return entries
    seen = {head}
    while link != head:
        if link in seen:
            warnings.append("the module list loops back to 0x%x after %d entries; stopped there" % (link, len(entries)))
            break
        if len(entries) >= limit:
            warnings.append("the module list has more than %d entries; stopped there" % limit)
            break
        seen.add(link)
        try:
            values = layout.unpack_from(target.read(link, layout.size))
        except (MemoryReadError, LayoutError):
            warnings.append("module list entry at 0x%x is not in the dump; the list stops after %d entries"
                            % (link, len(entries)))
            break
        base_name = _read_unicode(target, values["BaseDllName.Length"], values["BaseDllName.Buffer"])
        full_name = _read_unicode(target, values["FullDllName.Length"], values["FullDllName.Buffer"])
        entries.append(_Entry(full_name, base_name, values["DllBase"], values["SizeOfImage"],
                              values["TimeDateStamp"] or None, values["CheckSum"]))
        link = values["InLoadOrderLinks.Flink"]
    return entries


def _module_entries(target, head: Optional[int], limit: int, warnings: List[str]) -> List[_Entry]:
    drivers = target.triage_drivers()
    if drivers is not None:
        if len(drivers) > limit:
            warnings.append("the triage driver list has %d entries; the first %d are shown" % (len(drivers), limit))
        return [_Entry(driver.path or None, None, driver.base, driver.size, driver.time_date_stamp or None,
                       driver.checksum) for driver in drivers[:limit]]
    head = head if head is not None else list_head(target)
    if not head:
        warnings.append("the dump header names no PsLoadedModuleList: no module list")
        return []
    return _walk(target, head, limit, warnings)


def loaded_modules(target, symbol_path=None, look_up: Optional[Collection[str]] = None,
                   head: Optional[int] = None, progress: Optional[Callable[[str], None]] = None,
                   limit: int = MAX_MODULES, download: Collection[str] = ()) -> Tuple[List[LoadedModule], List[str]]:
    """(modules in list order, warnings). `symbol_path` (a targets.symbol_path.SymbolPath) finds each
    module's PDB in its local folders and caches; `look_up` limits that to these module names
    (case-insensitive; None: every module), the others are NOT_CHECKED. Only the modules named in
    `download` may be fetched from a symbol server: a dump lists hundreds of modules, and a server
    question each would be minutes. `head` overrides the header's PsLoadedModuleList."""
    warnings = []  # type: List[str]
    wanted = None if look_up is None else {name.lower() for name in look_up}
    online = {name.lower() for name in download}
    rows = []
    for entry in _module_entries(target, head, limit, warnings):
        image_name = entry.image_name or (entry.path.replace("\\", "/").rsplit("/", 1)[-1] if entry.path else "")
        name = module_name(image_name) if image_name else "<unreadable name>"
        image = pe.read_image(target, entry.base, entry.size) if entry.base else pe.ImageInfo(entry.base,
                                                                                            pe.NOT_IN_DUMP)
        time_date_stamp = image.time_date_stamp if image.headers == pe.OK else entry.time_date_stamp
        checksum = image.checksum if image.headers == pe.OK else entry.checksum
        row = LoadedModule(name, image_name or "?", entry.path, entry.base, entry.base + entry.size, time_date_stamp,
                           checksum, image, NOT_CHECKED)
        rows.append(_symbol_status(row, symbol_path, wanted, progress, name.lower() not in online))
    return rows, warnings


def _symbol_status(row: LoadedModule, symbol_path, wanted, progress, offline: bool) -> LoadedModule:
    if row.image.codeview is None:
        return row._replace(symbol_status=NO_CODEVIEW)
    if symbol_path is None or (wanted is not None and row.name.lower() not in wanted):
        return row
    codeview = row.image.codeview
    result = symbol_path.locate(codeview.raw_path or codeview.path, codeview.guid, codeview.age, progress, offline)
    status = {"matched": MATCHED, "mismatched": MISMATCHED}.get(result.status, NOT_FOUND)
    return row._replace(symbol_status=status, pdb_path=result.path, lookup=result)
