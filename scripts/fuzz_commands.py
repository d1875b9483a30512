"""Fuzz every dmfkd command with hostile DMF data (the long campaign; tests/test_fuzz_commands.py runs
the same engine with a small hypothesis budget).

The emulator's demo driver (dmfemu.scenarios.crashdump_demo) is crashed into MEMORY.DMP + driver.isf.json (x64 full,
x64 bitmap, x86 full, x86 bitmap, x64 with a DMF 1.1.84 V1 context, ARM64 full, ARM64 bitmap). The pristine dump is walked once with the
real readers to learn where the DMF structures sit in the file: g_DmfModuleCrashDump, the context's
TYPE_INFO and WDF header, the CrashDump DMF_OBJECT, context and config, every DATA_SOURCE, every
ring's DMF_OBJECT, RING_BUFFER and storage, the strings, every other module of the tree, the
secondary-data blob headers and payloads. A mutation is plain data (JSON), so a finding can be
replayed and shrunk:

    ["field", NAME, INT]           write INT (little endian, cut to the field's width) into field NAME
    ["splat", REGION, OFF, HEX]    overwrite bytes of a region (a structure, a ring's storage, a blob)
    ["truncate", LENGTH]           cut the file
    ["isf_set", PATH, VALUE]       set a value in driver.isf.json (PATH: list of keys)
    ["isf_del", PATH]              delete a key of driver.isf.json

Each mutated dump is run through every command twice - `dmfkd.cli.main(argv)` on the file, and
`dmfkd.cli.run(argv)` through the pykd stand-in attached to the same file (spec/pykd.md) - and the
outcome must be: exit 0, or exit 2 / a DmfkdError with exactly one stderr line "dmfkd: ..."; no
other exception; no call over the time guard (a hang) or the memory guard (MEMORY_LIMIT more than
the process held before the call: RSS high-water mark, or tracemalloc peak with --memory tracemalloc).

    python3 scripts/fuzz_commands.py --iterations 2000 --seed 7 [--minutes 10] [--no-pykd]
    python3 scripts/fuzz_commands.py --replay /tmp/dmfkd-fuzz-7/finding-0/finding.json

prints iterations/s, the largest memory growth and the slowest call, and every distinct finding
(exception type + the frame that raised), each saved with its input (MEMORY.DMP, driver.isf.json,
finding.json with the mutations) under /tmp/dmfkd-fuzz-<seed>/.
"""
import argparse
import contextlib
import copy
import io
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
import tracemalloc
from typing import Any, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _sub in ("extension", "emulator"):
    _p = os.path.join(ROOT, _sub)
    if _p not in sys.path:
        sys.path.insert(0, _p)

from dmfkd import cli  # noqa: E402
from dmfkd.dmf.crashdump import walk_crashdump  # noqa: E402
from dmfkd.errors import DmfkdError, MemoryReadError  # noqa: E402
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import engine
from dmfkd.layouts import windows
from dmfkd.render import Output  # noqa: E402
from dmfkd.targets.dumpfile import DumpFile  # noqa: E402
from dmfkd.targets.isf import IsfSymbols  # noqa: E402

#: (arch, DMF version, dump type) of the base dumps
BASE_CONFIGS = (("x64", "1.1.154", "full"), ("x64", "1.1.154", "bitmap"), ("x86", "1.1.154", "full"),
                ("x86", "1.1.154", "bitmap"),
                ("x64", "1.1.84", "full"), ("arm64", "1.1.154", "full"), ("arm64", "1.1.154", "bitmap"))
MEMORY_LIMIT = 200 * 1024 * 1024
HOT_OBJECT_FIELDS = {"Signature", "MemoryDmfObject", "ModuleContext", "ModuleConfig", "ModuleConfigSize",
                     "ModuleDescriptor.ModuleConfigSize", "ChildObjectList.Flink", "ChildObjectList.Blink",
                     "ChildListEntry.Flink", "ChildListEntry.Blink", "NumberOfChildModules", "ModuleName",
                     "ClientModuleInstanceName", "ClientModuleInstanceNameSizeBytes", "DmfObjectParent",
                     "ModuleState", "ModuleCollection"}
EVENT_TYPE = "dmfdemo!DMFDEMO_EVENT"


#: the largest memory growth (bytes, per the guard in use) and the slowest call seen
STATS = {"peak": 0, "peak_argv": None, "slowest": 0.0, "slowest_argv": None}


def _note(peak: int, seconds: float, argv: List[str]) -> None:
    if peak > STATS["peak"]:
        STATS["peak"], STATS["peak_argv"] = peak, argv
    if seconds > STATS["slowest"]:
        STATS["slowest"], STATS["slowest_argv"] = seconds, argv


class Runaway(BaseException):
    """A command ran past the hang guard (BaseException: no `except Exception` in dmfkd swallows it)."""


class Finding(Exception):
    """A command misbehaved; `key` groups findings with the same root (type + raising frame)."""

    def __init__(self, kind: str, argv: List[str], detail: str, key: str):
        super().__init__("%s: %s\n%s" % (kind, " ".join(argv), detail))
        self.kind = kind
        self.argv = argv
        self.detail = detail
        self.key = key


# --------------------------------------------------------------------------------------------------
# Base dumps and where their DMF structures are in the file
# --------------------------------------------------------------------------------------------------

class Base:
    """One pristine demo dump: its bytes, its ISF document and a map field name -> file segments."""

    def __init__(self, arch: str, dmf_version: str, dump_type: str, directory: str):
        from dmfemu.scenarios.crashdump_demo import demo_scenario
        from dmfemu.scenarios.crashdump_replay import run_scenario

        self.arch, self.dmf_version, self.dump_type = arch, dmf_version, dump_type
        self.name = "%s-%s-%s" % (arch, dmf_version, dump_type)
        self.directory = directory
        self.expected = run_scenario(demo_scenario(arch, dmf_version, dump_type), directory)
        self.dump_path = os.path.join(directory, "MEMORY.DMP")
        self.isf_path = os.path.join(directory, "driver.isf.json")
        with open(self.dump_path, "rb") as f:
            self.dump = f.read()
        with open(self.isf_path, "r", encoding="utf-8") as f:
            self.isf_text = f.read()
        self.isf = json.loads(self.isf_text)
        #: name -> [(file offset, length)]; "region" names cover whole structures
        self.fields = {}  # type: Dict[str, List[Tuple[int, int]]]
        self.field_sizes = {}  # type: Dict[str, int]
        self.regions = {}  # type: Dict[str, List[Tuple[int, int]]]
        self.addresses = set()  # interesting VAs (structures, rings) for pointer values
        self.guids = [s["guid"] for s in self.expected["sources"]]
        self.ring_handles = []  # type: List[int]
        self.ring_contexts = []  # type: List[int]
        self.collection_handle = None  # type: Optional[int]
        self.handles = set()  # DMFMODULE handles of every object mapped
        self._map()
        if self.collection_handle:
            self.handles.add(self.collection_handle)
        self.field_names = sorted(self.fields)
        #: the fields a reader decides on (most DMF_OBJECT fields are callbacks nobody reads)
        self.hot_fields = [n for n in self.field_names
                           if ".object." not in n or n.rsplit(".object.", 1)[1] in HOT_OBJECT_FIELDS]
        self.region_names = sorted(self.regions)
        self.isf_paths = _isf_paths(self.isf)

    # -- VA -> file offsets (through the dump's own page tables) ---------------------------------
    def _segments(self, target, va: int, size: int) -> List[Tuple[int, int]]:
        out = []
        pos, end = va, va + size
        while pos < end:
            take = min(end - pos, 0x1000 - (pos & 0xFFF))
            pa = target.translate(pos)
            offset = target.page_offset(pa >> 12)
            if offset is None:
                raise MemoryReadError(pos, take)
            out.append((offset + (pa & 0xFFF), take))
            pos += take
        return out

    def _add_struct(self, target, prefix: str, va: int, layout) -> None:
        if not va:
            return
        try:
            self.regions[prefix] = self._segments(target, va, layout.size)
        except DmfkdError:
            return
        self.addresses.add(va)
        names = list(layout.offsets)
        for name in names:
            if any(o.startswith(name + ".") or o.startswith(name + "[") for o in names if o != name):
                continue  # composite: its leaves are fields
            size = layout.sizes.get(name)
            if not size or size > 64:
                continue
            try:
                self.fields["%s.%s" % (prefix, name)] = self._segments(target, va + layout.offsets[name], size)
                self.field_sizes["%s.%s" % (prefix, name)] = size
            except DmfkdError:
                continue
            if name.endswith("List.Flink") or name.endswith("Entry.Flink"):
                self.addresses.add(va + layout.offsets[name])  # list heads: Flink := own head, cycles
            if name == "MemoryDmfObject":
                raw = b"".join(self.dump[o:o + n] for o, n in self.fields["%s.%s" % (prefix, name)])
                self.handles.add(int.from_bytes(raw, "little"))

    def _add_region(self, target, name: str, va: int, size: int) -> None:
        if not va or size <= 0:
            return
        try:
            self.regions[name] = self._segments(target, va, size)
            self.addresses.add(va)
        except DmfkdError:
            pass

    def _add_scalar(self, target, name: str, va: int, size: int) -> None:
        try:
            self.fields[name] = self._segments(target, va, size)
            self.field_sizes[name] = size
        except DmfkdError:
            pass

    def _map(self) -> None:
        arch = self.arch
        ptr = engine.pointer_size(arch)
        target = DumpFile(self.dump_path)
        try:
            symbols = target.symbols = IsfSymbols.load(self.isf_path)
            g = symbols.address_of("dmfdemo!g_DmfModuleCrashDump")
            self._add_scalar(target, "g_DmfModuleCrashDump", g, ptr)
            ti = symbols.address_of("dmfdemo!_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO")
            self._add_struct(target, "TYPE_INFO", ti, windows.wdf_object_context_type_info(arch))
            walk = walk_crashdump(target)
            info = walk.info
            obj = walk.reader.read(info.handle)
            self._add_struct(target, "CrashDump.object", obj.address, _object_layout(obj))
            self._add_region(target, "CrashDump.ModuleName", obj.field("ModuleName") or 0, 10)
            ctx_layout = dmf_structures.crashdump_context(arch, info.context_version)
            self._add_struct(target, "CrashDump.context", info.context_address, ctx_layout)
            self._add_struct(target, "CrashDump.context_header", info.context_address - windows.wdf_context_offset(arch),
                             windows.wdf_context_header(arch))
            cfg_layout = dmf_structures.crashdump_config(arch, info.config_variant == "nested")
            self._add_struct(target, "CrashDump.config", info.config_address, cfg_layout)
            ctx = ctx_layout.unpack_from(target.read(info.context_address, ctx_layout.size))
            ds_layout = dmf_structures.data_source(arch)
            for i in range(ctx["DataSourceCount"]):
                self._add_struct(target, "DataSource[%d]" % i, ctx["DataSource"] + i * ds_layout.size, ds_layout)
            for index, ring in sorted(walk.rings.items()):
                robj = walk.reader.read(ring.handle)
                self.ring_handles.append(ring.handle)
                self.ring_contexts.append(ring.context_address)
                self._add_struct(target, "Ring[%d].object" % index, robj.address, _object_layout(robj))
                self._add_struct(target, "Ring[%d].context" % index, ring.context_address, dmf_structures.ring_buffer(arch))
                st = ring.state
                self._add_region(target, "Ring[%d].storage" % index, st.items, st.storage_size)
            collection = obj.field("ModuleCollection")
            if collection:
                coll = dmf_structures.dmf_module_collection(arch)
                try:
                    values = coll.unpack_from(target.read(collection, coll.size))
                    self.collection_handle = values["ModuleCollectionHandleMemory"]
                    self._add_struct(target, "Collection", collection, coll)
                    self._add_region(target, "Collection.modules", values["ClientDriverDmfModules"],
                                     values["NumberOfClientDriverDmfModules"] * ptr)
                except DmfkdError:
                    pass
            for row_obj in _tree_objects(walk.reader, obj):
                if row_obj.address != obj.address:
                    self._add_struct(target, "Module@%x.object" % row_obj.address, row_obj.address, _object_layout(row_obj))
        finally:
            target.close()
        # secondary data: the DumpBlob header and each blob's header and payload (spec/dump-format.md §3)
        region = self.dump.find(b"DumpBlob", 0x1000)
        if region > 0:
            self.regions["DumpBlob.header"] = [(region, 16)]
            self.fields["DumpBlob.HeaderSize"] = [(region + 8, 4)]
            self.field_sizes["DumpBlob.HeaderSize"] = 4
        target = DumpFile(self.dump_path)
        try:
            for blob in target.tagged():
                header = blob.offset - 32
                for name, off, size in (("HeaderSize", 0, 4), ("Tag", 4, 16), ("DataSize", 20, 4),
                                        ("PrePad", 24, 4), ("PostPad", 28, 4)):
                    self.fields["Blob[%d].%s" % (blob.index, name)] = [(header + off, size)]
                    self.field_sizes["Blob[%d].%s" % (blob.index, name)] = size
                self.regions["Blob[%d].payload" % blob.index] = [(blob.offset, blob.size)]
        finally:
            target.close()


def _object_layout(obj):
    """A Layout-like view (offsets, sizes, size) of the DMF_OBJECT layout the reader used."""
    class _View:
        pass

    view = _View()
    view.offsets = {k: v[0] for k, v in obj.layout.offsets.items()}
    view.sizes = {k: v[1] for k, v in obj.layout.offsets.items()}
    view.size = obj.layout.size
    return view


def _tree_objects(reader, root) -> list:
    out = [root]
    kids, _ = reader.children(root)
    for kid in kids:
        out.extend(_tree_objects(reader, kid))
    return out


def _isf_paths(doc) -> List[List[Any]]:
    """The ISF keys a mutation may touch: symbols, DMF/record types, metadata."""
    paths = []
    for name, sym in doc["symbols"].items():
        paths.append(["symbols", name])
        paths.append(["symbols", name, "address"])
    for tname in ("DMF_OBJECT", "DMFDEMO_EVENT", "RING_BUFFER", "DATA_SOURCE", "DMF_CONTEXT_CrashDump",
                  "_WDF_OBJECT_CONTEXT_TYPE_INFO", "DMF_MODULE_DESCRIPTOR"):
        t = doc["user_types"].get(tname)
        if t is None:
            continue
        paths.append(["user_types", tname])
        paths.append(["user_types", tname, "size"])
        paths.append(["user_types", tname, "fields"])
        for fname, fld in t["fields"].items():
            paths.append(["user_types", tname, "fields", fname, "offset"])
            paths.append(["user_types", tname, "fields", fname, "type"])
            if isinstance(fld.get("type"), dict):
                for key in fld["type"]:
                    paths.append(["user_types", tname, "fields", fname, "type", key])
    for key in doc["metadata"].get("dmfkd", {}):
        paths.append(["metadata", "dmfkd", key])
    paths.append(["metadata", "format"])
    for name in doc["base_types"]:
        paths.append(["base_types", name, "size"])
    return paths


# --------------------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------------------

INTERESTING = (0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 31, 32, 33, 0x7F, 0x80, 0xFF, 0x100, 0x1000, 0xFFFF, 0x10000,
               0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000, 0x12345678, 1 << 63, (1 << 64) - 1,
               (1 << 64) - 8, 0xFFFF800000000000)
ISF_VALUES = (None, 0, -1, 1, 8, 0x7FFFFFFF, 1 << 40, 1 << 64, "x", "", "dmfdemo", "1.1.154", "9.9.9", "1.1",
              [], {}, {"kind": "base", "name": "char"}, {"kind": "struct", "name": "DMF_OBJECT"},
              {"kind": "array", "count": 1 << 31, "subtype": {"kind": "base", "name": "char"}},
              {"kind": "pointer", "subtype": {"kind": "struct", "name": "NO_SUCH_TYPE"}}, True, 1.5)


def random_mutation(base: Base, rng: random.Random) -> list:
    kind = rng.random()
    if kind < 0.57:
        name = rng.choice(base.hot_fields if rng.random() < 0.8 else base.field_names)
        return ["field", name, random_int(base, rng, base.field_sizes[name])]
    if kind < 0.77:
        name = rng.choice(base.region_names)
        total = sum(n for _, n in base.regions[name])
        off = rng.randrange(max(total, 1))
        size = rng.choice((1, 2, 4, 8, 16, 64))
        return ["splat", name, off, bytes(rng.randrange(256) for _ in range(size)).hex()]
    if kind < 0.82:
        blobs = [n for n in base.region_names if n.startswith("Blob[")]
        if blobs:
            (offset, size), = base.regions[rng.choice(blobs)][:1]
            return ["truncate", max(0, offset + rng.randrange(-40, size + 8))]
        return ["truncate", rng.randrange(len(base.dump))]
    return random_isf_mutation(base, rng)


def random_isf_mutation(base: Base, rng: random.Random) -> list:
    """Mostly values the ISF validator accepts (an offset inside the type, an address, a known type
    name), so the readers get wrong-but-valid symbols; sometimes plain garbage."""
    path = rng.choice(base.isf_paths)
    if rng.random() < 0.15:
        return ["isf_del", path]
    last = path[-1]
    if rng.random() < 0.25:
        return ["isf_set", path, rng.choice(ISF_VALUES)]
    if last == "offset":
        size = base.isf["user_types"][path[1]]["size"]
        return ["isf_set", path, rng.choice((0, size, max(0, size - 1), rng.randrange(size + 1)))]
    if last == "size":
        return ["isf_set", path, rng.choice((0, 1, 4, 8, 0x40, 0x1000, 0x7FFFFFFF))]
    if last == "address":
        return ["isf_set", path, rng.choice((0, 8, 0x4000, 0x4008, 0x4028, 0x1000, 1 << 20, 1 << 47))]
    if last == "name":
        return ["isf_set", path, rng.choice(sorted(base.isf["user_types"]) + sorted(base.isf["base_types"]))]
    if last == "count":
        return ["isf_set", path, rng.choice((0, 1, 2, 0xFFFF, 0xFFFFFFFF))]
    if last == "dmf_version":
        return ["isf_set", path, rng.choice(("1.1.84", "1.1.80", "1.0.0", "1.1.154", "99.0.0", "x", "1.1"))]
    if last == "arch":
        return ["isf_set", path, rng.choice(("x86", "x64", "arm64", "mips"))]
    if last == "module":
        return ["isf_set", path, rng.choice(("dmfdemo", "other", "", "nt"))]
    if last == "image_base":
        return ["isf_set", path, rng.choice((0, 1 << 20, 0xFFFFF80000000000, 0xFFFFFFFFFFFFF000))]
    return ["isf_set", path, rng.choice(ISF_VALUES)]


def random_int(base: Base, rng: random.Random, size: int) -> int:
    r = rng.random()
    if r < 0.45:
        v = rng.choice(INTERESTING)
    elif r < 0.75 and base.addresses:
        v = rng.choice(sorted(base.addresses)) + rng.choice((0, 0, 8, -8, 0x10, 0x40, 1, 0x1000, -0x1000))
    elif r < 0.85:
        v = rng.choice(sorted(base.handles) or [0])
    else:
        v = rng.getrandbits(8 * min(size, 8))
    return v % (1 << (8 * min(size, 8)))


def apply(base: Base, mutations: list, directory: str) -> Tuple[str, str]:
    """Write the mutated MEMORY.DMP and driver.isf.json into `directory`; returns their paths."""
    data = bytearray(base.dump)
    isf = None
    cut = None
    for m in mutations:
        op = m[0]
        if op == "field":
            segments = base.fields[m[1]]
            size = sum(n for _, n in segments)
            raw = (m[2] % (1 << (8 * size))).to_bytes(size, "little")
            _write(data, segments, 0, raw)
        elif op == "splat":
            _write(data, base.regions[m[1]], m[2], bytes.fromhex(m[3]))
        elif op == "truncate":
            cut = m[1] if cut is None else min(cut, m[1])
        elif op in ("isf_set", "isf_del"):
            if isf is None:
                isf = copy.deepcopy(base.isf)
            _isf_edit(isf, m)
    if cut is not None:
        del data[cut:]
    dump_path = os.path.join(directory, "MEMORY.DMP")
    isf_path = os.path.join(directory, "driver.isf.json")
    with open(dump_path, "wb") as f:
        f.write(data)
    with open(isf_path, "w", encoding="utf-8") as f:
        f.write(base.isf_text if isf is None else json.dumps(isf))
    return dump_path, isf_path


def _write(data: bytearray, segments, offset: int, raw: bytes) -> None:
    """Overwrite `raw` at logical `offset` of a region made of file segments (clipped to the region)."""
    pos = 0
    for seg_off, seg_len in segments:
        for i in range(seg_len):
            k = pos + i - offset
            if 0 <= k < len(raw) and seg_off + i < len(data):
                data[seg_off + i] = raw[k]
        pos += seg_len


def _isf_edit(doc, mutation) -> None:
    path = mutation[1]
    node = doc
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return
        node = node[key]
    if not isinstance(node, dict):
        return
    if mutation[0] == "isf_del":
        node.pop(path[-1], None)
    else:
        node[path[-1]] = copy.deepcopy(mutation[2])


# --------------------------------------------------------------------------------------------------
# Running the commands
# --------------------------------------------------------------------------------------------------

def command_lines(base: Base) -> List[List[str]]:
    """argv of every command (without the DUMP argument; inserted after the command name)."""
    self_type = "%s=%s" % (base.guids[0], EVENT_TYPE)   # the SELF ring's records are DMFDEMO_EVENTs
    lines = [["info"], ["tags"], ["crashdump"], ["crashdump", "--format", "json"], ["crashdump", "--all"],
             ["crashdump", "--all", "--type", self_type, "--format", "json"],
             ["crashdump", "--merge-by", "Timestamp", "--type", self_type],
             ["datasources"], ["datasources", "--format", "json"], ["modules"], ["bugcheck"]]
    for g in base.guids:
        lines.append(["crashdump", "--guid", g])
        lines.append(["crashdump", "--guid", g, "--format", "jsonl"])
    lines.append(["crashdump", "--guid", base.guids[0], "--type", EVENT_TYPE, "--format", "json"])
    lines.append(["crashdump", "--guid", base.guids[-1], "--last", "2", "--grep", "23"])
    lines.append(["crashdump", "--guid", base.guids[0], "--raw"])
    lines.append(["crashdump", "--all", "--grep", "event"])
    lines.append(["tags", "--hex", base.guids[1]])
    lines.append(["crashdump", "--to-scenario", os.path.join(tempfile.gettempdir(), "dmfkd-fuzz-scenario.json")])
    for value in base.ring_handles + base.ring_contexts:
        lines.append(["ringbuffer", "0x%x" % value])
    lines.append(["ringbuffer", "0x%x" % base.ring_handles[-1], "--type", EVENT_TYPE, "--guid", base.guids[-1],
                  "--type-size-mismatch", "decode"])
    for handle in (base.ring_handles[0], base.collection_handle):
        if handle:
            lines.append(["modules", "0x%x" % handle])
    return lines


def _key(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    frame = tb[-1] if tb else None
    for f in reversed(tb):
        if "/dmfkd/" in f.filename.replace("\\", "/"):
            frame = f
            break
    where = "%s:%d" % (os.path.relpath(frame.filename, ROOT), frame.lineno) if frame else "?"
    return "%s at %s" % (type(exc).__name__, where)


def _rss() -> int:
    """Resident set size now (Linux /proc), else the high-water mark."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return _maxrss()


def _maxrss() -> int:
    try:
        import resource
    except ImportError:  # not POSIX: no memory guard
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_high_water() -> None:
    """Bring the high-water RSS down to the RSS now (Linux: "5" to /proc/self/clear_refs), so that a
    peak an earlier test left behind (memory since freed) is not counted as this call's growth."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


@contextlib.contextmanager
def guard(seconds: float, memory: str = "rss"):
    """Hang guard (SIGALRM -> Runaway) and the memory a call took: with memory="rss" the growth of
    the process's high-water RSS over its RSS before the call (free; a call that allocates
    MEMORY_LIMIT more than the process holds raises the mark by at least that), with
    "tracemalloc" the exact Python allocation peak (slow)."""
    def on_alarm(signum, frame):
        raise Runaway("ran past the %.0f s hang guard" % seconds)

    use_alarm = seconds and hasattr(signal, "setitimer")
    if use_alarm:
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    if memory == "rss":
        _reset_high_water()
    before = _rss() if memory == "rss" else 0
    if memory == "tracemalloc":
        tracemalloc.start()
    peak = [0]
    try:
        yield peak
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        if memory == "tracemalloc":
            peak[0] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        elif memory == "rss":
            peak[0] = max(0, _maxrss() - before)


def run_cli(argv: List[str], seconds: float = 30.0, memory: str = "rss") -> Tuple[int, str, str]:
    """dmfkd.cli.main(argv) with output captured; raises Finding unless the outcome is acceptable."""
    out, err = io.StringIO(), io.StringIO()
    start = time.time()
    try:
        with guard(seconds, memory) as peak:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = cli.main(argv)
    except Runaway as exc:
        raise Finding("hang", argv, str(exc), "hang in %s" % argv[0])
    except BaseException as exc:  # the point of the exercise: anything but DmfkdError is a finding
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise Finding("exception", argv, traceback.format_exc(), _key(exc))
    _note(peak[0], time.time() - start, argv)
    if peak[0] > MEMORY_LIMIT:
        raise Finding("memory", argv, "%d bytes over the memory guard" % peak[0], "memory in %s" % argv[0])
    text = err.getvalue()
    if rc == 0:
        if text:
            raise Finding("stderr", argv, "exit 0 with stderr %r" % text[:500], "stderr on exit 0 in %s" % argv[0])
    elif rc == 2:
        lines = text.splitlines()
        if len(lines) != 1 or not lines[0].startswith("dmfkd: ") or not text.endswith("\n"):
            raise Finding("stderr", argv, "exit 2 with stderr %r" % text[:500], "bad error line in %s" % argv[0])
    else:
        raise Finding("status", argv, "exit %r, stderr %r" % (rc, text[:500]), "exit %r in %s" % (rc, argv[0]))
    return rc, out.getvalue(), text


def run_pykd(argv: List[str], dump_path: str, isf_path: str, seconds: float = 30.0,
             memory: str = "rss") -> Optional[str]:
    """The same command inside the pykd stand-in attached to the same dump (as `!py -g -m dmfkd`):
    returns None on success, the error line on a DmfkdError; raises Finding otherwise."""
    import dmfemu.pykd as standin

    try:
        target = DumpFile(dump_path)
    except DmfkdError:
        return "dump not openable"  # dbgeng would refuse it too; the CLI path covers the message
    try:
        symbols = IsfSymbols.load(isf_path)
    except DmfkdError:
        symbols = None  # no PDB: the commands run without symbols
    saved = sys.modules.get("pykd")
    sys.modules["pykd"] = standin
    standin.attach(target, symbols=symbols)
    label = ["pykd"] + argv
    start = time.time()
    try:
        with guard(seconds, memory) as peak:
            cli.run(list(argv), output=Output(io.StringIO()))
        result = None
    except DmfkdError as exc:
        text = str(exc)
        if not text or "\n" in text.strip():
            raise Finding("stderr", label, "DmfkdError text %r is not one line" % text[:300],
                          "multi-line error in pykd %s" % argv[0])
        result = text  # the guard measured this call too (peak is bound at __enter__)
    except Runaway as exc:
        raise Finding("hang", label, str(exc), "hang in pykd %s" % argv[0])
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise Finding("exception", label, traceback.format_exc(), "pykd: " + _key(exc))
    finally:
        standin.detach()
        target.close()
        if saved is None:
            sys.modules.pop("pykd", None)
        else:
            sys.modules["pykd"] = saved
    _note(peak[0], time.time() - start, label)
    if peak[0] > MEMORY_LIMIT:
        raise Finding("memory", label, "%d bytes over the memory guard" % peak[0], "memory in pykd %s" % argv[0])
    return result


def run_all(base: Base, dump_path: str, isf_path: str, lines=None, pykd: bool = True,
            seconds: float = 30.0, memory: str = "rss") -> List[int]:
    """Every command on the mutated dump, both ways; raises the first Finding."""
    codes = []
    for line in lines if lines is not None else command_lines(base):
        argv = [line[0], dump_path] + line[1:]
        rc, _, _ = run_cli(argv, seconds, memory)
        codes.append(rc)
        if pykd:
            run_pykd(line, dump_path, isf_path, seconds, memory)
    return codes


def build_bases(directory: str, configs=BASE_CONFIGS) -> List[Base]:
    out = []
    for arch, version, dump_type in configs:
        d = os.path.join(directory, "base-%s-%s-%s" % (arch, version, dump_type))
        os.makedirs(d, exist_ok=True)
        out.append(Base(arch, version, dump_type, d))
    return out


# --------------------------------------------------------------------------------------------------
# The campaign
# --------------------------------------------------------------------------------------------------

def campaign(iterations: int, seed: int, minutes: Optional[float], pykd: bool, memory: str,
             seconds: float, out_root: str, commands_per_example: int) -> int:
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="dmfkd-fuzz-work-")
    bases = build_bases(work)
    example_dir = os.path.join(work, "example")
    os.makedirs(example_dir, exist_ok=True)
    findings = {}  # type: Dict[str, Tuple[int, Finding, str]]
    outcomes = {0: 0, 2: 0}
    calls = 0
    start = time.time()
    deadline = start + minutes * 60 if minutes else None
    done = 0
    try:
        for n in range(iterations):
            if deadline is not None and time.time() > deadline:
                break
            base = rng.choice(bases)
            mutations = [random_mutation(base, rng) for _ in range(rng.choice((1, 1, 2, 3, 5)))]
            if rng.random() < 0.2:
                # no DMF version in the symbols: layouts then come from the object or the ISF's types
                mutations.insert(0, ["isf_del", ["metadata", "dmfkd", "dmf_version"]])
            dump_path, isf_path = apply(base, mutations, example_dir)
            lines = command_lines(base)
            if commands_per_example and commands_per_example < len(lines):
                lines = rng.sample(lines, commands_per_example)
            try:
                for line in lines:
                    rc, _, _ = run_cli([line[0], dump_path] + line[1:], seconds, memory)
                    outcomes[rc] = outcomes.get(rc, 0) + 1
                    calls += 1
                    if pykd:
                        run_pykd(line, dump_path, isf_path, seconds, memory)
                        calls += 1
            except Finding as finding:
                if finding.key not in findings:
                    saved = os.path.join(out_root, "finding-%d" % len(findings))
                    shutil.rmtree(saved, ignore_errors=True)
                    shutil.copytree(example_dir, saved)
                    with open(os.path.join(saved, "finding.json"), "w") as f:
                        json.dump({"base": base.name, "mutations": mutations, "argv": finding.argv,
                                   "kind": finding.kind, "key": finding.key, "detail": finding.detail}, f, indent=1)
                    findings[finding.key] = (1, finding, saved)
                    sys.stdout.write("NEW %s (%s) -> %s\n" % (finding.key, " ".join(finding.argv[:1] + finding.argv[2:]),
                                                             saved))
                    sys.stdout.flush()
                else:
                    count, f0, saved = findings[finding.key]
                    findings[finding.key] = (count + 1, f0, saved)
            done += 1
    finally:
        elapsed = time.time() - start
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.write("%d iterations, %d command calls in %.1f s: %.1f iterations/s, %.1f calls/s; "
                     "exit 0: %d, exit 2: %d\n" % (done, calls, elapsed, done / elapsed if elapsed else 0,
                                                   calls / elapsed if elapsed else 0, outcomes.get(0, 0),
                                                   outcomes.get(2, 0)))
    sys.stdout.write("largest memory growth of one call (%s): %.1f MiB (%s); slowest call: %.3f s (%s)\n"
                     % (memory, STATS["peak"] / 1048576.0, " ".join(STATS["peak_argv"] or [])[:120],
                        STATS["slowest"], " ".join(STATS["slowest_argv"] or [])[:120]))
    sys.stdout.write("%d distinct finding(s)\n" % len(findings))
    for key, (count, finding, saved) in sorted(findings.items()):
        sys.stdout.write("  %4d x %s  e.g. %s  (%s)\n" % (count, key, " ".join(finding.argv[:1] + finding.argv[2:]),
                                                          saved))
    return 1 if findings else 0


def replay(path: str, pykd: bool) -> int:
    """Re-run a saved finding (its finding.json) on a freshly built base."""
    with open(path) as f:
        saved = json.load(f)
    work = tempfile.mkdtemp(prefix="dmfkd-fuzz-replay-")
    try:
        arch, version, dump_type = saved["base"].split("-", 2)
        base = build_bases(work, [(arch, version, dump_type)])[0]
        d = os.path.join(work, "example")
        os.makedirs(d)
        dump_path, isf_path = apply(base, saved["mutations"], d)
        try:
            run_all(base, dump_path, isf_path, pykd=pykd, memory="none")
        except Finding as finding:
            sys.stdout.write(str(finding) + "\n")
            return 1
        sys.stdout.write("no finding\n")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--minutes", type=float, default=None, help="stop after this long")
    parser.add_argument("--no-pykd", action="store_true", help="skip the pykd stand-in path")
    parser.add_argument("--memory", choices=("rss", "tracemalloc", "none"), default="rss",
                        help="memory guard: RSS high-water growth (default), tracemalloc peak (slow), none")
    parser.add_argument("--hang-seconds", type=float, default=20.0)
    parser.add_argument("--commands", type=int, default=6, help="commands per example (0: all)")
    parser.add_argument("--replay", metavar="FINDING_JSON")
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay, not args.no_pykd)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    out_root = os.path.join(tempfile.gettempdir(), "dmfkd-fuzz-%d" % seed)
    os.makedirs(out_root, exist_ok=True)
    sys.stdout.write("seed %d; findings go to %s\n" % (seed, out_root))
    return campaign(args.iterations, seed, args.minutes, not args.no_pykd, args.memory,
                    args.hang_seconds, out_root, args.commands)


if __name__ == "__main__":
    sys.exit(main())
