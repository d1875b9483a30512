"""LLVM's llvm-pdbutil (Debian llvm-14) as an independent PDB reader: its text dumps parsed into
plain Python values the PDB reader's answers are compared with.

    types(pdb)    -> {type index: TypeRecord}   (`dump -types`)
    summary(pdb)  -> {"guid": "C8C2329E-...", "age": 1}   (`dump -summary`)
    sections(pdb) -> [virtual address of section 1, 2, ...]   (`dump -section-headers`)
    globals_data(pdb)  -> [(name, section, offset)] of S_GDATA32/S_LDATA32 in the globals (`dump -globals`)
    module_data(pdb)   -> [(module number, name, section, offset)] of module-scope data (`dump -symbols`)

Only the lines these tests need are parsed; a line that should parse but does not fails loudly.
"""
import re
import shutil
import subprocess
from typing import Dict, List, Optional, Tuple

_RECORD = re.compile(r"^\s+0x([0-9A-F]+) \| (LF_\w+) \[size = \d+\](?: `(.*)`)?$")
_MEMBER = re.compile(r"^\s+- LF_MEMBER \[name = `(.*)`, Type = 0x([0-9A-F]+).*, offset = (-?\d+), attrs = .*\]$")
_ENUMERATE = re.compile(r"^\s+- LF_ENUMERATE \[(.*) = (-?\d+)\]$")
_INDEX = re.compile(r"^\s+- LF_INDEX \[continuation = 0x([0-9A-F]+)\]$")
_FIELD_LIST = re.compile(r"field list: (?:0x([0-9A-F]+)|<no type>)")
_OPTIONS = re.compile(r"^\s+options: (.*), sizeof (\d+)$")
# LLVM resolves forward references itself: "-> X" (defined later), "<- X" (earlier), "= X" (no
# definition: the record itself)
_FORWARD = re.compile(r"forward ref(?: \((?:->|<-|=) 0x([0-9A-F]+)\))?")
_BITFIELD = re.compile(r"^\s+type = 0x([0-9A-F]+) .*, bit offset = (\d+), # bits = (\d+)$")
_SYMBOL = re.compile(r"^\s+\d+ \| (S_\w+) \[size = \d+\](?: `(.*)`)?")
_ADDRESS = re.compile(r"addr = (\d{4}):(\d+)")
_MODULE = re.compile(r"^\s*Mod (\d+) \|")

SCOPE_OPENERS = {"S_GPROC32", "S_LPROC32", "S_GPROC32_ID", "S_LPROC32_ID", "S_LPROC32_DPC", "S_LPROC32_DPC_ID",
                 "S_THUNK32", "S_BLOCK32", "S_WITH32", "S_SEPCODE", "S_INLINESITE", "S_INLINESITE2"}
SCOPE_CLOSERS = {"S_END", "S_PROC_ID_END", "S_INLINESITE_END"}


class TypeRecord:
    def __init__(self, index: int, kind: str, name: Optional[str]):
        self.index = index
        self.kind = kind
        self.name = name
        self.size = None  # type: Optional[int]
        self.field_list = None  # type: Optional[int]
        self.forward = False
        self.forward_target = None  # type: Optional[int]
        self.members = []  # type: List[Tuple[str, int, int]]
        self.enumerates = []  # type: List[Tuple[str, int]]
        self.continuation = None  # type: Optional[int]
        self.bitfield = None  # type: Optional[Tuple[int, int, int]]


def tool() -> Optional[str]:
    return shutil.which("llvm-pdbutil-14") or shutil.which("llvm-pdbutil")


def _dump(pdb: str, *options: str) -> str:
    return subprocess.run([tool(), "dump"] + list(options) + [pdb], stdout=subprocess.PIPE, check=True,
                          timeout=300).stdout.decode("utf-8", "replace")


def types(pdb: str) -> Dict[int, TypeRecord]:
    records = {}  # type: Dict[int, TypeRecord]
    current = None
    for line in _dump(pdb, "-types").splitlines():
        match = _RECORD.match(line)
        if match:
            current = TypeRecord(int(match.group(1), 16), match.group(2), match.group(3))
            records[current.index] = current
            continue
        if current is None:
            continue
        match = _MEMBER.match(line)
        if match:
            current.members.append((match.group(1), int(match.group(2), 16), int(match.group(3))))
            continue
        match = _ENUMERATE.match(line)
        if match:
            current.enumerates.append((match.group(1), int(match.group(2))))
            continue
        match = _INDEX.match(line)
        if match:
            current.continuation = int(match.group(1), 16)
            continue
        match = _BITFIELD.match(line)
        if match and current.kind == "LF_BITFIELD":
            current.bitfield = (int(match.group(1), 16), int(match.group(2)), int(match.group(3)))
            continue
        match = _FIELD_LIST.search(line)
        if match and current.kind in ("LF_STRUCTURE", "LF_CLASS", "LF_UNION", "LF_ENUM", "LF_INTERFACE"):
            current.field_list = int(match.group(1), 16) if match.group(1) else None
        match = _OPTIONS.match(line)
        if match:
            current.size = int(match.group(2))
            forward = _FORWARD.search(match.group(1))
            if forward:
                current.forward = True
                current.forward_target = int(forward.group(1), 16) if forward.group(1) else None
        elif line.strip().startswith("options:") and "forward ref" in line:
            current.forward = True                  # an enum: no sizeof
            forward = _FORWARD.search(line)
            current.forward_target = int(forward.group(1), 16) if forward and forward.group(1) else None
    return records


def summary(pdb: str) -> Dict[str, object]:
    text = _dump(pdb, "-summary")
    return {"guid": re.search(r"GUID: \{([0-9A-F-]+)\}", text).group(1),
            "age": int(re.search(r"^\s*Age: (\d+)$", text, re.M).group(1))}


def sections(pdb: str) -> List[int]:
    return [int(value, 16) for value in re.findall(r"^\s+([0-9A-F]+) virtual address$",
                                                   _dump(pdb, "-section-headers"), re.M)]


def globals_data(pdb: str) -> List[Tuple[str, int, int]]:
    out = []
    pending = None
    for line in _dump(pdb, "-globals").splitlines():
        match = _SYMBOL.match(line)
        if match:
            pending = match.group(2) if match.group(1) in ("S_GDATA32", "S_LDATA32") else None
            continue
        address = _ADDRESS.search(line)
        if pending is not None and address:
            out.append((pending, int(address.group(1)), int(address.group(2))))
            pending = None
    return out


def module_data(pdb: str) -> List[Tuple[int, str, int, int]]:
    """Module-scope S_GDATA32/S_LDATA32 (not those inside a procedure), module numbers 1-based."""
    out = []
    module = None
    depth = 0
    pending = None
    for line in _dump(pdb, "-symbols").splitlines():
        match = _MODULE.match(line)
        if match:
            module, depth, pending = int(match.group(1)) + 1, 0, None
            continue
        match = _SYMBOL.match(line)
        if match:
            kind = match.group(1)
            pending = match.group(2) if kind in ("S_GDATA32", "S_LDATA32") and depth == 0 else None
            if kind in SCOPE_OPENERS:
                depth += 1
            elif kind in SCOPE_CLOSERS:
                depth = max(0, depth - 1)
            continue
        address = _ADDRESS.search(line)
        if pending is not None and address:
            out.append((module, pending, int(address.group(1)), int(address.group(2))))
            pending = None
    return out
