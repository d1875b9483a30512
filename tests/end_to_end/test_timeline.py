"""A cross-source timeline: the SELF ring (DMFDEMO_EVENT, 64 bytes) and two user-mode sources of 32 and
48 bytes whose records start with a FILETIME. One type for all is refused; a type per source
(GUID=TYPE, GUID=FILE.py:NAME) gives the records in time order - checked against the clients' own
write log in expected.json, decoded here with struct, not with dmfkd - and `dmfkd timeline` draws one
lane per source with the bug check marked."""
import json
import os
import re
import struct
import xml.etree.ElementTree as ElementTree

import pytest

from dmfemu.scenarios.crashdump_demo import demo_scenario
from dmfemu.driver import pack_event
from dmfemu.dumpwriter import DEFAULT_SYSTEM_TIME
from dmfemu.scenarios.crashdump_replay import run_scenario

AUX_SCHEMA = '''
from construct import Int32ul, Int64ul, PaddedString, Struct

Aux32 = Struct("Timestamp" / Int64ul, "Sequence" / Int32ul, "Text" / PaddedString(20, "ascii"))
Aux48 = Struct("Timestamp" / Int64ul, "Sequence" / Int32ul, "Text" / PaddedString(36, "ascii"))
'''
SECOND = 10 ** 7


def _aux(stamp, seq, text, size):
    raw = text.encode("ascii")
    return struct.pack("<QI", stamp, seq) + raw + bytes(size - 12 - len(raw))


@pytest.fixture(scope="module")
def timeline_dump(tmp_path_factory):
    """The demo driver, with every client record stamped: three sources interleaved in time, the last
    record two seconds before the bug check."""
    out = tmp_path_factory.mktemp("timeline")
    scenario = demo_scenario()
    start = DEFAULT_SYSTEM_TIME - 40 * SECOND
    ops = []
    stamp = start
    seq = {"self": 0, "app1": 0, "app2": 0}
    writes = [op for op in scenario["operations"] if op["op"] in ("write_self", "write")]
    for op in scenario["operations"]:
        if op["op"] == "write_self":
            stamp += SECOND // 2
            op = dict(op, hex=pack_event(stamp, seq["self"], 7, 4, "self %d" % seq["self"]).hex())
            seq["self"] += 1
        elif op["op"] == "write":
            stamp += SECOND // 3
            size = 32 if op["handle"] == "app1" else 48
            op = dict(op, hex=_aux(stamp, seq[op["handle"]], "%s %d" % (op["handle"], seq[op["handle"]]), size).hex())
            seq[op["handle"]] += 1
        ops.append(op)
    assert stamp < DEFAULT_SYSTEM_TIME - SECOND and len(writes) > 40
    scenario["operations"] = ops
    expected = run_scenario(scenario, str(out))
    schema = out / "aux.py"
    schema.write_text(AUX_SCHEMA)
    return str(out / "MEMORY.DMP"), expected, str(schema)


def _stamp(record_hex):
    return struct.unpack_from("<Q", bytes.fromhex(record_hex))[0]


def test_one_type_for_sources_of_other_sizes_is_refused(timeline_dump, cli):
    dump, expected, _ = timeline_dump
    run = cli("crashdump", dump, "--merge-by", "Timestamp", "--type", "dmfdemo!DMFDEMO_EVENT", code=2)
    assert run.err.startswith("dmfkd: dmfdemo!DMFDEMO_EVENT is 64 bytes, the records of ")
    assert "refused" in run.err and len(run.err.splitlines()) == 1 and run.out == ""


def test_a_type_per_source_gives_the_timeline(timeline_dump, cli_json):
    dump, expected, schema = timeline_dump
    self_guid, aux32, aux48 = (s["guid"] for s in expected["sources"])
    doc = cli_json("crashdump", dump, "--merge-by", "Timestamp", "--type", "%s=dmfdemo!DMFDEMO_EVENT" % self_guid[:8],
                   "--schema", "%s=%s:Aux32" % (aux32, schema), "--schema", "%s=%s:Aux48" % (aux48, schema))
    # the clients' log, ordered by the FILETIME at the start of every record
    want = sorted(((_stamp(r["hex"]), s["guid"], r["index"]) for s in expected["sources"] for r in s["records"]))
    got = [(r["Timestamp"], r["guid"], r["index"]) for r in doc["records"]]
    assert got == want and len({g for _, g, _ in got}) == 3
    assert all(r["Timestamp_utc"].startswith("2023-12-31T23:59:") for r in doc["records"])
    deltas = [r["since_previous_s"] for r in doc["records"]]
    assert deltas[0] is None and all(d > 0 for d in deltas[1:])
    assert all(r["before_crash_s"] == pytest.approx((DEFAULT_SYSTEM_TIME - r["Timestamp"]) / 1e7)
               for r in doc["records"])


def test_merged_table_has_lanes_and_fits(timeline_dump, cli):
    dump, expected, schema = timeline_dump
    self_guid, aux32, aux48 = (s["guid"] for s in expected["sources"])
    text = cli("crashdump", dump, "--merge-by", "Timestamp", "--type", "%s=dmfdemo!DMFDEMO_EVENT" % self_guid,
               "--schema", "%s=%s:Aux32" % (aux32, schema), "--schema", "%s=%s:Aux48" % (aux48, schema),
               "--width", "120").out
    assert max(len(line) for line in text.splitlines()) <= 120
    lanes = [line.split()[0] for line in text.splitlines()[3:] if re.match(r"^(SELF|aux\d)\s", line)]
    assert set(lanes) == {"SELF", "aux1", "aux2"}


@pytest.mark.parametrize("suffix", ["svg", "png", "html"])
def test_timeline_picture_has_a_lane_per_source(timeline_dump, cli_json, tmp_path, suffix):
    pytest.importorskip("matplotlib")
    dump, expected, schema = timeline_dump
    self_guid, aux32, aux48 = (s["guid"] for s in expected["sources"])
    path = str(tmp_path / ("timeline." + suffix))
    doc = cli_json("timeline", dump, "-o", path, "--type", "%s=dmfdemo!DMFDEMO_EVENT" % self_guid,
                   "--schema", "%s=%s:Aux32" % (aux32, schema), "--schema", "%s=%s:Aux48" % (aux48, schema))
    assert [(l["lane"], l["records"]) for l in doc["lanes"]] == [
        ("SELF", len(expected["sources"][0]["records"])), ("aux1", len(expected["sources"][1]["records"])),
        ("aux2", len(expected["sources"][2]["records"]))]
    data = open(path, "rb").read()
    if suffix == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert width == 1100 and height >= 200
        return
    svg = data.decode("utf-8")
    if suffix == "html":
        assert svg.startswith("<!DOCTYPE html>")
        svg = svg[svg.index("<svg"):svg.index("</svg>") + 6]
    root = ElementTree.fromstring(svg)
    ids = {element.get("id") for element in root.iter() if element.get("id")}
    assert {"lane-SELF", "lane-aux1", "lane-aux2"} <= ids and "bugcheck" in ids
    assert len([i for i in ids if i.startswith("lane-")]) == 3
    assert float(root.get("width").rstrip("pt")) == pytest.approx(11 * 72)


def test_timeline_without_matplotlib_is_one_line(timeline_dump, cli, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    dump, expected, _ = timeline_dump
    run = cli("timeline", dump, "-o", str(tmp_path / "t.svg"), "--type",
              "%s=dmfdemo!DMFDEMO_EVENT" % expected["sources"][0]["guid"], code=2)
    assert run.err == "dmfkd: timeline pictures need matplotlib: pip install 'dmfkd[plot]'\n"


def test_timeline_refuses_to_write_over_its_input(timeline_dump, cli):
    dump, _, _ = timeline_dump
    copy = dump + ".svg"
    os.symlink(dump, copy)
    run = cli("timeline", dump, "-o", copy, code=2)
    assert "refusing to overwrite" in run.err
    json.dumps(run.out)
