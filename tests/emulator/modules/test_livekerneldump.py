"""DMF_LiveKernelDump emulation (dmfemu.modules.livekerneldump, spec/dmf.md §3): layouts in memory,
the DataBufferSource ring, framework data, live dumps, the bug-check triage path and Q-LKD-1..7."""
import uuid

import pytest

from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dump_format
from dmfkd.layouts import windows
from dmfkd.targets.dumpfile import DumpFile

from dmfemu.modules import crashdump
from dmfemu.modules import livekerneldump

from helpers.emulated_drivers import live_kernel_dump_module

GS = uuid.UUID("0badf00d-1234-5678-9abc-def012345678")


@pytest.mark.parametrize("arch,version,rs3,ctx_size,cfg_size,entry", [
    ("x64", "1.1.154", True, 56, 72, 13), ("x86", "1.1.154", True, 32, 64, 9),
    ("x64", "1.1.84", True, 40, 64, 13), ("x64", "1.1.154", False, 32, 72, 13)])
def test_layouts_and_data_buffer_ring(arch, version, rs3, ctx_size, cfg_size, entry):
    m = live_kernel_dump_module(arch, version, rs3, report_type="VERYLONGREPORTTYPE")
    assert (m.module.context_size, m.module.config_size, m.entry.size) == (ctx_size, cfg_size, entry)
    assert (m.ring.item_count, m.ring.item_size, m.ring.mode) == (256, entry, 2)
    assert m.ring.storage.size == 257 * entry
    assert m.ctx_read()["DataBufferSource"] == m.ring.handle
    assert m.driver.dmf.module_from_handle(m.ring.handle).instance_name == "DataBufferSource"
    cfg = m.cfg_layout.unpack_from(m.space.read(m.module.config_va, cfg_size))
    assert cfg["ReportType"] == "VERYLONGREP".encode("utf-16-le") + b"\0\0"   # NUL at index 11


def test_add_remove_and_q_lkd_1_2():
    m = live_kernel_dump_module()
    assert m.data_buffer_source_add(0x1000, 16) == 0
    m.data_buffer_source_add(0x2000, 32)
    m.data_buffer_source_add(0x1000, 16)
    assert m.ctx_read()["DmfDataSize"] == 16 + 8 + 32 + 8 + 16 + 8
    m.data_buffer_source_remove(0x1000, 16)      # both equal entries go invalid (Q-LKD-2)
    assert [(e["Address"], e["Valid"]) for e in m.entries()] == [(0x1000, 0), (0x2000, 1), (0x1000, 0)]
    assert m.ctx_read()["DmfDataSize"] == 32 + 8
    for n in range(256):                           # the ring drops its oldest entries (Q-LKD-1)
        m.data_buffer_source_add(0x10000 + n, 1)
    assert len(m.entries()) == 256 and m.entries()[0]["Address"] == 0x10000
    assert m.ctx_read()["DmfDataSize"] == 40 + 256 * 9    # never decremented for dropped entries


def test_framework_data_order_and_q_lkd_5():
    m = live_kernel_dump_module("x86")
    collection = m.driver.create_collection()
    m.module_collection_initialize(collection)
    entries = [(e["Address"], e["Size"]) for e in m.entries()]
    assert entries[0] == (collection.va, dmf_structures.dmf_module_collection("x86").size)
    assert entries[1] == (collection.array_va, 8)        # 1 module x sizeof(ULONG64) on x86 too
    assert m.ctx_read()["BugCheckParameterDmfCollection"] == collection.handle
    # children first: the DataBufferSource ring's object is added before the LiveKernelDump object
    object_size = m.driver.dmf.object_layout.size
    objects = [a for a, s in entries if s == object_size]
    assert objects.index(m.driver.dmf.module_from_handle(m.ring.handle).object_va) < objects.index(m.module.object_va)
    assert (m.module.context_va, 32) in entries


def test_live_dump_parameters_blocks_secondary_and_q_lkd_7(tmp_path):
    m = live_kernel_dump_module(guid_secondary_data=GS)
    data = m.driver.allocate(16)
    m.space.write(data, b"secondary-data!!")
    client = m.driver.allocate(8)
    m.space.write(client, b"CLIENTxx")
    m.data_buffer_source_add(data, 16)
    collection = m.driver.create_collection()
    m.module_collection_initialize(collection)
    path = str(tmp_path / "live.dmp")
    status, report = m.live_kernel_memory_dump_create(0x15D, 0x42, False, [(client, 8)], (data, 16), path=path)
    assert status == 0 and report.parameters == (0x42, collection.handle, 0, 0)
    assert report.triage_blocks[0] == (data, 16) and report.triage_blocks[-1] == (client, 8)
    dump = DumpFile(path)
    assert dump.bugcheck() == (0x15D, (0x42, collection.handle, 0, 0))
    assert dump.read_tagged(GS) == b"secondary-data!!"
    assert dump.read(client, 8) == b"CLIENTxx"
    status, report = m.live_kernel_memory_dump_create(0x15D, 1, True)
    assert report.parameters == (1, 0, 0, 0) and report.triage_blocks == []
    assert live_kernel_dump_module(rs3=False).live_kernel_memory_dump_create(0x15D, 1) == (0, None)


def test_q_lkd_4_failed_insertion_leaves_entries_for_the_next_dump():
    m = live_kernel_dump_module()
    for n in range(5):
        m.data_buffer_source_add(0x1000 * (n + 1), 4)
    _, first = m.live_kernel_memory_dump_create(1, 0, max_triage_blocks=2)
    assert first.triage_blocks == [(0x1000, 4), (0x2000, 4)]
    _, second = m.live_kernel_memory_dump_create(1, 0)
    # the three left over come first, then all valid entries again
    assert second.triage_blocks[:3] == [(0x3000, 4), (0x4000, 4), (0x5000, 4)]
    assert len(second.triage_blocks) == 8


def test_q_lkd_6_ioctl_input_is_pointer_size_dependent():
    m = live_kernel_dump_module()
    assert m.input_layout.size == 37 and dmf_structures.livekerneldump_input_buffer("x86").size == 25
    wow64 = dmf_structures.livekerneldump_input_buffer("x86").pack({"BugCheckCode": 1})
    assert m.ioctl(dmf_structures.IOCTL_LIVEKERNELDUMP_CREATE, wow64) == (windows.STATUS_BUFFER_TOO_SMALL, None)
    bad = m.input_layout.pack({"BugCheckCode": 1, "NumberOfClientStructures": 2})
    assert m.ioctl(dmf_structures.IOCTL_LIVEKERNELDUMP_CREATE, bad) == (windows.STATUS_INVALID_PARAMETER, None)
    structs = m.driver.allocate(24)
    client = dmf_structures.livekerneldump_client_structure("x64")
    m.space.write(structs, client.pack({"Address": 0x7000, "Size": 3}) + client.pack({"Address": 0x8000, "Size": 5}))
    good = m.input_layout.pack({"BugCheckCode": 0x15D, "BugCheckParameter": 9, "ExcludeDmfData": 1,
                                "NumberOfClientStructures": 2, "ArrayOfClientStructures": structs})
    status, report = m.ioctl(dmf_structures.IOCTL_LIVEKERNELDUMP_CREATE, good)
    assert status == 0 and report.triage_blocks == [(0x7000, 3), (0x8000, 5)] and report.code == 0x15D


def test_bugcheck_triage_path_with_crashdump_child_and_q_cd_7():
    m = live_kernel_dump_module(include_dmf_data_in_bugcheck_triage_dump=True)
    cd = m.crashdump
    assert cd.create_status == 0 and cd.module.parent is m.module
    assert m.ctx_read()["CrashDumpModule"] == cd.handle
    assert cd.space.read(cd.state.config_value("ComponentName"), 4) == b"DMF\0"
    assert cd.state.config_value("TriageDumpDataArraySize") == 1024
    buf = m.driver.allocate(20)
    m.data_buffer_source_add(buf, 20)
    m.data_buffer_source_add(0x5000, 7)
    m.data_buffer_source_remove(0x5000, 7)
    result = cd.kernel.bugcheck(0x1E, 1, 2, 3, 4)
    assert result.triage_ranges == [(buf, 20)]
    assert m.ctx_read()["TelemetryDataSize"] == 20
    # the driver cannot also have its own DMF_CrashDump (single instance, Q-CD-7)
    own = crashdump.CrashDump(m.driver, crashdump.CrashDumpConfig(buffer_size=4, buffer_count=2))
    assert own.create_status == windows.STATUS_INVALID_PARAMETER


def test_write_live_dump_kinds_and_blocks(tmp_path):
    """LkmdTelSubmitReport's file (spec/dump-format.md §7): triage type 4 holds the inserted blocks in
    insertion order (after the OS's own), full live dumps are bitmap type 6, x86 only type 1."""
    from dmfemu.scenarios.live_dump_demo import LiveDumpRun

    run = LiveDumpRun()
    a = run.add_client_buffer("a", b"AAAA" * 5)
    run.client_structure("s", b"STRUCT")
    path = str(tmp_path / "t.dmp")
    report = run.live_dump(path, code=livekerneldump.LIVE_SYSTEM_DUMP, parameter=7)
    with DumpFile(path) as dump:
        assert dump.dump_type == 4
        assert dump.bugcheck() == (livekerneldump.LIVE_SYSTEM_DUMP, (7, run.collection.handle, 0, 0))
        tri = dump.triage
        raw = open(path, "rb").read()
        block = dump_format.TRIAGE_DATA_BLOCK64
        blocks = [block.parse(raw[tri.DataBlocksOffset + i * block.sizeof():])
                  for i in range(tri.DataBlocksCount)]
        got = [(b.Address, b.Size) for b in blocks]
        assert got[-len(report.triage_blocks):] == report.triage_blocks
        assert report.triage_blocks[-2:] == [a, run.client_structures[0]]
        assert dump.read(a[0], a[1]) == b"AAAA" * 5
        assert dump.header.Attributes == 0x10           # LiveDumpGeneratedDump (bit 4)
    full = str(tmp_path / "f.dmp")
    run.live_dump(full, dump_type="bitmap-kernel")
    with DumpFile(full) as dump:
        assert dump.dump_type == 6 and dump.read(a[0], a[1]) == b"AAAA" * 5
    x86 = LiveDumpRun("x86")
    with pytest.raises(ValueError):
        x86.live_dump(str(tmp_path / "x.dmp"), dump_type="triage")


def test_data_buffer_source_matches_the_spec_model_for_any_call_sequence():
    """Random Add/Remove sequences (with repeats, past 256 entries): the emulated ring and DmfDataSize
    equal dmfemu.scenarios.live_dump_demo.model_data_buffers, written from spec/dmf.md §3.3 alone."""
    from hypothesis import given, settings, strategies as st

    from dmfemu.scenarios.live_dump_demo import model_data_buffers

    calls = st.lists(st.tuples(st.sampled_from(["add", "add", "add", "remove"]), st.integers(0, 40),
                               st.integers(1, 4)), max_size=320)

    @settings(max_examples=25, deadline=None)
    @given(calls)
    def check(sequence):
        m = live_kernel_dump_module()
        for kind, slot, size in sequence:
            address = 0xFFFFE00012340000 + slot * 0x100
            if kind == "add":
                m.data_buffer_source_add(address, size)
            else:
                m.data_buffer_source_remove(address, size)
        entries, dmf_data_size = model_data_buffers(m.calls)
        assert [(e["Address"], e["Size"], bool(e["Valid"])) for e in m.entries()] == \
            [(e["address"], e["size"], e["valid"]) for e in entries]
        assert m.ctx_read()["DmfDataSize"] == dmf_data_size

    check()
