"""The base dumps of the command fuzzer (scripts/fuzz_commands.py) and their "dump" input class.

A base is one pristine dump of the emulator's demo driver (dmfemu.scenarios.crashdump_demo) crashed into MEMORY.DMP +
driver.isf.json; walking it once with the real readers maps every DMF structure to its bytes in the
file. A mutation is plain data (JSON), so a finding can be replayed and shrunk:

    ["field", NAME, INT]           write INT (little endian, cut to the field's width) into field NAME
    ["splat", REGION, OFF, HEX]    overwrite bytes of a region (a structure, a ring's storage, a blob)
    ["truncate", LENGTH]           cut the file
    ["isf_set", PATH, VALUE]       set a value in driver.isf.json (PATH: list of keys)
    ["isf_del", PATH]              delete a key of driver.isf.json
"""
import copy
import json
import os
import random
from typing import Any, Dict, List, Optional, Tuple

from dmfkd.dmf.crashdump import walk_crashdump
from dmfkd.errors import DmfkdError, MemoryReadError
from dmfkd.layouts import dmf_structures, engine, windows
from dmfkd.targets.dumpfile import DumpFile
from dmfkd.targets.isf import IsfSymbols


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


def build_bases(directory: str, configs=BASE_CONFIGS) -> List[Base]:
    out = []
    for arch, version, dump_type in configs:
        d = os.path.join(directory, "base-%s-%s-%s" % (arch, version, dump_type))
        os.makedirs(d, exist_ok=True)
        out.append(Base(arch, version, dump_type, d))
    return out


def pick_weighted(rng: random.Random, *weighted):
    """rng.choice over (weight, value) pairs."""
    total = sum(w for w, _ in weighted)
    at = rng.random() * total
    for weight, value in weighted:
        at -= weight
        if at < 0:
            return value
    return weighted[-1][1]
