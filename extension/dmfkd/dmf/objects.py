"""DMF objects in a target's memory (spec/dmf.md §4): WDF handle decoding, DMF_OBJECT location and
reading, module trees and collections.

A DMFMODULE is a WDFMEMORY whose buffer is the DMF_OBJECT (§4.1). The buffer sits after the
FxMemoryBuffer object, whose size depends on the WDF build (§4.2, §7), so the DMF_OBJECT is found by
one bounded read forward from the FxObject and a scan for `MemoryDmfObject == handle && Signature ==
0x12345678` - the two fields every DMF version keeps in its prefix (§4.3). Field offsets come from the
debugger's/ISF's DMF_OBJECT type when there is one, else from dmfkd.layouts.dmf by DMF version (given
by the symbols, or detected from the object itself).

Reads are bulk (one per object, one per string, one per array) and a MemoryReadError becomes an
"unreadable" value on the row, never an exception out of a walk.
"""
import copy
import struct
from typing import Any, Dict, List, Optional, Tuple

from dmfkd.errors import DmfkdError, LayoutError, MemoryReadError, SymbolError
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dmf_versions
from dmfkd.layouts import engine
from dmfkd.layouts import windows
from dmfkd.records import UNREADABLE, ModuleRow

SIGNATURE = dmf_structures.DMF_OBJECT_SIGNATURE
#: how far past the FxObject the DMF_OBJECT may start (sizeof(FxMemoryBuffer) is ~0x70-0x100)
SCAN_WINDOW = 0x300
MAX_CHILDREN = 256
MAX_TREE_MODULES = 2048
MAX_TREE_DEPTH = 64  # DMF trees are a few levels deep; a longer chain is a corrupt list
MAX_COLLECTION_MODULES = 1024
NAME_LIMIT = 128


def object_from_handle(handle: int, pointer_size: int) -> int:
    """FxObject address of an ordinary (bit 0 clear) WDF handle: (handle & ~7) XOR ~7 (§4.2)."""
    width = (1 << (8 * pointer_size)) - 1
    return ((handle & width & ~7) ^ (width & ~7)) & width


def is_offset_handle(handle: int) -> bool:
    return bool(handle & 1)


def _u(data: bytes, offset: int, size: int) -> int:
    return int.from_bytes(data[offset:offset + size], "little")


def read_bounded(target, address: int, size: int) -> bytes:
    """Read up to `size` bytes, stopping at the first unreadable page (for scan windows only)."""
    try:
        return target.read(address, size)
    except MemoryReadError:
        pass
    out = b""
    pos = address
    end = address + size
    while pos < end:
        chunk = min(end - pos, 0x1000 - (pos & 0xFFF))
        try:
            out += target.read(pos, chunk)
        except MemoryReadError:
            break
        pos += chunk
    return out


def read_string(target, address: int, limit: int = NAME_LIMIT) -> Any:
    """A NUL-terminated ASCII string as text, None for NULL, "unreadable" when the read fails. Bytes
    outside printable ASCII come back as \\xNN: names are printable (spec/dmf.md sec. 6 inv. 18), and
    a newline read from a corrupt dump must not split a row or a one-line error."""
    if not address:
        return None
    try:
        raw = target.read_cstring(address, limit)
    except MemoryReadError:
        return UNREADABLE
    text = raw.decode("latin-1")
    if text.isprintable() and text.isascii():
        return text
    return "".join(c if " " <= c <= "~" else "\\x%02x" % ord(c) for c in text)


class ObjectLayout:
    """Where the DMF_OBJECT fields dmfkd uses are, for one target: {name: (offset, size)}."""

    def __init__(self, offsets: Dict[str, Tuple[int, int]], size: int, source: str,
                 dmf_version: Optional[Tuple[int, int, int]] = None, complete: bool = True):
        self.offsets = offsets
        self.size = size
        self.source = source
        self.dmf_version = dmf_version
        self.complete = complete
        #: the DMF version whose ModuleStateType numbering applies (PreCreate since 1.1.136, §4.3)
        self.state_version = dmf_version or dmf_versions.HEAD_VERSION

    def has(self, name: str) -> bool:
        return name in self.offsets

    def get(self, data: bytes, name: str) -> Optional[int]:
        where = self.offsets.get(name)
        if where is None or where[0] + where[1] > len(data):
            return None
        return _u(data, where[0], where[1])

    @classmethod
    def from_layout(cls, layout, dmf_version, source: str) -> "ObjectLayout":
        offsets = {name: (off, layout.sizes[name]) for name, off in layout.offsets.items()}
        return cls(offsets, layout.size, source, dmf_versions.parse_dmf_version(dmf_version) if dmf_version else None,
                   layout.complete)

    @classmethod
    def from_symbols(cls, symbols, pointer_size: int) -> Optional["ObjectLayout"]:
        """The DMF_OBJECT type of the driver's PDB / ISF file, when it has one."""
        try:
            tl = symbols.type_layout("DMF_OBJECT")
        except (SymbolError, NotImplementedError, AttributeError):
            return None
        offsets = {}
        for name, fld in tl.fields.items():
            size = fld.size or pointer_size
            if fld.offset + size > tl.size:
                continue  # a field past the type's end is not a field of it: unknown, not garbage
            offsets[name] = (fld.offset, size)
        for composite, inner in (("ChildObjectList", "Flink"), ("ChildListEntry", "Flink")):
            if composite in offsets:
                offsets[composite + "." + inner] = (offsets[composite][0], pointer_size)
        desc = tl.fields.get("ModuleDescriptor")
        if desc is not None:
            try:
                dl = symbols.type_layout(desc.type_name)
                sub = dl.fields.get("ModuleConfigSize")
                if sub is not None:
                    offsets["ModuleDescriptor.ModuleConfigSize"] = (desc.offset + sub.offset, sub.size or 4)
            except (SymbolError, NotImplementedError):
                pass
        if "MemoryDmfObject" not in offsets or "Signature" not in offsets:
            return None
        layout = cls(offsets, tl.size, "symbols (DMF_OBJECT type)", None, True)
        # the type's own fields tell its era (spec/dmf.md §0.3, §4.3)
        if "ModuleConfigMemory" in offsets:
            layout.state_version = dmf_versions.V1_1_80 if "ReferenceCountLock" not in offsets else (1, 1, 134)
        return layout


def prefix_families(arch: str) -> List[Tuple[str, int, int]]:
    """(label, MemoryDmfObject offset, Signature offset) of the two stable prefixes (§4.3)."""
    out = []
    for version, label in ((dmf_versions.V1_1_81, ">=1.1.81"), (dmf_versions.V1_1_80, "<=1.1.80")):
        p = dmf_structures.dmf_object_prefix(arch, version)
        out.append((label, p.offsets["MemoryDmfObject"], p.offsets["Signature"]))
    return out


class DmfObject:
    """A DMF_OBJECT read from memory: the fields dmfkd shows, and what was unreadable."""

    def __init__(self, handle: Optional[int], address: int, raw: bytes, layout: ObjectLayout):
        self.handle = handle
        self.address = address
        self.raw = raw
        self.layout = layout
        self.warnings = []  # type: List[str]
        self.module_name = None  # type: Any
        self.instance_name = None  # type: Any

    def field(self, name: str) -> Optional[int]:
        return self.layout.get(self.raw, name)

    @property
    def module_context(self) -> Optional[int]:
        return self.field("ModuleContext")

    @property
    def module_config(self) -> Optional[int]:
        return self.field("ModuleConfig")

    @property
    def config_size(self) -> Optional[int]:
        """ModuleConfigSize (v1.1.135+) or ModuleDescriptor.ModuleConfigSize (§2.2)."""
        v = self.layout.dmf_version
        if self.layout.has("ModuleConfigSize") and (v is None or v >= dmf_versions.V1_1_135):
            return self.field("ModuleConfigSize")
        return self.field("ModuleDescriptor.ModuleConfigSize")

    def state_name(self) -> Any:
        value = self.field("ModuleState")
        if value is None:
            return None
        names = {v: k for k, v in dmf_structures.module_state_values(self.layout.state_version).items()}
        return names.get(value, "state %d" % value)


class ObjectReader:
    """Reads DMF objects of one target. `dmf_version` pins the layout; otherwise the symbols' DMF_OBJECT
    type, their dmf_version metadata, or detection from the object decides."""

    def __init__(self, target, dmf_version=None):
        self.target = target
        self.arch = target.arch if target.arch in ("x64", "x86") else ("x86" if target.pointer_size == 4 else "x64")
        self.ptr = target.pointer_size
        self.align = engine.memory_allocation_alignment(self.arch)
        symbols = getattr(target, "symbols", None)
        version = dmf_version or getattr(symbols, "dmf_version", None)
        self.dmf_version = dmf_versions.parse_dmf_version(version) if version else None
        self._symbol_layout = None  # type: Optional[ObjectLayout]
        self._symbols_checked = False
        self.detected = None  # type: Optional[str]
        self._cache = {}  # type: Dict[int, DmfObject]

    # -- layout -------------------------------------------------------------------------------------
    def _layout_from_symbols(self) -> Optional[ObjectLayout]:
        if not self._symbols_checked:
            self._symbols_checked = True
            symbols = getattr(self.target, "symbols", None)
            if symbols is not None and self.dmf_version is None:
                # only worth an engine call when no version pins the layout
                self._symbol_layout = ObjectLayout.from_symbols(symbols, self.ptr)
        return self._symbol_layout

    def layout_for(self, family: str, window: bytes, offset: int) -> ObjectLayout:
        if self.dmf_version is not None:
            return ObjectLayout.from_layout(dmf_structures.dmf_object(self.arch, self.dmf_version), self.dmf_version,
                                            "layouts.dmf v%s" % dmf_versions.format_dmf_version(self.dmf_version))
        if family != "<=1.1.80" and self._head_detected(window, offset):
            # nothing but an appended field changed between 1.1.135 and HEAD (spec/dmf.md §0.3, §4.3):
            # the HEAD offsets are certain, no symbol look-up (engine call) needed
            self.detected = ">=1.1.135 (HEAD layout)"
            layout = ObjectLayout.from_layout(dmf_structures.dmf_object_head(self.arch), dmf_versions.HEAD_VERSION,
                                              "HEAD layout (v1.1.135+ detected)")
            layout.dmf_version = None
            return layout
        sym = self._layout_from_symbols()
        if sym is not None:
            return sym
        if family == "<=1.1.80":
            self.detected = "<=1.1.80 (prefix)"
            layout = ObjectLayout.from_layout(dmf_structures.dmf_object_prefix(self.arch, dmf_versions.V1_1_80), None,
                                              "prefix <=1.1.80 (detected)")
            layout.state_version = dmf_versions.V1_1_80
            return layout
        self.detected = "1.1.81-1.1.134 (prefix)"
        layout = ObjectLayout.from_layout(dmf_structures.dmf_object_prefix(self.arch, dmf_versions.V1_1_81), None,
                                          "prefix 1.1.81-1.1.134 (detected)")
        layout.state_version = (1, 1, 134)
        return layout

    def _head_detected(self, window: bytes, offset: int) -> bool:
        """>= 1.1.81 prefix whose word after ClientModuleInstanceName is a size (v1.1.135+), not the
        name pointer of 1.1.81-1.1.134."""
        head = dmf_structures.dmf_object_head(self.arch)
        size_off = offset + head.offsets["ClientModuleInstanceNameSizeBytes"]
        if size_off + self.ptr > len(window):
            return False
        return _u(window, size_off, self.ptr) < 0x10000

    # -- locating -----------------------------------------------------------------------------------
    def pointer(self, value: int, what: str = "handle") -> int:
        """`value` as a pointer of this target. dbgeng hands a 32-bit target's values sign-extended to
        64 bits (bug check parameters through pykd); anything else wider than a pointer is refused
        in one line instead of overflowing a to_bytes() later."""
        width = 8 * self.ptr
        if 0 <= value < 1 << width:
            return value
        if width < 64 and 0 <= value < 1 << 64 and value >> (width - 1) == (1 << (65 - width)) - 1:
            return value & ((1 << width) - 1)
        raise DmfkdError("%s 0x%x does not fit a %d-bit pointer" % (what, value, width))

    def _scan(self, window: bytes, handle: int, start: int = 0) -> Optional[Tuple[int, str]]:
        sig = struct.pack("<Q", SIGNATURE)
        hbytes = handle.to_bytes(self.ptr, "little")
        for label, mem_off, sig_off in prefix_families(self.arch):
            for off in range(start, len(window) - sig_off - 8 + 1, self.align):
                if window[off + sig_off:off + sig_off + 8] == sig and \
                        window[off + mem_off:off + mem_off + self.ptr] == hbytes:
                    return off, label
        return None

    def locate(self, handle: int) -> Tuple[int, bytes, str]:
        """(DMF_OBJECT address, the bytes read from it, prefix family). Raises DmfkdError when the
        handle leads to no DMF_OBJECT (wrong handle, freed module, unreadable)."""
        handle = self.pointer(handle, "DMFMODULE")
        if not handle:
            raise DmfkdError("NULL DMFMODULE handle")
        if is_offset_handle(handle):
            raise DmfkdError("0x%x is an offset handle (bit 0 set), not a DMFMODULE" % handle)
        fx = object_from_handle(handle, self.ptr)
        head_size = dmf_structures.dmf_object_head(self.arch).size
        try:
            window = read_bounded(self.target, fx, SCAN_WINDOW + head_size)
        except MemoryReadError:
            window = b""
        if not window:
            raise MemoryReadError(fx, SCAN_WINDOW + head_size, reason="FxObject of DMFMODULE 0x%x" % handle)
        found = self._scan(window, handle)
        if found is not None:
            off, label = found
            return fx + off, window[off:], label
        # WDF verifier pool tracking: FxMemoryBufferFromPool keeps the buffer in its own pool block
        # (spec/dmf.md §4.2): follow the object's pointer-sized words that look like kernel addresses
        tried = 0
        low = 0xFFFF800000000000 if self.ptr == 8 else 0x80000000
        for off in range(0, min(len(window), 0x100) - self.ptr + 1, self.ptr):
            p = _u(window, off, self.ptr)
            if p < low or p % self.align or p == fx:
                continue
            tried += 1
            if tried > 16:
                break
            try:
                data = self.target.read(p, head_size)
            except MemoryReadError:
                continue
            found = self._scan(data[:max(len(data), 1)], handle)
            if found is not None and found[0] == 0:
                return p, data, found[1]
        raise DmfkdError("DMFMODULE 0x%x: no DMF_OBJECT (Signature 0x%x and MemoryDmfObject == handle) "
                         "within 0x%x bytes of its FxObject 0x%x" % (handle, SIGNATURE, SCAN_WINDOW, fx))

    def read(self, handle: int, names=True) -> DmfObject:
        """The DMF_OBJECT of a DMFMODULE handle (one scan read; +1 read per string: names=True both,
        "module" the module name only, False none)."""
        handle = self.pointer(handle, "DMFMODULE")
        cached = self._cache.get(handle)
        if cached is not None and (not names or (cached.module_name is not None and
                                                 (names == "module" or cached.instance_name is not None))):
            return cached
        address, data, family = self.locate(handle)
        layout = self.layout_for(family, data, 0)
        raw = data[:layout.size]
        if len(raw) < layout.size:
            try:
                raw = self.target.read(address, layout.size)
            except MemoryReadError:
                pass
        obj = DmfObject(handle, address, raw, layout)
        if len(raw) < layout.size:
            obj.warnings.append("only %d of %d DMF_OBJECT bytes readable" % (len(raw), layout.size))
        if names:
            self.read_names(obj, names)
        self._cache[handle] = obj
        return obj

    def read_at(self, address: int, names: bool = True, expect_handle: Optional[int] = None) -> DmfObject:
        """A DMF_OBJECT known by its address (child lists, collections); Signature checked."""
        try:
            data = self.target.read(address, dmf_structures.dmf_object_head(self.arch).size)
        except MemoryReadError:
            data = read_bounded(self.target, address, dmf_structures.dmf_object_head(self.arch).size)
        family = self._family_by_signature(data)
        if family is None:
            raise DmfkdError("0x%x is not a DMF_OBJECT (no Signature 0x%x)" % (address, SIGNATURE))
        layout = self.layout_for(family, data, 0)
        obj = DmfObject(layout.get(data, "MemoryDmfObject"), address, data[:layout.size], layout)
        if expect_handle is not None and obj.handle != expect_handle:
            obj.warnings.append("MemoryDmfObject 0x%x != handle 0x%x: the object does not point back at its own handle"
                                % (obj.handle or 0, expect_handle))
        if names:
            self.read_names(obj)
        return obj

    def _family_by_signature(self, data: bytes) -> Optional[str]:
        for label, _, sig_off in prefix_families(self.arch):
            if _u(data, sig_off, 8) == SIGNATURE:
                return label
        return None

    def read_names(self, obj: DmfObject, which=True) -> None:
        obj.module_name = read_string(self.target, obj.field("ModuleName") or 0)
        if which != "module":
            obj.instance_name = read_string(self.target, obj.field("ClientModuleInstanceName") or 0, 256)

    # -- trees --------------------------------------------------------------------------------------
    def _child_at(self, address: int, known: Optional[Dict[int, Any]]) -> DmfObject:
        """read_at, once per address within one tree walk (`known`): lists that share entries would
        otherwise re-read MAX_CHILDREN objects for each of MAX_TREE_MODULES parents. Each caller
        gets its own copy (parents add their own warnings)."""
        if known is None:
            return self.read_at(address)
        hit = known.get(address)
        if hit is None:
            try:
                hit = self.read_at(address)
            except DmfkdError as exc:
                hit = exc
            known[address] = hit
        if isinstance(hit, DmfkdError):
            raise hit
        clone = copy.copy(hit)
        clone.warnings = list(hit.warnings)
        return clone

    def children(self, obj: DmfObject, known: Optional[Dict[int, Any]] = None) -> Tuple[List[DmfObject], List[str]]:
        """Children through ChildObjectList (entry address == child DMF_OBJECT, §4.4), bounded and
        cycle-safe; needs a complete layout (symbols or v1.1.135+)."""
        problems = []
        if not (obj.layout.has("ChildObjectList.Flink") or obj.layout.has("ChildObjectList")):
            return [], ["child list offsets unknown for this DMF version (give symbols)"]
        where = obj.layout.offsets.get("ChildObjectList.Flink") or obj.layout.offsets["ChildObjectList"]
        head = obj.address + where[0]
        flink = _u(obj.raw, where[0], self.ptr)
        expected = obj.field("NumberOfChildModules")
        out = []
        seen = {head}
        entry = flink
        while entry and entry not in seen:
            if len(out) >= MAX_CHILDREN:
                problems.append("more than %d children: list cut" % MAX_CHILDREN)
                break
            seen.add(entry)
            try:
                child = self._child_at(entry, known)
            except DmfkdError as exc:
                problems.append("child list entry 0x%x: %s" % (entry, str(exc).splitlines()[0]))
                break
            parent = child.field("DmfObjectParent")
            if parent is not None and parent != obj.address:
                child.warnings.append("DmfObjectParent 0x%x != 0x%x: the child does not name this parent" % (parent, obj.address))
            out.append(child)
            entry = _u(child.raw, 0, self.ptr)  # ChildListEntry.Flink at offset 0
        if entry and entry != head and entry in seen:
            problems.append("child list of 0x%x loops back to 0x%x" % (obj.address, entry))
        if expected is not None and expected != len(out) and not problems:
            problems.append("NumberOfChildModules %d but %d children linked" % (expected, len(out)))
        return out, problems

    def collection_layout(self):
        """DMF_MODULE_COLLECTION of the driver's DMF version; without a version the v1.0 layout, whose
        fields every later release has at the same offsets (the structure only grew at its end)."""
        return dmf_structures.dmf_module_collection(self.arch, self.dmf_version or dmf_versions.V1_0)

    def collection_sizes(self) -> Tuple[int, ...]:
        """sizeof(DMF_MODULE_COLLECTION) for the driver's DMF version; every size a release has had when
        the version is unknown (96 / 68 up to v1.1.2, 104 / 76 after)."""
        if self.dmf_version is not None:
            return (self.collection_layout().size,)
        return dmf_structures.dmf_module_collection_sizes(self.arch)

    def collection(self, handle: int) -> Tuple[Optional[int], List[int], List[str]]:
        """DMFCOLLECTION handle -> (DMF_MODULE_COLLECTION address, top-level DMF_OBJECT addresses, problems)."""
        handle = self.pointer(handle, "DMFCOLLECTION")
        coll = self.collection_layout()
        fx = object_from_handle(handle, self.ptr)
        window = read_bounded(self.target, fx, SCAN_WINDOW + coll.size)
        hbytes = handle.to_bytes(self.ptr, "little")
        for off in range(0, len(window) - coll.size + 1, self.align):
            if window[off:off + self.ptr] != hbytes:
                continue
            values = coll.unpack_from(window, off)
            count = values["NumberOfClientDriverDmfModules"]
            array = values["ClientDriverDmfModules"]
            if not 0 < count <= MAX_COLLECTION_MODULES or not array:
                continue
            try:
                raw = self.target.read(array, count * self.ptr)
            except MemoryReadError:
                return fx + off, [], ["module array at 0x%x unreadable" % array]
            return fx + off, [_u(raw, i * self.ptr, self.ptr) for i in range(count)], []
        raise DmfkdError("0x%x: no DMF_MODULE_COLLECTION (ModuleCollectionHandleMemory == handle) after its "
                         "FxObject 0x%x" % (handle, fx))

    def tree(self, roots: List[DmfObject]) -> List[ModuleRow]:
        """Depth-first module rows under `roots` (bounded, each object once). Iterative: a hostile
        dump can chain MAX_TREE_MODULES objects one below the other, deeper than Python's stack."""
        rows = []  # type: List[ModuleRow]
        seen = set()
        known = {}  # type: Dict[int, Any]
        stack = [(root, 0) for root in reversed(roots)]
        while stack and len(rows) < MAX_TREE_MODULES:
            obj, depth = stack.pop()
            if obj.address in seen:
                continue
            seen.add(obj.address)
            row = self.module_row(obj, depth)
            rows.append(row)
            if depth >= MAX_TREE_DEPTH:
                row.warnings.append("deeper than %d levels: children not followed" % MAX_TREE_DEPTH)
                continue
            kids, problems = self.children(obj, known)
            row.children = len(kids)
            row.warnings.extend(problems)
            stack.extend((kid, depth + 1) for kid in reversed(kids))
        if stack and len(rows) >= MAX_TREE_MODULES and rows:
            rows[-1].warnings.append("more than %d modules: tree cut" % MAX_TREE_MODULES)
        return rows

    def module_row(self, obj: DmfObject, depth: int) -> ModuleRow:
        return ModuleRow(depth=depth, handle=obj.handle, object_address=obj.address,
                         module_name=obj.module_name, instance_name=obj.instance_name,
                         state=obj.state_name(), context=obj.module_context, config=obj.module_config,
                         config_size=obj.config_size, parent=obj.field("DmfObjectParent"),
                         warnings=list(obj.warnings))


def context_type_size(target, context_address: int, fx_object: Optional[int] = None) -> Optional[int]:
    """ContextSize of the WDF context at `context_address`, through the FxContextHeader before it
    (§4.2: header, then the context aligned to 16/8) and its ContextTypeInfo. None when unreadable or
    the header does not point back at `fx_object`."""
    arch = target.arch if target.arch in ("x64", "x86") else "x64"
    header = windows.wdf_context_header(arch)
    info = windows.wdf_object_context_type_info(arch)
    try:
        raw = target.read(context_address - windows.wdf_context_offset(arch), header.size)
        h = header.unpack_from(raw)
        if fx_object is not None and h["Object"] != fx_object:
            return None
        if not h["ContextTypeInfo"]:
            return None
        ti = info.unpack_from(target.read(h["ContextTypeInfo"], info.size))
    except (MemoryReadError, LayoutError):
        return None
    return ti["ContextSize"]
