"""dmfkd crashdump / datasources / ringbuffer / modules / bugcheck end to end: the real Windows triage
dumps (no DMF data), the emulator's demo dump, options, DML links, corrupt memory, and the same command
three ways (CLI on the dump, stand-in pykd on the dump, stand-in pykd on the live machine before the crash)."""
import csv
import io
import json
import os
import struct

import pytest

from helpers.paths import TRIAGE_ARM64, TRIAGE_X64
from dmfkd.cli import run
from dmfkd.render import Output
from dmfkd.targets.dumpfile import DumpFile
from dmfkd.targets.isf import IsfSymbols
from dmfemu.scenarios.crashdump_demo import demo_scenario
from dmfemu.isf import build_isf
from dmfemu.scenarios.crashdump_replay import ScenarioRun, run_scenario
from dmfemu.target import EmulatorTarget

# the demo driver's DMFDEMO_EVENT: u64 Timestamp, u32 Sequence, u16 EventId, u16 Level, char Message[48]
DMFDEMO_EVENT_FORMAT = struct.Struct("<QIHH48s")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("demo"))
    expected = run_scenario(demo_scenario(), out)
    return os.path.join(out, "MEMORY.DMP"), expected




# -- real Windows dumps: no DMF data, said in one line -----------------------------------------------

@pytest.mark.parametrize("path,blobs", [(TRIAGE_X64, 20), (TRIAGE_ARM64, 42)])
def test_real_triage_dumps_have_no_dmf_data(path, blobs, cli, cli_json):
    out = cli("crashdump", path, "--wide")
    lines = out.out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("no DMF data present in ")
    assert "%d secondary-data blob(s)" % blobs in lines[0] and out.err == ""
    # at the default width the same message wraps, every line within 120 columns
    fitted = cli("crashdump", path).out
    assert " ".join(fitted.split()) == lines[0] and max(len(l) for l in fitted.splitlines()) <= 120
    doc = cli_json("crashdump", path)
    assert doc["dmf_present"] is False and doc["blobs"] == blobs
    assert cli("datasources", path).out.startswith("no DMF CrashDump in ")


def test_real_triage_bugcheck(cli_json):
    doc = cli_json("bugcheck", TRIAGE_X64)
    assert doc["code"] == 0x1000007E and doc["dmf_private"] is False and len(doc["parameters"]) == 4
    assert doc["name"] == "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M"


def test_real_triage_guid_not_found(cli):
    out = cli("crashdump", TRIAGE_X64, "--guid", "11111111-2222-3333-4444-555555555555", code=2)
    assert out.err.startswith("dmfkd: ") and len(out.err.strip().splitlines()) == 1


# -- the JSON contract and the summary ---------------------------------------------------------------

def test_guid_json_contract(demo, cli_json):
    dump, expected = demo
    for source in expected["sources"]:
        doc = cli_json("crashdump", dump, "--guid", source["guid"].upper(), "--entry-size",
                       str(source["entry_size"]))
        for key in ("guid", "entry_size", "capacity", "present", "present_known", "truncated", "records"):
            assert key in doc
        assert doc["guid"] == source["guid"]
        assert doc["records"] == source["records"]
        assert all(set(r) == {"index", "hex"} for r in doc["records"])


def test_summary_rows_and_links(demo, cli, cli_json):
    dump, expected = demo
    buf = io.StringIO()
    run(["crashdump", dump], Output(buf, dml=True))
    text = buf.getvalue()
    for source in expected["sources"]:
        assert '<link cmd="!py -g -m dmfkd crashdump --guid %s">' % source["guid"] in text
    assert '<link cmd="!py -g -m dmfkd datasources">' in text
    assert '<link cmd="!py -g -m dmfkd modules 0x%x">' % expected["crashdump_handle"] in text
    plain = cli("crashdump", dump).out
    assert "<link" not in plain and "orphan" in plain
    doc = cli_json("crashdump", dump)
    assert doc["dmf_present"] and [d["index"] for d in doc["data_sources"]] == [0, 1, 2]
    assert {b["kind"] for b in doc["blobs"]} == {"ring", "additional"}
    rows = json.loads(cli("crashdump", dump, "--format", "jsonl").out.splitlines()[0])
    assert rows["index"] == 0 and rows["role"] == "SELF" and rows["state"] == "active"


def test_last_and_grep(demo, cli, cli_json):
    dump, expected = demo
    self_source = expected["sources"][0]
    doc = cli_json("crashdump", dump, "--guid", self_source["guid"], "--last", "3")
    assert doc["records"] == self_source["records"][-3:]
    doc = cli_json("crashdump", dump, "--guid", self_source["guid"], "--grep", "EVENT 30 seed")
    assert [r["index"] for r in doc["records"]] == [i for i, r in enumerate(self_source["records"])
                                                    if b"event 30 seed" in bytes.fromhex(r["hex"])]
    assert len(doc["records"]) == 1
    table = cli("crashdump", dump, "--guid", self_source["guid"], "--last", "1").out
    assert "dmfdemo event" in table  # the ASCII column


def test_type_decodes_fields(demo, cli_json):
    dump, expected = demo
    self_source = expected["sources"][0]
    doc = cli_json("crashdump", dump, "--guid", self_source["guid"], "--type", "dmfdemo!DMFDEMO_EVENT")
    assert doc["decoder"] == "dmfdemo!DMFDEMO_EVENT"
    for rec, want in zip(doc["records"], self_source["records"]):
        ts, seq, event, level, message = DMFDEMO_EVENT_FORMAT.unpack(bytes.fromhex(want["hex"]))
        assert (rec["Timestamp"], rec["Sequence"], rec["EventId"], rec["Level"]) == (ts, seq, event, level)
        assert rec["hex"] == want["hex"]
        assert message.rstrip(b"\0").decode() in str(rec["Message"])


def test_schema_decodes_fields(demo, tmp_path, cli, cli_json):
    dump, expected = demo
    schema = tmp_path / "myschema.py"
    schema.write_text("from construct import Struct, Int64ul, Int32ul, Int16ul, PaddedString\n"
                      "EVENT = Struct('ts' / Int64ul, 'seq' / Int32ul, 'id' / Int16ul, 'level' / Int16ul,\n"
                      "               'text' / PaddedString(48, 'ascii'))\n")
    self_source = expected["sources"][0]
    doc = cli_json("crashdump", dump, "--guid", self_source["guid"], "--schema", "%s:EVENT" % schema)
    for rec, want in zip(doc["records"], self_source["records"]):
        ts, seq, _, _, message = DMFDEMO_EVENT_FORMAT.unpack(bytes.fromhex(want["hex"]))
        assert rec["ts"] == ts and rec["seq"] == seq and rec["text"] == message.rstrip(b"\0").decode()
    bad = cli("crashdump", dump, "--guid", self_source["guid"], "--schema", "%s:NOPE" % schema, code=2)
    assert "NOPE" in bad.err


def test_out_formats_and_refusal(demo, tmp_path, cli):
    dump, expected = demo
    source = expected["sources"][2]
    g = source["guid"]
    for ext in ("json", "jsonl", "csv", "bin"):
        path = str(tmp_path / ("out." + ext))
        cli("crashdump", dump, "--guid", g, "--out", path)
        data = open(path, "rb").read()
        if ext == "json":
            assert json.loads(data)["records"] == source["records"]
        elif ext == "jsonl":
            assert [json.loads(line) for line in data.decode().splitlines()] == source["records"]
        elif ext == "csv":
            rows = list(csv.DictReader(io.StringIO(data.decode())))
            assert [r["hex"] for r in rows] == [r["hex"] for r in source["records"]]
        else:
            assert data == b"".join(bytes.fromhex(r["hex"]) for r in source["records"])
    size = os.path.getsize(dump)
    out = cli("crashdump", dump, "--guid", g, "--out", dump + ".json", code=0)
    link = str(tmp_path / "alias.bin")
    os.symlink(dump, link)
    out = cli("crashdump", dump, "--guid", g, "--raw", "--out", link, code=2)
    assert "refusing to overwrite" in out.err and os.path.getsize(dump) == size
    out = cli("crashdump", dump, "--guid", g, "--out", str(tmp_path / "x.txt"), code=2)
    assert "--out" in out.err


def test_raw_is_the_blob(demo, tmp_path, cli, cli_json):
    dump, expected = demo
    blob = [b for b in expected["blobs"] if b["guid"] == expected["sources"][0]["guid"]][0]
    doc = cli_json("crashdump", dump, "--guid", blob["guid"], "--raw")
    assert doc["hex"] == blob["hex"]
    path = str(tmp_path / "raw.bin")
    cli("crashdump", dump, "--guid", blob["guid"], "--raw", "--out", path)
    assert open(path, "rb").read().hex() == blob["hex"]


def test_all_and_merge(demo, cli, cli_json):
    dump, expected = demo
    doc = cli_json("crashdump", dump, "--all")
    assert [s["guid"] for s in doc["sources"]] == [s["guid"] for s in expected["sources"]]
    for got, want in zip(doc["sources"], expected["sources"]):
        assert got["records"] == want["records"]
    merged = cli_json("crashdump", dump, "--merge-by", "index")
    keys = [(r["index"], r["guid"]) for r in merged["records"]]
    assert [k[0] for k in keys] == sorted(k[0] for k in keys)
    assert len(keys) == sum(len(s["records"]) for s in expected["sources"])
    order = [s["guid"] for s in expected["sources"]]
    firsts = [g for i, g in keys if i == 0]
    assert firsts == order  # ties keep source order
    assert merged["records"] and not any("no record has" in w for w in merged.get("warnings", []))
    out = cli("crashdump", dump, "--merge-by", "Timestamp")
    assert "no record has a field 'Timestamp'" in out.out
    # one 64-byte type over sources of 32 and 48 bytes would decode garbage: refused, naming both sizes
    refused = cli("crashdump", dump, "--merge-by", "Timestamp", "--type", "dmfdemo!DMFDEMO_EVENT", code=2)
    assert "is 64 bytes, the records of %s are 32: refused" % order[1] in refused.err
    assert len(refused.err.strip().splitlines()) == 1
    # the type for the SELF source only (a unique prefix names it); the others stay undecoded
    typed = cli_json("crashdump", dump, "--merge-by", "Timestamp", "--type", order[0][:8] + "=dmfdemo!DMFDEMO_EVENT")
    stamps = [r["Timestamp"] for r in typed["records"] if r["guid"] == order[0]]
    assert stamps == sorted(stamps) and len(stamps) == len(expected["sources"][0]["records"])
    assert all("Timestamp" not in r for r in typed["records"] if r["guid"] != order[0])
    decoded_anyway = cli_json("crashdump", dump, "--merge-by", "Timestamp", "--type", "dmfdemo!DMFDEMO_EVENT",
                              "--type-size-mismatch", "decode")
    assert sum("decoded anyway" in w for w in decoded_anyway["warnings"]) == 2


def test_usage_errors(demo, cli):
    dump, _ = demo
    for args in (["--guid", "nope"], ["--raw"], ["--all", "--guid", "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70"],
                 ["--entry-size", "0", "--guid", "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70"], ["--out", "x.json"]):
        out = cli("crashdump", dump, *args, code=2)
        assert out.err.startswith("dmfkd: ") and len(out.err.strip().splitlines()) == 1


# -- other commands --------------------------------------------------------------------------------

def test_datasources_modules_bugcheck(demo, cli_json):
    dump, expected = demo
    rows = cli_json("datasources", dump)
    assert [r["guid"] for r in rows] == [s["guid"] for s in expected["sources"]]
    assert rows[1]["writer"] == "orphan" and rows[2]["reader"] == "handle" and rows[2]["reader_handle"] > 0
    mods = cli_json("modules", dump)
    names = [(m["module"], m["instance"]) for m in mods["modules"]]
    assert names[0] == ("CrashDump", "CrashDump")
    # its data-source rings (through DATA_SOURCE) and its child IoctlHandler (ChildObjectList)
    assert sorted(names[1:]) == [("IoctlHandler", "IoctlHandler")] + [("RingBuffer", "DataSourceRingBuffer")] * 3
    assert [m["depth"] for m in mods["modules"]] == [0, 1, 1, 1, 1]
    assert all(m["state"] == "Opened" for m in mods["modules"] if m["module"] in ("CrashDump", "RingBuffer"))
    assert all(m["detail"].startswith("N=") for m in mods["modules"] if m["module"] == "RingBuffer")
    bc = cli_json("bugcheck", dump)
    assert bc["code"] == 0xDEADDEAD and bc["dmf_private"]
    assert bc["parameters"][0] == expected["crashdump_handle"]
    assert any("confirmed" in n for n in bc["notes"]) and any("g_DmfModuleCrashDump" in n for n in bc["notes"])


def test_ringbuffer_command(demo, cli, cli_json):
    dump, expected = demo
    ds = cli_json("datasources", dump)
    self_row = ds[0]
    by_handle = cli_json("ringbuffer", dump, "0x%x" % self_row["ring_handle"])
    # memory holds the pre-crash ring (spec/dmf.md Q-CD-9): same records as the blob, oldest first
    assert by_handle["records"] == expected["sources"][0]["records"]
    assert by_handle["present_known"] and by_handle["ring"]["read_index"] == self_row["read_index"]
    mods = cli_json("modules", dump)
    context = [m["context"] for m in mods["modules"] if m["handle"] == self_row["ring_handle"]][0]
    by_address = cli_json("ringbuffer", dump, "%x" % context)
    assert by_address["records"] == by_handle["records"]
    out = cli("ringbuffer", dump, "dmfdemo!g_DmfModuleCrashDump", code=2)
    assert "not RingBuffer" in out.err
    out = cli("ringbuffer", dump, "0x1234", code=2)
    assert out.err.startswith("dmfkd: ")
    out = cli("ringbuffer", dump, "zz", code=2)
    assert "not an address" in out.err


# -- corrupt memory: warnings and partial records, never a traceback ---------------------------------

def corrupt_dump(tmp_path, mutate):
    """The demo dump with bytes of its memory image patched in the file (the crash itself ran on
    sane memory): mutate(patch, walk) calls patch(va, bytes)."""
    out = str(tmp_path)
    run_scenario(demo_scenario(), out)
    path = os.path.join(out, "MEMORY.DMP")
    target = DumpFile(path)
    target.symbols = IsfSymbols.load(os.path.join(out, "driver.isf.json"))
    from dmfkd.dmf.crashdump import walk_crashdump

    walk = walk_crashdump(target)
    patches = []

    def patch(va, data):
        for i in range(len(data)):
            pa = target.translate(va + i)
            patches.append((target.page_offset(pa >> 12) + (pa & 0xFFF), data[i:i + 1]))

    mutate(patch, walk)
    target.close()
    with open(path, "r+b") as f:
        for offset, byte in patches:
            f.seek(offset)
            f.write(byte)
    return path


def test_corrupt_ring_context(tmp_path, cli, cli_json):
    from dmfkd.layouts import dmf_structures

    def mutate(patch, walk):
        ring = walk.rings[1]
        layout = dmf_structures.ring_buffer("x64")
        # P > N and a ReadPointer off any slot boundary
        patch(ring.context_address + layout.offsets["ItemsPresentCount"], struct.pack("<I", 99))
        patch(ring.context_address + layout.offsets["ReadPointer"], struct.pack("<Q", 0x1234))

    dump = corrupt_dump(tmp_path, mutate)
    summary = cli_json("crashdump", dump)
    assert summary["data_sources"][1]["present"] == 99
    g = summary["data_sources"][1]["guid"]
    doc = cli_json("crashdump", dump, "--guid", g)
    assert doc["records"] and any("misconfigured" in w for w in doc["warnings"])
    rb = cli_json("ringbuffer", dump, "0x%x" % summary["data_sources"][1]["ring_handle"])
    assert any("ReadPointer" in w for w in rb["warnings"]) and any("misconfigured" in w for w in rb["warnings"])
    assert rb["records"]  # storage order, flagged
    assert "WARNING" in cli("crashdump", dump, "--guid", g).out


def test_corrupt_data_source_array(tmp_path, cli, cli_json):
    from dmfkd.layouts import dmf_structures

    def mutate(patch, walk):
        array = dmf_structures.crashdump_context("x64", "V5").unpack_from(
            walk.target.read(walk.info.context_address, 168))["DataSource"]
        ds = dmf_structures.data_source("x64")
        # slot 2's ring handle points at nothing; slot 1's key no longer matches its GUID
        patch(array + 2 * ds.size + ds.offsets["DmfModuleDataSourceRingBuffer"], struct.pack("<Q", 0x00001fff00000008))
        patch(array + ds.size + ds.offsets["RingBufferEncryptionKey"], b"X" * 8)

    dump = corrupt_dump(tmp_path, mutate)
    doc = cli_json("crashdump", dump)
    rows = doc["data_sources"]
    assert rows[2]["capacity"] == "unreadable" and rows[2]["ring_object"] == "unreadable"
    assert any("encryption key" in w for w in rows[1]["warnings"])
    assert "unreadable" in cli("datasources", dump).out
    # the blob of slot 2 still decodes with the size the user gives
    out = cli("crashdump", dump, "--guid", rows[2]["guid"], "--entry-size", "48")
    assert "record(s) of 48 bytes" in out.out


def test_null_global(tmp_path, cli_json):
    def mutate(patch, walk):
        patch(walk.target.symbols.address_of("g_DmfModuleCrashDump"), bytes(8))

    dump = corrupt_dump(tmp_path, mutate)
    doc = cli_json("crashdump", dump)
    assert any("is NULL" in n for n in doc["notes"]) and doc["data_sources"] == []
    # blobs are still there and recognised by the key signature
    assert "ring?" in {b["kind"] for b in doc["blobs"]}


def test_corrupt_dmf_object_signature(tmp_path, cli_json):
    def mutate(patch, walk):
        obj = walk.info.object_address
        patch(obj + 112, b"\0" * 8)  # Signature

    dump = corrupt_dump(tmp_path, mutate)
    doc = cli_json("crashdump", dump)
    assert doc["crashdump"]["object"] == "unreadable"
    assert any("no DMF_OBJECT" in w for w in doc["warnings"])


# -- three ways ------------------------------------------------------------------------------------

def run_json(argv, target):
    buf = io.StringIO()
    run(argv + ["--format", "json"], Output(buf), target=target)
    return json.loads(buf.getvalue())


def strip_source(doc):
    """What differs by host: where the records came from, and the crash time a live target has not got."""
    out = {k: v for k, v in doc.items() if k not in ("source", "length", "notes", "warnings", "lost", "truncated")}
    if "records" in out:
        out["records"] = without_crash_time(out["records"])
    return out


def without_crash_time(records):
    return [{k: v for k, v in r.items() if k != "before_crash_s"} for r in records]


def test_three_ways_identical(tmp_path, pykd_standin):
    from dmfkd.targets.pykd import PykdTarget

    scenario = demo_scenario()
    live = ScenarioRun(scenario)
    for op in scenario["operations"]:
        live.run(op)
    live_symbols = IsfSymbols(build_isf(live.driver), source="live")
    out = str(tmp_path)
    expected = run_scenario(scenario, out)
    dump_path = os.path.join(out, "MEMORY.DMP")
    isf = IsfSymbols.load(os.path.join(out, "driver.isf.json"))

    direct = DumpFile(dump_path)
    direct.symbols = isf
    pykd_standin.attach(DumpFile(dump_path), isf)
    post_mortem = PykdTarget()
    assert not post_mortem.is_live
    views = {"cli": direct, "pykd-dump": post_mortem}
    results = {name: {} for name in list(views) + ["pykd-live"]}
    self_guid = expected["sources"][0]["guid"]
    commands = [["crashdump", "--guid", s["guid"]] for s in expected["sources"]] + [
        ["crashdump", "--guid", self_guid, "--type", "dmfdemo!DMFDEMO_EVENT", "--last", "4"],
        ["crashdump", "--all"], ["datasources"], ["modules"]]
    ring_handle = run_json(["datasources"], direct)[0]["ring_handle"]
    commands.append(["ringbuffer", "0x%x" % ring_handle, "--type", "dmfdemo!DMFDEMO_EVENT"])
    for name, target in views.items():
        for argv in commands:
            results[name][" ".join(argv)] = run_json(argv, target)
    pykd_standin.attach(EmulatorTarget(live.machine), live_symbols)
    live_target = PykdTarget()
    assert live_target.is_live
    for argv in commands:
        results["pykd-live"][" ".join(argv)] = run_json(argv, live_target)
    for argv in commands:
        key = " ".join(argv)
        a, b, c = (results[n][key] for n in ("cli", "pykd-dump", "pykd-live"))
        if argv[:2] == ["crashdump", "--all"]:
            assert [x["records"] for x in a["sources"]] == [x["records"] for x in b["sources"]] == \
                [x["records"] for x in c["sources"]] == [x["records"] for x in expected["sources"]]
        elif argv[0] == "crashdump":
            assert a["records"] == b["records"] and without_crash_time(b["records"]) == c["records"]
            if "--type" not in argv:
                assert a["records"] == [s for s in expected["sources"] if s["guid"] == argv[2]][0]["records"]
            else:
                assert a["records"][-1]["Message"].startswith("dmfdemo event")
            assert strip_source(a) == strip_source(b) == strip_source(c)
        else:
            assert a == b == c, key


def test_modules_of_a_collection_and_live_bugcheck():
    from dmfemu.driver import Driver
    from dmfemu.machine import Machine

    m = Machine("x64")
    d = Driver(m)
    top = d.dmf.create_module("LiveKernelDump", b"", 0, state="Opened")
    d.dmf.create_module("RingBuffer", b"", 64, instance_name="DataBufferSource", parent=top, state="Opened")
    coll = d.dmf.create_collection([top])
    target = EmulatorTarget(m, symbols=None)
    doc = run_json(["modules", "0x%x" % coll.handle], target)
    assert doc["kind"] == "DMFCOLLECTION"
    assert [(x["depth"], x["module"], x["instance"]) for x in doc["modules"]] == [
        (0, "LiveKernelDump", "LiveKernelDump"), (1, "RingBuffer", "DataBufferSource")]
    assert doc["modules"][1]["detail"].startswith("N=0 S=0")
    assert run_json(["bugcheck"], target)["code"] is None
    # the driver image has g_DmfModuleCrashDump but never created the module: said, not guessed
    doc = run_json(["crashdump"], target)
    assert doc["data_sources"] == [] and any("is NULL" in n for n in doc["notes"])


def test_blob_and_memory_disagree(tmp_path, cli_json):
    def mutate(patch, walk):
        st = walk.rings[2].state
        patch(st.items + st.item_size * ((st.read_index + 1) % st.items_count), b"\xEE" * 4)

    dump = corrupt_dump(tmp_path, mutate)
    rows = cli_json("crashdump", dump)["data_sources"]
    doc = cli_json("crashdump", dump, "--guid", rows[2]["guid"])
    assert any("blob and memory disagree on record(s) 1" in w for w in doc["warnings"])


def test_driver_option(demo, cli, cli_json):
    dump, expected = demo
    out = cli("crashdump", dump, "--driver", "otherdrv", code=2)
    assert "otherdrv" in out.err and len(out.err.strip().splitlines()) == 1
    doc = cli_json("crashdump", dump, "--driver", "DMFDEMO")
    assert doc["crashdump"]["symbol"] == "DMFDEMO!g_DmfModuleCrashDump"
    buf = io.StringIO()
    run(["crashdump", dump, "--driver", "dmfdemo"], Output(buf, dml=True))
    assert "crashdump --guid %s --driver dmfdemo" % expected["sources"][0]["guid"] in buf.getvalue()


@pytest.mark.parametrize("extra", [[], ["--last", "3"], ["--grep", "dmfdemo event 3"]])
def test_jsonl_format_matches_the_json_records(demo, extra, cli, cli_json):
    """--format jsonl (the vectorised writer for contiguous ranges, row rendering otherwise) carries
    exactly the records of --format json."""
    path, expected = demo
    guid = expected["sources"][0]["guid"]
    doc = cli_json("crashdump", path, "--guid", guid, *extra)
    lines = cli("crashdump", path, "--guid", guid, "--format", "jsonl", *extra).out.splitlines()
    assert [json.loads(line) for line in lines] == [{k: r[k] for k in ("index", "hex")} for r in doc["records"]]
    assert len(lines) == len(doc["records"]) > 0


def test_all_records_out_bin_is_every_sources_records_in_order(demo, tmp_path, cli, cli_json):
    dump, expected = demo
    path = str(tmp_path / "all.bin")
    cli("crashdump", dump, "--all", "--out", path)
    rows = [r for source in cli_json("crashdump", dump, "--all")["sources"] for r in source["records"]]
    with open(path, "rb") as handle:
        assert handle.read() == b"".join(bytes.fromhex(r["hex"]) for r in rows)
    assert len(rows) == sum(len(s["records"]) for s in expected["sources"])
