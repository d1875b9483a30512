"""Which modules are loaded in the current target - what decides between "Failed to find module"
(DbgException) and "symbol is not found" (SymbolException) in getOffset / typeInfo / sizeof and
whether `x mod!...` fails.

The stand-in's list is the union of:
- "nt": dbgeng names the kernel image nt and lists it in every kernel session (lm on triage and
  emulator dumps alike);
- the dump's own module list: the triage dump's driver list (TRIAGE_DUMP.DriverListOffset), else
  the kernel's PsLoadedModuleList walked in memory (dmfemu.kernel builds one in every emulator
  dump); a live EmulatorTarget: its machine's images;
- the attached Symbols' module (the "PDB" dmfkd was given is for a module that is loaded).
Names as dbgeng derives them: the file name without extension (dmfdemo.sys -> dmfdemo), matched
case-insensitively; "dmfdemo.sys!x" and "ntoskrnl!x" are not found (observed on the real one).
"""
import collections
import os
import struct
from typing import Dict, List, Optional, Tuple

from dmfkd.layouts import debugger_data
from dmfkd.layouts import dump_format

from dmfemu.pykd._errors import DbgException, MemoryException, SymbolException
from dmfemu.pykd._session import address64, current_target, read_virtual, state, target_va


_KERNEL_IMAGES = ("ntoskrnl", "ntkrnlmp", "ntkrnlpa", "ntkrpamp")
_MAX_MODULES = 4096            # bound for a hostile/cyclic module list
_LOADER_ENTRY_ARCH = {8: "x64", 4: "x86"}   # KLDR_DATA_TABLE_ENTRY by pointer size (arm64 = x64)


def _module_name(file_name: str) -> str:
    base = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return "nt" if stem.lower() in _KERNEL_IMAGES else stem


def _triage_drivers(target) -> List[Tuple[str, Optional[int]]]:
    """(file name, DllBase) of the triage dump's driver list, [] for other dumps."""
    triage = getattr(target, "triage", None)
    path = getattr(target, "path", None)
    if triage is None or path is None:
        return []
    out = []  # type: List[Tuple[str, Optional[int]]]
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            entry_size = dump_format.DUMP_DRIVER_ENTRY64.sizeof()
            count = min(int(triage["DriverCount"]), size // entry_size, _MAX_MODULES)
            handle.seek(int(triage["DriverListOffset"]))
            table = handle.read(count * entry_size)
            for index in range(len(table) // entry_size):
                entry = dump_format.DUMP_DRIVER_ENTRY64.parse(table[index * entry_size:(index + 1) * entry_size])
                name_offset, base = entry.DriverNameOffset, entry.DllBase
                handle.seek(name_offset)
                head = handle.read(4)
                if len(head) != 4:
                    continue
                length = min(struct.unpack("<I", head)[0], 512)  # DUMP_STRING: ULONG Length (chars), WCHAR[]
                out.append((handle.read(2 * length).decode("utf-16-le", "replace"), base))
    except (OSError, KeyError, TypeError, ValueError, struct.error):
        return out
    return out


def _module_list(target) -> List[Tuple[str, Optional[int]]]:
    """(BaseDllName, DllBase) of every entry of the PsLoadedModuleList in the target's memory (bounded)."""
    header = getattr(target, "header", None)
    head = getattr(header, "PsLoadedModuleList", 0) if header is not None else 0
    if not head:
        kernel = getattr(getattr(target, "machine", None), "kernel_state", None)
        head = getattr(kernel, "module_list", 0)
    psize = int(target.pointer_size)
    if not head or psize not in _LOADER_ENTRY_ARCH:
        return []
    loader_entry = debugger_data.kldr_data_table_entry(_LOADER_ENTRY_ARCH[psize])
    fmt = "<Q" if psize == 8 else "<I"
    out = []  # type: List[Tuple[str, Optional[int]]]
    try:
        head = target_va(head)
        entry = target_va(struct.unpack(fmt, read_virtual(head, psize))[0])
        seen = set()
        while entry != head and entry and entry not in seen and len(out) < _MAX_MODULES:
            seen.add(entry)
            base = struct.unpack(fmt, read_virtual(entry + loader_entry.offsets["DllBase"], psize))[0]
            raw = read_virtual(entry + loader_entry.offsets["BaseDllName"], 2 * psize)
            length = struct.unpack_from("<H", raw, 0)[0]
            buffer = target_va(struct.unpack_from(fmt, raw, psize)[0])
            if 0 < length <= 512:
                out.append((read_virtual(buffer, length & ~1).decode("utf-16-le", "replace"), base))
            entry = target_va(struct.unpack(fmt, read_virtual(entry, psize))[0])
    except MemoryException:
        pass
    return out


def loaded_modules() -> Dict[str, Tuple[str, Optional[int]]]:
    """lower-case module name -> (module name, image base or None), for the current system
    (computed once per system)."""
    target = current_target()
    system = state.system()
    if system.modules is not None:
        return system.modules
    files = _triage_drivers(target) or _module_list(target)
    machine = getattr(target, "machine", None)
    if not files and machine is not None:
        files = [(name, base) for name, (base, _) in (getattr(machine, "images", {}) or {}).items()]
    modules = collections.OrderedDict()  # type: Dict[str, Tuple[str, Optional[int]]]
    modules["nt"] = ("nt", None)
    for file_name, base in files:
        name = _module_name(file_name)
        modules[name.lower()] = (name, base)
    module = getattr(system.symbols, "module", None)
    if module and str(module).lower() not in modules:
        modules[str(module).lower()] = (str(module), getattr(system.symbols, "image_base", None))
    system.modules = modules
    return modules


_IMAGE_DIRECTORIES_READ = (0, 6)   # IMAGE_DIRECTORY_ENTRY_EXPORT, IMAGE_DIRECTORY_ENTRY_DEBUG


def has_symbol_scope(module: str) -> bool:
    """Can dbgeng build a symbol table for the module without its PDB? Observed on the real one: a
    failed "mod!T*" / "mod!T[n]" says "T symbol is not found" when the module's PE headers and the
    export and debug directories they declare are in the dump (emulator dumps: dmfdemo and nt),
    and only "symbol not found" when not (the emulator triage dump's dmfdemo - no image page; a
    Windows triage dump's nt - export directory not saved)."""
    base = loaded_modules().get(module.lower(), (module, None))[1]
    if base is None:
        return False
    base = address64(base)
    try:
        dos = read_virtual(base, 0x40)
        if dos[:2] != b"MZ":
            return False
        nt = base + struct.unpack_from("<I", dos, 0x3C)[0]
        head = read_virtual(nt, 0x18)
        optional = read_virtual(nt + 0x18, struct.unpack_from("<H", head, 0x14)[0])
        magic = struct.unpack_from("<H", optional, 0)[0]
        directories = 112 if magic == 0x20B else 96   # PE32+ / PE32 optional header
        for index in _IMAGE_DIRECTORIES_READ:
            rva, size = struct.unpack_from("<II", optional, directories + 8 * index)
            if rva and size:
                read_virtual(base + rva, 1)
    except (MemoryException, struct.error):
        return False
    return True


def split_symbol(name: str) -> Tuple[Optional[str], str]:
    """("mod", "sym") for "mod!sym", (None, "sym") for "sym" or "!sym"; SymbolException for "" and
    "mod!" (kdlib: 'invalid symbol name: ...')."""
    module, bang, bare = name.partition("!")
    if not bang:
        module, bare = "", name
    if not bare:
        raise SymbolException("invalid symbol name: %s" % name)
    return (module or None), bare


def require_module(module: str) -> None:
    if module.lower() not in loaded_modules():
        raise DbgException("Failed to find module '%s'" % module)


def symbols_module_is(module: str) -> bool:
    symbols = state.symbols
    own = getattr(symbols, "module", None)
    return symbols is not None and (own is None or str(own).lower() == module.lower())
