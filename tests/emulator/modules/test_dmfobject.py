"""DMF_OBJECT placement in emulated memory (spec/dmf.md §4.1-4.4): handle <-> object, context as a
WDF typed context, config and instance-name copies with their pool tags, parent/child lists and the
module collection (§6 items 18-19), the HEAD layout and the v1.1.80 prefix. Everything is checked
by reading memory back, walking lists and chains by hand."""
import struct

import pytest

from dmfkd.layouts import dmf_structures

from dmfkd.layouts import windows
from dmfemu.machine import Machine
from dmfemu.modules.dmfobject import Dmf
from dmfemu.wdf import object_from_handle


def read_cstring(machine, va, limit=256):
    raw = machine.space.read(va, limit)
    return raw[:raw.index(b"\0")].decode("ascii")


def read_object(machine, layout, va):
    return layout.unpack_from(machine.space.read(va, layout.size))


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_head_object_placement(arch):
    machine = Machine(arch)
    dmf = Dmf(machine, "1.1.154")
    config = bytes(range(1, 97)) if arch == "x64" else bytes(range(1, 69))
    module = dmf.create_module("CrashDump", config=config, context_size=168 if arch == "x64" else 92)
    layout = dmf_structures.dmf_object(arch, "1.1.154")
    align = 16 if arch == "x64" else 8
    fx = object_from_handle(module.handle, arch)
    # the DMF_OBJECT is the WDFMEMORY's buffer, right after the FxMemoryBuffer
    assert module.object_va == fx + (dmf.wdf.fx_memory_buffer_size + align - 1) // align * align
    assert machine.pool.tag_of(module.object_va) == b"Dmf4"
    obj = read_object(machine, layout, module.object_va)
    # §6 item 18
    assert obj["Signature"] == 0x12345678
    assert obj["MemoryDmfObject"] == module.handle
    assert read_cstring(machine, obj["ModuleName"]) == "CrashDump"
    # the descriptor copy starts from DMF's generic descriptor: its name is "Generic" (CORE.c)
    assert read_cstring(machine, obj["ModuleDescriptor.ModuleName"]) == "Generic"
    assert machine.pool.tag_of(obj["ModuleDescriptor.CallbacksDmf"]) == b"Dmf2"
    assert machine.pool.tag_of(obj["ModuleDescriptor.CallbacksWdf"]) == b"Dmf3"
    assert struct.unpack("<I", machine.space.read(obj["ModuleDescriptor.CallbacksWdf"], 4))[0] == (
        240 if arch == "x64" else 120)
    assert obj["ModuleConfigSize"] == len(config) == obj["ModuleDescriptor.ModuleConfigSize"]
    assert machine.space.read(obj["ModuleConfig"], len(config)) == config
    assert machine.pool.tag_of(obj["ModuleConfig"]) == b"Dmf1"
    # instance name defaults to a pool copy of ModuleName
    assert read_cstring(machine, obj["ClientModuleInstanceName"]) == "CrashDump"
    assert machine.pool.tag_of(obj["ClientModuleInstanceName"]) == b"Dmf0"
    assert obj["ClientModuleInstanceName"] != obj["ModuleName"]
    assert obj["ClientModuleInstanceNameSizeBytes"] == len("CrashDump") + 1
    assert obj["ModuleState"] == 2   # Created (v1.1.136+ numbering)
    # empty child list head points at itself
    head = module.object_va + layout.offsets["ChildObjectList"]
    assert obj["ChildObjectList.Flink"] == head == obj["ChildObjectList.Blink"]
    assert obj["ChildListEntry.Flink"] == 0 and obj["NumberOfChildModules"] == 0
    assert obj["ModuleDescriptor.Size"] == (136 if arch == "x64" else 88)
    assert obj["ModuleAttributes.SizeOfHeader"] == (80 if arch == "x64" else 40)


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_context_is_wdf_typed_context(arch):
    machine = Machine(arch)
    dmf = Dmf(machine)
    module = dmf.create_module("RingBuffer", config=bytes(12), context_size=64 if arch == "x64" else 40,
                               instance_name="DataSourceRingBuffer")
    header = windows.wdf_context_header(arch)
    info = windows.wdf_object_context_type_info(arch)
    obj = module.read()
    assert obj["ModuleContext"] == module.context_va
    # walk the FxContextHeader chain from FxObject + m_ObjectSize
    found = None
    va = module.memory.first_header_va
    while va:
        h = header.unpack_from(machine.space.read(va, header.size))
        assert h["Object"] == object_from_handle(module.handle, arch)
        if h["ContextTypeInfo"]:
            found = (va, h["ContextTypeInfo"])
        va = h["NextHeader"]
    assert found is not None
    header_va, type_info_va = found
    assert header_va + (48 if arch == "x64" else 24) == module.context_va
    t = info.unpack_from(machine.space.read(type_info_va, info.size))
    assert read_cstring(machine, t["ContextName"]) == "DMF_CONTEXT_RingBuffer"
    assert t["ContextSize"] == (64 if arch == "x64" else 40)
    assert machine.space.read(module.context_va, t["ContextSize"]) == bytes(t["ContextSize"])
    assert read_cstring(machine, obj["ClientModuleInstanceName"]) == "DataSourceRingBuffer"
    # same module name -> same type-info global
    other = dmf.create_module("RingBuffer", config=bytes(12), context_size=64 if arch == "x64" else 40)
    assert other.type_info_va == module.type_info_va


def walk_children(machine, layout, parent_va):
    ptr = 8 if layout.arch == "x64" else 4
    fmt = "<Q" if ptr == 8 else "<I"
    head = parent_va + layout.offsets["ChildObjectList"]
    out = []
    entry = struct.unpack(fmt, machine.space.read(head, ptr))[0]
    previous = head
    while entry != head:
        assert struct.unpack(fmt, machine.space.read(entry + ptr, ptr))[0] == previous   # Blink
        out.append(entry - layout.offsets["ChildListEntry"])
        previous = entry
        entry = struct.unpack(fmt, machine.space.read(entry, ptr))[0]
        assert len(out) < 100
    assert struct.unpack(fmt, machine.space.read(head + ptr, ptr))[0] == previous
    return out


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_parent_child_and_collection_invariants(arch):
    machine = Machine(arch)
    dmf = Dmf(machine)
    layout = dmf_structures.dmf_object_head(arch)
    top = dmf.create_module("CrashDump", config=bytes(8), context_size=16)
    other = dmf.create_module("Other", context_size=8)
    kids = [dmf.create_module("IoctlHandler", parent=top, context_size=8),
            dmf.create_module("RingBuffer", parent=top, instance_name="child2", context_size=8)]
    grandchild = dmf.create_module("BufferQueue", parent=kids[0])
    collection = dmf.create_collection([top, other], client_device=0x1234)
    # §6 item 19
    assert walk_children(machine, layout, top.object_va) == [k.object_va for k in kids]
    assert read_object(machine, layout, top.object_va)["NumberOfChildModules"] == 2
    for kid in kids:
        assert read_object(machine, layout, kid.object_va)["DmfObjectParent"] == top.object_va
        assert read_object(machine, layout, kid.object_va)["AddedToParentChildModuleList"] == 1
    assert walk_children(machine, layout, kids[0].object_va) == [grandchild.object_va]
    assert walk_children(machine, layout, other.object_va) == []
    assert read_object(machine, layout, top.object_va)["DmfObjectParent"] == 0
    # collection
    cl = dmf_structures.dmf_module_collection(arch)
    c = cl.unpack_from(machine.space.read(collection.va, cl.size))
    assert machine.pool.tag_of(collection.va) == b"Dmf6"
    assert object_from_handle(c["ModuleCollectionHandleMemory"], arch) == collection.memory.fx_object_va
    assert c["NumberOfClientDriverDmfModules"] == 2 and c["ClientDevice"] == 0x1234
    assert machine.pool.tag_of(c["ClientDriverDmfModules"]) == b"Dmf8"
    ptr = 8 if arch == "x64" else 4
    array = struct.unpack("<2" + ("Q" if ptr == 8 else "I"), machine.space.read(c["ClientDriverDmfModules"], 2 * ptr))
    assert list(array) == [top.object_va, other.object_va]
    for module in (top, other, kids[0], kids[1], grandchild):
        assert read_object(machine, layout, module.object_va)["ModuleCollection"] == collection.va
    # a child added after the collection exists inherits the pointer
    late = dmf.create_module("Late", parent=other)
    assert read_object(machine, layout, late.object_va)["ModuleCollection"] == collection.va


def test_module_state_numbering_by_version():
    machine = Machine("x64")
    new = Dmf(machine, "1.1.154").create_module("A", state="Opened")
    assert new.field("ModuleState") == 4
    machine = Machine("x64")
    old = Dmf(machine, "1.1.135").create_module("A", state="Opened")
    assert old.field("ModuleState") == 3


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_prefix_version_1_1_80(arch):
    machine = Machine(arch)
    dmf = Dmf(machine, "1.1.80")
    layout = dmf_structures.dmf_object(arch, "1.1.80")
    assert not layout.complete
    config = b"\x07" * 12
    parent = dmf.create_module("CrashDump", config=config, context_size=16, instance_name="X")
    child = dmf.create_module("RingBuffer", parent=parent)
    raw = machine.space.read(parent.object_va, dmf_structures.dmf_object_head(arch).size)
    obj = layout.unpack_from(raw)
    # "stable prefix" offsets of spec/dmf.md §4.3 (<= v1.1.80)
    sig_off, mem_off = (104, 56) if arch == "x64" else (56, 28)
    fmt = "<Q" if arch == "x64" else "<I"
    assert struct.unpack_from("<Q", raw, sig_off)[0] == 0x12345678
    assert struct.unpack_from(fmt, raw, mem_off)[0] == parent.handle
    assert obj["ModuleContext"] == parent.context_va
    assert machine.space.read(obj["ModuleConfig"], 12) == config
    config_memory = dmf.wdf.memory_from_handle(obj["ModuleConfigMemory"])
    assert config_memory.buffer_va == obj["ModuleConfig"]
    name_memory = dmf.wdf.memory_from_handle(obj["ClientModuleInstanceNameMemory"])
    assert name_memory.buffer_va == obj["ClientModuleInstanceName"]
    assert read_cstring(machine, obj["ClientModuleInstanceName"]) == "X"
    assert obj["ModuleState"] == 1          # Created before v1.1.136
    # the tail (unknown for this version) stays zero
    assert raw[layout.size:] == bytes(len(raw) - layout.size)
    assert child.parent is parent and parent.children == [child]


def test_module_from_handle():
    machine = Machine("x64")
    dmf = Dmf(machine)
    module = dmf.create_module("A")
    assert dmf.module_from_handle(module.handle) is module
    with pytest.raises(KeyError):
        dmf.module_from_handle(0x1234)
