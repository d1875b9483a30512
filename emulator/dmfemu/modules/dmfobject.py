"""DMF_OBJECTs, module collections and parent/child links in emulated kernel memory
(spec/dmf.md §4.1-4.4).

A DMFMODULE is a WDFMEMORY (tag ``Dmf4``) whose buffer is the DMF_OBJECT; the handle is stored
back in ``DMF_OBJECT.MemoryDmfObject``. The module context is a WDF typed context
(``DMF_CONTEXT_<ModuleName>``) allocated on that WDFMEMORY and cached in ``ModuleContext``; the
module config is a copy in a ``Dmf1`` pool block (``ModuleConfig`` / ``ModuleConfigSize``); the
instance name is a ``Dmf0`` pool copy (of ModuleName when the client passes ""); ``ModuleName``
points at a string literal in the driver image. Fields DMF fills from runtime state the emulator
does not have (callbacks, locks, recorder, interface bindings...) stay zero.

DMF version: v1.1.146+ objects use the full HEAD layout (976 / 536 bytes). Older versions are
selectable; only the prefix up to ``Signature`` of those versions is known (spec/dmf.md §4.3), so
their objects fill the prefix of that version (``ModuleConfigMemory`` /
``ClientModuleInstanceNameMemory`` WDFMEMORY handles before v1.1.135), keep the rest of the block
zero (block size = the HEAD size, as the real older size is not tabulated), and keep parent/child
and collection links in Python only (their offsets are unknown for those versions). HEAD objects
also get their CallbacksDmf / CallbacksWdf pool blocks (Dmf2 / Dmf3) and a ModuleDescriptor that,
as in CORE.c, starts from DMF's generic descriptor (ModuleDescriptor.ModuleName -> "Generic").

API::

    Dmf(machine, dmf_version="1.1.154", wdf=None, static_area=None)
        .arch .pointer_size .dmf_version .space .pool .wdf .object_layout .module_states
        .literal(text) -> va                     # string literal in the driver image
        .context_type(module_name, size) -> va   # _WDF_DMF_CONTEXT_<Name>_TYPE_INFO global
        .create_module(module_name, config=b"", context_size=0, instance_name="", parent=None,
                       parent_device=0, module_options=DMF_MODULE_OPTIONS_PASSIVE,
                       open_option=DMF_MODULE_OPEN_OPTION_OPEN_Create, passive=True,
                       dynamic=True, state="Created") -> DmfModule
        .create_collection(modules, client_device=0) -> DmfCollection
        .module_from_handle(handle) -> DmfModule
    DmfModule: .handle .object_va .context_va .context_size .config_va .config_size
               .module_name .instance_name .module_name_va .instance_name_va .memory
               .parent .children .collection .type_info_va
               .read() -> dict (layout.unpack_from of the object bytes)
               .field(name) -> int ; .set_field(name, value)
               .set_state(name)                  # ModuleState by name ("Opened", ...)
               .add_child(child)                 # InsertTailList + NumberOfChildModules + parent
               .context_view() / .config_view()  # writable memoryviews
    DmfCollection: .handle .va .array_handle .array_va .modules
"""
import struct
from typing import Dict, Optional, Sequence

from dmfkd.layouts import dmf_structures

from dmfkd.layouts import dmf_versions

from dmfkd.layouts import engine
from dmfemu.wdf import StaticArea, Wdf, WdfMemory

# DMF_MODULE_OPTIONS_* and DmfModuleOpenOption (MOD.h): DISPATCH modules get spin locks, PASSIVE
# wait locks (spec/dmf.md §1.3).
DMF_MODULE_OPTIONS_PASSIVE = 0x00000001
DMF_MODULE_OPTIONS_DISPATCH = 0x00000002
DMF_MODULE_OPTIONS_DISPATCH_MAXIMUM = 0x00000004
DMF_MODULE_OPTIONS_TRANSPORT_REQUIRED = 0x00000008
DMF_MODULE_OPEN_OPTION_OPEN_PrepareHardware = 1
DMF_MODULE_OPEN_OPTION_NOTIFY_PrepareHardware = 2
DMF_MODULE_OPEN_OPTION_OPEN_D0EntrySystemPowerUp = 3
DMF_MODULE_OPEN_OPTION_OPEN_D0Entry = 4
DMF_MODULE_OPEN_OPTION_NOTIFY_D0Entry = 5
DMF_MODULE_OPEN_OPTION_OPEN_Create = 6
DMF_MODULE_OPEN_OPTION_NOTIFY_Create = 7


class DmfModule:
    """One DMF module instance living in emulated memory."""

    def __init__(self, dmf: "Dmf", memory: WdfMemory, module_name: str, instance_name: str):
        self.dmf = dmf
        self.memory = memory
        self.handle = memory.handle
        self.object_va = memory.buffer_va
        self.module_name = module_name
        self.instance_name = instance_name
        self.module_name_va = 0
        self.instance_name_va = 0
        self.config_va = 0
        self.config_size = 0
        self.context_va = 0
        self.context_size = 0
        self.type_info_va = 0
        self.parent = None  # type: Optional[DmfModule]
        self.children = []  # type: List[DmfModule]
        self.collection = None  # type: Optional[DmfCollection]

    def __repr__(self):
        return "<DmfModule %s (%s) handle=0x%x object=0x%x>" % (
            self.module_name, self.instance_name, self.handle, self.object_va)

    # -- raw field access (through the version's layout) ------------------------------------
    def read(self) -> Dict[str, object]:
        layout = self.dmf.object_layout
        return layout.unpack_from(self.dmf.space.read(self.object_va, layout.size))

    def field(self, name: str) -> int:
        layout = self.dmf.object_layout
        return struct.unpack_from(layout.fmt(name), self.dmf.space.read(
            self.object_va + layout.offsets[name], layout.sizes[name]))[0]

    def set_field(self, name: str, value: int) -> None:
        layout = self.dmf.object_layout
        self.dmf.space.write(self.object_va + layout.offsets[name], struct.pack(layout.fmt(name), value))

    def has_field(self, name: str) -> bool:
        return name in self.dmf.object_layout.offsets

    def set_state(self, state: str) -> None:
        self.set_field("ModuleState", self.dmf.module_states[state])

    def context_view(self) -> memoryview:
        return self.dmf.space.view(self.context_va, self.context_size)

    def config_view(self) -> memoryview:
        return self.dmf.space.view(self.config_va, self.config_size)

    # -- tree ----------------------------------------------------------------------------------
    def add_child(self, child: "DmfModule") -> None:
        """A child created by this module's ChildModulesAdd: InsertTailList(&ChildObjectList,
        &child->ChildListEntry), NumberOfChildModules++, child->DmfObjectParent (spec/dmf.md §4.4)."""
        if child.parent is not None:
            raise ValueError("%r already has a parent" % (child,))
        child.parent = self
        self.children.append(child)
        if self.has_field("ChildObjectList"):
            space = self.dmf.space
            layout = self.dmf.object_layout
            head = self.object_va + layout.offsets["ChildObjectList"]
            entry = child.object_va + layout.offsets["ChildListEntry"]
            ptr = self.dmf.pointer_size
            tail = space.read_ptr(head + ptr)          # head.Blink
            space.write_ptr(entry, head)               # entry.Flink
            space.write_ptr(entry + ptr, tail)         # entry.Blink
            space.write_ptr(tail, entry)               # tail.Flink
            space.write_ptr(head + ptr, entry)         # head.Blink
            self.set_field("NumberOfChildModules", self.field("NumberOfChildModules") + 1)
            child.set_field("DmfObjectParent", self.object_va)
            child.set_field("AddedToParentChildModuleList", 1)
        if self.collection is not None:
            self.collection._adopt(child)

    def walk(self):
        """This module and its descendants, children first (FLKD.c order)."""
        for child in self.children:
            for module in child.walk():
                yield module
        yield self


class DmfCollection:
    """DMF_MODULE_COLLECTION (tag Dmf6) + ClientDriverDmfModules array (tag Dmf8), spec/dmf.md §4.4."""

    def __init__(self, dmf: "Dmf", memory: WdfMemory, array: WdfMemory, modules: Sequence[DmfModule]):
        self.dmf = dmf
        self.memory = memory
        self.handle = memory.handle
        self.va = memory.buffer_va
        self.array_memory = array
        self.array_handle = array.handle
        self.array_va = array.buffer_va
        self.modules = list(modules)

    def _adopt(self, module: DmfModule) -> None:
        """ModuleCollection is propagated to every module of the tree (COLL.c:298-345)."""
        for m in module.walk():
            m.collection = self
            if m.has_field("ModuleCollection"):
                m.set_field("ModuleCollection", self.va)


class Dmf:
    """The DMF framework of one emulated driver: creates modules and collections."""

    def __init__(self, machine, dmf_version="1.1.154", wdf: Optional[Wdf] = None,
                 static_area: Optional[StaticArea] = None):
        self.machine = machine
        self.space = machine.space
        self.pool = machine.pool
        self.arch = machine.arch
        self.pointer_size = engine.pointer_size(self.arch)
        self.dmf_version = dmf_versions.parse_dmf_version(dmf_version)
        self.wdf = wdf if wdf is not None else Wdf(machine, static_area=static_area)
        self._static = static_area
        self.object_layout = dmf_structures.dmf_object(self.arch, self.dmf_version)
        self.object_block_size = dmf_structures.dmf_object_head(self.arch).size
        self.module_states = dmf_structures.module_state_values(self.dmf_version)
        self._modules = {}  # type: Dict[int, DmfModule]

    @property
    def static(self) -> StaticArea:
        if self._static is None:
            self._static = self.wdf.static
        return self._static

    def literal(self, text: str) -> int:
        return self.static.string(text)

    def context_type(self, module_name: str, context_size: int) -> int:
        """``_WDF_DMF_CONTEXT_<ModuleName>_TYPE_INFO`` with ContextName "DMF_CONTEXT_<ModuleName>"
        (MOD.h:444-446); its ContextSize identifies e.g. the CrashDump context version (§2.4)."""
        return self.wdf.context_type("DMF_CONTEXT_" + module_name, context_size)

    def module_from_handle(self, handle: int) -> DmfModule:
        try:
            return self._modules[handle]
        except KeyError:
            raise KeyError("0x%x is not a DMFMODULE of this emulator" % handle) from None

    def _pool_copy(self, data: bytes, tag: bytes) -> int:
        va = self.pool.allocate(len(data), tag=tag, align=engine.memory_allocation_alignment(self.arch))
        self.space.write(va, data)
        return va

    def _copy_for_object(self, data: bytes, tag: bytes, values: dict, size_field: str, memory_field: str) -> int:
        """DMF copies a module's config and instance name into pool and records their size (since
        v1.1.135), or into a WDFMEMORY whose handle it keeps (before) (spec/dmf.md §0.3, §4.1)."""
        if self.dmf_version >= dmf_versions.V1_1_135:
            values[size_field] = len(data)
            return self._pool_copy(data, tag)
        memory = self.wdf.memory_create(len(data), tag)
        self.space.write(memory.buffer_va, data)
        values[memory_field] = memory.handle
        return memory.buffer_va

    def create_module(self, module_name: str, config: bytes = b"", context_size: int = 0,
                      instance_name: str = "", parent: Optional[DmfModule] = None, parent_device: int = 0,
                      module_options: int = DMF_MODULE_OPTIONS_PASSIVE,
                      open_option: int = DMF_MODULE_OPEN_OPTION_OPEN_Create, passive: bool = True,
                      dynamic: bool = True, state: str = "Created") -> DmfModule:
        """DMF_ModuleCreate (CORE.c): DMF_OBJECT in a Dmf4 WDFMEMORY, config copy (Dmf1), instance
        name copy (Dmf0), typed context, optional parent link (static child of ``parent``)."""
        arch = self.arch
        layout = self.object_layout
        memory = self.wdf.memory_create(self.object_block_size, dmf_structures.TAG_DMF_OBJECT)
        name = instance_name or module_name   # CORE.c:291-328: "" -> copy of ModuleName
        module = DmfModule(self, memory, module_name, name)
        module.module_name_va = self.literal(module_name)
        values = {
            "MemoryDmfObject": memory.handle,
            "ParentDevice": parent_device,
            "Signature": dmf_structures.DMF_OBJECT_SIGNATURE,
            "ModuleName": module.module_name_va,
            "ModuleState": self.module_states[state],
        }
        module.instance_name_va = self._copy_for_object(
            name.encode("ascii") + b"\0", dmf_structures.TAG_INSTANCE_NAME, values,
            "ClientModuleInstanceNameSizeBytes", "ClientModuleInstanceNameMemory")
        values["ClientModuleInstanceName"] = module.instance_name_va
        if config:
            config = bytes(config)
            module.config_size = len(config)
            module.config_va = self._copy_for_object(config, dmf_structures.TAG_MODULE_CONFIG, values,
                                                     "ModuleConfigSize", "ModuleConfigMemory")
            values["ModuleConfig"] = module.config_va
        if context_size:
            module.type_info_va = self.context_type(module_name, context_size)
            module.context_va = self.wdf.allocate_context(memory, module.type_info_va, context_size)
            module.context_size = context_size
            values["ModuleContext"] = module.context_va   # cached "for debugging" (CORE.c:1320-1333)
        if layout.complete:
            descriptor = dmf_structures.dmf_object_head(arch)
            # CORE.c: ModuleDescriptor starts as a copy of DmfModuleDescriptor_Generic (ModuleName
            # "Generic"); only options, open option, config size and a few hooks are copied from the
            # module's own descriptor. CallbacksDmf / CallbacksWdf are per-module pool blocks (Dmf2 /
            # Dmf3, spec/dmf.md §4.1) holding only their Size here (no code to point at).
            callbacks_dmf = self._pool_copy(engine.layout_of(dmf_structures.DMF_CALLBACKS_DMF, arch).pack(
                {"Size": descriptor.sizes["InternalCallbacksDmf"]}), dmf_structures.TAG_CALLBACKS_DMF)
            callbacks_wdf = self._pool_copy(engine.layout_of(dmf_structures.DMF_CALLBACKS_WDF, arch).pack(
                {"Size": descriptor.sizes["InternalCallbacksWdf"]}), dmf_structures.TAG_CALLBACKS_WDF)
            values.update({
                "ModuleDescriptor.Size": descriptor.sizes["ModuleDescriptor"],
                "ModuleDescriptor.ModuleName": self.literal("Generic"),
                "ModuleDescriptor.CallbacksDmf": callbacks_dmf,
                "ModuleDescriptor.CallbacksWdf": callbacks_wdf,
                "ModuleDescriptor.ModuleOptions": module_options,
                "ModuleDescriptor.OpenOption": open_option,
                "ModuleDescriptor.ModuleConfigSize": module.config_size,
                "ModuleAttributes.SizeOfHeader": descriptor.sizes["ModuleAttributes"],
                "ModuleAttributes.SizeOfModuleSpecificConfig": module.config_size,
                "ModuleAttributes.DynamicModuleImmediate": int(dynamic),
                "ModuleAttributes.DynamicModule": int(dynamic),
                "ModuleAttributes.PassiveLevel": int(passive),
                "DynamicModuleImmediate": int(dynamic),
            })
            # InitializeListHead(&ChildObjectList) (CORE.c); ChildListEntry stays zero until linked
            head = memory.buffer_va + layout.offsets["ChildObjectList"]
            values["ChildObjectList.Flink"] = head
            values["ChildObjectList.Blink"] = head
        self.space.write(memory.buffer_va, layout.pack(values))
        self._modules[memory.handle] = module
        if parent is not None:
            parent.add_child(module)
        return module

    def create_collection(self, modules: Sequence[DmfModule], client_device: int = 0) -> DmfCollection:
        """DMF_MODULE_COLLECTION with the top-level modules in creation order (COLL.c:3580, 3604)."""
        layout = dmf_structures.dmf_module_collection(self.arch)
        memory = self.wdf.memory_create(layout.size, dmf_structures.TAG_COLLECTION)
        ptr = self.pointer_size
        array = self.wdf.memory_create(max(1, len(modules)) * ptr, dmf_structures.TAG_COLLECTION_ARRAY)
        fmt = "<%d%s" % (len(modules), "Q" if ptr == 8 else "I")
        self.space.write(array.buffer_va, struct.pack(fmt, *[m.object_va for m in modules]))
        self.space.write(memory.buffer_va, layout.pack({
            "ModuleCollectionHandleMemory": memory.handle,
            "ClientDriverDmfModules": array.buffer_va,
            "ClientDriverDmfModulesMemory": array.handle,
            "NumberOfClientDriverDmfModules": len(modules),
            "ClientDevice": client_device,
        }))
        collection = DmfCollection(self, memory, array, modules)
        for module in modules:
            collection._adopt(module)
        return collection
