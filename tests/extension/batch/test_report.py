"""`batch-report DIR`: tables a team reads about a week of crashes, from Parquet or JSON Lines, with a
chart when matplotlib is there and one line when it is not."""
import collections
import json
import os
import struct
import sys

import pytest

from helpers.batch_runs import demo_dumps

#: the SELF ring holds DMFDEMO_EVENTs; the user-mode sources hold records of other sizes
EVENT = "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70=dmfdemo!DMFDEMO_EVENT"


@pytest.fixture(scope="module")
def batch_dirs(tmp_path_factory):
    """Four demo dumps (two of them truncated by a small MaximumAllowed) and a corrupt one, batched with
    the demo's event type into Parquet and JSON Lines."""
    from dmfkd.cli import main

    folder = str(tmp_path_factory.mktemp("report-dumps"))
    dumps = demo_dumps(folder, [1, 2]) + demo_dumps(folder, [3, 4], maximum_allowed=512)
    corrupt = os.path.join(folder, "corrupt.dmp")
    with open(corrupt, "wb") as handle:
        handle.write(b"PAGEDU64" + bytes(100))
    outs = {}
    for fmt in ("parquet", "jsonl"):
        out = str(tmp_path_factory.mktemp("report-" + fmt) / "out")
        assert main(["batch", folder, "--out", out, "--format", fmt, "--type", EVENT, "--progress", "none",
                     "--jobs", "1"]) == 0
        outs[fmt] = out
    return dumps, outs


def _self_records(dump):
    """The SELF ring's last records, decoded here with struct (not with dmfkd): (EventId, Level) each, as the
    report names them: the enum constant the C declaration gives the value, and the value."""
    from dmfemu.driver import DMFDEMO_ENUMS

    from dmfkd.dmf.crashdump_view import read_crashdump
    from dmfkd.targets.dumpfile import DumpFile
    from dmfkd.targets.isf import IsfSymbols

    with DumpFile(dump) as target:
        target.symbols = IsfSymbols.load(os.path.join(os.path.dirname(dump), "driver.isf.json"))
        ring = read_crashdump(target).ring(__import__("uuid").UUID("5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70"))
        events = {value: name for name, value in DMFDEMO_ENUMS["DMFDEMO_EVENT_ID"].items()}
        levels = {value: name for name, value in DMFDEMO_ENUMS["DMFDEMO_LEVEL"].items()}
        records = [struct.unpack_from("<QIii", ring.record(i))[2:] for i in range(ring.count)]
        return [("%s (%d)" % (events[e], e), "%s (%d)" % (levels[lv], lv)) for e, lv in records]


def test_events_are_the_last_records_per_source_grouped_by_event_id_and_level(batch_dirs, cli_json):
    dumps, outs = batch_dirs
    expected = collections.Counter()
    for dump in dumps:
        expected.update(_self_records(dump)[-5:])
    document = cli_json("batch-report", outs["parquet"], "--last", "5", "--no-chart", "--top", "100")
    got = {(row["EventId"], row["Level"]): row["records"] for row in document["events"]}
    assert got == dict(expected)
    assert sum(got.values()) == 20


def test_bug_checks_drivers_sources_and_errors(batch_dirs, cli_json):
    dumps, outs = batch_dirs
    document = cli_json("batch-report", outs["parquet"], "--no-chart")
    assert document["overview"]["dumps"] == 5 and document["overview"]["errors"] == 1
    by_code = {row["code"]: row for row in document["bugchecks"]}
    assert by_code[0xDEADDEAD]["crashes"] == 4 and by_code[0xDEADDEAD]["with_dmf"] == 4
    assert by_code[None]["errors"] == 1
    assert [(r["driver"], r["dmf_version"], r["crashes"]) for r in document["drivers"]] == [("dmfdemo", "1.1.154", 4)]
    sources = {row["guid"]: row for row in document["sources"]}
    assert sources["a1b2c3d4-e5f6-4a5b-8c7d-0e1f2a3b4c5d"]["orphaned"] == 4
    assert sources["5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70"]["truncated"] == 2     # the two 512-byte dumps
    assert [(r["kind"], r["dumps"]) for r in document["errors"]] == [("format", 1)]


def test_parquet_and_json_lines_give_the_same_report(batch_dirs, cli_json):
    _, outs = batch_dirs
    documents = [cli_json("batch-report", outs[fmt], "--no-chart") for fmt in ("parquet", "jsonl")]
    for document in documents:
        document["overview"].pop("text")
        document["overview"].pop("format")
    assert documents[0] == documents[1]


def test_the_tables_fit_120_columns(batch_dirs, cli):
    _, outs = batch_dirs
    text = cli("batch-report", outs["parquet"], "--no-chart").out
    assert max(len(line) for line in text.splitlines()) <= 120
    for title in ("Crashes per bug check", "Crashes per driver version", "by EventId, Level",
                  "most often truncated or orphaned", "Dumps that could not be read"):
        assert title in text


def test_a_chart_with_matplotlib(batch_dirs, cli, tmp_path):
    pytest.importorskip("matplotlib", reason="the chart needs matplotlib (dmfkd[plot])")
    _, outs = batch_dirs
    chart = str(tmp_path / "week.png")
    run = cli("batch-report", outs["parquet"], "--chart", chart)
    assert "chart: %s" % chart in run.out
    with open(chart, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_one_line_says_so(batch_dirs, cli, monkeypatch, tmp_path):
    _, outs = batch_dirs
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    chart = str(tmp_path / "week.png")
    run = cli("batch-report", outs["parquet"], "--chart", chart)
    assert "no chart: matplotlib is not installed (pip install 'dmfkd[plot]')" in run.out
    assert not os.path.exists(chart)


def test_one_table_as_csv_all_as_tagged_rows_and_the_options_checked(batch_dirs, cli):
    _, outs = batch_dirs
    csv = cli("batch-report", outs["jsonl"], "--section", "errors", "--format", "csv").out
    assert csv.splitlines()[0] == "kind,dumps,example,error"
    lines = cli("batch-report", outs["jsonl"], "--format", "jsonl", "--no-chart").out.splitlines()
    assert [json.loads(line)["section"] for line in lines][:1] == ["bugchecks"]
    assert {json.loads(line)["section"] for line in lines} == {"bugchecks", "drivers", "events", "sources", "errors"}
    assert "--chart" in cli("batch-report", outs["jsonl"], "--chart", "x.txt", code=2).err
    assert "holds no batch output" in cli("batch-report", os.path.dirname(outs["jsonl"]), code=2).err


def test_rows_that_are_not_batch_rows_are_left_out_and_counted(batch_dirs, cli_json, tmp_path):
    _, outs = batch_dirs
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    lines = open(os.path.join(outs["jsonl"], "summary.jsonl")).read().splitlines()
    lines[1:1] = ["not json", "[1, 2]", json.dumps({"dump_id": "x"}), json.dumps({"dump_id": 9, "drivers": 5})]
    (hostile / "summary.jsonl").write_text("\n".join(lines) + "\n")
    records = open(os.path.join(outs["jsonl"], "records.jsonl")).read().splitlines()
    records.append(json.dumps({"dump_id": 0, "guid": "g", "index": 99, "fields": "{not json"}))
    (hostile / "records.jsonl").write_text("\n".join(records) + "\n")
    document = cli_json("batch-report", str(hostile), "--no-chart")
    assert document["overview"]["dumps"] == 6           # the five, and the one whose drivers were not a list
