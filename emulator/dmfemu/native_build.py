"""A real PE image and PDB for an emulated driver, so Microsoft's debugger engine resolves
`dmfdemo!g_DmfModuleCrashDump` and the DMF types by name on an emulator dump - the symbol path dmfkd
takes inside WinDbg (pykd getOffset / typeInfo / `x`), instead of the ISF file.

Pipeline (build needs Debian's clang-14 + lld-14; everything else is plain Python):

1. ``c_source(isf)``: a freestanding C file generated from the driver's ISF document
   (``dmfemu.isf.build_isf``, itself generated from ``dmfkd.layouts`` - no offset is typed here).
   Every ISF user type becomes a C struct whose member offsets and size are pinned by
   ``_Static_assert``; every ISF symbol becomes a global or a function at the RVA the emulator gave
   it. Placement uses MSVC grouped sections: each piece (symbol or filler) gets its own
   ``.text$pNNNNN`` (code) or ``.dmfd$pNNNNN`` (data) section, the linker concatenates them in suffix
   order, and ``/MERGE:.dmfd=.text`` makes one output section that starts at TEXT_RVA and ends at the
   driver's IMAGE_SIZE. The linker's own sections (.rdata with the debug directory and its RSDS
   record) therefore land above IMAGE_SIZE, where nothing of the emulator lives.
2. ``build(isf, out_dir)``: clang (cl mode, CodeView) + lld-link (/DRIVER /DEBUG) ->
   ``<module>.sys`` + ``<module>.pdb``; the linker map proves every symbol sits at its ISF RVA.
   Results are cached by a hash of the source and the tool versions.
3. ``dmfemu.native_image.NativeImage.load(path)`` reads the image back; ``Driver(native_image=...)``
   maps it (see there).

The PDB's file name in the RSDS record is bare (``/PDBALTPATH``), so dbgeng finds it in any folder on
its symbol path. lld-link is not reproducible here: the link time goes into the PE header and the
debug directory, and the RSDS GUID differs from link to link.
"""
import hashlib
import os
import re
import shutil
import subprocess
from typing import Dict, List, NamedTuple, Optional, Tuple

from dmfemu import driver
from dmfemu import kernel
from dmfemu.native_image import NativeBuildError

CLANG_CANDIDATES = ("clang-14", "clang")
LLD_LINK_CANDIDATES = ("lld-link-14", "lld-link")
LINK_BASE = {"x64": 0x140000000, "x86": 0x10000000, "arm64": 0x140000000}
TARGET_TRIPLE = {"x64": "x86_64-pc-windows-msvc", "x86": "i686-pc-windows-msvc", "arm64": "aarch64-pc-windows-msvc"}
LINK_MACHINE = {"x64": "X64", "x86": "X86", "arm64": "ARM64"}
TEXT_PREFIX = ".text$p"
DATA_PREFIX = ".dmfd$p"


class ToolsMissing(NativeBuildError):
    """clang / lld-link are not installed; str() is one line naming the packages."""


def find_tools() -> Tuple[str, str]:
    """(clang, lld-link) executables; DMFEMU_CLANG / DMFEMU_LLD_LINK override the search."""
    def pick(env_name, candidates):
        override = os.environ.get(env_name)
        if override:
            return shutil.which(override)
        for name in candidates:
            found = shutil.which(name)
            if found:
                return found
        return None
    clang = pick("DMFEMU_CLANG", CLANG_CANDIDATES)
    lld = pick("DMFEMU_LLD_LINK", LLD_LINK_CANDIDATES)
    if clang is None or lld is None:
        raise ToolsMissing("clang/lld-link not installed (apt-get install clang-14 lld-14)")
    return clang, lld


# --------------------------------------------------------------------------------------------------
# C source from the ISF document
# --------------------------------------------------------------------------------------------------

_C_BASE = {"char": "char", "unsigned char": "unsigned char", "short": "short",
           "unsigned short": "unsigned short", "long": "long", "unsigned long": "unsigned long",
           "long long": "long long", "unsigned long long": "unsigned long long", "void": "void"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Types(object):
    """Sizes, alignments and C declarators of ISF type descriptions."""

    def __init__(self, isf: dict):
        self.isf = isf
        self.base_types = isf["base_types"]
        self.user_types = isf["user_types"]
        self.pointer_size = self.base_types["pointer"]["size"]
        self._align = {}  # type: Dict[str, int]

    def base_c(self, name: str) -> str:
        if name == "pointer":
            return "unsigned long long" if self.pointer_size == 8 else "unsigned long"
        if name not in _C_BASE:
            raise NativeBuildError("ISF base type %r has no C spelling" % name)
        return _C_BASE[name]

    def size(self, desc: dict) -> int:
        kind = desc["kind"]
        if kind == "base":
            return self.base_types[desc["name"]]["size"]
        if kind == "pointer":
            return self.pointer_size
        if kind == "array":
            return desc["count"] * self.size(desc["subtype"])
        if kind == "struct":
            return self.user_types[desc["name"]]["size"]
        raise NativeBuildError("ISF type kind %r not supported" % kind)

    def align(self, desc: dict) -> int:
        """MSVC natural alignment (what the C compiler will apply without #pragma pack)."""
        kind = desc["kind"]
        if kind == "base":
            return max(1, self.base_types[desc["name"]]["size"])
        if kind == "pointer":
            return self.pointer_size
        if kind == "array":
            return self.align(desc["subtype"])
        if kind != "struct":
            raise NativeBuildError("ISF type kind %r not supported" % kind)
        name = desc["name"]
        if name not in self._align:
            fields = self.user_types[name]["fields"].values()
            self._align[name] = max([self.align(f["type"]) for f in fields] or [1])
        return self._align[name]

    def declarator(self, desc: dict, inner: str) -> str:
        kind = desc["kind"]
        if kind == "base":
            return "%s %s" % (self.base_c(desc["name"]), inner)
        if kind == "struct":
            return "struct %s %s" % (desc["name"], inner)
        if kind == "pointer":
            return self.declarator(desc["subtype"], "*" + inner)
        if kind == "array":
            target = "(%s)" % inner if inner.startswith("*") else inner
            return self.declarator(desc["subtype"], "%s[%d]" % (target, desc["count"]))
        raise NativeBuildError("ISF type kind %r not supported" % kind)

    def embedded(self, desc: dict) -> List[str]:
        """Struct types that must be complete before a member of this type."""
        kind = desc["kind"]
        if kind == "struct":
            return [desc["name"]]
        if kind == "array":
            return self.embedded(desc["subtype"])
        return []


def _check_identifier(name: str, what: str) -> None:
    if not _IDENTIFIER.match(name):
        raise NativeBuildError("%s %r is not a C identifier" % (what, name))


def _struct_order(types: _Types) -> List[str]:
    order = []  # type: List[str]
    state = {}  # type: Dict[str, int]

    def visit(name, chain):
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise NativeBuildError("ISF types embed each other: %s" % " -> ".join(chain + [name]))
        state[name] = 1
        for field in types.user_types[name]["fields"].values():
            for dep in types.embedded(field["type"]):
                visit(dep, chain + [name])
        state[name] = 2
        order.append(name)

    for name in sorted(types.user_types):
        visit(name, [])
    return order


def _struct_source(types: _Types, name: str) -> List[str]:
    """`struct name {...}` with natural alignment; an explicit filler only where the ISF offset is
    beyond where the compiler would put the member (so the type shows no invented fields normally)."""
    user = types.user_types[name]
    _check_identifier(name, "type name")
    fields = sorted(user["fields"].items(), key=lambda item: item[1]["offset"])
    lines = ["struct %s {" % name]
    asserts = []
    cursor = 0
    for field_name, field in fields:
        _check_identifier(field_name, "field of %s" % name)
        offset = field["offset"]
        desc = field["type"]
        natural = -(-cursor // types.align(desc)) * types.align(desc)
        if offset < cursor:
            raise NativeBuildError("%s.%s at +0x%x overlaps the previous member (ends +0x%x)"
                                   % (name, field_name, offset, cursor))
        if offset != natural:
            lines.append("    unsigned char _Filler_0x%x[%d];" % (cursor, offset - cursor))
        lines.append("    %s;" % types.declarator(desc, field_name))
        asserts.append("_Static_assert(__builtin_offsetof(struct %s, %s) == %d, \"%s.%s\");"
                       % (name, field_name, offset, name, field_name))
        cursor = offset + types.size(desc)
    size = user["size"]
    alignment = types.align({"kind": "struct", "name": name})
    natural_size = -(-cursor // alignment) * alignment
    if size < cursor:
        raise NativeBuildError("%s: size %d < end of its last member %d" % (name, size, cursor))
    if size != natural_size:
        lines.append("    unsigned char _Filler_0x%x[%d];" % (cursor, size - cursor))
    if not fields and not size:
        lines.append("    unsigned char _Empty;")
    lines.append("};")
    asserts.append("_Static_assert(sizeof(struct %s) == %d, \"sizeof %s\");" % (name, size, name))
    return lines + asserts


class _Piece(NamedTuple):
    rva: int
    size: int
    code: bool
    name: Optional[str]        # None: filler
    desc: Optional[dict]       # the symbol's ISF type (None: a function, or untyped)


def _pieces(isf: dict, types: _Types, text_rva: int, image_size: int, routine_slot: int) -> List[_Piece]:
    symbols = sorted(isf["symbols"].items(), key=lambda item: item[1]["address"])
    entries = []  # type: List[Tuple[int, str, bool, Optional[dict]]]
    for name, entry in symbols:
        _check_identifier(name, "symbol")
        typ = entry.get("type")
        code = bool(typ) and typ.get("kind") == "function"
        entries.append((entry["address"], name, code, None if code else (typ or None)))
    last_code = max([rva for rva, _, code, _ in entries if code] or [text_rva])
    first_data = min([rva for rva, _, code, _ in entries if not code] or [image_size])
    if last_code >= first_data:
        raise NativeBuildError("a function at RVA 0x%x lies after data at 0x%x: one merged section cannot "
                               "hold that order" % (last_code, first_data))
    pieces = []  # type: List[_Piece]
    cursor = text_rva
    for index, (rva, name, code, desc) in enumerate(entries):
        if rva >= image_size:
            raise NativeBuildError("symbol %s at RVA 0x%x is past the image (0x%x)" % (name, rva, image_size))
        if rva < cursor:
            raise NativeBuildError("symbol %s at RVA 0x%x overlaps the previous one (ends 0x%x)" % (name, rva, cursor))
        following = entries[index + 1][0] if index + 1 < len(entries) else image_size
        if code:
            size = min(routine_slot, following - rva)
        elif desc is not None:
            size = types.size(desc)
        else:
            size = min(types.pointer_size, following - rva)   # an untyped global: one pointer
            desc = {"kind": "pointer", "subtype": {"kind": "base", "name": "void"}}
        if rva > cursor:
            pieces.append(_Piece(cursor, rva - cursor, code, None, None))
        pieces.append(_Piece(rva, size, code, name, desc))
        cursor = rva + size
    if cursor > image_size:
        raise NativeBuildError("symbols run past the image (0x%x > 0x%x)" % (cursor, image_size))
    if cursor < image_size:
        pieces.append(_Piece(cursor, image_size - cursor, False, None, None))
    return pieces


def c_source(isf: dict, text_rva: Optional[int] = None, image_size: Optional[int] = None,
             routine_slot: Optional[int] = None) -> str:
    """The C translation unit of the driver described by `isf` (see the module docstring)."""
    text_rva = driver.TEXT_RVA if text_rva is None else text_rva
    image_size = driver.IMAGE_SIZE if image_size is None else image_size
    routine_slot = driver.ROUTINE_SLOT if routine_slot is None else routine_slot
    types = _Types(isf)
    meta = isf["metadata"].get("dmfkd", {})
    # (the banner still names dmfemu.pdb, where this generator lived: the source, and with it the
    # build cache key and every pinned native build, stays byte for byte the same)
    out = ["/* Generated by dmfemu.pdb from the ISF of %s (DMF %s, %s). Do not edit. */"
           % (meta.get("module", "?"), meta.get("dmf_version", "?"), meta.get("arch", "?")), ""]
    order = _struct_order(types)
    out += ["struct %s;" % name for name in order] + [""]
    for name in order:
        out += _struct_source(types, name) + [""]
    arm64 = meta.get("arch") == "arm64"
    for index, piece in enumerate(_pieces(isf, types, text_rva, image_size, routine_slot)):
        section = "%s%05d" % (TEXT_PREFIX if piece.code else DATA_PREFIX, index)
        out.append("/* RVA 0x%x, %d bytes */" % (piece.rva, piece.size))
        if piece.name is None:
            # filler without a symbol: raw bytes in its own ordered section (breakpoints in code, as the
            # emulator's routine slots; zeros in data)
            flags, fill = ("xr", _code_fill(arm64, piece.size)) if piece.code else ("dw", "%d, 1, 0x0" % piece.size)
            out.append("__asm__(\".section \\\"%s\\\",\\\"%s\\\"\\n.fill %s\\n\");"
                       % (section, flags, fill))
        elif piece.code:
            # naked: no prologue, no unwind data; the body is the slot's breakpoint filling. For AArch64
            # Windows targets clang ends a naked function with a `brk #0x1` (unreachable trap) of its own,
            # so the body is one instruction shorter there and the slot keeps its size.
            body = piece.size - (ARM64_INSTRUCTION if arm64 else 0)
            out.append("__declspec(code_seg(\"%s\")) __attribute__((naked)) void %s(void) "
                       "{ __asm__(\".fill %s\"); }" % (section, piece.name, _code_fill(arm64, body)))
        else:
            out.append("#pragma section(\"%s\", read, write)" % section)
            out.append("__declspec(allocate(\"%s\")) %s;" % (section, types.declarator(piece.desc, piece.name)))
    out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------------

ARM64_INSTRUCTION = 4


def _code_fill(arm64: bool, size: int) -> str:
    """`.fill` arguments for `size` bytes of breakpoints: INT3 bytes (x86/x64), `brk #0xf000` words
    (AArch64, the emulator's routine fill)."""
    if arm64:
        return "%d, 4, 0x%x" % (size // ARM64_INSTRUCTION, kernel.ARM64_BRK_F000)
    return "%d, 1, 0xcc" % size


class NativeBuild(NamedTuple):
    image: str                  # <module>.sys
    pdb: str                    # <module>.pdb
    source: str                 # the generated C file
    symbols: Dict[str, int]     # name -> RVA, from the linker map


def _tool_version(path: str) -> str:
    try:
        proc = subprocess.run([path, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (proc.stdout.decode("utf-8", "replace").splitlines() or ["?"])[0]


def _run(argv: List[str], what: str, cwd: str) -> None:
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NativeBuildError("%s failed to run: %s" % (what, exc))
    if proc.returncode != 0:
        text = proc.stdout.decode("utf-8", "replace").strip().splitlines()
        errors = [line for line in text if "error" in line] or text or ["exit %d" % proc.returncode]
        raise NativeBuildError("%s failed: %s" % (what, errors[0][:300]))


_MAP_PUBLIC = re.compile(r"^\s*[0-9A-Fa-f]{4}:[0-9A-Fa-f]{8}\s+(\S+)\s+([0-9A-Fa-f]{8,16})\s")


def map_publics(map_text: str, base: int, arch: str) -> Dict[str, int]:
    """{name: RVA} from lld-link's /MAP "Publics by Value" (x86 C names lose their leading '_')."""
    out = {}
    section = False
    for line in map_text.splitlines():
        if "Publics by Value" in line:
            section = True
            continue
        if section and line.strip().startswith("entry point"):
            break
        match = _MAP_PUBLIC.match(line) if section else None
        if match:
            name = match.group(1)
            if arch == "x86" and name.startswith("_"):
                name = name[1:]
            out[name] = int(match.group(2), 16) - base
    return out


def build(isf: dict, out_dir: str, tools: Optional[Tuple[str, str]] = None) -> NativeBuild:
    """Compile and link the driver described by `isf` into `out_dir`/<hash>/ (reused when present).
    Raises ToolsMissing without clang/lld, NativeBuildError when a symbol does not land on its RVA."""
    clang, lld = tools or find_tools()
    meta = isf["metadata"].get("dmfkd", {})
    module = meta.get("module", "driver")
    arch = meta.get("arch", "x64")
    if arch not in TARGET_TRIPLE:
        raise NativeBuildError("no native image for arch %s" % arch)
    _check_identifier(module, "module name")
    source = c_source(isf)
    first_symbol = min(isf["symbols"].items(), key=lambda item: item[1]["address"])[0]
    compile_argv = [clang, "--driver-mode=cl", "--target=%s" % TARGET_TRIPLE[arch], "/nologo", "/c", "/Z7",
                    "/GS-", "/Od", "/Zl",
                    # every ISF type into the PDB, also those no global uses (DMF_OBJECT, DMFDEMO_EVENT, ...)
                    "/clang:-fno-eliminate-unused-debug-types", module + ".c", "/Fo" + module + ".obj"]
    # /FIXED (no relocations: the image is mapped at the emulator's base, never relocated) is refused for
    # ARM64, where Windows requires relocatable images ("/dynamicbase:no is not compatible with arm64")
    fixed = [] if arch == "arm64" else ["/FIXED"]
    link_argv = [lld, "/nologo", "/DRIVER", "/SUBSYSTEM:NATIVE", "/NODEFAULTLIB"] + fixed + ["/DEBUG",
                 "/ENTRY:" + first_symbol,        # lld-link decorates it for x86 itself
                 "/BASE:0x%x" % LINK_BASE[arch], "/MERGE:.dmfd=.text",
                 "/MACHINE:%s" % LINK_MACHINE[arch],
                 "/PDB:" + module + ".pdb", "/PDBALTPATH:" + module + ".pdb", "/MAP:" + module + ".map",
                 "/OUT:" + module + ".sys", module + ".obj"]
    key = hashlib.sha256("\n".join([source, _tool_version(clang), _tool_version(lld)] + compile_argv[1:]
                                   + link_argv[1:])
                         .encode("utf-8")).hexdigest()[:16]
    folder = os.path.join(out_dir, "%s-%s-%s" % (module, arch, key))
    image = os.path.join(folder, module + ".sys")
    pdb = os.path.join(folder, module + ".pdb")
    c_path = os.path.join(folder, module + ".c")
    map_path = os.path.join(folder, module + ".map")
    if not (os.path.exists(image) and os.path.exists(pdb) and os.path.exists(map_path)):
        tmp = folder + ".tmp%d" % os.getpid()
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        with open(os.path.join(tmp, module + ".c"), "w") as handle:
            handle.write(source)
        _run(compile_argv, "clang (cl mode)", tmp)
        _run(link_argv, "lld-link", tmp)
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(tmp, folder)
    with open(map_path) as handle:
        publics = map_publics(handle.read(), LINK_BASE[arch], arch)
    wrong = ["%s at 0x%x (ISF 0x%x)" % (name, publics.get(name, -1), entry["address"])
             for name, entry in sorted(isf["symbols"].items()) if publics.get(name) != entry["address"]]
    if wrong:
        raise NativeBuildError("native image misplaces %d symbol(s): %s" % (len(wrong), "; ".join(wrong[:4])))
    return NativeBuild(image, pdb, c_path, publics)
