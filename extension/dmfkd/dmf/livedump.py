"""DMF_LiveKernelDump in a target (spec/dmf.md §3, §4.5 entry point 5): the module's context and
config, its DataBufferSource ring of DATA_BUFFER entries, the framework data it records (§3.6), and
what a live kernel dump made through it contains.

A live dump made by DMF_LiveKernelDump carries BugCheckCode = the client's live dump code,
P1 = the client's parameter and P2 = the DMFCOLLECTION handle unless the caller set ExcludeDmfData
(§3.5 step 2). A triage live minidump (type 4) holds exactly the buffers LkmdTelInsertTriageDataBlock
was given: the valid DATA_BUFFER entries, then the caller's client structures (§3.5 steps 3-4) - the
ring's own storage is module heap memory and is never among them (§3.6), so there the list comes
from the dump's triage data blocks. A full live dump (bitmap type 6), a full or bitmap crash dump or
a live target has all memory: the list comes from the ring, invalid (removed) entries included. A
crash triage dump of a driver with IncludeDmfDataInBugCheckTriageDump holds the valid entries as
triage data blocks added at bug check (§3.7): read like a live minidump.

Readers return plain rows; nothing here prints. Reads are bulk: one per DMF_OBJECT, one per context,
one for the whole ring storage, one per buffer when its readability is checked.
"""
import bisect
from typing import Any, Dict, List, Optional, Tuple

from dmfkd.dmf.module_collection import CollectionInfo, _u, display_name, read_exact  # noqa: F401
from dmfkd.dmf.objects import DmfObject, ObjectReader, context_type_size, object_from_handle
from dmfkd.dmf.ringbuffer import RingState, decode_live_ring
from dmfkd.errors import DmfkdError, LayoutError, MemoryReadError, SymbolError
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dmf_versions
from dmfkd.records import UNREADABLE, ModuleRow, hex_or
from dmfkd.targets.base import Target

#: bug-check codes that only ever name live dumps ([DOCS] Kernel Live Dump Code Reference,
#: LkmdTelCreateReport; spec/dump-format.md §7). A DMF client may pass any code.
LIVE_DUMP_CODES = {
    0x0000015D: "SOC_SUBSYSTEM_FAILURE_LIVEDUMP",
    0x00000161: "LIVE_SYSTEM_DUMP",
    0x00000198: "UFX_LIVEDUMP",
    0x000001D4: "UCMUCSI_LIVEDUMP",
}
#: DUMP_FILE_ATTRIBUTES.LiveDumpGeneratedDump (spec/dump-format.md §7)
ATTRIBUTE_LIVE_DUMP = 1 << 4
#: one readability probe reads at most this much; longer buffers get their first and last byte read
READ_CHECK_LIMIT = 1 << 16
DATA_BUFFER_COUNT = dmf_structures.LIVEKERNELDUMP_DATA_BUFFER_COUNT




# -- what the dump file says -----------------------------------------------------------------------

class DumpFacts(object):
    """Bug check, dump type, Attributes and the triage data blocks (file order) of a dump target."""

    def __init__(self, code: Optional[int] = None, parameters=(0, 0, 0, 0), dump_type: Optional[int] = None,
                 attributes: Optional[int] = None, triage_blocks: Optional[List[Tuple[int, int]]] = None):
        self.code = code
        self.parameters = tuple(parameters)
        self.dump_type = dump_type
        self.attributes = attributes
        self.triage_blocks = triage_blocks

    @property
    def live_dump_attribute(self) -> Optional[bool]:
        """LiveDumpGeneratedDump bit; None when the header does not say (field unwritten or unknown)."""
        if self.attributes is None:
            return None
        return bool(self.attributes & ATTRIBUTE_LIVE_DUMP)

    @property
    def looks_live(self) -> bool:
        return bool(self.live_dump_attribute) or self.code in LIVE_DUMP_CODES

    def as_dict(self) -> Dict[str, Any]:
        return {"code": self.code, "code_name": LIVE_DUMP_CODES.get(self.code) if self.code is not None else None,
                "parameters": list(self.parameters), "dump_type": self.dump_type,
                "attributes": self.attributes, "live_dump_attribute": self.live_dump_attribute,
                "triage_blocks": None if self.triage_blocks is None else len(self.triage_blocks)}


def dump_facts(target) -> DumpFacts:
    """What the target's dump header says; all None on a live target."""
    if target.is_live:
        return DumpFacts()
    bc = target.bugcheck()
    facts = DumpFacts(bc.code if bc is not None else None, bc.parameters if bc is not None else (0, 0, 0, 0))
    header = target.dump_header()
    if header is not None:
        facts.dump_type = header.dump_type
        facts.attributes = header.attributes
    facts.triage_blocks = target.triage_data_blocks()
    return facts


class RecordedBlocks(Target):
    """A triage live dump seen through its recorded blocks: a read that starts inside a block and
    runs past its end returns the block's bytes only (a short read), where the dump itself refuses
    the whole read. DMF_OBJECTs of DMF versions before the HEAD layout are recorded with their own,
    smaller sizeof (§3.6) while ObjectReader reads the HEAD size; everything else is the dump's."""

    def __init__(self, target, blocks: List[Tuple[int, int]]):
        self._target = target
        self._blocks = sorted((a, a + s) for a, s in blocks if s > 0)
        self._starts = [b[0] for b in self._blocks]
        self.name = target.name
        self.arch = target.arch
        self.pointer_size = target.pointer_size
        self.is_live = target.is_live
        self.symbols = target.symbols

    def read(self, address: int, size: int) -> bytes:
        try:
            return self._target.read(address, size)
        except MemoryReadError:
            i = bisect.bisect_right(self._starts, address) - 1
            end = max((e for a, e in self._blocks[max(0, i - 8):i + 1] if a <= address < e), default=None)
            if end is None or end >= address + size:
                raise
            return self._target.read(address, end - address)

    def read_physical(self, address: int, size: int) -> bytes:
        return self._target.read_physical(address, size)

    def tagged(self):
        return self._target.tagged()

    def read_tagged(self, guid) -> bytes:
        return self._target.read_tagged(guid)

    def read_blob(self, blob) -> bytes:
        return self._target.read_blob(blob)

    def bugcheck(self):
        return self._target.bugcheck()

    def close(self) -> None:
        self._target.close()

    def __getattr__(self, name):
        return getattr(self._target, name)


# -- the module --------------------------------------------------------------------------------------

class ContextVariant(object):
    def __init__(self, layout, label: str, evidence: str, v85: bool = True):
        self.v85 = v85
        self.layout = layout
        self.label = label
        self.evidence = evidence


def context_variants(arch: str) -> List[Tuple[int, bool, bool]]:
    """(size, v1.1.85+, RS3) of every DMF_CONTEXT_LiveKernelDump layout (spec/dmf.md §3.2)."""
    out = []
    for v85 in (True, False):
        for rs3 in (True, False):
            layout = dmf_structures.livekerneldump_context(arch, dmf_versions.V1_1_85 if v85 else dmf_versions.V1_1_80, rs3=rs3)
            out.append((layout.size, v85, rs3))
    return out


def choose_context_variant(arch: str, context_size: Optional[int], config_size: Optional[int],
                           dmf_version=None) -> ContextVariant:
    """The context layout by its size; ties (x86: 20 bytes = v1.1.84 RS3 or v1.1.85 without RS3) are
    broken by the config size (72/64 since v1.1.85, 64/60 before) or the DMF version."""
    cfg_v85 = None
    full_cfg = dmf_structures.livekerneldump_config(arch).size
    old_cfg = dmf_structures.livekerneldump_config(arch, dmf_versions.V1_1_80).size
    if config_size == full_cfg:
        cfg_v85 = True
    elif config_size == old_cfg:
        cfg_v85 = False
    if dmf_version is not None:
        cfg_v85 = dmf_versions.parse_dmf_version(dmf_version) >= dmf_versions.V1_1_85
    if context_size is None:
        v85 = True if cfg_v85 is None else cfg_v85
        label = "%s RS3 (assumed: context size unknown)" % ("v1.1.85+" if v85 else "<=v1.1.84")
        return ContextVariant(dmf_structures.livekerneldump_context(arch, dmf_versions.V1_1_85 if v85 else dmf_versions.V1_1_80, rs3=True), label,
                              "context size unknown", v85)
    matches = [(v85, rs3) for size, v85, rs3 in context_variants(arch) if size == context_size]
    if len(matches) > 1 and cfg_v85 is not None:
        matches = [m for m in matches if m[0] == cfg_v85] or matches
    if not matches:
        raise LayoutError("DMF_CONTEXT_LiveKernelDump of %d bytes: unknown layout" % context_size)
    v85, rs3 = matches[0]
    label = "%s%s" % ("v1.1.85+" if v85 else "<=v1.1.84", " RS3" if rs3 else " without RS3")
    evidence = "context %d bytes" % context_size
    if len(matches) > 1:
        evidence += ", ambiguous (config size and DMF version unknown): first match taken"
    elif dmf_version is not None:
        evidence += ", DMF %s" % dmf_versions.format_dmf_version(dmf_versions.parse_dmf_version(dmf_version))
    elif cfg_v85 is not None:
        evidence += ", config %s bytes" % config_size
    return ContextVariant(dmf_structures.livekerneldump_context(arch, dmf_versions.V1_1_85 if v85 else dmf_versions.V1_1_80, rs3=rs3), label,
                          evidence, v85)


class DataBufferRow(object):
    """One DATA_BUFFER entry (or, in a triage live dump, one inserted triage data block)."""

    def __init__(self, index: int, address: int, size: int, valid: Optional[bool], source: str):
        self.index = index
        self.address = address
        self.size = size
        self.valid = valid
        self.source = source
        self.what = ""
        self.module = None      # type: Optional[int]  DMFMODULE the structure belongs to
        self.module_name = None  # type: Optional[str]
        self.readable = None     # type: Optional[str]

    def as_row(self) -> Dict[str, Any]:
        return {"index": self.index, "address": hex_or(self.address), "size": self.size,
                "valid": self.valid, "what": self.what, "module": hex_or(self.module),
                "module_name": self.module_name, "readable": self.readable, "source": self.source}


class LiveKernelDumpInfo(object):
    """The LiveKernelDump module as read from memory."""

    def __init__(self, obj: DmfObject):
        self.obj = obj
        self.handle = obj.handle
        self.object_address = obj.address
        self.context_address = obj.module_context
        self.config_address = obj.module_config
        self.config_size = obj.config_size
        self.context = None       # type: Optional[Dict[str, Any]]
        self.variant = None       # type: Optional[ContextVariant]
        self.config = None        # type: Optional[Dict[str, Any]]
        self.ring_handle = None   # type: Optional[int]
        self.ring_object = None   # type: Optional[DmfObject]
        self.ring_state = None    # type: Optional[RingState]
        self.entries = None       # type: Optional[List[DataBufferRow]]
        self.entries_problem = None  # type: Optional[str]
        self.warnings = []        # type: List[str]
        self.notes = []           # type: List[str]

    def header(self) -> Dict[str, Any]:
        ctx = self.context or {}
        cfg = self.config or {}
        st = self.ring_state
        return {"handle": hex_or(self.handle), "object": hex_or(self.object_address),
                "context": hex_or(self.context_address), "context_variant": self.variant.label if self.variant else None,
                "context_evidence": self.variant.evidence if self.variant else None,
                "config": hex_or(self.config_address), "config_size": self.config_size,
                "report_type": cfg.get("report_type"), "guid_secondary_data": cfg.get("guid_secondary_data"),
                "guid_device_interface": cfg.get("guid_device_interface"),
                "include_dmf_data_in_bugcheck_triage_dump": cfg.get("include_dmf_data_in_bugcheck_triage_dump"),
                "data_buffer_source": hex_or(self.ring_handle),
                "bugcheck_parameter_dmf_collection": hex_or(ctx.get("BugCheckParameterDmfCollection")),
                "dmf_data_size": ctx.get("DmfDataSize"), "crashdump_module": hex_or(ctx.get("CrashDumpModule")),
                "number_of_data_buffers": ctx.get("NumberOfDataBuffers"),
                "telemetry_data_size": ctx.get("TelemetryDataSize"),
                "ring": None if st is None else {"items": hex_or(st.items), "item_size": st.item_size,
                                                 "items_count": st.items_count, "present": st.items_present_count,
                                                 "read_index": st.read_index, "write_index": st.write_index}}


def read_config(target, info: LiveKernelDumpInfo, arch: str) -> None:
    """DMF_CONFIG_LiveKernelDump; its layout follows the context's version (72/64 bytes since
    v1.1.85, 64/60 before, spec/dmf.md §3.1)."""
    if not info.config_address:
        return
    v85 = info.variant.v85 if info.variant is not None else True
    layout = dmf_structures.livekerneldump_config(arch, dmf_versions.V1_1_85 if v85 else dmf_versions.V1_1_80)
    if info.config_size not in (None, layout.size):
        info.warnings.append("ModuleConfigSize %d, expected %d for a %s context"
                             % (info.config_size, layout.size, info.variant.label if info.variant else "?"))
    try:
        raw = read_exact(target, info.config_address, layout.size)
    except MemoryReadError:
        info.warnings.append("config at 0x%x unreadable" % info.config_address)
        return
    v = layout.unpack_from(raw)
    report = bytes(v["ReportType"]).decode("utf-16-le", "replace").split("\0", 1)[0]
    info.config = {"report_type": report, "guid_secondary_data": str(v["GuidSecondaryData"]),
                   "guid_device_interface": str(v["GuidDeviceInterface"]),
                   "include_dmf_data_in_bugcheck_triage_dump":
                       bool(v["IncludeDmfDataInBugCheckTriageDump"]) if "IncludeDmfDataInBugCheckTriageDump" in v
                       else None}


def _symbol_context_size(target) -> Optional[int]:
    symbols = getattr(target, "symbols", None)
    if symbols is None:
        return None
    try:
        return symbols.type_layout("DMF_CONTEXT_LiveKernelDump").size
    except (SymbolError, NotImplementedError, AttributeError, DmfkdError):
        return None


def read_livekerneldump(target, reader: ObjectReader, obj: DmfObject,
                        known_sizes: Optional[Dict[int, int]] = None) -> LiveKernelDumpInfo:
    """Context (layout by size: symbols, the WDF context header, or the size the framework data
    recorded for it), config, and the DataBufferSource ring with its entries when its storage is
    readable. `known_sizes`: {address: size} of recorded buffers (DATA_BUFFERs / triage blocks)."""
    arch = reader.arch
    info = LiveKernelDumpInfo(obj)
    size = _symbol_context_size(target)
    if size is None and info.context_address:
        size = context_type_size(target, info.context_address, object_from_handle(obj.handle or 0, reader.ptr)
                                 if obj.handle else None)
    if size is None and known_sizes and info.context_address in known_sizes:
        # §3.6: the framework data records the context with sizeof(DMF_CONTEXT_LiveKernelDump)
        size = known_sizes[info.context_address]
    try:
        info.variant = choose_context_variant(arch, size, info.config_size, reader.dmf_version)
    except LayoutError as exc:
        info.warnings.append(str(exc))
        info.variant = choose_context_variant(arch, None, info.config_size, reader.dmf_version)
    read_config(target, info, arch)
    if not info.context_address:
        info.warnings.append("ModuleContext is NULL")
        return info
    layout = info.variant.layout
    try:
        raw = read_exact(target, info.context_address, layout.size)
    except MemoryReadError:
        info.warnings.append("context at 0x%x unreadable" % info.context_address)
        return info
    info.context = layout.unpack_from(raw)
    info.ring_handle = info.context.get("DataBufferSource")
    _read_ring(target, reader, info)
    return info


def _read_ring(target, reader: ObjectReader, info: LiveKernelDumpInfo) -> None:
    arch = reader.arch
    handle = info.ring_handle
    if not handle:
        info.entries_problem = "DataBufferSource is NULL"
        return
    # through the child list first: a triage live dump holds the DMF_OBJECTs but not the FxObjects
    kids, _ = reader.children(info.obj)
    ring_obj = next((k for k in kids if k.handle == handle), None)
    if ring_obj is None:
        try:
            ring_obj = reader.read(handle)
        except DmfkdError as exc:
            info.entries_problem = "DataBufferSource 0x%x: %s" % (handle, str(exc).splitlines()[0])
            return
    else:
        reader.read_names(ring_obj)
    info.ring_object = ring_obj
    context = ring_obj.module_context
    if not context:
        info.entries_problem = "DataBufferSource ring has no context"
        return
    try:
        ring_raw = read_exact(target, context, dmf_structures.ring_buffer(arch).size)
        state = RingState.parse(ring_raw, arch, address=context)
    except (MemoryReadError, LayoutError):
        info.entries_problem = "DataBufferSource RING_BUFFER at 0x%x unreadable" % context
        return
    info.ring_state = state
    entry = dmf_structures.livekerneldump_data_buffer(arch)
    if state.item_size != entry.size or state.items_count != DATA_BUFFER_COUNT:
        info.warnings.append("the buffer list ring has N=%d S=%d, expected N=%d S=%d"
                             % (state.items_count, state.item_size, DATA_BUFFER_COUNT, entry.size))
    if state.item_size != entry.size or not 0 < state.items_count <= 4 * DATA_BUFFER_COUNT:
        info.entries_problem = "DataBufferSource ring is not a DATA_BUFFER ring"
        return
    try:
        storage = read_exact(target, state.items, state.storage_size)
    except MemoryReadError:
        info.entries_problem = ("DataBufferSource storage (%d bytes at 0x%x) is not in this %s"
                                % (state.storage_size, state.items, "target" if target.is_live else "dump"))
        return
    ring = decode_live_ring(ring_raw, storage, arch, state=state)
    info.warnings.extend("DataBufferSource: %s" % w for w in ring.warnings)
    rows = []
    for i, record in enumerate(ring.records()):
        if len(record) < entry.size:
            break
        v = entry.unpack_from(record)
        rows.append(DataBufferRow(i, v["Address"], v["Size"], bool(v["Valid"]), "DataBufferSource"))
    info.entries = rows


class StructureIndex(object):
    """What a recorded buffer is: a DMF structure of the tree (§3.6), a ring's storage, or none."""

    def __init__(self):
        self._by_address = {}   # type: Dict[int, List[Tuple[str, Optional[int], Optional[int], Optional[str]]]]
        self._ranges = []       # type: List[Tuple[int, int, str, Optional[int], Optional[str]]]

    def add(self, address: Optional[int], label: str, size: Optional[int], module: Optional[int] = None,
            module_name: Optional[str] = None) -> None:
        if not address:
            return
        self._by_address.setdefault(address, []).append((label, size, module, module_name))
        if size:
            self._ranges.append((address, address + size, label, module, module_name))

    def resolve(self, address: int, size: int) -> Tuple[str, Optional[int], Optional[str]]:
        hits = self._by_address.get(address)
        if hits:
            for label, expected, module, name in hits:
                if expected is None or expected == size:
                    return label, module, name
            label, expected, module, name = hits[0]
            return "%s (recorded %d bytes, structure %d)" % (label, size, expected), module, name
        for start, end, label, module, name in self._ranges:
            if start < address < end:
                return "inside %s +0x%x" % (label, address - start), module, name
        return "", None, None


def build_index(target, reader: ObjectReader, objects: List[Tuple[DmfObject, int]],
                collection: Optional[CollectionInfo]) -> StructureIndex:
    index = StructureIndex()
    arch = reader.arch
    if collection is not None and collection.address:
        # recorded with sizeof(DMF_MODULE_COLLECTION) of the driver's DMF version (either size when unknown)
        for size in reader.collection_sizes():
            index.add(collection.address, "DMF_MODULE_COLLECTION", size)
        if collection.array:
            # recorded with count x sizeof(ULONG64) even on x86 (spec/dmf.md Q-LKD-5)
            index.add(collection.array, "ClientDriverDmfModules", (collection.count or 0) * 8)
    for obj, _ in objects:
        add_object(target, index, obj, arch)
    return index


def add_object(target, index: StructureIndex, obj: DmfObject, arch: str) -> None:
    """The structures §3.6 records for one module: DMF_OBJECT, config, instance name, context (and,
    for a RingBuffer, where its storage is - clients may record that themselves)."""
    name = display_name(obj)
    index.add(obj.address, "DMF_OBJECT " + name, obj.layout.size if obj.layout.complete else None,
              obj.handle, obj.module_name)
    index.add(obj.module_config, "config " + name, obj.config_size, obj.handle, obj.module_name)
    if isinstance(obj.instance_name, str) and obj.instance_name != UNREADABLE:
        index.add(obj.field("ClientModuleInstanceName"), "instance name " + name, len(obj.instance_name) + 1,
                  obj.handle, obj.module_name)
    context = obj.module_context
    size = None
    if obj.module_name == "RingBuffer" and context:
        size = dmf_structures.ring_buffer(arch).size
        try:
            st = RingState.parse(read_exact(target, context, size), arch)
            if st.items and st.item_size > 0 and 0 < st.items_count:
                index.add(st.items, "ring storage " + name, st.storage_size, obj.handle, obj.module_name)
        except (MemoryReadError, LayoutError):
            pass
    index.add(context, "context " + name, size, obj.handle, obj.module_name)


def resolve_rows(target, reader: ObjectReader, index: StructureIndex, rows: List[DataBufferRow],
                 recorded: Dict[int, int]) -> List[DmfObject]:
    """Fill each row's `what`. A recorded buffer the module tree did not explain but that holds a
    DMF_OBJECT (Signature; the child lists of pre-1.1.135 objects need symbols, and a client may
    record a dynamic module's object) is read as one, and its config/context/name explained too."""
    extra = []
    minimum = dmf_structures.dmf_object_prefix(reader.arch, dmf_versions.V1_1_80).size
    for row in rows:
        row.what, row.module, row.module_name = index.resolve(row.address, row.size)
    for row in rows:
        if row.what or row.size < minimum:
            continue
        try:
            obj = reader.read_at(row.address)
        except DmfkdError:
            continue
        names_from_recorded(target, [(obj, 0)], recorded)
        add_object(target, index, obj, reader.arch)
        extra.append(obj)
    if extra:
        for row in rows:
            if not row.what:
                row.what, row.module, row.module_name = index.resolve(row.address, row.size)
    return extra


def check_readable(target, address: int, size: int) -> str:
    """"yes" / "partial" / "no": whether the buffer's bytes are in the target (one bulk read; the
    first and last byte only for buffers over READ_CHECK_LIMIT)."""
    if size == 0:
        return "empty"
    try:
        if size <= READ_CHECK_LIMIT:
            read_exact(target, address, size)
        else:
            target.read(address, 1)
            target.read(address + size - 1, 1)
        return "yes"
    except MemoryReadError:
        pass
    try:
        target.read(address, 1)
        return "partial"
    except MemoryReadError:
        return "no"


def module_rows(reader: ObjectReader, objects: List[Tuple[DmfObject, int]]) -> List[ModuleRow]:
    rows = []
    for obj, depth in objects:
        row = reader.module_row(obj, depth)
        rows.append(row)
    return rows


def find_livekerneldump_object(reader: ObjectReader, objects: List[Tuple[DmfObject, int]]) -> Optional[DmfObject]:
    """The feature module is a top-level module of the collection, found by its ModuleName as
    DMF_ModuleCollectionFeatureHandleGet does (COLL.c); when ModuleName is not in the dump, by its
    instance name (a copy of ModuleName for DMF's own modules) or its "DataBufferSource" child."""
    for obj, _ in objects:
        if obj.module_name == "LiveKernelDump":
            return obj
    for i, (obj, depth) in enumerate(objects):
        if isinstance(obj.module_name, str) and obj.module_name != UNREADABLE:
            continue
        if obj.instance_name == "LiveKernelDump":
            return obj
        for kid, kid_depth in objects[i + 1:]:
            if kid_depth <= depth:
                break
            if kid_depth == depth + 1 and kid.instance_name == "DataBufferSource":
                return obj
    return None


def names_from_recorded(target, objects: List[Tuple[DmfObject, int]], recorded: Dict[int, int]) -> None:
    """Instance names the generic string read could not get because a triage live dump holds just
    the recorded bytes (strlen + 1, §3.6): read exactly the recorded size."""
    for obj, _ in objects:
        address = obj.field("ClientModuleInstanceName")
        if obj.instance_name == UNREADABLE and address in recorded and 0 < recorded[address] <= 4096:
            try:
                raw = target.read(address, recorded[address])
            except MemoryReadError:
                continue
            obj.instance_name = raw.split(b"\0", 1)[0].decode("latin-1")


def read_roots(reader: ObjectReader, addresses: List[int]) -> Tuple[List[DmfObject], List[str]]:
    roots, problems = [], []
    for address in addresses:
        try:
            roots.append(reader.read_at(address))
        except DmfkdError as exc:
            problems.append("module 0x%x: %s" % (address, str(exc).splitlines()[0]))
    return roots, problems
