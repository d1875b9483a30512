"""The DMF_MODULE_COLLECTION a live dump or a driver leads to, and the module tree under it
(spec/dmf.md §3.5, §3.6, §4.4): by handle, by address, or found among a triage dump's recorded blocks."""
from typing import List, Optional, Tuple

from dmfkd.dmf.objects import DmfObject, ObjectReader
from dmfkd.errors import DmfkdError, MemoryReadError
from dmfkd.layouts import dmf_structures, dmf_versions
from dmfkd.records import UNREADABLE

#: a module tree is walked to at most this many objects (a hostile child list cannot make it loop)
MAX_TREE = 2048


def _u(data: bytes, offset: int, size: int) -> int:
    return int.from_bytes(data[offset:offset + size], "little")


def read_exact(target, address: int, size: int) -> bytes:
    """All `size` bytes or MemoryReadError (RecordedBlocks may answer short for ObjectReader)."""
    raw = target.read(address, size)
    if len(raw) < size:
        raise MemoryReadError(address, size, reason="only %d bytes recorded" % len(raw))
    return raw


def display_name(obj: DmfObject) -> str:
    """"Module/instance"; a triage live dump records the instance name but not the ModuleName
    literal in the driver image (§3.6), so the instance name alone stands in for it there."""
    module = obj.module_name if isinstance(obj.module_name, str) and obj.module_name != UNREADABLE else None
    instance = obj.instance_name if isinstance(obj.instance_name, str) and obj.instance_name != UNREADABLE else None
    if module and instance and instance != module:
        return "%s/%s" % (module, instance)
    return module or instance or "?"


class CollectionInfo(object):
    def __init__(self, handle: Optional[int], address: Optional[int], modules: List[int], problems: List[str]):
        self.handle = handle
        self.address = address
        self.modules = modules      # top-level DMF_OBJECT addresses
        self.problems = problems
        self.array = None           # type: Optional[int]
        self.count = None           # type: Optional[int]


def collection_at(target, reader: ObjectReader, address: int, handle: Optional[int] = None) -> Optional[CollectionInfo]:
    """A DMF_MODULE_COLLECTION known by its address (DMF_OBJECT.ModuleCollection, a recorded
    buffer); None when the bytes there are not one (or not the one of `handle`)."""
    layout = reader.collection_layout()
    try:
        raw = read_exact(target, address, layout.size)
    except MemoryReadError:
        return None
    v = layout.unpack_from(raw)
    if handle is not None and v["ModuleCollectionHandleMemory"] != handle:
        return None
    count, array = v["NumberOfClientDriverDmfModules"], v["ClientDriverDmfModules"]
    if not 0 < count <= 1024 or not array:
        return None
    info = CollectionInfo(v["ModuleCollectionHandleMemory"], address, [], [])
    info.array, info.count = array, count
    try:
        raw = read_exact(target, array, count * reader.ptr)
    except MemoryReadError:
        info.problems.append("module array at 0x%x unreadable" % array)
        return info
    info.modules = [_u(raw, i * reader.ptr, reader.ptr) for i in range(count)]
    return info


def find_collection(target, reader: ObjectReader, handle: int,
                    candidates: List[Tuple[int, int]] = ()) -> CollectionInfo:
    """DMFCOLLECTION handle -> its DMF_MODULE_COLLECTION: after the FxObject (ObjectReader), else
    among recorded buffers of sizeof(DMF_MODULE_COLLECTION) whose first field is the handle (a
    triage live dump holds the collection but not the WDF object around it, §3.6)."""
    try:
        address, modules, problems = reader.collection(handle)
        info = CollectionInfo(handle, address, modules, problems)
        found = collection_at(target, reader, address, handle)
        if found is not None:
            info.array, info.count = found.array, found.count
        return info
    except DmfkdError as exc:
        first_error = str(exc).splitlines()[0]
    sizes = reader.collection_sizes()  # by DMF version: 96 / 68 up to v1.1.2, 104 / 76 after
    for address, length in candidates:
        if length in sizes:
            found = collection_at(target, reader, address, handle)
            if found is not None:
                return found
    raise DmfkdError(first_error)


def collection_from_recorded(target, reader: ObjectReader, blocks: List[Tuple[int, int]],
                             limit: int = 64) -> Optional[CollectionInfo]:
    """The module collection of the first recorded DMF_OBJECT (Signature) whose ModuleCollection
    reads as one: a triage dump whose DMF data came from the framework data (§3.6, §3.7) holds the
    objects and the collection but neither the driver's globals nor the WDF objects around them."""
    minimum = dmf_structures.dmf_object_prefix(reader.arch, dmf_versions.V1_1_80).size
    tried = 0
    for address, size in blocks:
        if size < minimum:
            continue
        tried += 1
        if tried > limit:
            break
        try:
            obj = reader.read_at(address, names=False)
        except DmfkdError:
            continue
        where = obj.field("ModuleCollection")
        found = collection_at(target, reader, where) if where else None
        if found is not None:
            return found
    return None


def walk_objects(reader: ObjectReader, roots: List[DmfObject]) -> Tuple[List[Tuple[DmfObject, int]], List[str]]:
    """(object, depth) depth-first under `roots` (parents before children), each object once, bounded."""
    out = []   # type: List[Tuple[DmfObject, int]]
    problems = []
    seen = set()

    def visit(obj: DmfObject, depth: int) -> None:
        if obj.address in seen or len(out) >= MAX_TREE:
            return
        seen.add(obj.address)
        out.append((obj, depth))
        kids, issues = reader.children(obj)
        problems.extend("%s 0x%x: %s" % (display_name(obj), obj.address, p) for p in issues)
        for kid in kids:
            visit(kid, depth + 1)

    for root in roots:
        visit(root, 0)
    return out, problems
