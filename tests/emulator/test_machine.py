"""dmfemu.machine / dmfemu.target, and the independent check that a machine written as a dump opens
in kdmp-parser (spec/dump-format.md §5.1) with the same physical pages and kernel VAs."""
import os
import random
import uuid

import pytest

import dmfemu.dumpwriter
import dmfemu.kernel
from dmfkd.errors import MemoryReadError, SymbolError
from dmfkd.targets.base import Target
from dmfemu.machine import Machine, MachineSymbols
from dmfemu.target import EmulatorTarget


def filled_machine(arch="x64", large_pages=False, seed=1):
    """A machine with pool blocks, an image and a multi-page block, filled with random bytes."""
    rng = random.Random(seed)
    machine = Machine(arch=arch, large_pages=large_pages)
    regions = []
    for size, tag in [(976, b"Dmf4"), (40, b"Dmf1"), (3 * 4096 + 100, b"RBMo"), (200, b"CDMo")]:
        va = machine.pool.allocate(size, tag)
        data = bytes(rng.getrandbits(8) for _ in range(size))
        machine.space.write(va, data)
        regions.append((va, data))
    base = machine.add_image("dmfdemo", 0x3000)
    machine.add_symbol("dmfdemo", "g_DmfModuleCrashDump", base + 0x2010)
    machine.space.write_ptr(base + 0x2010, regions[0][0])
    regions.append((base + 0x2010, machine.space.read(base + 0x2010, machine.pointer_size)))
    return machine, regions


# -- Machine -----------------------------------------------------------------------------------
@pytest.mark.parametrize("arch, ptr", [("x64", 8), ("x86", 4), ("arm64", 8)])
def test_machine_parts(arch, ptr):
    machine = Machine(arch=arch, build=22621)
    assert machine.arch == arch and machine.pointer_size == ptr and machine.build == 22621
    assert machine.space.phys is machine.phys and machine.pool.space is machine.space
    base = machine.add_image("dmfdemo", 0x1800)
    assert machine.images == {"dmfdemo": (base, 0x1800)}
    machine.space.write(base + 0x17F0, b"end of image")     # whole image is mapped
    with pytest.raises(MemoryReadError):
        machine.space.read(base + 0x2000, 1)                  # guard page after it
    with pytest.raises(ValueError):
        Machine(arch="arm")


@pytest.mark.parametrize("arch, build", [("x64", 19041), ("x86", 19041), ("arm64", 22000)])
def test_default_build_is_the_one_of_the_kernel_offsets(arch, build):
    assert Machine(arch=arch).build == build


def test_symbol_registry():
    machine = Machine()
    machine.add_symbol("dmfdemo", "g_DmfModuleCrashDump", 0xFFFFF80000001000)
    machine.add_symbol("nt", "KeBugCheckEx", 0xFFFFF80000200000)
    machine.add_symbol("other", "g_Shared", 1)
    machine.add_symbol("dmfdemo", "g_Shared", 2)
    assert machine.symbol("dmfdemo!g_DmfModuleCrashDump") == 0xFFFFF80000001000
    assert machine.symbol("g_DmfModuleCrashDump") == 0xFFFFF80000001000
    assert machine.symbol("DMFDEMO!g_DmfModuleCrashDump") == 0xFFFFF80000001000   # module names fold case
    assert machine.symbol("other!g_Shared") == 1
    with pytest.raises(SymbolError, match="ambiguous"):
        machine.symbol("g_Shared")
    with pytest.raises(SymbolError):
        machine.symbol("dmfdemo!nothing")
    with pytest.raises(SymbolError):
        machine.symbol("nothing")
    assert machine.symbols.has_symbol("nt!KeBugCheckEx")
    assert not machine.symbols.has_symbol("nt!KeBugCheck")
    with pytest.raises(SymbolError):
        machine.symbols.type_layout("DMF_OBJECT")
    assert isinstance(machine.symbols, MachineSymbols)


def test_snapshot_isolation():
    machine, regions = filled_machine()
    va, data = regions[2]
    snap = machine.snapshot()
    machine.space.write(va, b"\xff" * 64)
    pa = machine.space.translate(va)
    assert snap.read(pa, len(data)) == data
    assert machine.phys.read(pa, 64) == b"\xff" * 64


# -- EmulatorTarget ----------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_emulator_target_reads(arch):
    machine, regions = filled_machine(arch)
    target = EmulatorTarget(machine)
    assert isinstance(target, Target)
    assert target.is_live and target.arch == arch and target.pointer_size == machine.pointer_size
    assert target.name == "emulator (live)"
    assert target.tagged() == [] and target.bugcheck() is None
    for va, data in regions:
        assert target.read(va, len(data)) == data
        pa = machine.space.translate(va)
        assert target.read_physical(pa, min(len(data), 4096 - (pa & 0xFFF))) == data[:4096 - (pa & 0xFFF)]
    pointer_va = machine.symbol("dmfdemo!g_DmfModuleCrashDump")
    assert target.symbols.address_of("dmfdemo!g_DmfModuleCrashDump") == pointer_va
    assert target.read_pointer(pointer_va) == regions[0][0]
    unmapped = 0xFFFFE7FF00000000 if arch == "x64" else 0xB0000000
    with pytest.raises(MemoryReadError) as info:
        target.read(unmapped, 16)
    assert info.value.address == unmapped
    target.symbols = None                                     # settable (e.g. an ISF-backed source)
    assert target.symbols is None


# -- the kernel structures (dmfemu.kernel.prepare_dump) ---------------------------------------
def test_kernel_hook_is_called_and_overridable(tmp_path, monkeypatch):
    calls = []

    def prepare_dump(machine):
        calls.append(machine)
        return {"kdbg_va": 0xFFFFF80000123000, "ps_loaded_module_list": 0xFFFFF80000124000}

    monkeypatch.setattr(dmfemu.kernel, "prepare_dump", prepare_dump)
    seen = {}

    def fake_write_dump(path, **kwargs):
        seen.update(kwargs)
        return 1

    monkeypatch.setattr(dmfemu.dumpwriter, "write_dump", fake_write_dump)
    machine = Machine()
    machine.write_dump(str(tmp_path / "x.dmp"), "full", (0xDEADDEAD, 1, 2, 3, 4),
                       ps_loaded_module_list=5)
    assert calls == [machine]
    assert seen["kdbg_va"] == 0xFFFFF80000123000 and seen["ps_loaded_module_list"] == 5
    assert seen["dtb"] == machine.space.dtb and seen["arch"] == "x64" and seen["build"] == 19041
    assert seen["pages"].source is machine.phys and seen["bugcheck"] == (0xDEADDEAD, 1, 2, 3, 4)
    snap = machine.snapshot()                                  # hook runs before the capture
    assert len(calls) == 2
    machine.write_dump(str(tmp_path / "y.dmp"), "bitmap", (1, 0, 0, 0, 0), snapshot=snap)
    assert len(calls) == 2 and seen["pages"].source is snap.phys
    assert seen["kdbg_va"] == 0xFFFFF80000123000
    bare = machine.phys.snapshot()                             # bare snapshot: hook runs at write time
    machine.write_dump(str(tmp_path / "z.dmp"), "full", (1, 0, 0, 0, 0), snapshot=bare)
    assert len(calls) == 3 and seen["pages"].source is bare
    pages = seen["pages"]
    assert [bytes(pages.page(pfn)) for pfn in pages.present_pfns()] == [bare.page(pfn) for pfn in bare.present_pfns()]


# -- real dump files, read back by kdmp-parser -------------------------------------------------
kdmp_parser = pytest.importorskip("kdmp_parser")


def _open_kdmp(path):
    return kdmp_parser.KernelDumpParser(str(path))


@pytest.mark.parametrize("dump_type, expected", [("full", 1), ("bitmap", 5)])
@pytest.mark.parametrize("large_pages", [False, True])
def test_kdmp_parser_reads_back_pages_and_vas(tmp_path, dump_type, expected, large_pages):
    machine, regions = filled_machine(large_pages=large_pages)
    path = tmp_path / ("m-%s.dmp" % dump_type)
    blobs = [(uuid.UUID("8a3e4a6b-0b1c-4d2e-9f00-112233445566"), b"blob")]
    size = machine.write_dump(str(path), dump_type, (0xDEADDEAD, 1, 2, 3, 4), blobs=blobs)
    assert os.path.getsize(str(path)) == size
    dump = _open_kdmp(path)
    assert int(dump.type) == expected
    assert dump.directory_table_base == machine.space.dtb
    assert dump.header.BugCheckCode == 0xDEADDEAD
    # every physical page the emulator has, byte for byte
    pfns = machine.phys.present_pfns()
    assert sorted(dump.pages.keys()) == [pfn << 12 for pfn in pfns]
    for pfn in pfns:
        assert bytes(dump.read_physical_page(pfn << 12)) == machine.phys.page(pfn), hex(pfn)
    # every kernel VA the emulator wrote, through the emulator's page tables
    for va, data in regions:
        assert dump.translate_virtual(va) == machine.space.translate(va)
        got = b""
        cursor = va
        while len(got) < len(data):
            page = dump.read_virtual_page(cursor)
            assert page is not None, hex(cursor)
            got += bytes(page)[cursor & 0xFFF:]
            cursor = (cursor & ~0xFFF) + 0x1000
        assert got[:len(data)] == data
    # the pool tag in front of a block, as `!pool` would read it
    va = regions[0][0]
    assert bytes(dump.read_virtual_page(va - 16))[((va - 16) & 0xFFF) + 4:][:4] == b"Dmf4"
    assert dump.translate_virtual(0xFFFFE7FF00000000) is None


def test_dump_of_snapshot_holds_pre_crash_state(tmp_path):
    machine, regions = filled_machine()
    va, data = regions[1]
    snap = machine.snapshot()
    machine.space.write(va, b"\0" * len(data))           # e.g. a callback changing state later
    path = tmp_path / "snap.dmp"
    machine.write_dump(str(path), "bitmap", (0xDEADDEAD, 0, 0, 0, 0), snapshot=snap)
    dump = _open_kdmp(path)
    page = bytes(dump.read_virtual_page(va))
    assert page[va & 0xFFF:(va & 0xFFF) + len(data)] == data


# -- dmfkd's own dump reader: the only reader here for x86 PAE dumps -----------------------------
@pytest.mark.parametrize("arch, dump_type", [("x86", "full"), ("x64", "full"), ("x64", "bitmap")])
def test_dmfkd_dumpfile_reads_back_vas_and_blobs(tmp_path, arch, dump_type):
    from dmfkd.targets.dumpfile import DumpFile

    machine, regions = filled_machine(arch)
    path = str(tmp_path / "m.dmp")
    guid_a = uuid.UUID("11111111-2222-3333-4444-555555555555")
    guid_b = uuid.UUID("66666666-7777-8888-9999-aaaaaaaaaaaa")
    blobs = [(guid_a, b"first"), (guid_b, b"second blob"), (guid_a, b"duplicate")]
    machine.write_dump(path, dump_type, (0xDEADDEAD, 0x1234, 0, 0, 0), blobs=blobs)
    dump = DumpFile(path)
    try:
        assert dump.arch == arch and dump.pointer_size == machine.pointer_size
        assert dump.dtb == machine.space.dtb
        for va, data in regions:
            assert dump.read(va, len(data)) == data
        assert [(b.guid, dump.read_blob(b)) for b in dump.tagged()] == blobs
        assert dump.bugcheck().code == 0xDEADDEAD
    finally:
        dump.close()


def test_images_mapped_through_the_pool_are_machine_images():
    machine = Machine()
    base = machine.pool.map_image("wdfstatic", 0x2000)
    assert machine.images["wdfstatic"] == (base, 0x2000)
