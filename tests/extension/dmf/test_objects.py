"""dmfkd.dmf.objects: WDF handle decoding (spec/dmf.md §4.2), locating DMF_OBJECTs whatever
sizeof(FxMemoryBuffer) is, version detection from the object, child lists (bounded, cycle-safe),
collections, and the CrashDump walk on a live emulated machine of each DMF era."""
import struct
import uuid

import pytest

from dmfkd.dmf.crashdump import walk_crashdump
from dmfkd.dmf.objects import ObjectReader, object_from_handle
from dmfkd.errors import DmfkdError, MemoryReadError
from dmfkd.layouts import dmf_structures
from dmfkd.targets.base import Target
from dmfkd.targets.isf import IsfSymbols
from dmfemu.driver import Driver
from dmfemu.isf import build_isf
from dmfemu.machine import Machine
from dmfemu.modules.crashdump import CrashDump, CrashDumpConfig
from dmfemu.target import EmulatorTarget

G = uuid.UUID("5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70")


def test_handle_decoding_spec_example():
    # spec/dmf.md §4.2: x64 0x00001fff8a3b2c38 -> 0xffffe00075c4d3c0
    assert object_from_handle(0x00001FFF8A3B2C38, 8) == 0xFFFFE00075C4D3C0
    # x86: mask 0xFFFFFFF8; flag bits ignored
    assert object_from_handle(0x81234560 ^ 0xFFFFFFF8, 4) == 0x81234560
    assert object_from_handle((0x81234560 ^ 0xFFFFFFF8) | 2, 4) == 0x81234560


def machine_with_crashdump(arch="x64", version="1.1.154", fx_size=None, records=5):
    m = Machine(arch)
    d = Driver(m, dmf_version=version)
    if fx_size is not None:
        d.wdf.fx_memory_buffer_size = fx_size
    cd = CrashDump(d, CrashDumpConfig(ring_buffer_data_guid=G, buffer_size=32, buffer_count=4))
    written = [(b"rec%d" % i).ljust(32, b"\0") for i in range(records)]
    for rec in written:
        cd.write_self(rec)
    return m, d, cd, written[-4:]


@pytest.mark.parametrize("fx_size", [0x40, 0x70, 0xA8, 0x100, 0x1F0])
def test_dmf_object_found_whatever_fx_memory_buffer_size(fx_size):
    m, d, cd, live = machine_with_crashdump(fx_size=fx_size)
    target = EmulatorTarget(m, symbols=None)
    obj = ObjectReader(target).read(cd.handle)
    assert obj.module_name == "CrashDump" and obj.field("Signature") == dmf_structures.DMF_OBJECT_SIGNATURE
    assert obj.address == object_from_handle(cd.handle, 8) + ((fx_size + 15) // 16) * 16


@pytest.mark.parametrize("arch,version,detected,label", [
    ("x64", "1.1.154", ">=1.1.135 (HEAD layout)", "V5"),
    ("x64", "1.1.120", "1.1.81-1.1.134 (prefix)", "V4"),
    ("x86", "1.1.100", "1.1.81-1.1.134 (prefix)", "V3"),
    ("x64", "1.0", "<=1.1.80 (prefix)", "V1"),
    ("x86", "1.0", "<=1.1.80 (prefix)", "V1"),
])
def test_version_detected_from_the_object(arch, version, detected, label):
    m, d, cd, live = machine_with_crashdump(arch, version)
    target = EmulatorTarget(m, symbols=None)
    reader = ObjectReader(target)
    obj = reader.read(cd.handle)
    assert reader.detected == detected
    assert obj.module_name == "CrashDump" and obj.state_name() == "Opened"
    # the walk with symbols but without the ISF's DMF version: type info decides the context
    isf = IsfSymbols(build_isf(d), source="t")
    isf.dmf_version = None
    target.symbols = isf
    walk = walk_crashdump(target)
    assert walk.info.context_version == label and "ContextSize" in walk.info.context_evidence
    ring = walk.live_decode(0)
    assert ring.records() == live and ring.present_known


def test_state_names_follow_the_version():
    m, d, cd, _ = machine_with_crashdump("x64", "1.1.154")
    obj = ObjectReader(EmulatorTarget(m, symbols=None), "1.1.120").read(cd.handle)
    # 1.1.120 numbering has no PreCreate: value 4 (Opened at HEAD) reads as "Closing" there
    assert obj.state_name() == "Closing"


class FakeMemory(Target):
    """A few byte ranges of kernel memory; everything else unreadable."""

    arch = "x64"
    pointer_size = 8

    def __init__(self):
        self.ranges = {}

    def put(self, address, data):
        self.ranges[address] = bytearray(data)

    def read(self, address, size):
        for base, data in self.ranges.items():
            if base <= address and address + size <= base + len(data):
                return bytes(data[address - base:address - base + size])
        raise MemoryReadError(address, size)


def dmf_object_bytes(handle, name_va=0, children=None, parent=0, count=None, self_va=0):
    head = dmf_structures.dmf_object_head("x64")
    values = {"MemoryDmfObject": handle, "Signature": dmf_structures.DMF_OBJECT_SIGNATURE, "ModuleName": name_va,
              "ModuleState": 4, "ClientModuleInstanceNameSizeBytes": 0, "DmfObjectParent": parent}
    list_head = self_va + head.offsets["ChildObjectList.Flink"]
    if children:
        values["ChildObjectList.Flink"] = children[0]
        values["ChildObjectList.Blink"] = children[-1]
    else:
        values["ChildObjectList.Flink"] = values["ChildObjectList.Blink"] = list_head
    values["NumberOfChildModules"] = len(children or []) if count is None else count
    return head.pack(values)


def test_fx_memory_buffer_from_pool_is_followed():
    t = FakeMemory()
    fx = 0xFFFFE00000100000
    handle = fx ^ ((1 << 64) - 8)
    buffer = 0xFFFFE00000200000
    obj = bytearray(0x1000)  # one page; the next one is not mapped
    struct.pack_into("<Q", obj, 0x38, buffer)  # the object's pointer to its separate buffer
    t.put(fx, obj)
    t.put(buffer, dmf_object_bytes(handle, self_va=buffer))
    found = ObjectReader(t).read(handle, names=False)
    assert found.address == buffer


def test_not_a_dmf_object():
    t = FakeMemory()
    fx = 0xFFFFE00000100000
    t.put(fx, bytes(0x800))
    with pytest.raises(DmfkdError, match="no DMF_OBJECT"):
        ObjectReader(t).read(fx ^ ((1 << 64) - 8))
    with pytest.raises(DmfkdError):
        ObjectReader(t).read(0)
    with pytest.raises(DmfkdError, match="offset handle"):
        ObjectReader(t).read(0x1001)
    with pytest.raises(MemoryReadError):
        ObjectReader(t).read(0x00001FFF8A3B2C38)


def test_child_list_cycle_is_bounded():
    t = FakeMemory()
    size = dmf_structures.dmf_object_head("x64").size
    root, a, b = 0xFFFFE00000300000, 0xFFFFE00000310000, 0xFFFFE00000320000
    name = 0xFFFFE00000330000
    t.put(name, b"Mod\0")
    t.put(root, dmf_object_bytes(1, name, children=[a], self_va=root, count=2))
    child_a = bytearray(dmf_object_bytes(2, name, parent=root, self_va=a))
    child_b = bytearray(dmf_object_bytes(3, name, parent=0x1234, self_va=b))
    struct.pack_into("<Q", child_a, 0, b)  # a -> b
    struct.pack_into("<Q", child_b, 0, a)  # b -> a: a cycle that never returns to the head
    t.put(a, child_a)
    t.put(b, child_b)
    reader = ObjectReader(t, "1.1.154")
    rows = reader.tree([reader.read_at(root)])
    assert [r.depth for r in rows] == [0, 1, 1]
    assert any("loops back" in w for w in rows[0].warnings)
    assert any("DmfObjectParent" in w for w in rows[2].warnings)
    assert size == 976


def test_collection_tree():
    m, d, cd, _ = machine_with_crashdump()
    dmf = d.dmf
    top = dmf.create_module("Top", b"", 0, instance_name="TopInstance", state="Opened")
    child = dmf.create_module("RingBuffer", b"", dmf_structures.ring_buffer("x64").size, instance_name="Child", parent=top,
                              state="Opened")
    other = dmf.create_module("Other", state="Created")
    coll = dmf.create_collection([top, other])
    target = EmulatorTarget(m, symbols=None)
    reader = ObjectReader(target)
    address, objects, problems = reader.collection(coll.handle)
    assert address == coll.va and objects == [top.object_va, other.object_va] and problems == []
    rows = reader.tree([reader.read_at(a) for a in objects])
    assert [(r.depth, r.module_name, r.instance_name) for r in rows] == [
        (0, "Top", "TopInstance"), (1, "RingBuffer", "Child"), (0, "Other", "Other")]
    assert rows[1].parent == top.object_va and rows[0].children == 1
    with pytest.raises(DmfkdError):
        reader.collection(cd.handle)


def test_a_deep_child_chain_is_cut_not_a_recursion_error():
    """A hostile dump chaining objects one below the other (each the only child of the previous) made
    the recursive tree walk overflow Python's stack (RecursionError) long before MAX_TREE_MODULES."""
    from dmfkd.dmf.objects import MAX_TREE_DEPTH

    t = FakeMemory()
    name = 0xFFFFE00000F00000
    t.put(name, b"Mod\0")
    base = 0xFFFFE00001000000
    depth = 1500
    for i in range(depth):
        va = base + i * 0x1000
        kids = [va + 0x1000] if i + 1 < depth else None
        t.put(va, dmf_object_bytes(i + 1, name, children=kids, self_va=va, count=1))
    reader = ObjectReader(t, "1.1.154")
    rows = reader.tree([reader.read_at(base)])
    assert [r.depth for r in rows] == list(range(MAX_TREE_DEPTH + 1))
    assert any("deeper than %d levels" % MAX_TREE_DEPTH in w for w in rows[-1].warnings)


def test_tree_order_is_depth_first_preorder():
    t = FakeMemory()
    name = 0xFFFFE00000F00000
    t.put(name, b"Mod\0")
    root, a, a1, b = (0xFFFFE00002000000 + i * 0x1000 for i in range(4))
    t.put(root, dmf_object_bytes(1, name, children=[a], self_va=root, count=2))
    child_a = bytearray(dmf_object_bytes(2, name, children=[a1], parent=root, self_va=a, count=1))
    struct.pack_into("<Q", child_a, 0, b)  # a's ChildListEntry.Flink -> sibling b
    t.put(a, child_a)
    child_a1 = bytearray(dmf_object_bytes(3, name, parent=a, self_va=a1))
    struct.pack_into("<Q", child_a1, 0, a + dmf_structures.dmf_object_head("x64").offsets["ChildObjectList.Flink"])
    t.put(a1, child_a1)
    child_b = bytearray(dmf_object_bytes(4, name, parent=root, self_va=b))
    struct.pack_into("<Q", child_b, 0, root + dmf_structures.dmf_object_head("x64").offsets["ChildObjectList.Flink"])
    t.put(b, child_b)
    reader = ObjectReader(t, "1.1.154")
    rows = reader.tree([reader.read_at(root)])
    assert [(r.handle, r.depth) for r in rows] == [(1, 0), (2, 1), (3, 2), (4, 1)]


class FakeMemory32(FakeMemory):
    arch = "x86"
    pointer_size = 4


def test_x86_handle_sign_extended_to_64_bits():
    """dbgeng gives a 32-bit target's values sign-extended (bug check P1 through pykd): the x86 handle
    scan did handle.to_bytes(4) and raised OverflowError. Now such a handle is the 32-bit pointer; a
    value wider than a pointer in any other way is one DmfkdError."""
    t = FakeMemory32()
    fx = 0x00401000
    handle = fx ^ 0xFFFFFFF8          # bit 31 set: its sign extension differs
    head = dmf_structures.dmf_object_head("x86")
    t.put(fx, (bytes(0x80) + head.pack({"MemoryDmfObject": handle, "Signature": dmf_structures.DMF_OBJECT_SIGNATURE})).ljust(0x2000, b"\0"))
    reader = ObjectReader(t, "1.1.154")
    assert reader.read(handle, names=False).address == fx + 0x80
    assert reader.read(0xFFFFFFFF00000000 | handle, names=False).address == fx + 0x80
    for bad in (1 << 40, -8, 1 << 64):
        with pytest.raises(DmfkdError, match="does not fit a 32-bit pointer"):
            reader.read(bad)
        with pytest.raises(DmfkdError, match="does not fit a 32-bit pointer"):
            reader.collection(bad)


def test_shared_child_lists_read_each_object_once():
    """k objects whose child lists all run through one ring of the same k objects: every object has
    k - 1 children, and the tree walk re-read them for every parent (k*k object reads, ~3 reads each
    with the names) - with MAX_TREE_MODULES parents of MAX_CHILDREN children, half a million reads.
    Each address is now read once per walk."""
    k = 40
    t = FakeMemory()
    name = 0xFFFFE00000F00000
    t.put(name, b"Mod\0")
    base = 0xFFFFE00003000000
    vas = [base + i * 0x1000 for i in range(k)]
    for i, va in enumerate(vas):
        raw = bytearray(dmf_object_bytes(i + 1, name, children=[vas[(i + 1) % k]], self_va=va, count=k - 1))
        struct.pack_into("<Q", raw, 0, vas[(i + 1) % k])  # ChildListEntry.Flink: the shared ring
        t.put(va, raw)
    reads = []
    read = t.read
    t.read = lambda address, size: reads.append(address) or read(address, size)
    reader = ObjectReader(t, "1.1.154")
    rows = reader.tree([reader.read_at(vas[0])])
    assert len(rows) == k and rows[0].children == k
    assert len(reads) <= 4 * k
