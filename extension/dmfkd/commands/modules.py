"""`dmfkd modules [DMFMODULE|DMFCOLLECTION]`: the DMF_OBJECT tree reachable from a module or a
collection (default root: the driver's CrashDump module). The reading is dmf/module_tree.py's."""
from dmfkd.commands import command
from dmfkd.commands.shared import parse_address, positional_root, step
from dmfkd.dmf.module_tree import read_module_tree
from dmfkd.records import hex_or
from dmfkd.render import Column, Hex, Report

COLUMNS = [Column("tree", "module", where="table"), Column("depth", "depth", where="data"),
           Column("module", "module", where="data"), Column("instance", "instance"),
           Column("handle", "DMFMODULE"), Column("object", "DMF_OBJECT", optional=2), Column("state", "state"),
           Column("context", "context", optional=1), Column("config", "config", where="data"),
           Column("config_size", "config size", optional=3), Column("parent", "parent", where="data"),
           Column("children", "children", where="data"), Column("detail", "detail", wrap=True, min_width=24),
           Column("warnings", "warnings", where="data")]


@command("modules", help="the DMF module tree under a DMFMODULE or DMFCOLLECTION (default: the CrashDump module)")
def modules(args, session):
    positional_root(args)
    target = session.target
    value = parse_address(target, args.root) if args.root else None
    tree = read_module_tree(target, value, args.driver, args.dmf_version)
    if tree is None:
        line = "no DMF module to start from in %s: give a DMFMODULE or DMFCOLLECTION handle" % target.name
        return Report(text=line, document={"message": line, "modules": []})
    value = tree.root
    out = []
    for row, detail in zip(tree.rows, tree.details):
        d = row.as_row()
        d["tree"] = "%s%s" % ("  " * row.depth, row.module_name)
        d["detail"] = detail
        if isinstance(row.handle, int) and row.module_name == "RingBuffer":
            d["handle"] = step(hex_or(row.handle), "ringbuffer 0x%x" % row.handle, args)
        elif isinstance(row.handle, int) and row.module_name == "CrashDump":
            d["handle"] = step(hex_or(row.handle), "crashdump", args)
        out.append(d)
    title = "DMF modules under %s 0x%x: %d module(s)" % (tree.kind, value, len(out))
    return Report(rows=out, columns=COLUMNS, title=title, notes=tree.notes, warnings=tree.warnings,
                  document={"root": Hex(value), "kind": tree.kind, "modules": out, "warnings": tree.warnings,
                            "notes": tree.notes})


@modules.arguments
def _arguments(p):
    p.add_argument("root", nargs="?", metavar="DMFMODULE|DMFCOLLECTION",
                   help="root handle (or module!global holding one); default: g_DmfModuleCrashDump")
    p.add_argument("--driver", metavar="NAME", help="symbol module of the driver")
    p.add_argument("--dmf-version", metavar="V", help="DMF version when symbols do not say")
