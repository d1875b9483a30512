"""`dmfkd livedump` (dmfkd.dmf.livedump, dmfkd.commands.livedump) against emulated DMF live kernel dumps
(dmfemu.scenarios.live_dump_demo, spec/dmf.md §3, §4.5 entry point 5) and the real Windows triage dumps.

Expected rows come from the DataBufferSource callers' own log (`LiveKernelDump.calls`) run through the
spec's rules (dmfemu.scenarios.live_dump_demo.model_data_buffers: 256 entries, oldest dropped, Remove invalidates
every equal entry) and from what the IOCTL caller passed - never from the ring in emulated memory.
"""
import io
import json

import pytest

from dmfkd import cli
from dmfkd.errors import DmfkdError
from dmfkd.render import Output
from dmfkd.targets.dumpfile import DumpFile
from dmfkd.targets.isf import IsfSymbols

from dmfemu.isf import write_isf
from dmfemu.scenarios.live_dump_demo import LiveDumpRun, demo_live_dump, model_data_buffers
from dmfemu.target import EmulatorTarget

from helpers.paths import TRIAGE_DUMPS as TRIAGE
def title_of(text):
    """The title line of a table, wrapped to the width or not."""
    return " ".join(text.split("\nDMFCOLLECTION")[0].split())


from helpers.livedump_runs import build, category, contains_run, doc_of, model_triples, pairs, run_cli, run_pykd, triples  # noqa: F401


# -- emulator model vs emulated ring (the model is what the tests below trust) ---------------------------

def test_model_equals_the_emulated_ring_after_overflow_and_removes(tmp_path):
    run = LiveDumpRun()
    bufs = [run.add_client_buffer("b%d" % n, b"x" * (n % 5 + 1)) for n in range(270)]
    run.remove(*bufs[-1])
    run.remove(*bufs[100])
    entries, size = model_data_buffers(run.live_kernel_dump.calls)
    ring = [(e["Address"], e["Size"], bool(e["Valid"])) for e in run.live_kernel_dump.entries()]
    assert ring == [(e["address"], e["size"], e["valid"]) for e in entries]
    assert len(ring) == 256
    assert run.live_kernel_dump.ctx_read()["DmfDataSize"] == size


# -- live kernel dumps ----------------------------------------------------------------------------------

def test_triage_live_dump_header_collection_tree_and_blocks(tmp_path):
    run, expected, path, isf = build(tmp_path)
    doc = doc_of(["livedump", path])
    assert doc["dmf_present"] is True
    live = doc["live_dump"]
    assert (live["code"], live["parameters"]) == (expected["bugcheck"]["code"], expected["bugcheck"]["parameters"])
    assert live["code_name"] == "SOC_SUBSYSTEM_FAILURE_LIVEDUMP" and live["dump_type"] == 4
    assert doc["found_by"] == "bug-check parameter 2"
    assert doc["collection"]["handle"] == expected["collection"]
    assert doc["collection"]["address"] == expected["collection_address"]
    # the triage blocks DMF inserted (valid entries, then the client structures) appear in that order
    assert doc["source"] == "triage blocks"
    wanted = [(b["address"], b["size"]) for b in expected["triage_blocks"]]
    assert contains_run(pairs(doc), wanted)
    removed = [(e["address"], e["size"]) for e in expected["data_buffers"] if not e["valid"]]
    assert removed and not set(removed) & set(pairs(doc))
    labels = {(e["address"], e["size"]): e["what"] for e in expected["data_buffers"]}
    for row in doc["data_buffers"]:
        key = (row["address"], row["size"])
        if labels.get(key) and not labels[key].startswith("client"):
            assert category(row["what"]) == category(labels[key]), row
        assert row["readable"] == "yes"
    # the module tree from P2: the feature module and its children, the client's ring
    names = [m["instance"] for m in doc["modules"]]
    assert names == ["LiveKernelDump", "DataBufferSource", "LiveKernelDumpBufferQueue", "IoctlHandler",
                     "DmfDemoEvents"]
    lk = doc["livekerneldump"]
    assert lk["handle"] == expected["livekerneldump_handle"]
    assert lk["report_type"] == "DMFDEMO" and lk["dmf_data_size"] == expected["dmf_data_size"]
    assert doc["secondary_data"] == {"guid": expected["secondary"]["guid"], "size": len(bytes.fromhex(
        expected["secondary"]["hex"]))}


def test_triage_live_dump_attributes_when_the_writer_has_them(tmp_path):
    run, expected, path, isf = build(tmp_path)
    with DumpFile(path) as dump:
        attributes = dump.header.Attributes
    text = run_cli(["livedump", path])
    assert attributes & 0x10                       # DUMP_FILE_ATTRIBUTES.LiveDumpGeneratedDump (bit 4)
    assert "LiveDumpGeneratedDump" in title_of(text)
    assert "triage live minidump (type 4)" in title_of(text)


@pytest.mark.parametrize("arch,dump_type", [("x64", "bitmap-kernel"), ("x86", "full")])
def test_full_live_dump_rows_equal_the_client_log(tmp_path, arch, dump_type):
    run, expected, path, isf = build(tmp_path, arch=arch, dump_type=dump_type, duplicates=True, remove=(0, 1))
    doc = doc_of(["livedump", path])
    assert doc["source"] == "DataBufferSource"
    assert triples(doc) == model_triples(expected)
    # Q-LKD-2: the duplicate and the original went invalid together
    first = expected["client_buffers"][0]
    assert [v for a, s, v in triples(doc) if a == first["address"]] == [False, False]
    for row, want in zip(doc["data_buffers"], expected["data_buffers"]):
        if want["what"].startswith("client"):
            assert row["what"] == "client buffer"
        else:
            assert row["what"] == want["what"]
        assert row["readable"] == "yes"
    assert doc["livekerneldump"]["dmf_data_size"] == expected["dmf_data_size"]
    with DumpFile(path) as dump:
        assert dump.dump_type == (6 if dump_type == "bitmap-kernel" else 1)


def test_q_lkd_1_overflow_drops_the_oldest_framework_entries(tmp_path):
    run, expected, path, isf = build(tmp_path, dump_type="bitmap-kernel", extra_adds=260)
    doc = doc_of(["livedump", path])
    rows = triples(doc)
    assert len(rows) == 256 and rows == model_triples(expected)
    # the DMF_MODULE_COLLECTION entry was the first recorded and is gone
    assert (expected["collection_address"], 104) not in [(a, s) for a, s, _ in rows]
    assert doc["livekerneldump"]["ring"]["present"] == 256
    # DmfDataSize kept growing for the dropped entries
    assert doc["livekerneldump"]["dmf_data_size"] == expected["dmf_data_size"]
    assert expected["dmf_data_size"] > sum(s + 8 for _, s, v in rows if v)


def test_exclude_dmf_data_is_said_plainly(tmp_path):
    run, expected, path, isf = build(tmp_path, exclude=True, structures=2)
    assert expected["bugcheck"]["parameters"][1] == 0
    text = run_cli(["livedump", path])
    assert "P2 is 0" in text and "ExcludeDmfData" in text
    doc = doc_of(["livedump", path])
    assert doc["dmf_present"] is False and doc["excluded_dmf_data"] is True
    assert contains_run(pairs(doc), [(s["address"], s["size"]) for s in expected["client_structures"]])
    # no DMF structure is in it
    assert (expected["collection_address"], 104) not in pairs(doc)


def test_csv_and_jsonl_carry_the_rows(tmp_path):
    run, expected, path, isf = build(tmp_path, dump_type="bitmap-kernel")
    lines = run_cli(["livedump", path, "--format", "jsonl"]).splitlines()
    assert [(json.loads(l)["address"], json.loads(l)["size"], json.loads(l)["valid"]) for l in lines] == \
        model_triples(expected)
    csv_lines = run_cli(["livedump", path, "--format", "csv", "--no-check"]).splitlines()
    assert csv_lines[0] == "index,address,size,valid,what,readable,source,module,module_name"
    assert len(csv_lines) == 1 + len(expected["data_buffers"])


def test_unreadable_buffer_is_marked(tmp_path):
    run = LiveDumpRun()
    run.add(0xFFFFF00000DEAD00, 64)          # nothing mapped there
    path = str(tmp_path / "L.DMP")
    run.live_dump(path, dump_type="bitmap-kernel")
    doc = doc_of(["livedump", path])
    row = [r for r in doc["data_buffers"] if r["address"] == 0xFFFFF00000DEAD00]
    assert row and row[0]["readable"] == "no" and row[0]["what"] == "client buffer"


# -- live targets and crash dumps -----------------------------------------------------------------------

def test_live_emulator_explicit_handles(tmp_path):
    run, expected, path, isf = build(tmp_path, dump_type="bitmap-kernel")
    target = EmulatorTarget(run.machine)
    for handle in (expected["livekerneldump_handle"], expected["collection"], run.events.handle):
        doc = doc_of(["livedump", "0x%x" % handle], target=target)
        assert doc["live_dump"] is None
        assert triples(doc) == model_triples(expected), hex(handle)
    # nothing to start from without an argument or a CrashDump anchor: said, not a traceback
    text = run_cli(["livedump"], target=target)
    assert "no DMF live-dump data" in text or "no LiveKernelDump" in text


def test_not_a_module_is_one_line_error(tmp_path):
    run, expected, path, isf = build(tmp_path)
    with pytest.raises(DmfkdError) as err:
        run_cli(["livedump", path, "0x1234"])
    assert "neither a DMFMODULE nor a DMFCOLLECTION" in str(err.value)


def test_crash_dump_of_a_driver_with_livekerneldump_via_crashdump_anchor(tmp_path):
    run = LiveDumpRun(include_dmf_data_in_bugcheck_triage_dump=True)
    buf = run.add_client_buffer("state", b"DMFDEMO STATE BEFORE THE CRASH")
    assert run.driver.read_global_crashdump() == run.live_kernel_dump.crashdump.handle
    path = str(tmp_path / "MEMORY.DMP")
    run.live_kernel_dump.crashdump.kernel.bugcheck(0x1E, 0xC0000005, 0, 0, 0, dump_type="full", path=path)
    isf = str(tmp_path / "driver.isf.json")
    write_isf(isf, run.driver)
    doc = doc_of(["livedump", path, "--isf", isf])
    assert doc["found_by"].endswith("g_DmfModuleCrashDump -> ModuleCollection")
    assert triples(doc) == model_triples(run.expected())
    assert any("not a live dump code" in n for n in doc["notes"])
    assert doc["livekerneldump"]["crashdump_module"] == run.live_kernel_dump.crashdump.handle
    assert (buf[0], buf[1], True) in triples(doc)


# -- the pykd stand-in (WinDbg) gives the CLI's rows -------------------------------------------------------

@pytest.mark.parametrize("dump_type", ["bitmap-kernel", "triage"])
def test_pykd_standin_on_the_dump_equals_cli(tmp_path, dump_type):
    run, expected, path, isf = build(tmp_path, dump_type=dump_type)
    symbols = IsfSymbols.load(isf)
    cli_doc = doc_of(["livedump", path, "--isf", isf])
    with DumpFile(path) as dump:
        via = json.loads(run_pykd(["livedump", "--format", "json"], dump, symbols=symbols))
    assert via["data_buffers"] == cli_doc["data_buffers"]
    assert via["modules"] == cli_doc["modules"]
    assert via["live_dump"]["parameters"] == expected["bugcheck"]["parameters"]
    if dump_type == "bitmap-kernel":
        assert triples(via) == model_triples(expected)


def test_pykd_standin_live_machine_equals_the_client_log(tmp_path):
    run, expected, path, isf = build(tmp_path, dump_type="bitmap-kernel")
    symbols = IsfSymbols.load(isf)
    text = run_pykd(["livedump", "0x%x" % expected["collection"], "--format", "json"],
                    EmulatorTarget(run.machine), symbols=symbols)
    assert triples(json.loads(text)) == model_triples(expected)


# -- real Windows dumps: no DMF live-dump data, said plainly ------------------------------------------------

@pytest.mark.parametrize("path", TRIAGE, ids=["x64", "arm64"])
def test_real_windows_triage_dumps_have_no_dmf_live_dump_data(path):
    text = run_cli(["livedump", path, "--wide"])
    assert text.startswith("no DMF live-dump data in %s:" % path)
    assert len(text.splitlines()) == 1
    doc = doc_of(["livedump", path])
    assert doc["dmf_present"] is False and doc["data_buffers"] == []


def test_demo_live_dump_cli_writes_the_three_files(tmp_path):
    from dmfemu import cli

    assert cli.main(["livedump", "-o", str(tmp_path), "--dump-type", "bitmap-kernel"]) == 0
    expected = json.load(open(str(tmp_path / "expected.json")))
    doc = doc_of(["livedump", str(tmp_path / "LIVEDUMP.DMP")])
    assert triples(doc) == model_triples(expected)
    assert cli.main(["livedump", "-o", str(tmp_path / "x"), "--arch", "x86", "--dump-type", "triage"]) == 2
    assert demo_live_dump(str(tmp_path / "y"))["dump_type"] == "triage"


# -- DMF versions and context layouts (spec/dmf.md §3.2, §4.3) ----------------------------------------------

@pytest.mark.parametrize("arch,version,dump_type", [("x64", "1.1.84", "triage"), ("x64", "1.1.134", "bitmap-kernel"),
                                                    ("x86", "1.1.84", "full")])
def test_older_dmf_versions(tmp_path, arch, version, dump_type):
    run = LiveDumpRun(arch, version)
    run.add_client_buffer("state", b"OLD DMF CLIENT STATE")
    path = str(tmp_path / "L.DMP")
    report = run.live_dump(path, dump_type=dump_type)
    expected = run.expected(report)
    doc = doc_of(["livedump", path, "--dmf-version", version])
    v85 = tuple(int(x) for x in version.split(".")) >= (1, 1, 85)
    assert doc["livekerneldump"]["context_variant"] == ("v1.1.85+ RS3" if v85 else "<=v1.1.84 RS3")
    assert doc["livekerneldump"]["report_type"] == "DMFDEMO"
    if dump_type == "triage":
        assert contains_run(pairs(doc), [(b["address"], b["size"]) for b in expected["triage_blocks"]])
    else:
        assert triples(doc) == model_triples(expected)
    # every framework entry is explained, children included: the pre-1.1.135 child lists need symbols,
    # so recorded DMF_OBJECTs are recognised by their Signature
    got = {(r["address"], r["size"]): r["what"] for r in doc["data_buffers"]}
    for e in expected["data_buffers"]:
        if e["valid"] and not e["what"].startswith("client"):
            assert category(got[(e["address"], e["size"])]) == category(e["what"]), e


@pytest.mark.parametrize("arch,context,config,label", [
    ("x64", 56, 72, "v1.1.85+ RS3"), ("x64", 40, 64, "<=v1.1.84 RS3"), ("x64", 32, 72, "v1.1.85+ without RS3"),
    ("x64", 24, 64, "<=v1.1.84 without RS3"), ("x86", 32, 64, "v1.1.85+ RS3"),
    # x86 20 bytes is both <=1.1.84 with RS3 and 1.1.85+ without: the config size decides
    ("x86", 20, 60, "<=v1.1.84 RS3"), ("x86", 20, 64, "v1.1.85+ without RS3")])
def test_context_variant_by_size(arch, context, config, label):
    from dmfkd.dmf.livedump import choose_context_variant

    variant = choose_context_variant(arch, context, config)
    assert variant.label == label and variant.layout.size == context


def test_unknown_context_size_is_a_layout_error():
    from dmfkd.dmf.livedump import choose_context_variant
    from dmfkd.errors import LayoutError

    with pytest.raises(LayoutError):
        choose_context_variant("x64", 200, 72)


def test_dml_links_inside_windbg(tmp_path):
    run, expected, path, isf = build(tmp_path, dump_type="bitmap-kernel")
    buf = io.StringIO()
    assert cli.run(["livedump", path], output=Output(buf, dml=True)) == 0
    text = buf.getvalue()
    assert '<link cmd="!py -g -m dmfkd modules 0x%x">module tree</link>' % expected["collection"] in text
    assert '<link cmd="!py -g -m dmfkd ringbuffer 0x%x">' % expected["data_buffer_source_handle"] in text
    assert '<link cmd="!py -g -m dmfkd ringbuffer 0x%x">DMF_OBJECT RingBuffer/DmfDemoEvents</link>' % \
        run.events.handle in text


def test_recorded_blocks_view_gives_short_reads_only_at_block_ends(tmp_path):
    from dmfkd.dmf.livedump import RecordedBlocks
    from dmfkd.errors import MemoryReadError

    run, expected, path, isf = build(tmp_path)
    with DumpFile(path) as dump:
        block = expected["triage_blocks"][-1]
        view = RecordedBlocks(dump, [(block["address"], block["size"])])
        assert view.read(block["address"], block["size"] + 100) == dump.read(block["address"], block["size"])
        with pytest.raises(MemoryReadError):
            view.read(block["address"] - 0x10000000, 8)
        assert view.tagged() == dump.tagged() and view.bugcheck() == dump.bugcheck()


def test_bugcheck_triage_dump_with_include_dmf_data_spec_3_7(tmp_path):
    """A crash triage dump of a driver whose LiveKernelDump has IncludeDmfDataInBugCheckTriageDump: no
    global and no WDF object is in it, the module tree is found from the recorded DMF_OBJECTs."""
    run = LiveDumpRun(include_dmf_data_in_bugcheck_triage_dump=True)
    a = run.add_client_buffer("state", b"DMFDEMO STATE BEFORE THE CRASH")
    b = run.add_client_buffer("gone", b"REMOVED BEFORE THE CRASH")
    run.remove(*b)
    path = str(tmp_path / "MEMORY.DMP")
    run.live_kernel_dump.crashdump.kernel.bugcheck(0x1E, 0xC0000005, 0, 0, 0, dump_type="triage", path=path)
    write_isf(str(tmp_path / "driver.isf.json"), run.driver)
    doc = doc_of(["livedump", path])
    model, _ = model_data_buffers(run.live_kernel_dump.calls)
    valid = [(e["address"], e["size"]) for e in model if e["valid"]]
    assert doc["found_by"].startswith("a DMF_OBJECT among the triage data blocks")
    assert doc["source"] == "triage blocks" and contains_run(pairs(doc), valid)
    assert b not in pairs(doc) and a in pairs(doc)
    assert doc["livekerneldump"]["telemetry_data_size"] == sum(s for _, s in valid)
    assert doc["livekerneldump"]["include_dmf_data_in_bugcheck_triage_dump"] is True
    text = run_cli(["livedump", path])
    assert text.startswith("DMF LiveKernelDump in the crash dump") and "added every valid entry" in " ".join(text.split())


@pytest.mark.parametrize("dump_type", ["triage", "bitmap-kernel"])
def test_hostile_bytes_never_give_a_traceback(tmp_path, dump_type):
    """Random bytes written over the recorded DMF structures (collection, DMF_OBJECTs, contexts, the
    DATA_BUFFER ring): livedump either reports or fails with one DmfkdError line."""
    import random

    run, expected, path, isf = build(tmp_path, dump_type=dump_type)
    with DumpFile(path) as dump:
        targets = []
        for e in expected["data_buffers"][:18]:
            try:
                targets.append(dump_offset(dump, e["address"]))
            except LookupError:
                pass
    raw = open(path, "rb").read()
    rng = random.Random(5)
    for n in range(40):
        data = bytearray(raw)
        for _ in range(rng.randrange(1, 24)):
            base = rng.choice(targets)
            off = base + rng.randrange(0, 64)
            data[off:off + 8] = rng.choice([bytes(8), b"\xff" * 8, rng.randbytes(8) if hasattr(rng, "randbytes")
                                            else bytes(rng.randrange(256) for _ in range(8))])
        bad = str(tmp_path / ("bad%d.dmp" % n))
        with open(bad, "wb") as f:
            f.write(bytes(data))
        try:
            run_cli(["livedump", bad, "--format", "json"])
        except DmfkdError:
            pass


def dump_offset(dump, va):
    """File offset of a VA in a dmfkd DumpFile (triage map or page index)."""
    if dump.triage is not None:
        for start, end, offset in dump.triage_regions():
            if start <= va < end:
                return offset + (va - start)
        raise LookupError(va)
    pa = dump.translate(va)
    offset = dump.page_offset(pa >> 12)
    if offset is None:
        raise LookupError(va)
    return offset + (pa & 0xFFF)


def test_hex_of_one_recorded_buffer(tmp_path):
    run, expected, path, isf = build(tmp_path)
    doc = doc_of(["livedump", path])
    want = expected["client_buffers"][0]
    index = next(r["index"] for r in doc["data_buffers"] if r["address"] == want["address"])
    shown = doc_of(["livedump", path, "--hex", str(index)])
    assert bytes.fromhex(shown["hex"]) == b"DMFDEMO CLIENT BUFFER 00 " + bytes(range(20))
    assert "DMFDEMO CLIENT B" in run_cli(["livedump", path, "--hex", str(index)])
    with pytest.raises(DmfkdError):
        run_cli(["livedump", path, "--hex", "999"])


def test_crash_dump_without_livekerneldump_says_so(tmp_path):
    from dmfemu.scenarios.crashdump_demo import demo_scenario
    from dmfemu.scenarios.crashdump_replay import run_scenario

    run_scenario(demo_scenario(), str(tmp_path))
    text = " ".join(run_cli(["livedump", str(tmp_path / "MEMORY.DMP")]).split())
    assert text.startswith("no DMF live-dump data in") and "has no LiveKernelDump module (modules: CrashDump" in text
    assert doc_of(["livedump", str(tmp_path / "MEMORY.DMP")])["dmf_present"] is False


def test_dmf_data_size_cross_check(tmp_path):
    run, expected, path, isf = build(tmp_path, dump_type="bitmap-kernel")
    doc = doc_of(["livedump", path])
    assert not [w for w in doc["warnings"] if "DmfDataSize" in w]
    # the context's DmfDataSize changed in the file: the sum of the valid entries no longer matches
    with DumpFile(path) as dump:
        offset = dump_offset(dump, run.live_kernel_dump.ctx + run.live_kernel_dump.ctx_layout.offsets["DmfDataSize"])
    data = bytearray(open(path, "rb").read())
    data[offset:offset + 4] = (expected["dmf_data_size"] + 1).to_bytes(4, "little")
    bad = str(tmp_path / "bad.dmp")
    open(bad, "wb").write(bytes(data))
    doc = doc_of(["livedump", bad])
    assert any(w.startswith("DmfDataSize %d != sum(Size + 8)" % (expected["dmf_data_size"] + 1)) for w in doc["warnings"])
    # after an overflow, DmfDataSize is larger by the dropped entries (Q-LKD-1): a note, not a warning
    (tmp_path / "o").mkdir()
    run, expected, path, isf = build(tmp_path / "o", dump_type="bitmap-kernel", extra_adds=260)
    doc = doc_of(["livedump", path])
    assert not [w for w in doc["warnings"] if "DmfDataSize" in w]
    assert any("the full buffer list dropped" in n for n in doc["notes"])


def test_partially_readable_buffer(tmp_path):
    from dmfemu.driver import IMAGE_SIZE

    run = LiveDumpRun()
    end = run.driver.base + IMAGE_SIZE
    with pytest.raises(Exception):
        run.machine.space.read(end, 1)      # nothing mapped right after the driver image
    run.add(end - 8, 64)
    path = str(tmp_path / "P.DMP")
    run.live_dump(path, dump_type="bitmap-kernel")
    rows = [r for r in doc_of(["livedump", path])["data_buffers"] if r["address"] == end - 8]
    assert rows and rows[0]["readable"] == "partial"
