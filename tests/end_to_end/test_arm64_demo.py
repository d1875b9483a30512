"""`dmfemu demo --arch arm64 -o D && dmfkd crashdump D/MEMORY.DMP` for the full, bitmap and triage dumps
(issue 13): every data source's records come out exactly as the emulated clients wrote them
(expected.json, built from the clients' own logs), and the ARM64 dump reads like the x64 dump of the same
scenario - the scenario does not depend on the architecture, so every record and every blob is the same."""
import json
import os

import pytest

from dmfemu import cli as dmfemu_cli

KINDS = ["full", "bitmap", "triage"]


def _demo(tmp_path_factory, arch, dump_type):
    out = str(tmp_path_factory.mktemp("demo-%s-%s" % (arch, dump_type)))
    assert dmfemu_cli.main(["demo", "--arch", arch, "--dump-type", dump_type, "-o", out]) == 0
    with open(os.path.join(out, "expected.json")) as handle:
        return os.path.join(out, "MEMORY.DMP"), json.load(handle)


@pytest.fixture(scope="module", params=KINDS)
def demos(request, tmp_path_factory):
    return {arch: _demo(tmp_path_factory, arch, request.param) for arch in ("arm64", "x64")}


def _whole_records(doc):
    return [{"index": r["index"], "hex": r["hex"]} for r in doc["records"] if not r.get("partial")]


def test_every_source_decodes_to_what_the_clients_wrote(demos, cli_json):
    path, expected = demos["arm64"]
    assert expected["arch"] == "arm64"
    triage = expected["dump_type"] == "triage"
    for source in expected["sources"]:
        doc = cli_json("crashdump", path, "--guid", source["guid"])
        assert _whole_records(doc) == source["records"], source["name"]
        assert (doc["entry_size"], doc["present"], doc["truncated"]) == \
            (source["entry_size"], source["present"], False)
        # a triage dump holds the blobs, not the DATA_SOURCE array: P is inferred there, read elsewhere
        assert doc["present_known"] is (not triage)
    everything = cli_json("crashdump", path, "--all")
    assert [(s["guid"], _whole_records(s)) for s in everything["sources"]] == \
        [(s["guid"], s["records"]) for s in expected["sources"]]


def test_arm64_reads_like_x64(demos, cli_json):
    (arm64, expected), (x64, x64_expected) = demos["arm64"], demos["x64"]
    assert [b["hex"] for b in expected["blobs"]] == [b["hex"] for b in x64_expected["blobs"]]
    for source in expected["sources"]:
        mine, theirs = (cli_json("crashdump", path, "--guid", source["guid"]) for path in (arm64, x64))
        assert mine == theirs
    # the summary differs only in addresses (pool and handles live elsewhere on ARM64)
    mine, theirs = (cli_json("crashdump", path) for path in (arm64, x64))
    assert [(r["role"], r["guid"], r["capacity"], r["entry_size"], r["present"], r["state"])
            for r in mine["data_sources"]] == \
        [(r["role"], r["guid"], r["capacity"], r["entry_size"], r["present"], r["state"])
         for r in theirs["data_sources"]]
