"""The DMF_CrashDump module of a driver and its data sources (spec/dmf.md §2, §4.5).

Walk: `<driver>!g_DmfModuleCrashDump` -> DMFMODULE -> DMF_OBJECT (Signature) -> context (version by
`_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO.ContextSize`, §2.4; else the context's own WDF type info; else
the DMF version) and config (flat / nested by ModuleConfigSize, §2.2) -> DataSource[] (one read) ->
each ring (its DMF_OBJECT, its RING_BUFFER in one read; the storage only when records are wanted).
Any unreadable piece is an "unreadable" value; the walk goes on.

Engine calls (pykd, live): about 8 fixed + 3 per data source (ring object, ring context, storage),
independent of the number of entries (scripts/bench_engine_calls.py).
"""
import uuid
from typing import List, Optional, Tuple

from dmfkd.dmf.objects import ObjectReader, context_type_size, object_from_handle, read_string
from dmfkd.dmf.ringbuffer import (MAX_RING_BYTES, RingDecode, RingState, decode_crash_blob, decode_live_ring,
                                  infer_entry_size, looks_like_ring_blob)
from dmfkd.errors import DmfkdError, LayoutError, MemoryReadError, SymbolError
from dmfkd.guids import ZERO_GUID, crashdump_key, guid_text
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dmf_versions
from dmfkd.layouts import windows
from dmfkd.records import UNREADABLE, BlobInfo, CrashDumpInfo, DataSourceRow

SYMBOL = "g_DmfModuleCrashDump"
TYPE_INFO_SYMBOL = "_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO"
MAX_DATA_SOURCES = 9  # 8 auxiliary + SELF (spec/dmf.md §2.1, §2.9)
#: a ring this small is read even when its DATA_SOURCE disagrees about its size
TRUSTED_RING_BYTES = 1 << 20


def target_arch(target) -> str:
    if target.arch in ("x64", "x86"):
        return target.arch
    return "x86" if target.pointer_size == 4 else "x64"


def _module_of(symbol: str) -> Optional[str]:
    return symbol.split("!", 1)[0] if "!" in symbol else None


def find_crashdump_symbol(target, driver: Optional[str] = None) -> Tuple[Optional[str], Optional[int], List[str]]:
    """("module!g_DmfModuleCrashDump", address, notes) or (None, None, notes) when no symbol exists."""
    symbols = target.symbols
    notes = []
    if symbols is None:
        return None, None, ["no symbols for the driver (offline: its PDB with --symbols PATH or --pdb FILE, or "
                            "--isf FILE; in WinDbg: load the PDB)"]
    if driver:
        name = "%s!%s" % (driver, SYMBOL)
        try:
            return name, symbols.address_of(name), notes
        except SymbolError as exc:
            return None, None, [str(exc).splitlines()[0]]
    found = []
    search = getattr(symbols, "search", None)
    if search is not None:
        try:
            found = search("*!" + SYMBOL)
        except (SymbolError, NotImplementedError):
            found = []
    if not found:
        module = getattr(symbols, "module", None)
        name = "%s!%s" % (module, SYMBOL) if module else SYMBOL
        try:
            return name, symbols.address_of(name), notes
        except (SymbolError, NotImplementedError):
            return None, None, ["no %s symbol: no DMF_CrashDump in the loaded symbols" % SYMBOL]
    if len(found) > 1:
        notes.append("several drivers have %s (%s): using %s; pick one with --driver"
                     % (SYMBOL, ", ".join(n for n, _ in found), found[0][0]))
    return found[0][0], found[0][1], notes


class RingInfo:
    """A data source's ring as found in memory (no storage read yet)."""

    def __init__(self, handle: int):
        self.handle = handle
        self.object_address = None  # type: Optional[int]
        self.context_address = None  # type: Optional[int]
        self.state = None  # type: Optional[RingState]
        self.context_bytes = None  # type: Optional[bytes]
        self.problem = None  # type: Optional[str]
        #: DATA_SOURCE.RingBufferSize: N*S as the CrashDump module recorded it at creation (§2.3)
        self.recorded_size = None  # type: Optional[int]


class CrashDumpWalk:
    """Result of walking one driver's CrashDump module; `info` holds the rows."""

    def __init__(self, target):
        self.target = target
        self.arch = target_arch(target)
        self.info = CrashDumpInfo()
        self.rings = {}  # type: Dict[int, RingInfo]  data-source index -> ring
        self.guids = {}  # type: Dict[int, uuid.UUID]
        self.reader = None  # type: Optional[ObjectReader]

    # -- lookups used by the commands ------------------------------------------------------------
    def source_for_guid(self, guid: uuid.UUID) -> Optional[DataSourceRow]:
        for row in self.info.data_sources:
            if row.guid is not None and row.guid == guid_text(guid) and isinstance(row.capacity, int):
                return row
        for row in self.info.data_sources:
            if row.guid is not None and row.guid == guid_text(guid):
                return row
        return None

    def read_storage(self, index: int) -> Optional[bytes]:
        """The ring's (N+1)*S storage in ONE read (None when unreadable or absurd)."""
        ring = self.rings.get(index)
        if ring is None or ring.state is None:
            return None
        st = ring.state
        size = st.storage_size
        if not st.items or size <= 0:
            return None
        if size > MAX_RING_BYTES:
            ring.problem = "ring storage of %d bytes exceeds the %d-byte read limit" % (size, MAX_RING_BYTES)
            return None
        ring_bytes = (st.items_count * st.item_size) & 0xFFFFFFFF
        if ring.recorded_size is not None and ring_bytes != ring.recorded_size and size > TRUSTED_RING_BYTES:
            # two fields disagree about the ring's size (inv. 10): do not let the corrupt one drive a
            # read of up to MAX_RING_BYTES (through pykd that is a Python list of as many ints)
            # spec/dmf.md sec. 6 inv. 10
            ring.problem = ("ring storage not read: N*S = %d*%d disagrees with DATA_SOURCE RingBufferSize %d"
                            % (st.items_count, st.item_size, ring.recorded_size))
            return None
        try:
            return self.target.read(st.items, size)
        except MemoryReadError:
            try:
                return self.target.read(st.items, st.items_count * st.item_size)
            except MemoryReadError:
                return None

    def live_decode(self, index: int) -> Optional[RingDecode]:
        ring = self.rings.get(index)
        if ring is None or ring.state is None:
            return None
        storage = self.read_storage(index)
        d = decode_live_ring(ring.context_bytes, storage, self.arch, guid=self.guids.get(index),
                             address=ring.context_address, state=ring.state)
        if ring.problem:
            d.warnings.append(ring.problem)
        return d


def walk_crashdump(target, driver: Optional[str] = None, dmf_version=None) -> Optional[CrashDumpWalk]:
    """Walk the CrashDump module of `driver` (or the one driver whose symbols have it). None when the
    target has no CrashDump symbol at all; otherwise a walk whose rows say what was (un)readable."""
    symbol, address, notes = find_crashdump_symbol(target, driver)
    if symbol is None:
        return None
    walk = CrashDumpWalk(target)
    info = walk.info
    info.symbol = symbol
    info.notes.extend(notes)
    reader = walk.reader = ObjectReader(target, dmf_version)
    if reader.dmf_version is not None:
        info.dmf_version = dmf_versions.format_dmf_version(reader.dmf_version)
    try:
        handle = target.read_pointer(address)
    except MemoryReadError:
        info.handle = UNREADABLE
        info.warnings.append("%s at 0x%x is unreadable" % (symbol, address))
        return walk
    info.handle = handle
    if not handle:
        info.notes.append("%s is NULL: the driver has no CrashDump instance (never created, or destroyed)" % symbol)
        return walk
    try:
        obj = reader.read(handle, names="module")
    except DmfkdError as exc:
        info.object_address = UNREADABLE
        info.warnings.append(str(exc).splitlines()[0])
        return walk
    info.object_address = obj.address
    info.module_name = obj.module_name
    info.warnings.extend(obj.warnings)
    if obj.module_name not in (None, UNREADABLE, "CrashDump"):
        info.warnings.append("module at %s is %r, not CrashDump" % (symbol, obj.module_name))
    if info.dmf_version is None and reader.detected:
        info.dmf_version = reader.detected
    info.context_address = obj.module_context
    info.config_address = obj.module_config

    # -- context version (spec/dmf.md §2.4) --
    label, evidence = _context_version(target, walk, symbol, obj, reader)
    info.context_evidence = evidence
    if label is None:
        info.context_version = "unknown"
        info.warnings.append(evidence)
        return walk
    info.context_version = label
    ctx_layout = dmf_structures.crashdump_context(walk.arch, label)
    if obj.module_context is None:
        # a DMF_OBJECT type from symbols without a (readable) ModuleContext field
        info.warnings.append("CrashDump DMF_OBJECT 0x%x: ModuleContext unknown (%s)" % (obj.address, obj.layout.source))
        return walk
    try:
        ctx = ctx_layout.unpack_from(target.read(obj.module_context, ctx_layout.size))
    except (MemoryReadError, LayoutError) as exc:
        info.warnings.append("CrashDump context at 0x%x unreadable (%s)" % (obj.module_context or 0, exc))
        return walk

    # -- config variant (spec/dmf.md §2.2) --
    cfg = _read_config(target, walk, obj, label)
    ds_count = ctx["DataSourceCount"]
    info.data_source_count = ds_count
    if ds_count > MAX_DATA_SOURCES:
        info.warnings.append("DataSourceCount %d > %d: corrupt context; reading %d" % (ds_count, MAX_DATA_SOURCES,
                                                                                    MAX_DATA_SOURCES))
        ds_count = MAX_DATA_SOURCES
    if cfg is not None:
        expected = cfg["DataSourceCount"] + 1 if ds_count else 0
        if ds_count and expected != ds_count:
            # spec/dmf.md sec. 6 inv. 9
            info.warnings.append("context DataSourceCount %d != config DataSourceCount %d + 1"
                                 % (ds_count, cfg["DataSourceCount"]))
    array = ctx["DataSource"]
    if not ds_count:
        info.notes.append("DataSourceCount is 0: the module is closed (or never opened)")
        return walk
    if not array:
        info.warnings.append("DataSource array pointer is NULL with DataSourceCount %d" % ds_count)
        return walk
    ds_layout = dmf_structures.data_source(walk.arch)
    try:
        raw = target.read(array, ds_count * ds_layout.size)
    except MemoryReadError:
        info.warnings.append("DataSource[%d] array at 0x%x unreadable" % (ds_count, array))
        return walk
    orphan = dmf_structures.file_object_orphan(walk.arch)
    for i in range(ds_count):
        walk.info.data_sources.append(_data_source_row(walk, i, ds_layout.unpack_from(raw, i * ds_layout.size),
                                                       orphan, cfg))
    return walk


def _context_version(target, walk: CrashDumpWalk, symbol: str, obj, reader) -> Tuple[Optional[str], str]:
    arch = walk.arch
    module = _module_of(symbol)
    symbols = target.symbols
    name = "%s!%s" % (module, TYPE_INFO_SYMBOL) if module else TYPE_INFO_SYMBOL
    size = None
    evidence = ""
    try:
        ti_addr = symbols.address_of(name)
        ti = windows.wdf_object_context_type_info(arch).unpack_from(
            target.read(ti_addr, windows.wdf_object_context_type_info(arch).size))
        size = ti["ContextSize"]
        evidence = "%s.ContextSize = %d" % (TYPE_INFO_SYMBOL, size)
    except (SymbolError, NotImplementedError, MemoryReadError, LayoutError):
        pass
    if size is None and obj.module_context:
        size = context_type_size(target, obj.module_context, object_from_handle(obj.handle, target.pointer_size))
        if size is not None:
            evidence = "the context's WDF type info: ContextSize = %d" % size
    if size is None and reader.dmf_version is not None:
        label = dmf_structures.crashdump_context_label_for_dmf(reader.dmf_version)
        return label, "DMF version %s" % dmf_versions.format_dmf_version(reader.dmf_version)
    if size is None:
        return None, "DMF CrashDump context: size unknown (no type info readable, no DMF version)"
    try:
        return dmf_structures.crashdump_context_version(arch, size), evidence
    except LayoutError as exc:
        return None, str(exc).splitlines()[0]


def _read_config(target, walk: CrashDumpWalk, obj, label: str) -> Optional[dict]:
    info = walk.info
    arch = walk.arch
    size = obj.config_size
    nested = None
    if size:
        try:
            nested = dmf_structures.crashdump_config_nested(arch, size)
        except LayoutError as exc:
            info.warnings.append(str(exc).splitlines()[0])
            return None
    if nested is None:
        nested = label != "V1"  # V1 contexts go with flat configs (both before v1.1.85)
    layout = dmf_structures.crashdump_config(arch, nested)
    info.config_variant = "nested" if nested else "flat"
    if not obj.module_config:
        info.warnings.append("ModuleConfig is NULL")
        return None
    try:
        cfg = layout.unpack_from(target.read(obj.module_config, layout.size))
    except (MemoryReadError, LayoutError):
        info.warnings.append("CrashDump config at 0x%x unreadable" % obj.module_config)
        return None
    prefix = "SecondaryData." if nested else ""
    flat = {"DataSourceCount": cfg[prefix + "DataSourceCount"],
            "RingBufferDataGuid": cfg[prefix + "RingBufferDataGuid"],
            "AdditionalDataGuid": cfg[prefix + "AdditionalDataGuid"],
            "BufferSize": cfg[prefix + "BufferSize"], "BufferCount": cfg[prefix + "BufferCount"],
            "RingBufferMaximumSize": cfg[prefix + "RingBufferMaximumSize"],
            "ComponentName": cfg["ComponentName"]}
    info.component_name = read_string(target, flat["ComponentName"]) if flat["ComponentName"] else None
    if flat["RingBufferDataGuid"] != ZERO_GUID:
        info.self_guid = guid_text(flat["RingBufferDataGuid"])
    if flat["AdditionalDataGuid"] != ZERO_GUID:
        info.additional_guid = guid_text(flat["AdditionalDataGuid"])
    return flat


def _fo_role(value: int, orphan: int, writer: bool) -> Tuple[str, Optional[int]]:
    """(code, handle) of a DATA_SOURCE FileObject slot: free/none, orphan, or a WDFFILEOBJECT handle."""
    if value == 0:
        return ("free" if writer else "none"), None
    if value == orphan:
        return "orphan", None
    return "handle", value


def _data_source_row(walk: CrashDumpWalk, index: int, ds: dict, orphan: int, cfg: Optional[dict]) -> DataSourceRow:
    target = walk.target
    guid = ds["RingBufferGuid"]
    ring_handle = ds["DmfModuleDataSourceRingBuffer"]
    writer = ds["FileObject[1]"] if "FileObject[1]" in ds else ds["FileObject"][1]
    reader_fo = ds["FileObject[2]"] if "FileObject[2]" in ds else ds["FileObject"][2]
    writer_code, writer_handle = ("-", None) if index == 0 else _fo_role(writer, orphan, True)
    reader_code, reader_handle = ("-", None) if index == 0 else _fo_role(reader_fo, orphan, False)
    row = DataSourceRow(index=index, role="SELF" if index == 0 else "aux",
                        guid=guid_text(guid) if (guid != ZERO_GUID or ring_handle) else None,
                        writer=writer_code, reader=reader_code, writer_handle=writer_handle,
                        reader_handle=reader_handle,
                        ring_handle=ring_handle or None, ring_buffer_size=ds["RingBufferSize"],
                        ring_buffer_data=ds["RingBufferData"] or None,
                        component_name=walk.info.component_name)
    walk.guids[index] = guid
    key = bytes(ds["RingBufferEncryptionKey"])
    if not ring_handle:
        if guid != ZERO_GUID:
            # spec/dmf.md sec. 6 inv. 11
            row.warnings.append("GUID set but no ring")
        if writer or reader_fo:
            # spec/dmf.md Q-CD-5: DESTROY frees the ring and keeps the slot's file objects
            row.state = "destroyed"
            row.state_detail = "the ring was destroyed; the slot still names the file objects that used it"
        else:
            row.state = "empty"
            row.state_detail = "free slot"
        return row
    row.state = "active"
    row.state_detail = "in use" if index else "the driver's own ring"
    if index and writer == orphan:
        # spec/dmf.md sec. 2.8
        row.state = "orphaned"
        row.state_detail = "its writer closed its handle; the ring is kept until the crash"
    if ds["RingBufferEncryptionKeySize"] != 32 or key[:32] != crashdump_key(guid) or key[32:33] not in (b"\0", b""):
        # spec/dmf.md sec. 6 inv. 10
        row.warnings.append("encryption key %r does not match the GUID" % key[:33])
    if ds["CurrentRingBufferIndex"]:
        # inv. 13
        row.warnings.append("CurrentRingBufferIndex %d != 0: the crash happened inside the XOR loop"
                            % ds["CurrentRingBufferIndex"])
    ring = RingInfo(ring_handle)
    ring.recorded_size = ds["RingBufferSize"]
    walk.rings[index] = ring
    try:
        robj = walk.reader.read(ring_handle, names=False)
    except DmfkdError as exc:
        ring.problem = str(exc).splitlines()[0]
        row.ring_object = UNREADABLE
        row.capacity = row.entry_size = row.present = UNREADABLE
        row.warnings.append(ring.problem)
        return row
    ring.object_address = row.ring_object = robj.address
    ring.context_address = robj.module_context
    rb = dmf_structures.ring_buffer(walk.arch)
    try:
        if robj.module_context is None:
            raise MemoryReadError(robj.address, rb.size, reason="ModuleContext unknown (%s)" % robj.layout.source)
        ring.context_bytes = target.read(robj.module_context, rb.size)
        st = ring.state = RingState.parse(ring.context_bytes, walk.arch, address=robj.module_context)
    except (MemoryReadError, LayoutError):
        row.capacity = row.entry_size = row.present = UNREADABLE
        row.warnings.append("RING_BUFFER context of ring 0x%x unreadable" % ring_handle)
        return row
    row.capacity, row.entry_size, row.present = st.items_count, st.item_size, st.items_present_count
    row.items, row.read_pointer, row.write_pointer = st.items, st.read_pointer, st.write_pointer
    row.read_index, row.write_index = st.read_index, st.write_index
    if ds["RingBufferSizeOfEachEntry"] != st.item_size:
        row.warnings.append("DATA_SOURCE entry size %d != ring ItemSize %d"
                            % (ds["RingBufferSizeOfEachEntry"], st.item_size))
    if ds["RingBufferSize"] != st.total_size:
        row.warnings.append("DATA_SOURCE RingBufferSize %d != ring TotalSize %d"
                            % (ds["RingBufferSize"], st.total_size))
    if ds["RingBufferData"] not in (0, st.items):
        row.warnings.append("RingBufferData 0x%x is neither NULL nor Items" % ds["RingBufferData"])
    if index and cfg is not None and cfg["RingBufferMaximumSize"] and \
            ds["RingBufferSize"] > cfg["RingBufferMaximumSize"]:
        row.warnings.append("RingBufferSize %d > RingBufferMaximumSize %d"
                            % (ds["RingBufferSize"], cfg["RingBufferMaximumSize"]))
    return row


# --------------------------------------------------------------------------------------------------
# Blobs: which tagged blob belongs to which data source
# --------------------------------------------------------------------------------------------------

#: what the signature test of an unknown blob reads of it (looks_like_ring_blob looks at 4 KiB)
BLOB_HEAD_BYTES = 4096


def _blob_head(blob):
    """The blob cut to its first BLOB_HEAD_BYTES where the host can read part of a blob (a file
    offset is known): an unknown blob of any size costs 4 KiB unless it looks like a DMF ring."""
    if blob.offset is None or blob.size <= BLOB_HEAD_BYTES:
        return blob
    return blob._replace(size=BLOB_HEAD_BYTES, truncated=False)


def classify_blobs(target, walk: Optional[CrashDumpWalk], infer: bool = True) -> List[BlobInfo]:
    """Every secondary-data blob with its kind: a data source's ring ("ring"), the CrashDump
    additional data ("additional"), a ring recognised by its XOR key signature without symbols
    ("ring?"), or "other". Reads blob payloads only when it must look inside."""
    if target.is_live:
        return []
    try:
        blobs = target.tagged()
    except DmfkdError:
        return []
    out = []
    by_guid = {}  # type: Dict[str, DataSourceRow]
    additional = None
    if walk is not None:
        for row in walk.info.data_sources:
            if row.guid is not None and row.ring_handle:
                by_guid.setdefault(row.guid, row)
        additional = walk.info.additional_guid
    seen = set()
    for blob in blobs:
        gtext = guid_text(blob.guid)
        info = BlobInfo(index=blob.index, guid=gtext, size=blob.size, kind="other", truncated=blob.truncated)
        duplicate = gtext in seen
        seen.add(gtext)
        row = by_guid.get(gtext)
        if row is not None:
            info.kind = "ring"
            info.source_index = row.index
            if isinstance(row.entry_size, int) and row.entry_size > 0:
                info.entry_size = row.entry_size
                slots = blob.size // row.entry_size + (1 if blob.size % row.entry_size else 0)
                info.records = min(slots, row.present) if isinstance(row.present, int) else slots
                info.evidence = "GUID of data source %d" % row.index
            if duplicate:
                info.evidence += "; duplicate GUID: debuggers show only the first blob"
            else:
                row.blob = info
        elif additional is not None and gtext == additional:
            info.kind = "additional"
            info.evidence = "CrashDump AdditionalDataGuid"
        elif infer and blob.size:
            try:
                data = target.read_blob(_blob_head(blob))
                if data and len(data) < blob.size and looks_like_ring_blob(data, blob.guid):
                    data = target.read_blob(blob)
            except DmfkdError:
                data = b""
            if data and looks_like_ring_blob(data, blob.guid):
                info.kind = "ring?"
                try:
                    s, evidence = infer_entry_size(data, blob.guid)
                    info.entry_size = s
                    decoded = decode_crash_blob(data, blob.guid, s)
                    info.records = decoded.present
                    info.evidence = "inferred: " + evidence
                except DmfkdError as exc:
                    info.evidence = "XOR key signature of its GUID; " + str(exc).splitlines()[0]
        out.append(info)
    return out
