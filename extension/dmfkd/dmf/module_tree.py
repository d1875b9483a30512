"""The DMF_OBJECT tree reachable from a module or a collection (spec/dmf.md §4.3-§4.4): module names,
instance names, states, contexts, configs, and a RingBuffer's N/S/P. The CrashDump module's data-source
rings are dynamic modules parented to the WDFDEVICE, reachable only through DATA_SOURCE (§4.4): they are
listed under it."""
from typing import List, Optional

from dmfkd.dmf.crashdump import walk_crashdump
from dmfkd.dmf.objects import ObjectReader
from dmfkd.dmf.ringbuffer import RingState
from dmfkd.errors import DmfkdError, LayoutError, MemoryReadError
from dmfkd.layouts import dmf_structures
from dmfkd.records import UNREADABLE, ModuleRow


class ModuleTree:
    """The rows of a tree walk, depth first, with what was found on the way."""

    def __init__(self, kind: str, root: int, rows: List[ModuleRow], details: List[str], warnings: List[str],
                 notes: List[str]):
        self.kind = kind          # "DMFMODULE" | "DMFCOLLECTION"
        self.root = root
        self.rows = rows
        #: per row: a RingBuffer's "N=.. S=.. P=.. r=.. w=..", "via DataSource[i]" for CrashDump rings
        self.details = details
        self.warnings = warnings
        self.notes = notes


def _ring_detail(target, arch: str, context: int) -> str:
    try:
        st = RingState.parse(target.read(context, dmf_structures.ring_buffer(arch).size), arch)
    except (MemoryReadError, LayoutError):
        return UNREADABLE
    return "N=%d S=%d P=%d r=%s w=%s" % (st.items_count, st.item_size, st.items_present_count,
                                         st.read_index, st.write_index)


def read_module_tree(target, value: Optional[int], driver: Optional[str] = None,
                     dmf_version=None) -> Optional[ModuleTree]:
    """The tree under `value`, a DMFMODULE handle or else a DMFCOLLECTION; with no value, under the
    driver's g_DmfModuleCrashDump (None when there is none)."""
    walk = None
    if value is None:
        walk = walk_crashdump(target, driver, dmf_version)
        if walk is None or not isinstance(walk.info.handle, int) or not walk.info.handle:
            return None
        value = walk.info.handle
    reader = ObjectReader(target, dmf_version)
    warnings, notes = [], []
    roots = []
    try:
        roots = [reader.read(value)]
        kind = "DMFMODULE"
    except DmfkdError as module_error:
        try:
            coll, objects, problems = reader.collection(value)
        except DmfkdError:
            raise DmfkdError("0x%x is neither a DMFMODULE nor a DMFCOLLECTION (%s)"
                             % (value, str(module_error).splitlines()[0]))
        kind = "DMFCOLLECTION"
        warnings.extend(problems)
        notes.append("DMF_MODULE_COLLECTION at 0x%x: %d top-level module(s)" % (coll, len(objects)))
        for address in objects:
            try:
                roots.append(reader.read_at(address))
            except DmfkdError as exc:
                warnings.append("module 0x%x: %s" % (address, str(exc).splitlines()[0]))
    rows = reader.tree(roots)
    vias = [""] * len(rows)
    if walk is None and roots and roots[0].module_name == "CrashDump":
        walk = walk_crashdump(target, driver, dmf_version)
        if walk is not None and walk.info.handle != roots[0].handle:
            walk = None
    if walk is not None and rows:
        insert_at = 1
        for index, ring in sorted(walk.rings.items()):
            if not ring.object_address:
                continue
            try:
                obj = reader.read(ring.handle)
            except DmfkdError as exc:
                warnings.append("DataSource[%d] ring 0x%x: %s" % (index, ring.handle, str(exc).splitlines()[0]))
                continue
            rows.insert(insert_at, reader.module_row(obj, rows[0].depth + 1))
            vias.insert(insert_at, "via DataSource[%d]" % index)
            insert_at += 1
    details = []
    for row, via in zip(rows, vias):
        detail = ""
        if row.module_name == "RingBuffer" and isinstance(row.context, int) and row.context:
            detail = _ring_detail(target, reader.arch, row.context)
        details.append("; ".join(part for part in (detail, via) if part))
        warnings.extend("%s 0x%s: %s" % (row.module_name, "%x" % row.object_address
                                         if isinstance(row.object_address, int) else row.object_address, w)
                        for w in row.warnings)
    return ModuleTree(kind, value, rows, details, warnings, notes)
