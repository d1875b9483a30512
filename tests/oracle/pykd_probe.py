"""A probe of every pykd call dmfkd makes (extension/dmfkd/targets/pykd.py), run unchanged against
the real pykd 0.3.4.15 (Windows CPython 3.9 under Wine) and against dmfemu.pykd, the stand-in.

Each call becomes one record {"call", "type", "value"} or {"call", "exception", "mro", "message"};
values are made comparable (bytes -> length + sha1, enum -> str). Only the standard library and the
module passed as `pykd` are used: this file runs inside the Windows python too.
"""
import hashlib
import json
import os
import re

ENUMTAG_HEADER = re.compile(r"^\{([0-9A-Fa-f-]+)\}\s+-\s+0x([0-9A-Fa-f]+)\s+bytes\s*$")


def _describe(value):
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) and 0 <= v < 256 for v in value) \
            and len(value) > 16:
        raw = bytes(value)
        return {"type": type(value).__name__, "len": len(raw), "sha1": hashlib.sha1(raw).hexdigest()}
    if isinstance(value, (list, tuple)):
        return {"type": type(value).__name__, "value": [_plain(v) for v in value]}
    return {"type": type(value).__name__, "value": _plain(value)}


def _plain(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) in (int, bool):
        return value
    if isinstance(value, int):          # boost.python enums are int subclasses
        return "%s(%d)" % (str(value), int(value))
    return str(value)


def _call(records, pykd, label, func, *args):
    try:
        value = func(*args)
    except Exception as exc:  # every pykd failure is recorded, never raised
        records.append({"call": label, "exception": type(exc).__name__,
                        "mro": [c.__name__ for c in type(exc).__mro__[:3]],
                        "message": str(exc)})
        return None
    record = {"call": label}
    record.update(_describe(value))
    records.append(record)
    return value


def probe_dump(pykd, path, reads, physical):
    """Records for one dump: open it, query it like dmfkd does, close it."""
    records = []
    call = lambda label, func, *args: _call(records, pykd, label, func, *args)  # noqa: E731
    call("isDumpAnalyzing (before)", pykd.isDumpAnalyzing)
    call("loadDump", pykd.loadDump, path)
    call("isDumpAnalyzing", pykd.isDumpAnalyzing)
    call("isKernelDebugging", pykd.isKernelDebugging)
    call("isWindbgExt", pykd.isWindbgExt)
    call("ptrSize", pykd.ptrSize)
    call("is64bitSystem", pykd.is64bitSystem)
    call("pageSize", pykd.pageSize)
    call("getCPUType", pykd.getCPUType)
    call("getCPUType repr", lambda: repr(pykd.getCPUType()))
    call("getDumpType", pykd.getDumpType)
    call("bugCheckData", pykd.bugCheckData)
    version = call("getSystemVersion", lambda: type(pykd.getSystemVersion()).__name__)
    if version is not None:
        info = pykd.getSystemVersion()
        call("getSystemVersion().buildNumber", lambda: info.buildNumber)
        call("getSystemVersion().win32Major/Minor", lambda: (info.win32Major, info.win32Minor))
        call("getSystemVersion().buildString", lambda: info.buildString)
        call("getSystemVersion().servicePack", lambda: info.servicePack)
        call("str(getSystemVersion())", lambda: str(info))
    tags = call("enumTagged", pykd.enumTagged) or []
    for guid in sorted(set(tags), key=tags.index):
        call("loadTaggedBuffer(%s)" % guid, pykd.loadTaggedBuffer, guid)
    if tags:
        call("loadTaggedBuffer(upper)", pykd.loadTaggedBuffer, tags[0].upper())
        call("loadTaggedBuffer({braced})", pykd.loadTaggedBuffer, "{%s}" % tags[0])
    call("loadTaggedBuffer(missing)", pykd.loadTaggedBuffer, "00000000-0000-0000-0000-000000000099")
    call("loadTaggedBuffer(not a guid)", pykd.loadTaggedBuffer, "not-a-guid")
    for va, size in reads:
        call("loadBytes(0x%x, %d)" % (va, size), pykd.loadBytes, va, size)
    for pa, size in physical:
        call("loadBytes(0x%x, %d, phys)" % (pa, size), pykd.loadBytes, pa, size, True)
    text = call("dbgCommand(.enumtag) type", lambda: type(pykd.dbgCommand(".enumtag")).__name__)
    if text is not None:
        headers = []
        for line in (pykd.dbgCommand(".enumtag") or "").splitlines():
            match = ENUMTAG_HEADER.match(line.strip())
            if match:
                headers.append((match.group(1).lower(), int(match.group(2), 16)))
        records.append({"call": "dbgCommand(.enumtag) headers", "type": "list", "value": headers})
        whole = pykd.dbgCommand(".enumtag") or ""
        records.append({"call": "dbgCommand(.enumtag) text", "type": "str", "lines": whole.count("\n"),
                        "sha1": hashlib.sha1(whole.encode("utf-8", "surrogatepass")).hexdigest()})
        # the header lines as printed, for dmfkd's own parser (PykdTarget._enumtag_sizes)
        records.append({"call": "dbgCommand(.enumtag) header lines", "type": "list",
                        "value": [line.strip() for line in (pykd.dbgCommand(".enumtag") or "").splitlines()
                                  if line.strip().startswith("{") and line.rstrip().endswith("bytes")]})
    systems = call("dbgCommand(||) type", lambda: type(pykd.dbgCommand("||")).__name__)
    if systems is not None:
        lines = [line for line in (pykd.dbgCommand("||") or "").splitlines() if "dump:" in line.lower()]
        records.append({"call": "dbgCommand(||) dump file", "type": "str",
                        "value": [os.path.basename(line.replace("\\", "/")).strip() for line in lines]})
        records.append({"call": "dbgCommand(||) lines", "type": "list", "value": systems_lines(pykd)})
    # the other commands the stand-in answers (scripts/dmfkd.wds registers aliases with aS)
    for command in (".bugcheck", ".echo dmfkd", "al", 'aS !dmfprobe "!py -g -m dmfkd tags"', "al", "ad !dmfprobe",
                    "al", "r"):
        call("dbgCommand(%s)" % command, pykd.dbgCommand, command)
    for command in ("x *!g_DmfModuleCrashDump", "x dmfdemo!*", "x nosuch!*", "x g_Dmf*", "x"):
        call("dbgCommand(%s)" % command, pykd.dbgCommand, command)
    for name in ("dmfdemo!g_DmfModuleCrashDump", "DMFDEMO!g_DmfModuleCrashDump", "g_DmfModuleCrashDump",
                 "nt!KiBugCheckData", "nosuch!x", "dmfdemo.sys!x", "dmfdemo!", ""):
        call("getOffset(%s)" % name, pykd.getOffset, name)
    for name in ("dmfdemo!DMF_OBJECT", "DMF_OBJECT", "dmfdemo!DMF_OBJECT*", "dmfdemo!DMF_OBJECT[2]", "nt!_LIST_ENTRY",
                 "nt!_LIST_ENTRY*", "hal!X*", "nosuch!T", "nt!UInt4B", "nt!UInt4B*", "dmfdemo!UInt4B*"):
        call("typeInfo(%s)" % name, lambda name=name: type(pykd.typeInfo(name)).__name__)
    call("typeInfo(UInt4B) name/size", lambda: (pykd.typeInfo("UInt4B").name(), pykd.typeInfo("UInt4B").size()))
    call("typeInfo(Char*) size", lambda: pykd.typeInfo("Char*").size())
    call("sizeof(dmfdemo!DMF_OBJECT)", pykd.sizeof, "dmfdemo!DMF_OBJECT")
    # PykdSymbols.overlay: typedVar over bytes already read
    call("typedVar(UInt4B, bytes)", lambda: int(pykd.typedVar("UInt4B", [0x11, 0x22, 0x33, 0x44])))
    call("typedVar(dmfdemo!DMF_OBJECT, bytes)", lambda: type(pykd.typedVar("dmfdemo!DMF_OBJECT", [0] * 16)).__name__)
    call("dprint(dml)", pykd.dprint, "", True)
    call("closeDump", pykd.closeDump)
    call("isDumpAnalyzing (after close)", pykd.isDumpAnalyzing)
    return records


def systems_lines(pykd):
    """`||` with each dump path cut to its file name (Wine shows Z:\\..., the stand-in the Linux path)."""
    out = []
    for line in (pykd.dbgCommand("||") or "").splitlines():
        head, sep, path = line.partition(": ")
        out.append(head + sep + os.path.basename(path.replace("\\", "/")) if sep else line)
    return out


def no_target(call, pykd, when):
    """What answers without a target (dmfkd's pykd_available() must not take it for one)."""
    for name in ("isDumpAnalyzing", "isKernelDebugging", "ptrSize", "getCPUType", "is64bitSystem", "enumTagged",
                 "bugCheckData"):
        call("%s %s" % (name, when), getattr(pykd, name))


def probe_session(pykd, missing, not_a_dump, dump, other):
    records = []
    call = lambda label, func, *args: _call(records, pykd, label, func, *args)  # noqa: E731
    no_target(call, pykd, "before any dump")
    call("closeDump() with nothing open", pykd.closeDump)
    call("dbgCommand(||) with nothing open", pykd.dbgCommand, "||")
    call("loadDump(missing file)", pykd.loadDump, missing)
    call("loadDump(not a dump)", pykd.loadDump, not_a_dump)
    call("isDumpAnalyzing (no dump)", pykd.isDumpAnalyzing)
    # a second loadDump while one is open, then closeDump() until nothing is open
    call("loadDump(A)", pykd.loadDump, dump)
    call("loadDump(A) again while open", pykd.loadDump, dump)
    call("closeDump() #1", pykd.closeDump)
    call("isDumpAnalyzing after closeDump #1", pykd.isDumpAnalyzing)
    call("closeDump() #2", pykd.closeDump)
    call("isDumpAnalyzing after closeDump #2", pykd.isDumpAnalyzing)
    # three systems, which one is current, closing by id (PykdTarget.close closes its own id)
    call("loadDump(A) #3", pykd.loadDump, dump)
    call("loadDump(B) #3", pykd.loadDump, other)
    call("ptrSize after loading B", pykd.ptrSize)
    call("loadDump(A) #4", pykd.loadDump, dump)
    records.append({"call": "|| with three", "type": "list", "value": systems_lines(pykd)})
    call("closeDump(1)", pykd.closeDump, 1)
    records.append({"call": "|| after closeDump(1)", "type": "list", "value": systems_lines(pykd)})
    call("ptrSize after closeDump(1)", pykd.ptrSize)
    call("loadDump(B) into the free id", pykd.loadDump, other)
    records.append({"call": "|| with B current", "type": "list", "value": systems_lines(pykd)})
    call("closeDump(7)", pykd.closeDump, 7)
    call("closeDump(-1)", pykd.closeDump, -1)
    call("closeDump() current", pykd.closeDump)
    records.append({"call": "|| after closeDump()", "type": "list", "value": systems_lines(pykd)})
    call("closeDump(0)", pykd.closeDump, 0)
    call("closeDump(2)", pykd.closeDump, 2)
    call("isDumpAnalyzing after closing all", pykd.isDumpAnalyzing)
    call("dbgCommand(||) after closing all", pykd.dbgCommand, "||")
    no_target(call, pykd, "after closing all")
    call("dprint", pykd.dprint, "")
    call("MemoryException mro", lambda: [c.__name__ for c in pykd.MemoryException.__mro__[:3]])
    return records


def _type_view(pykd, info):
    """What PykdSymbols.type_layout reads of a typeInfo, plus the fields' own type names."""
    fields = []
    for name, field_type in info.fields():
        try:
            size = field_type.size()
        except Exception as exc:  # a function or an incomplete type
            size = type(exc).__name__
        fields.append([name, info.fieldOffset(name), field_type.name(), size])
    return {"name": info.name(), "size": info.size(), "fields": fields}


def probe_symbols(pykd, path, types, symbols):
    """A dump whose driver's symbols the engine has: the real pykd reads the PDB (on the symbol path),
    the stand-in the ISF. `types`: user type names; `symbols`: global names. The dmfkd-level views
    (PykdSymbols.search/type_layout/overlay) are recorded too: that is what dmfkd does with them."""
    from dmfkd.targets.pykd import PykdSymbols

    records = []
    call = lambda label, func, *args: _call(records, pykd, label, func, *args)  # noqa: E731
    call("loadDump", pykd.loadDump, path)
    for name in symbols:
        call("getOffset(dmfdemo!%s)" % name, pykd.getOffset, "dmfdemo!" + name)
    for name in ("DMFDEMO!g_DmfModuleCrashDump", "g_DmfModuleCrashDump", "dmfdemo!NoSuchSymbol", "dmfdemo!DMF_OBJECT",
                 "nt!KiBugCheckData"):
        call("getOffset(%s)" % name, pykd.getOffset, name)
    wrapper = PykdSymbols(pykd)
    for pattern in ("*!g_DmfModuleCrashDump", "dmfdemo!g_*", "dmfdemo!*", "g_Dmf*", "dmfdemo!nothing*",
                    "DMFDEMO!G_DMFMODULECRASHDUMP"):
        call("search(%s)" % pattern, lambda pattern=pattern: sorted(wrapper.search(pattern)))
    for name in types:
        call("typeInfo(dmfdemo!%s)" % name, lambda name=name: _type_view(pykd, pykd.typeInfo("dmfdemo!" + name)))
        call("type_layout(dmfdemo!%s)" % name,
             lambda name=name: [[f.name, f.offset, f.type_name, f.size]
                                for f in wrapper.type_layout("dmfdemo!" + name).fields.values()])
    # dmfkd.dmf.objects asks without a module: "DMF_OBJECT", then its ModuleDescriptor's type by name
    layout = call("type_layout(DMF_OBJECT)", lambda: [[f.name, f.offset, f.type_name, f.size]
                                                      for f in wrapper.type_layout("DMF_OBJECT").fields.values()])
    for name, _, type_name, _ in layout or []:
        if name == "ModuleDescriptor":
            call("type_layout(%s)" % type_name, lambda: sorted(wrapper.type_layout(type_name).fields))
    for name in ("DMF_OBJECT", "dmfdemo!NoSuchType", "dmfdemo!DMF_OBJECT*", "dmfdemo!_GUID[2]"):
        call("typeInfo(%s) name/size" % name, lambda name=name: (pykd.typeInfo(name).name(),
                                                                 pykd.typeInfo(name).size()))
    call("typeInfo(dmfdemo!DMF_OBJECT*).deref", lambda: pykd.typeInfo("dmfdemo!DMF_OBJECT*").deref().name())
    for name in ("dmfdemo!DMF_OBJECT", "dmfdemo!g_DmfModuleCrashDump", "dmfdemo!_GUID"):
        call("sizeof(%s)" % name, pykd.sizeof, name)
    call("typedVar(dmfdemo!g_DmfModuleCrashDump)", lambda: int(pykd.typedVar("dmfdemo!g_DmfModuleCrashDump")))
    info = "dmfdemo!_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO"
    address = call("getOffset(type info)", pykd.getOffset, info)
    if address is not None:
        size = pykd.sizeof("dmfdemo!_WDF_OBJECT_CONTEXT_TYPE_INFO")
        raw = bytes(pykd.loadBytes(address, size))
        call("overlay(_WDF_OBJECT_CONTEXT_TYPE_INFO)", lambda: [
            [name, int(value)] for name, _, value in
            wrapper.overlay("dmfdemo!_WDF_OBJECT_CONTEXT_TYPE_INFO", raw).fields()
            if value.type().isBase() or value.type().isPointer()])
        call("typedVar(_WDF_OBJECT_CONTEXT_TYPE_INFO, address).ContextSize",
             lambda: int(pykd.typedVar("dmfdemo!_WDF_OBJECT_CONTEXT_TYPE_INFO", address).ContextSize))
    call("closeDump", pykd.closeDump)
    return records


def run(pykd, plan):
    """plan: {"dumps": [{"path", "reads": [[va, n]], "physical": [[pa, n]]}], "missing", "not_a_dump",
    "with_symbols": [{"path", "types", "symbols"}]} (each part optional)"""
    out = {"session": [], "dumps": []}
    if plan.get("dumps"):
        out["session"] = probe_session(pykd, plan["missing"], plan["not_a_dump"], plan["dumps"][0]["path"],
                                       plan["dumps"][-1]["path"])
    for dump in plan.get("dumps", []):
        out["dumps"].append(probe_dump(pykd, dump["path"], [tuple(r) for r in dump["reads"]],
                                       [tuple(p) for p in dump["physical"]]))
    out["symbols"] = [probe_symbols(pykd, dump["path"], dump["types"], dump["symbols"])
                      for dump in plan.get("with_symbols", [])]
    return out


if __name__ == "__main__":
    import sys

    import pykd as real_pykd

    print("@@PROBE@@" + json.dumps(run(real_pykd, json.loads(sys.argv[1]))))
