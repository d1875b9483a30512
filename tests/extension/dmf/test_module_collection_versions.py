"""The readers size DMF_MODULE_COLLECTION by DMF version (issue 9 item 6): a live dump's recorded
collection buffer is recognised by its size, which is 96 / 68 bytes up to DMF v1.1.2 and 104 / 76 after.
The collections here are hand-built bytes at the offsets of spec/dmf.md §4.4."""
import struct

import pytest

from dmfkd.dmf import livedump, module_collection
from dmfkd.dmf.objects import ObjectReader
from dmfkd.errors import MemoryReadError
from dmfkd.targets.base import Target

COLLECTION_VA = 0xFFFFE00000300000
ARRAY_VA = 0xFFFFE00000400000
HANDLE = 0x00001FFFFFCFFFF8     # a DMFCOLLECTION whose FxObject (nothing mapped there) is not in the dump
MODULES = [0xFFFFE00000500000, 0xFFFFE00000600000]


class Recorded(Target):
    """Memory holding exactly the recorded blocks (as a triage live dump does)."""

    arch = "x64"
    pointer_size = 8

    def __init__(self, blocks):
        self.blocks = blocks  # {address: bytes}

    def read(self, address, size):
        for base, data in self.blocks.items():
            if base <= address and address + size <= base + len(data):
                return bytes(data[address - base:address - base + size])
        raise MemoryReadError(address, size)


def collection_bytes(size):
    """x64 DMF_MODULE_COLLECTION: handle @0, module array @8, count @24 (spec/dmf.md §4.4), `size` bytes."""
    raw = bytearray(size)
    struct.pack_into("<QQQi", raw, 0, HANDLE, ARRAY_VA, 0, len(MODULES))
    return bytes(raw)


def target_with(size):
    return Recorded({COLLECTION_VA: collection_bytes(size), ARRAY_VA: struct.pack("<2Q", *MODULES)})


@pytest.mark.parametrize("version,recorded,found", [
    ("1.0.0", 96, True), ("1.1.2", 96, True), ("1.1.2", 104, False),
    ("1.1.3", 104, True), ("1.1.154", 104, True), ("1.1.154", 96, False),
    (None, 96, True), (None, 104, True), (None, 100, False)])
def test_recorded_collection_is_recognised_by_its_versions_size(version, recorded, found):
    target = target_with(recorded)
    reader = ObjectReader(target, version)
    if found:
        info = module_collection.find_collection(target, reader, HANDLE, [(COLLECTION_VA, recorded)])
        assert (info.address, info.modules, info.count) == (COLLECTION_VA, MODULES, 2)
    else:
        with pytest.raises(Exception, match="no DMF_MODULE_COLLECTION|cannot read"):
            module_collection.find_collection(target, reader, HANDLE, [(COLLECTION_VA, recorded)])


def test_a_v1_0_collection_reads_from_a_96_byte_block():
    """Without a version the reader reads only the fields every release has: a 96-byte block suffices."""
    target = target_with(96)
    info = module_collection.collection_at(target, ObjectReader(target, None), COLLECTION_VA, HANDLE)
    assert info is not None and info.modules == MODULES


@pytest.mark.parametrize("version,recorded,label", [
    ("1.0.0", 96, "DMF_MODULE_COLLECTION"), ("1.1.154", 104, "DMF_MODULE_COLLECTION"),
    ("1.1.154", 96, "DMF_MODULE_COLLECTION (recorded 96 bytes, structure 104)"),
    (None, 96, "DMF_MODULE_COLLECTION"), (None, 104, "DMF_MODULE_COLLECTION")])
def test_livedump_names_the_recorded_collection_buffer(version, recorded, label):
    target = target_with(recorded)
    reader = ObjectReader(target, version)
    info = module_collection.CollectionInfo(HANDLE, COLLECTION_VA, MODULES, [])
    index = livedump.build_index(target, reader, [], info)
    assert index.resolve(COLLECTION_VA, recorded)[0] == label
