"""Everything `livedump` shows, read once: where the module tree came from, the LiveKernelDump module,
and the buffers it recorded with what each one is (dmf/livedump.py holds the pieces).

A live dump made by DMF_LiveKernelDump carries P2 = the DMFCOLLECTION unless the caller set
ExcludeDmfData; a crash dump or a live target is reached through an explicit handle or the driver's
g_DmfModuleCrashDump -> ModuleCollection; a triage dump's recorded blocks can lead there too.
"""
import uuid
from typing import Any, Dict, List, Optional

from dmfkd.dmf import livedump, module_collection
from dmfkd.dmf.crashdump import find_crashdump_symbol
from dmfkd.dmf.objects import ObjectReader
from dmfkd.errors import DmfkdError, MemoryReadError, UsageError
from dmfkd.guids import guid_text
from dmfkd.layouts import dmf_structures

#: the most one --hex shows of a buffer
HEX_LIMIT = 1 << 16


def _first(exc) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class LiveDumpView:
    """kind: "found" (a LiveKernelDump module), "excluded" (a live dump without DMF data), "no-module"
    (a collection without LiveKernelDump) or "none" (no DMF live-dump data: `message` says why)."""

    def __init__(self, target, facts: livedump.DumpFacts):
        self.target = target
        self.facts = facts
        self.kind = "none"
        self.message = ""
        self.origin = ""                      # how the module tree was found
        self.collection = None                # type: Optional[module_collection.CollectionInfo]
        self.objects = []                     # [(DmfObject, depth)]
        self.modules = []                     # ModuleRow per object
        self.info = None                      # type: Optional[livedump.LiveKernelDumpInfo]
        self.rows = []                        # type: List[livedump.DataBufferRow]
        self.source = None                    # "DataBufferSource" | "triage blocks"
        self.secondary = None                 # {"guid", "size"} of the GuidSecondaryData blob
        self.warnings = []                    # type: List[str]
        self.notes = []                       # type: List[str]

    @property
    def collection_is_p2(self) -> bool:
        return self.collection is not None and self.facts.code is not None and \
            self.collection.handle == self.facts.parameters[1]

    def row(self, index: int) -> livedump.DataBufferRow:
        found = next((r for r in self.rows if r.index == index), None)
        if found is None:
            raise UsageError("--hex %d: no row %d (%d rows)" % (index, index, len(self.rows)))
        return found

    def buffer_bytes(self, index: int) -> bytes:
        """The bytes of one recorded buffer (the first HEX_LIMIT of a longer one), one bulk read."""
        row = self.row(index)
        size = min(row.size, HEX_LIMIT)
        try:
            return module_collection.read_exact(self.target, row.address, size)
        except MemoryReadError:
            raise DmfkdError("row %d: %d bytes at 0x%x are not in %s" % (index, size, row.address, self.target.name))


class _Found(object):
    def __init__(self):
        self.collection = None
        self.lkd = None          # LiveKernelDump DmfObject given directly
        self.origin = ""
        self.problems = []       # type: List[str]


def _locate(target, root: Optional[int], driver: Optional[str], reader: ObjectReader,
            facts: livedump.DumpFacts) -> _Found:
    found = _Found()
    recorded = facts.triage_blocks or []
    if root is not None:
        try:
            obj = reader.read(root)
        except DmfkdError as module_error:
            try:
                found.collection = module_collection.find_collection(target, reader, root, recorded)
            except DmfkdError:
                raise DmfkdError("0x%x is neither a DMFMODULE nor a DMFCOLLECTION (%s)" % (root, _first(module_error)))
            found.origin = "DMFCOLLECTION 0x%x (argument)" % root
            return found
        if obj.module_name == "LiveKernelDump":
            found.lkd = obj
        address = obj.field("ModuleCollection")
        if address:
            found.collection = module_collection.collection_at(target, reader, address)
        if found.collection is None and found.lkd is None:
            raise DmfkdError("DMFMODULE 0x%x is a %s module whose module collection cannot be read: give the "
                             "LiveKernelDump DMFMODULE or the DMFCOLLECTION" % (root, obj.module_name))
        found.origin = "DMFMODULE 0x%x (%s, argument)" % (root, obj.module_name)
        return found
    p2 = facts.parameters[1] if facts.code is not None else 0
    if p2:
        try:
            found.collection = module_collection.find_collection(target, reader, p2, recorded)
            found.origin = "bug-check parameter 2"
            return found
        except DmfkdError:
            found.problems.append("P2 0x%x is not a DMFCOLLECTION" % p2)
    _via_crashdump_global(target, driver, reader, found)
    if found.collection is None and recorded:
        found.collection = module_collection.collection_from_recorded(target, reader, recorded)
        if found.collection is not None:
            found.origin = "a DMF_OBJECT among the triage data blocks -> ModuleCollection"
            found.problems = []
    return found


def _via_crashdump_global(target, driver: Optional[str], reader: ObjectReader, found: _Found) -> None:
    symbol, address, _ = find_crashdump_symbol(target, driver)
    if symbol is None:
        found.problems.append("no g_DmfModuleCrashDump symbol to reach the module collection from"
                              if target.symbols is not None else "no driver symbols")
        return
    try:
        handle = target.read_pointer(address)
        obj = reader.read(handle) if handle else None
    except DmfkdError as exc:
        found.problems.append("%s: %s" % (symbol, _first(exc)))
        return
    if obj is None:
        found.problems.append("%s is NULL" % symbol)
        return
    address = obj.field("ModuleCollection")
    found.collection = module_collection.collection_at(target, reader, address) if address else None
    if found.collection is None:
        found.problems.append("%s's DMF_OBJECT has no readable ModuleCollection" % symbol)
    else:
        found.origin = "%s -> ModuleCollection" % symbol


def read_live_dump(target, root: Optional[int] = None, driver: Optional[str] = None, dmf_version=None,
                   check: bool = True) -> LiveDumpView:
    facts = livedump.dump_facts(target)
    if facts.triage_blocks:
        target = livedump.RecordedBlocks(target, facts.triage_blocks)
    view = LiveDumpView(target, facts)
    reader = ObjectReader(target, dmf_version)
    found = _locate(target, root, driver, reader, facts)
    view.origin = found.origin
    view.collection = found.collection
    if found.collection is None and found.lkd is None:
        if facts.code is not None and facts.looks_live and facts.parameters[1] == 0:
            _excluded(view, check)
        else:
            _no_dmf(view, found)
        return view
    if found.collection is None:
        view.warnings.extend(found.problems)
    collection = found.collection
    if collection is not None:
        view.warnings.extend(collection.problems)
        roots, problems = livedump.read_roots(reader, collection.modules)
        view.warnings.extend(problems)
        view.objects, problems = module_collection.walk_objects(reader, roots)
        view.warnings.extend(problems)
    recorded = {a: s for a, s in (facts.triage_blocks or [])}
    livedump.names_from_recorded(target, view.objects, recorded)
    lkd_obj = found.lkd or livedump.find_livekerneldump_object(reader, view.objects)
    if found.lkd is not None and not any(o.address == found.lkd.address for o, _ in view.objects):
        more, problems = module_collection.walk_objects(reader, [found.lkd])
        view.objects.extend(more)
        view.warnings.extend(problems)
    view.modules = livedump.module_rows(reader, view.objects)
    if lkd_obj is None:
        names = ", ".join(module_collection.display_name(o) for o, _ in view.objects) or "none readable"
        view.kind = "no-module"
        view.message = ("no DMF live-dump data in %s: DMFCOLLECTION 0x%x (found by %s) has no LiveKernelDump module "
                        "(modules: %s)" % (target.name, collection.handle or 0, found.origin, names))
        return view
    view.kind = "found"
    info = view.info = livedump.read_livekerneldump(target, reader, lkd_obj, recorded)
    view.warnings.extend(info.warnings)
    view.notes.extend(info.notes)
    # the rows: the ring when its storage is there, else what the triage live dump holds
    if info.entries is not None:
        view.rows = info.entries
        view.source = "DataBufferSource"
    elif facts.triage_blocks is not None:
        view.rows = [livedump.DataBufferRow(i, a, s, None, "triage block") for i, (a, s) in enumerate(facts.triage_blocks)]
        view.source = "triage blocks"
        if facts.looks_live:
            # spec/dmf.md sec. 3.5
            how = ("DMF gave the live dump the valid entries of its buffer list, then the caller's client "
                   "structures")
        else:
            # IncludeDmfDataInBugCheckTriageDump, spec/dmf.md sec. 3.7
            how = ("at the bug check the LiveKernelDump module's CrashDump child added every valid entry of its "
                   "buffer list to the triage dump")
        # sec. 3.6: the DataBufferSource storage is module heap memory, never a recorded block
        view.notes.append("rows are the dump's %d triage data block(s): %s; the buffer list's own storage is never "
                          "recorded" % (len(view.rows), how))
    elif info.entries_problem:
        view.warnings.append(info.entries_problem)
    index = livedump.build_index(target, reader, view.objects, collection)
    livedump.resolve_rows(target, reader, index, view.rows, recorded)
    for row in view.rows:
        if not row.what and row.source == "DataBufferSource":
            row.what = "client buffer"
        if check:
            row.readable = livedump.check_readable(target, row.address, row.size)
    if info.ring_state is not None and view.source == "DataBufferSource":
        st = info.ring_state
        valid = sum(1 for r in view.rows if r.valid)
        _check_dmf_data_size(info, view.rows, view.warnings, view.notes)
        # Q-LKD-1 (oldest dropped), Q-LKD-2 (removed entries stay, invalid)
        view.notes.append("buffer list: %d of %d entries used, %d valid; beyond %d the oldest are dropped, and "
                          "removed buffers stay listed as not valid" % (len(view.rows), st.items_count, valid,
                                                                        st.items_count))
    elif info.ring_state is not None and view.source == "triage blocks":
        n = info.ring_state.items_present_count
        view.notes.append("the buffer list held %d entr%s at dump time (valid and not)" % (n, "y" if n == 1 else "ies"))
    if info.config:
        _secondary_note(view, info.config.get("guid_secondary_data"))
    if facts.code is not None and not facts.looks_live:
        view.notes.append("bug check 0x%08x is not a live dump code and the header has no LiveDumpGeneratedDump "
                          "attribute: a crash dump of a driver with DMF_LiveKernelDump" % facts.code)
    return view


def _no_dmf(view: LiveDumpView, found: _Found) -> None:
    facts = view.facts
    reasons = list(found.problems)
    if facts.code is not None and not facts.looks_live:
        reasons.insert(0, "bug check 0x%08x is not a live dump code and the header has no LiveDumpGeneratedDump "
                       "attribute" % facts.code)
    if facts.code is None or not reasons:
        reasons.append("give the LiveKernelDump DMFMODULE, any module of its collection, or the DMFCOLLECTION")
    view.kind = "none"
    view.message = "no DMF live-dump data in %s: %s" % (view.target.name, "; ".join(reasons))


def _excluded(view: LiveDumpView, check: bool) -> None:
    """A live dump whose P2 is 0: ExcludeDmfData (spec/dmf.md §3.5 step 2) - no DMF data in it."""
    facts = view.facts
    view.kind = "excluded"
    for i, (address, size) in enumerate(facts.triage_blocks or []):
        row = livedump.DataBufferRow(i, address, size, None, "triage block")
        if check:
            row.readable = livedump.check_readable(view.target, address, size)
        view.rows.append(row)
    view.source = "triage blocks" if facts.triage_blocks is not None else None
    view.message = ("P2 is 0: the live dump was created with ExcludeDmfData (or not through DMF_LiveKernelDump) - "
                    "it carries no DMFCOLLECTION and no DMF framework data")
    view.notes.append(view.message)
    if facts.triage_blocks is not None:
        # the caller's client structures (spec/dmf.md sec. 3.5 step 4) and the OS's own blocks
        view.notes.append("%d triage data block(s): the caller's client structures and the system's own blocks"
                          % len(view.rows))


def _secondary_note(view: LiveDumpView, guid_value: Optional[str]) -> None:
    """LkmdTelSetSecondaryData tags the live dump's blob with GuidSecondaryData (spec/dmf.md §3.5 step 5)."""
    target, facts = view.target, view.facts
    if target.is_live or not facts.looks_live or not guid_value:
        return
    try:
        guid = uuid.UUID(guid_value)
    except ValueError:
        return
    if guid.int == 0:
        view.notes.append("GuidSecondaryData is zero: the module never sets secondary data")
        return
    for blob in target.tagged():
        if blob.guid == guid:
            view.notes.append("secondary data tagged %s (GuidSecondaryData): %s bytes" % (guid_text(guid), blob.size))
            view.secondary = {"guid": guid_text(guid), "size": blob.size}
            return
    view.notes.append("no secondary data tagged %s (GuidSecondaryData): the caller passed none" % guid_text(guid))


def _check_dmf_data_size(info, rows, warnings: List[str], notes: List[str]) -> None:
    """DmfDataSize = sum(Size + 8) over the entries still valid while the ring never dropped one; it is
    never decremented for dropped entries (spec/dmf.md §3.3, Q-LKD-1), so once the ring is full it
    can only be larger. NumberOfDataBuffers is never written (Q-LKD-3)."""
    ctx = info.context or {}
    if "DmfDataSize" not in ctx:
        return
    total = sum(r.size + dmf_structures.LIVEKERNELDUMP_TRIAGE_BLOCK_OVERHEAD for r in rows if r.valid) & 0xFFFFFFFF
    full = info.ring_state.items_present_count >= info.ring_state.items_count
    if not full and ctx["DmfDataSize"] != total:
        warnings.append("DmfDataSize %d != sum(Size + 8) of the valid entries %d, and the buffer list never filled"
                        % (ctx["DmfDataSize"], total))
    elif full and ctx["DmfDataSize"] > total:
        notes.append("DmfDataSize %d also counts %d bytes of entries the full buffer list dropped (DMF never "
                     "subtracts them)" % (ctx["DmfDataSize"], ctx["DmfDataSize"] - total))
    if ctx.get("NumberOfDataBuffers") == 0:
        notes.append("NumberOfDataBuffers is 0: DMF never writes it")


def facts_document(facts: livedump.DumpFacts) -> Optional[Dict[str, Any]]:
    return facts.as_dict() if facts.code is not None else None
