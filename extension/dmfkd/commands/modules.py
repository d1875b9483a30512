"""`dmfkd modules [DMFMODULE|DMFCOLLECTION]`: the DMF_OBJECT tree reachable from a module or a
collection (spec/dmf.md §4.3-§4.4): module names, instance names, states, contexts, configs. Default
root: the driver's CrashDump module (g_DmfModuleCrashDump); its data-source rings are listed under it
(they are dynamic modules parented to the WDFDEVICE, reachable only through DATA_SOURCE, §4.4)."""
import os
import re

from dmfkd.commands import command
from dmfkd.commands.crashdump import drill
from dmfkd.commands.ringbuffer import parse_address
from dmfkd.dmf.crashdump import walk_crashdump
from dmfkd.dmf.objects import ObjectReader
from dmfkd.dmf.ringbuffer import RingState
from dmfkd.errors import DmfkdError, LayoutError, MemoryReadError
from dmfkd.layouts import dmf_structures
from dmfkd.records import UNREADABLE, hex_or
from dmfkd.render import Link, Report

_HANDLE_RE = re.compile(r"^(0x)?[0-9a-fA-F`]+$|^[A-Za-z_][\w.]*![\w]+$")


def _looks_like_handle(text: str) -> bool:
    return bool(_HANDLE_RE.match(text.strip()))


COLUMNS = [("tree", "module"), ("instance", "instance"), ("handle", "DMFMODULE"), ("object", "DMF_OBJECT"),
           ("state", "state"), ("context", "context"), ("config_size", "config size"), ("detail", "detail")]


def _ring_detail(target, arch: str, context: int) -> str:
    try:
        st = RingState.parse(target.read(context, dmf_structures.ring_buffer(arch).size), arch)
    except (MemoryReadError, LayoutError):
        return UNREADABLE
    return "N=%d S=%d P=%d r=%s w=%s" % (st.items_count, st.item_size, st.items_present_count,
                                         st.read_index, st.write_index)


@command("modules", help="the DMF module tree under a DMFMODULE or DMFCOLLECTION (default: the CrashDump module)")
def modules(args, session):
    # one positional inside WinDbg: argparse gives it to DUMP; a handle is not a file (spec/pykd.md §7)
    if args.root is None and args.dump and not os.path.exists(args.dump) and _looks_like_handle(args.dump):
        args.root, args.dump = args.dump, None
    target = session.target
    reader = ObjectReader(target, args.dmf_version)
    arch = reader.arch
    walk = None
    notes, warnings = [], []
    if args.root:
        value = parse_address(target, args.root)
    else:
        walk = walk_crashdump(target, args.driver, args.dmf_version)
        if walk is None or not isinstance(walk.info.handle, int) or not walk.info.handle:
            line = "no DMF module to start from in %s: give a DMFMODULE or DMFCOLLECTION handle" % target.name
            return Report(text=line, document={"message": line, "modules": []}, rows=[], columns=[])
        value = walk.info.handle
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
    # CrashDump data-source rings hang off DATA_SOURCE, not ChildObjectList (spec/dmf.md §4.4)
    if walk is None and roots and roots[0].module_name == "CrashDump":
        walk = walk_crashdump(target, args.driver, args.dmf_version)
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
            row = reader.module_row(obj, rows[0].depth + 1)
            row.warnings.append("via DataSource[%d]" % index)
            rows.insert(insert_at, row)
            insert_at += 1
    out = []
    for row in rows:
        detail = ""
        if row.module_name == "RingBuffer" and isinstance(row.context, int) and row.context:
            detail = _ring_detail(target, arch, row.context)
        extra = "; ".join(w for w in row.warnings if w.startswith("via "))
        name = "%s%s" % ("  " * row.depth, row.module_name)
        handle_cell = hex_or(row.handle)
        if isinstance(row.handle, int) and row.module_name == "RingBuffer":
            handle_cell = Link(handle_cell, drill("ringbuffer 0x%x" % row.handle, args))
        elif isinstance(row.handle, int) and row.module_name == "CrashDump":
            handle_cell = Link(handle_cell, drill("crashdump", args))
        d = row.as_row()
        d.update({"tree": name, "handle": handle_cell, "detail": (detail + ("; " if detail and extra else "") + extra)})
        out.append(d)
        warnings.extend("%s 0x%s: %s" % (row.module_name, "%x" % row.object_address if isinstance(row.object_address, int)
                                         else row.object_address, w)
                        for w in row.warnings if not w.startswith("via "))
    title = "DMF modules under %s 0x%x: %d module(s)" % (kind, value, len(out))
    return Report(rows=out, columns=COLUMNS, title=title, notes=notes, warnings=warnings,
                  document={"root": "0x%x" % value, "kind": kind, "modules": out, "warnings": warnings, "notes": notes})


@modules.arguments
def _arguments(p):
    p.add_argument("root", nargs="?", metavar="DMFMODULE|DMFCOLLECTION",
                   help="root handle (or module!global holding one); default: g_DmfModuleCrashDump")
    p.add_argument("--driver", metavar="NAME", help="symbol module of the driver")
    p.add_argument("--dmf-version", metavar="V", help="DMF version when symbols do not say")
