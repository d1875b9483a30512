"""Property test (x64, x86 PAE, ARM64): AddressSpace reads/writes over scattered page mappings agree with a plain
byte-array model of the virtual range, and every page's translation agrees with a hand walk."""
import pytest
from hypothesis import given, settings, strategies as st

from dmfkd.errors import MemoryReadError
from dmfkd.layouts.windows import PAGE_SIZE
from dmfemu.memory import AddressSpace, PhysicalMemory

from helpers.page_walks import hand_walk_arm64, hand_walk_pae, hand_walk_x64

PAGES = 6
BASES = {"x64": 0xFFFFE00000000000 + 0x1FF000, "x86": 0x851FF000,     # straddle a PT / L3 table boundary
         "arm64": 0xFFFFA80000000000 + 0x1FF000}
WALKS = {"x64": hand_walk_x64, "x86": hand_walk_pae, "arm64": hand_walk_arm64}


@settings(max_examples=60, deadline=None)
@given(arch=st.sampled_from(["x64", "x86", "arm64"]),
       order=st.permutations(list(range(PAGES))),
       hole=st.integers(min_value=-1, max_value=PAGES - 1),
       ops=st.lists(st.tuples(st.integers(0, PAGES * PAGE_SIZE - 1), st.binary(min_size=1, max_size=3000)),
                    max_size=12))
def test_reads_and_writes_match_a_byte_model(arch, order, hole, ops):
    phys = PhysicalMemory()
    space = AddressSpace(phys, arch)
    frames = [phys.allocate_pages(1) for _ in range(PAGES)]
    base = BASES[arch]
    mapped = [i for i in range(PAGES) if i != hole]
    for i in mapped:
        space.map(base + i * PAGE_SIZE, frames[order[i]], PAGE_SIZE)
    model = bytearray(PAGES * PAGE_SIZE)
    walk = WALKS[arch]
    for i in mapped:
        assert walk(phys, space.dtb, base + i * PAGE_SIZE + 7)[0] == frames[order[i]] + 7
    for offset, data in ops:
        data = data[:PAGES * PAGE_SIZE - offset]
        first, last = offset // PAGE_SIZE, (offset + len(data) - 1) // PAGE_SIZE
        if hole in range(first, last + 1):
            with pytest.raises(MemoryReadError):
                space.write(base + offset, data)
            with pytest.raises(MemoryReadError):
                space.read(base + offset, len(data))
            continue
        space.write(base + offset, data)
        model[offset:offset + len(data)] = data
        assert space.read(base + offset, len(data)) == data
    for i in mapped:
        assert space.read(base + i * PAGE_SIZE, PAGE_SIZE) == bytes(model[i * PAGE_SIZE:(i + 1) * PAGE_SIZE])
        assert phys.read(frames[order[i]], PAGE_SIZE) == bytes(model[i * PAGE_SIZE:(i + 1) * PAGE_SIZE])
