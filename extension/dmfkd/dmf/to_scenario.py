"""A dump's DMF CrashDump state as a dmfemu scenario (format v1): `dmfkd crashdump DUMP --to-scenario FILE`.

From a CrashDumpView (dmf/crashdump_view.py) this builds the scenario document that, replayed by
dmfemu, gives a dump on which dmfkd shows the same rows - so a customer crash's DMF state can be
replayed and shared without the customer's memory. What goes in:

* the driver (module name, architecture, DMF version, dump type, the MaximumAllowed the blobs show);
* the CrashDump config read from memory when symbols allow (component name, GUIDs, SELF ring N and S,
  RingBufferMaximumSize, DataSourceCount, triage array size), else what the blobs show;
* every data source in the order the crash wrote them (blob order = registration order), created
  into the slot it holds, its live records oldest first (from the blob, or from memory where the blob
  was cut short); orphans closed by their writer, readers opened again, destroyed slots created and
  destroyed so that their stale contents come back;
* the additional data, the triage data blocks the driver added, and the bug check (0xDEADDEAD whose
  P1 is the CrashDump module as IOCTL_CRASH_DRIVER).

Records go in as hex: the dump does not say which of the driver's types a source carries. Addresses
and handles are the replaying machine's own. Nothing here writes a file (the command does).
"""
import uuid
from typing import Any, Dict, List, Optional, Tuple

from dmfkd.dmf.crashdump_view import CrashDumpView
from dmfkd.errors import DmfkdError, MemoryReadError
from dmfkd.guids import guid_text
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import windows

FORMAT = "dmfemu-scenario/1"
DUMP_TYPES = {1: "full", 4: "triage", 5: "bitmap", 6: "bitmap"}
#: what dmfemu's bug check offers each secondary-data callback when a scenario does not say
DEFAULT_MAXIMUM_ALLOWED = {"full": 64 << 20, "bitmap": 64 << 20, "triage": 8 << 10}
#: the first DMF release of each CrashDump context layout (the DMF version a replay is built with when
#: symbols do not say)
CONTEXT_VERSIONS = {"V1": "1.1.84", "V3": "1.1.85", "V4": "1.1.116", "V5": "1.1.154"}
MAX_TRIAGE_BLOCK = 1 << 20
#: a ring larger than this (N*S from the dump) is not rebuilt slot by slot: dmfemu refuses it anyway
MAX_RING_BYTES = 64 << 20


class Slot(object):
    """One client DATA_SOURCE slot as the dump shows it: live (a ring), stale (destroyed: the key and
    sizes stay), or never used."""

    def __init__(self, index: int, raw: Dict[str, Any], orphan: int):
        self.index = index
        self.ring = raw["DmfModuleDataSourceRingBuffer"]
        self.guid = raw["RingBufferGuid"]
        self.writer = raw["FileObject[1]"] if "FileObject[1]" in raw else raw["FileObject"][1]
        self.reader = raw["FileObject[2]"] if "FileObject[2]" in raw else raw["FileObject"][2]
        self.orphan = orphan
        self.entry_size = raw["RingBufferSizeOfEachEntry"]
        self.entries = raw["RingBufferSize"] // self.entry_size if self.entry_size else 0
        key = bytes(raw["RingBufferEncryptionKey"])[:32]
        self.stale_guid = None  # type: Optional[uuid.UUID]
        if not self.ring:
            try:
                # the key is the GUID's upper-case hex (CrashDump_DataSourceCreateInternal)
                self.stale_guid = uuid.UUID(key.decode("ascii")) if any(key) else None
            except (UnicodeDecodeError, ValueError):
                self.stale_guid = None

    @property
    def live(self) -> bool:
        return bool(self.ring)


class ScenarioBuilder(object):
    """Builds the scenario document of one CrashDumpView (see the module docstring)."""

    def __init__(self, view: CrashDumpView, entry_size: Optional[int] = None):
        self.view = view
        self.entry_size = entry_size      # the record size of blobs read without symbols (--entry-size)
        self.cut_blobs = []  # type: List[int]
        self.target = view.target
        self.notes = []  # type: List[str]
        self.operations = []  # type: List[dict]
        self.handles = {}  # type: Dict[int, str]   original file object -> handle name
        self.open_handles = set()  # type: set
        self.temporary = 0
        self.orphans = []  # type: List[str]   writer handles closed at the end (their sources orphaned)

    # -- handles -------------------------------------------------------------------------------------
    def _open(self, name: str) -> str:
        if name not in self.open_handles:
            self.operations.append({"op": "open", "handle": name})
            self.open_handles.add(name)
        return name

    def _handle_of(self, file_object: int) -> str:
        if file_object not in self.handles:
            self.handles[file_object] = "handle%d" % (len(self.handles) + 1)
        return self._open(self.handles[file_object])

    def _temporary(self) -> str:
        self.temporary += 1
        return self._open("temporary%d" % self.temporary)

    def _close(self, name: str) -> None:
        self.operations.append({"op": "close", "handle": name})
        self.open_handles.discard(name)

    # -- the document --------------------------------------------------------------------------------
    def build(self) -> Dict[str, Any]:
        view, target = self.view, self.target
        if not view.dmf_present:
            raise DmfkdError(view.no_dmf_message())
        header = target.dump_header()
        dump_type = DUMP_TYPES.get(header.dump_type, "full") if header is not None else "full"
        info = view.info
        document = {"format": FORMAT,
                    "description": "The DMF CrashDump state of %s, written by dmfkd crashdump --to-scenario."
                                   % target.name,
                    "arch": target.arch, "dump_type": dump_type}
        memory = info is not None and isinstance(info.handle, int) and info.handle and view.data_sources
        if info is not None and info.symbol and "!" in info.symbol:
            document["driver"] = info.symbol.split("!", 1)[0]
        if memory:
            version = info.dmf_version or CONTEXT_VERSIONS.get(info.context_version or "")
            if version:
                document["dmf_version"] = version
            self._from_memory(document)
        else:
            self.notes.append("no CrashDump state readable in memory: the scenario is made from the blobs alone")
            self._from_blobs(document)
        maximum = self._maximum_allowed(dump_type)
        if maximum is not None:
            document["maximum_allowed"] = maximum
        document["crash"] = self._crash()
        document["operations"] = _repeats(self.operations)
        return document

    def _maximum_allowed(self, dump_type: str) -> Optional[int]:
        """The MaximumAllowed the blobs show: the length a cut blob was cut to; else None when the
        default keeps every blob whole, or the longest blob."""
        cut = [b.size for b in self.view.dmf_blobs if b.truncated or self._cut(b)] + self.cut_blobs
        if cut:
            return max(cut)
        longest = max([b.size for b in self.view.dmf_blobs] or [0])
        return longest if longest > DEFAULT_MAXIMUM_ALLOWED.get(dump_type, 64 << 20) else None

    def _cut(self, blob) -> bool:
        for row in self.view.data_sources:
            if row.blob is blob and isinstance(row.capacity, int) and isinstance(row.entry_size, int):
                return blob.size < row.capacity * row.entry_size
        return False

    # -- from memory ---------------------------------------------------------------------------------
    def _config(self) -> Optional[Dict[str, Any]]:
        info, target = self.view.info, self.target
        if not info.config_address or info.config_variant is None:
            return None
        nested = info.config_variant == "nested"
        layout = dmf_structures.crashdump_config(target.arch if target.arch != "arm64" else "x64", nested)
        try:
            raw = layout.unpack_from(target.read(info.config_address, layout.size))
        except MemoryReadError:
            return None
        prefix = "SecondaryData." if nested else ""
        config = {name: raw[prefix + name] for name in ("BufferSize", "BufferCount", "RingBufferMaximumSize",
                                                       "DataSourceCount")}
        config["TriageDumpDataArraySize"] = raw.get("TriageDumpData.TriageDumpDataArraySize", 0) if nested else 0
        return config

    def _slots(self) -> Tuple[List[Slot], Optional[int]]:
        """The client DATA_SOURCE slots read from memory, and the context's triage array pointer."""
        info, target = self.view.info, self.target
        arch = target.arch if target.arch != "arm64" else "x64"
        context = dmf_structures.crashdump_context(arch, info.context_version)
        ctx = context.unpack_from(target.read(info.context_address, context.size))
        layout = dmf_structures.data_source(arch)
        count = min(len(self.view.data_sources), 9)
        raw = target.read(ctx["DataSource"], count * layout.size)
        orphan = dmf_structures.file_object_orphan(arch)
        slots = [Slot(i, layout.unpack_from(raw, i * layout.size), orphan) for i in range(1, count)]
        return slots, ctx.get("TriageDumpDataArray")

    def _from_memory(self, document: Dict[str, Any]) -> None:
        view, info = self.view, self.view.info
        config = self._config()
        name = info.component_name
        # an unreadable name (an Unreadable cell) or none: the scenario's "null" (no ComponentName)
        crashdump = {"component_name": name[:255] if type(name) is str and name else None}
        if info.self_guid:
            crashdump["ring_buffer_data_guid"] = info.self_guid
        if config is not None:
            crashdump.update(buffer_size=config["BufferSize"], buffer_count=config["BufferCount"],
                             ring_buffer_maximum_size=config["RingBufferMaximumSize"],
                             data_source_count=config["DataSourceCount"])
            if config["TriageDumpDataArraySize"]:
                crashdump["triage_dump_data_array_size"] = config["TriageDumpDataArraySize"]
        else:
            self.notes.append("the CrashDump config is unreadable: its sizes come from the data sources")
            crashdump["data_source_count"] = max(len(view.data_sources) - 1, 0)
        self._additional(crashdump)
        document["crashdump"] = crashdump
        try:
            slots, triage_array = self._slots()
        except (MemoryReadError, DmfkdError) as exc:
            raise DmfkdError("--to-scenario: the DATA_SOURCE array is unreadable (%s)" % str(exc).splitlines()[0])
        self._triage_blocks(triage_array)
        rows = {row.index: row for row in view.data_sources}
        self_row = rows.get(0)
        if self_row is not None and self_row.guid and view.has_ring(self_row):
            # the dump's memory image is taken before the crash callbacks reorder the rings, so it shows
            # the read index the writes left: a full ring wrapped that far (fillers, then overwritten)
            fillers = _read_index(self_row) if self_row.present == self_row.capacity else 0
            filler = bytes(self_row.entry_size) if fillers else b""     # fillers > 0: the geometry is sane
            for record in [filler] * fillers + self._records(self_row):
                self.operations.append({"op": "write_self", "hex": record.hex()})
        self._client_sources(slots, rows)

    def _additional(self, crashdump: Dict[str, Any]) -> None:
        for blob in self.view.dmf_blobs:
            if blob.kind == "additional":
                crashdump["additional_data_guid"] = blob.guid
                crashdump["additional_data"] = {"hex": self.target.read_tagged(blob.guid).hex()}
                return
        if self.view.info is not None and self.view.info.additional_guid:
            crashdump["additional_data_guid"] = self.view.info.additional_guid

    def _records(self, row) -> List[bytes]:
        """The data source's live records, oldest first: the blob's, or memory's where the blob is cut
        or where another live data source has the same GUID (a blob names only its GUID)."""
        guid = uuid.UUID(row.guid)
        shared = sum(1 for other in self.view.data_sources if other.guid == row.guid and self.view.has_ring(other))
        if row.present == 0:
            return []
        if shared > 1:
            memory = self.view.walk.live_decode(row.index)
            if memory is not None:
                return [memory.record(i) for i in range(memory.count)]
        try:
            ring = self.view.ring(guid)
        except DmfkdError:
            ring = None
        if ring is not None and (ring.truncated or ring.partial_size is not None):
            memory = self.view.walk.live_decode(row.index)
            if memory is not None and memory.count == row.present:
                ring = memory
        if ring is None:
            self.notes.append("data source %d: its records are unreadable; replayed empty" % row.index)
            return []
        if ring.count < (row.present if isinstance(row.present, int) else 0):
            self.notes.append("data source %d: %d of its %d records are readable" % (row.index, ring.count,
                                                                                  row.present))
        return [ring.record(i) for i in range(ring.count) if not ring.is_partial(i)]

    def _triage_blocks(self, array: Optional[int]) -> None:
        """TriageDumpDataAdd of every block the driver added; the SELF ring's storage (added at the bug
        check by the driver's EvtCrashDumpStoreTriageDumpData) comes back by itself."""
        if not array:
            return
        arch = self.target.arch if self.target.arch != "arm64" else "x64"
        header = windows.ktriage_dump_data_array(arch)
        block = windows.kaddress_range(arch)
        try:
            head = header.unpack_from(self.target.read(array, header.size))
            used = min(head["NumBlocksUsed"], head["NumBlocksTotal"], 1024)
            raw = self.target.read(array + header.size, used * block.size)
        except MemoryReadError:
            self.notes.append("the triage data array is unreadable: no triage blocks replayed")
            return
        self_row = next((row for row in self.view.data_sources if row.index == 0), None)
        self_storage = None
        if self_row is not None and all(isinstance(v, int) for v in (self_row.items, self_row.capacity,
                                                                     self_row.entry_size)):
            self_storage = (self_row.items, (self_row.capacity + 1) * self_row.entry_size)
        for index in range(used):
            entry = block.unpack_from(raw, index * block.size)
            if (entry["Address"], entry["Size"]) == self_storage or not 0 < entry["Size"] <= MAX_TRIAGE_BLOCK:
                continue
            try:
                data = self.target.read(entry["Address"], entry["Size"])
            except MemoryReadError:
                self.notes.append("triage block 0x%x (%d bytes) is unreadable: left out" % (entry["Address"],
                                                                                             entry["Size"]))
                continue
            self.operations.append({"op": "triage_add", "hex": data.hex()})

    def _client_sources(self, slots: List[Slot], rows: Dict[int, Any]) -> None:
        """Creates in registration order, each into its own slot (see the module docstring)."""
        blob_order = {b.guid: b.index for b in self.view.dmf_blobs}
        live = [s for s in slots if s.live]
        live.sort(key=lambda s: (blob_order.get(guid_text(s.guid), 1 << 30), s.index))
        occupied = {}  # type: Dict[int, Optional[str]]   slot -> temporary handle (None: the real source)
        by_index = {s.index: s for s in slots}
        for slot in live:
            self._fill_below(slot.index, by_index, occupied)
            if slot.index in occupied:
                self.operations.append({"op": "destroy", "handle": occupied.pop(slot.index)})
            self._create_real(slot, rows.get(slot.index))
            occupied[slot.index] = None
        for slot in slots:
            if not slot.live and slot.stale_guid is not None and slot.index not in occupied:
                self._fill_below(slot.index, by_index, occupied)
                self._create_temporary(slot, occupied)
        for index in sorted(occupied):
            if occupied[index] is not None:
                self._destroy_stale(by_index[index], occupied[index])
        self._half_created(slots)
        for handle in self.orphans:
            self._close(handle)
        for row in rows.values():
            if row.index and row.reader == "handle" and row.guid:
                self.operations.append({"op": "open_source", "handle": self._handle_of(row.reader_handle),
                                        "guid": row.guid})

    def _fill_below(self, index: int, by_index: Dict[int, Slot], occupied: Dict[int, Optional[str]]) -> None:
        for lower in range(1, index):
            if lower not in occupied and lower in by_index and (by_index[lower].live or by_index[lower].stale_guid):
                self._create_temporary(by_index[lower], occupied)

    def _half_created(self, slots: List[Slot]) -> None:
        """Slots a failed CREATE left half-created - a writer, no ring, no key ever written: the same
        writer opens a data source in a lower slot as its reader, then asks for a ring DMF refuses
        (entry size 0); DMF frees that reader role instead of the slot the CREATE took."""
        for slot in slots:
            if slot.live or slot.stale_guid is not None or not slot.writer:
                continue
            lower = [s for s in slots if s.index < slot.index]
            anchors = [s for s in lower if s.live]
            if not anchors or any(not s.live and not s.writer for s in lower):
                self.notes.append("data source %d is half-created in a way the replay cannot rebuild: left empty"
                                  % slot.index)
                continue
            orphaned = slot.writer == slot.orphan
            handle = self._open("halfcreated%d" % slot.index) if orphaned else self._handle_of(slot.writer)
            self.operations.append({"op": "open_source", "handle": handle, "guid": guid_text(anchors[0].guid)})
            self.operations.append({"op": "create", "handle": handle,
                                    "guid": str(uuid.UUID(int=0xDEAD0000 + slot.index)), "entries": 1,
                                    "entry_size": 0, "expect": "STATUS_INVALID_PARAMETER"})
            if orphaned:
                self.orphans.append(handle)

    def _create_temporary(self, slot: Slot, occupied: Dict[int, Optional[str]]) -> None:
        guid = slot.guid if slot.live else (slot.stale_guid or uuid.UUID(int=slot.index))
        handle = self._temporary()
        self.operations.append({"op": "create", "handle": handle, "guid": str(guid),
                                "entries": max(slot.entries, 1), "entry_size": max(slot.entry_size, 1)})
        occupied[slot.index] = handle

    def _destroy_stale(self, slot: Slot, handle: str) -> None:
        """A destroyed slot: destroyed as the original was, by its writer or - leaving the writer's
        file object behind - by a reader."""
        if slot.writer and not slot.reader:
            reader = self._temporary()
            self.operations.append({"op": "open_source", "handle": reader, "guid": str(slot.stale_guid)})
            self.operations.append({"op": "destroy", "handle": reader})
            if slot.writer == slot.orphan:
                self._close(handle)     # the writer closed its handle afterwards: the slot says orphan
            return
        if slot.reader:
            self.operations.append({"op": "open_source", "handle": self._handle_of(slot.reader),
                                    "guid": str(slot.stale_guid)})
        self.operations.append({"op": "destroy", "handle": handle})

    def _create_real(self, slot: Slot, row) -> None:
        if slot.writer and slot.writer != slot.orphan:
            handle = self._handle_of(slot.writer)
        else:
            handle = self._open("writer%d" % slot.index)
        self.operations.append({"op": "create", "handle": handle, "guid": guid_text(slot.guid),
                                "entries": slot.entries, "entry_size": slot.entry_size})
        records = self._records(row) if row is not None else []
        # the read index the ring had: as many records before the live ones, read again by a reader that
        # then closes its handle (readers leave no trace in the slot)
        fillers = _read_index(row) if row is not None else 0
        for record in [bytes(slot.entry_size)] * fillers + records:
            self.operations.append({"op": "write", "handle": handle, "hex": record.hex()})
        reads = fillers if fillers + len(records) <= slot.entries else slot.entries - len(records)
        if reads > 0:
            # the source's own reader reads them when it has one (it stays its reader)
            own = row is not None and row.reader == "handle"
            reader = self._handle_of(row.reader_handle) if own else self._temporary()
            self.operations.append({"op": "open_source", "handle": reader, "guid": guid_text(slot.guid)})
            self.operations.append({"op": "read", "handle": reader, "repeat": reads} if reads > 1 else
                                   {"op": "read", "handle": reader})
            if not own:
                self._close(reader)
        if slot.writer == slot.orphan:
            # closed once every data source is created: a CREATE of the same GUID would take an orphan over
            self.orphans.append(handle)
        elif not slot.writer:
            self.notes.append("data source %d has no writer: replayed with a writer" % slot.index)

    # -- from the blobs alone --------------------------------------------------------------------------
    def _from_blobs(self, document: Dict[str, Any]) -> None:
        """Each ring blob a data source of its own (without symbols nothing says which is the SELF ring),
        its records as the blob holds them; a record the blob cuts short is written whole, zero-padded,
        and MaximumAllowed cuts it again."""
        rings = [b for b in self.view.dmf_blobs if b.kind in ("ring", "ring?")]
        crashdump = {"data_source_count": min(len(rings), 8)}
        self._additional(crashdump)
        document["crashdump"] = crashdump
        for number, blob in enumerate(rings[:8]):
            try:
                ring = self.view.ring(uuid.UUID(blob.guid), self.entry_size)
            except DmfkdError as exc:
                raise DmfkdError("--to-scenario: blob %s: %s" % (blob.guid, str(exc).splitlines()[0]))
            size = ring.entry_size
            records = [ring.record(i)[:size] for i in range(ring.count)]
            records = [r + bytes(size - len(r)) for r in records]
            handle = self._open("client%d" % (number + 1))
            entries = max(ring.capacity or 0, len(records), 1)
            self.operations.append({"op": "create", "handle": handle, "guid": blob.guid, "entries": entries,
                                    "entry_size": size})
            crashdump["ring_buffer_maximum_size"] = max(crashdump.get("ring_buffer_maximum_size", 0), entries * size)
            for record in records:
                self.operations.append({"op": "write", "handle": handle, "hex": record.hex()})
            if blob.size % size:
                self.cut_blobs.append(blob.size)
        if len(rings) > 8:
            self.notes.append("%d ring blobs: a driver has at most 8 data sources; the rest are left out"
                              % len(rings))

    # -- the crash -----------------------------------------------------------------------------------
    def _crash(self) -> Dict[str, Any]:
        bugcheck = self.target.bugcheck()
        if bugcheck is None:
            return {"via": "bugcheck"}
        info = self.view.info
        if bugcheck.code == dmf_structures.BUG_CHECK_PRIVATE and info is not None and \
                isinstance(info.handle, int) and bugcheck.parameters[0] == info.handle:
            handle = sorted(self.open_handles)[0] if self.open_handles else self._open("crasher")
            return {"via": "ioctl", "handle": handle}
        return {"via": "bugcheck", "code": bugcheck.code, "parameters": list(bugcheck.parameters)}


def _repeats(operations: List[dict]) -> List[dict]:
    """Runs of the same write as one operation with "repeat"."""
    out = []  # type: List[dict]
    for op in operations:
        last = out[-1] if out else None
        if last is not None and op["op"] in ("write", "write_self", "read") and \
                {k: v for k, v in last.items() if k != "repeat"} == op:
            last["repeat"] = last.get("repeat", 1) + 1
        else:
            out.append(dict(op))
    return out


def _read_index(row) -> int:
    """The ring's read index (the records written before its live ones), when its geometry is sane."""
    value, capacity, size = row.read_index, row.capacity, row.entry_size
    if not all(isinstance(v, int) for v in (value, capacity, size)) or not 0 < capacity * size <= MAX_RING_BYTES:
        return 0
    return value if 0 < value < capacity else 0


def scenario_from_view(view: CrashDumpView, entry_size: Optional[int] = None) -> Tuple[Dict[str, Any], List[str]]:
    """(the scenario document, notes on what could not be carried over). `entry_size`: the record size
    of ring blobs read without symbols."""
    builder = ScenarioBuilder(view, entry_size)
    document = builder.build()
    return document, builder.notes


__all__ = ["ScenarioBuilder", "scenario_from_view"]
