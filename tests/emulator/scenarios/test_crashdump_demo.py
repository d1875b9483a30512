"""The reference scenario (dmfemu.scenarios.crashdump_demo, `dmfemu demo`) end to end: the dump opens in
kdmp-parser (full, bitmap) and in dmfkd's DumpFile, the blob list is exactly what the bug check
produced, in order, and expected.json says what the emulated clients wrote (checked here against the
scenario's own operations, and against the dump bytes with the §2.11 decoding done by hand)."""
import json
import os
import uuid

import pytest

from dmfkd.guids import crashdump_key
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import windows
from dmfkd.targets.dumpfile import DumpFile
from dmfkd.targets.isf import IsfSymbols
from dmfemu import cli
from dmfemu import wdf
from dmfemu.scenarios import crashdump_demo

from helpers.emulated_drivers import check_blobs

kdmp_parser = pytest.importorskip("kdmp_parser")


def run_demo(tmp_path, *args):
    out = str(tmp_path / "demo")
    assert cli.main(["demo", "-o", out] + list(args)) == 0
    with open(os.path.join(out, "expected.json")) as handle:
        expected = json.load(handle)
    return out, expected


def decode(blob: bytes, guid: uuid.UUID, size: int):
    key = crashdump_key(guid)
    plain = bytes(b ^ key[j % 32] for j, b in enumerate(blob[:size])) + blob[size:]
    return [plain[i:i + size] for i in range(0, len(plain) - len(plain) % size, size)]


def scenario_writes(scenario, guid=None, handle=None):
    """Records the scenario's operations wrote (SELF when handle is None)."""
    if handle is None:
        return [bytes.fromhex(op["hex"]) for op in scenario["operations"] if op["op"] == "write_self"]
    return [bytes.fromhex(op["hex"]) for op in scenario["operations"]
            if op["op"] == "write" and op["handle"] == handle]


@pytest.mark.parametrize("dump_type,kind", [("full", 1), ("bitmap", 5)])
def test_demo_opens_in_kdmp_parser_and_dumpfile(tmp_path, dump_type, kind):
    out, expected = run_demo(tmp_path, "--dump-type", dump_type)
    path = os.path.join(out, "MEMORY.DMP")
    parser = kdmp_parser.KernelDumpParser(path)
    assert int(parser.type) == kind
    dump = check_blobs(out, expected)
    assert dump.bugcheck() == (0xDEADDEAD, (expected["crashdump_handle"], 0, 0, 0))
    assert parser.header.BugCheckCode == 0xDEADDEAD
    # the independent parser reads the same kernel memory: the driver image's global
    symbols = IsfSymbols.load(os.path.join(out, "driver.isf.json"))
    g_va = symbols.address_of("dmfdemo!g_DmfModuleCrashDump")
    page = parser.read_virtual_page(g_va)
    offset = g_va & 0xFFF
    assert int.from_bytes(page[offset:offset + 8], "little") == expected["crashdump_handle"]
    assert dump.read(g_va, 8) == page[offset:offset + 8]
    pfn_pages = sorted(parser.pages.keys())[:64]
    for pa in pfn_pages:
        assert dump.read_physical(pa, 4096) == bytes(parser.read_physical_page(pa))


def test_demo_expected_records_come_from_what_the_clients_wrote(tmp_path):
    out, expected = run_demo(tmp_path, "--seed", "7")
    scenario = crashdump_demo.demo_scenario(seed=7)
    by_name = {s["name"]: s for s in expected["sources"]}
    self_writes = scenario_writes(scenario)
    assert len(self_writes) == crashdump_demo.SELF_WRITES > crashdump_demo.SELF_COUNT      # wrapped
    assert [bytes.fromhex(r["hex"]) for r in by_name["self"]["records"]] == self_writes[-crashdump_demo.SELF_COUNT:]
    orphan = scenario_writes(scenario, handle="app1")
    assert [bytes.fromhex(r["hex"]) for r in by_name["orphaned"]["records"]] == orphan
    assert by_name["orphaned"]["orphaned"] is True and by_name["live"]["orphaned"] is False
    live = scenario_writes(scenario, handle="app2")
    # 11 writes into 4 entries keep the last 4; the reader consumed the oldest of them
    assert [bytes.fromhex(r["hex"]) for r in by_name["live"]["records"]] == live[-crashdump_demo.LIVE_ENTRIES + 1:]
    for source in expected["sources"]:
        assert [r["index"] for r in source["records"]] == list(range(len(source["records"])))
    # the dump bytes decode (by hand, §2.11) to the same records, zero slots after them
    dump = check_blobs(out, expected)
    for source in expected["sources"]:
        guid = uuid.UUID(source["guid"])
        records = decode(dump.read_tagged(guid), guid, source["entry_size"])
        live_count = len(source["records"])
        assert [r.hex() for r in records[:live_count]] == [r["hex"] for r in source["records"]]
        assert all(r == bytes(source["entry_size"]) for r in records[live_count:])
        assert len(records) == source["capacity"]
    # additional data: the client's bytes, untouched
    additional = bytes.fromhex(scenario["crashdump"]["additional_data_hex"])
    assert dump.read_tagged(crashdump_demo.ADDITIONAL_GUID) == additional
    assert [b["guid"] for b in expected["blobs"]] == [str(g) for g in (
        crashdump_demo.SELF_GUID, crashdump_demo.ADDITIONAL_GUID, crashdump_demo.ORPHAN_GUID, crashdump_demo.LIVE_GUID)]


def dmf_object(dump, handle):
    """The DMF_OBJECT of a DMFMODULE handle: scan forward from the FxObject for Signature and the
    MemoryDmfObject back-pointer (spec/dmf.md §4.2), without knowing sizeof(FxMemoryBuffer)."""
    layout = dmf_structures.dmf_object("x64", "1.1.154")
    fx = wdf.object_from_handle(handle, "x64")
    for off in range(0, 0x200, 8):
        fields = layout.unpack_from(dump.read(fx + off, layout.size))
        if fields["Signature"] == dmf_structures.DMF_OBJECT_SIGNATURE and fields["MemoryDmfObject"] == handle:
            return fields
    raise AssertionError("no DMF_OBJECT behind handle 0x%x" % handle)


def test_demo_dump_walk_from_the_global_to_the_data_sources(tmp_path):
    out, expected = run_demo(tmp_path)
    dump = DumpFile(os.path.join(out, "MEMORY.DMP"))
    symbols = IsfSymbols.load(os.path.join(out, "driver.isf.json"))
    handle = int.from_bytes(dump.read(symbols.address_of("g_DmfModuleCrashDump"), 8), "little")
    obj = dmf_object(dump, handle)
    assert dump.read(obj["ModuleName"], 10) == b"CrashDump\0"
    info = symbols.address_of("_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO")
    tinfo = windows.wdf_object_context_type_info("x64").unpack_from(dump.read(info, 40))
    label = dmf_structures.crashdump_context_version("x64", tinfo["ContextSize"])
    assert label == "V5" == expected["context_version"]
    ctx_layout = dmf_structures.crashdump_context("x64", label)
    ctx = ctx_layout.unpack_from(dump.read(obj["ModuleContext"], ctx_layout.size))
    assert ctx["DataSourceCount"] == 3
    ds_layout = dmf_structures.data_source("x64")
    slots = [ds_layout.unpack_from(dump.read(ctx["DataSource"] + i * ds_layout.size, ds_layout.size))
             for i in range(3)]
    assert [str(s["RingBufferGuid"]) for s in slots] == [s["guid"] for s in expected["sources"]]
    orphan = slots[[s["name"] for s in expected["sources"]].index("orphaned")]
    assert orphan["FileObject"][1] == (1 << 64) - 1
    # pre-crash ring state in the pages (Q-CD-9): the SELF ring is wrapped, r == w, P == N
    ring_obj = dmf_object(dump, slots[0]["DmfModuleDataSourceRingBuffer"])
    assert dump.read(ring_obj["ClientModuleInstanceName"], 21) == b"DataSourceRingBuffer\0"
    rb = dmf_structures.ring_buffer("x64").unpack_from(dump.read(ring_obj["ModuleContext"], 64))
    assert rb["ItemsPresentCount"] == rb["ItemsCount"] == crashdump_demo.SELF_COUNT
    assert rb["ReadPointer"] == rb["WritePointer"] != rb["Items"]


@pytest.mark.parametrize("arch,version,label", [("x86", "1.1.154", "V5"), ("x64", "1.1.84", "V1"),
                                                ("x86", "1.1.84", "V1"), ("x64", "1.1.120", "V4"),
                                                ("arm64", "1.1.154", "V5"), ("arm64", "1.1.84", "V1")])
def test_demo_other_architectures_and_versions(tmp_path, arch, version, label):
    out, expected = run_demo(tmp_path, "--arch", arch, "--dmf-version", version)
    assert (expected["arch"], expected["dmf_version"], expected["context_version"]) == (arch, version, label)
    dump = check_blobs(out, expected)
    assert dump.arch == arch and dump.pointer_size == (4 if arch == "x86" else 8)
    symbols = IsfSymbols.load(os.path.join(out, "driver.isf.json"))
    assert symbols.type_layout("DMF_CONTEXT_CrashDump").size == dmf_structures.crashdump_context(arch, label).size
    handle = int.from_bytes(dump.read(symbols.address_of("g_DmfModuleCrashDump"), dump.pointer_size), "little")
    assert handle == expected["crashdump_handle"] != 0
    if version == "1.1.84":
        assert expected["triage_ranges"] == []


@pytest.mark.parametrize("arch", ["x64", "arm64"])
def test_demo_triage_dump_carries_triage_ranges(tmp_path, arch):
    out, expected = run_demo(tmp_path, "--dump-type", "triage", "--arch", arch)
    dump = check_blobs(out, expected)
    assert (dump.dump_type, dump.arch) == (4, arch)
    assert expected["triage_ranges"]
    for item in expected["triage_ranges"]:
        data = dump.read(item["address"], item["size"])
        if "hex" in item:
            assert data.hex() == item["hex"]


def test_demo_maximum_allowed_truncates_blobs_and_expected_records(tmp_path):
    out, expected = run_demo(tmp_path, "--maximum-allowed", "100")
    check_blobs(out, expected)
    by_name = {s["name"]: s for s in expected["sources"]}
    assert by_name["self"]["truncated"] is True and len(by_name["self"]["records"]) == 1
    assert all(b["length"] <= 100 for b in expected["blobs"])


def test_demo_seed_changes_content_not_shape(tmp_path):
    _, first = run_demo(tmp_path / "a", "--seed", "1")
    _, second = run_demo(tmp_path / "b", "--seed", "2")
    assert [b["guid"] for b in first["blobs"]] == [b["guid"] for b in second["blobs"]]
    assert first["blobs"][0]["hex"] != second["blobs"][0]["hex"]


def test_demo_x86_bitmap_reads_back(tmp_path):
    out = str(tmp_path / "x")
    assert cli.main(["demo", "-o", out, "--arch", "x86", "--dump-type", "bitmap"]) == 0
    with open(os.path.join(out, "expected.json")) as handle:
        expected = json.load(handle)
    dump = DumpFile(os.path.join(out, "MEMORY.DMP"))
    assert dump.arch == "x86" and dump.dump_type == 5
    assert [(str(b.guid), dump.read_blob(b).hex()) for b in dump.tagged()] == \
        [(b["guid"], b["hex"]) for b in expected["blobs"]]
