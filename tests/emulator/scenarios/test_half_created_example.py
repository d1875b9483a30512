"""The scenario files shipped in dmfemu/scenarios/examples/: each one says what it shows (a
"description"), replays, and writes a dump that holds what its expected.json says; the half-created
example's dump is read back with `dmfkd datasources`, which must name both half-created sources."""
import glob
import os

import pytest

from dmfemu.scenarios.crashdump_replay import load_scenario, run_scenario
from dmfemu.scenarios.replay import replay
from dmfemu.scenarios.scenario_format import read_document

from helpers.emulated_drivers import check_blobs
from helpers.ntstatus import INVALID_HANDLE, INVALID_PARAMETER
from helpers.paths import REPO

EXAMPLES = os.path.join(REPO, "emulator", "dmfemu", "scenarios", "examples")


def test_there_are_examples():
    assert glob.glob(os.path.join(EXAMPLES, "*.json"))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(EXAMPLES, "*.json"))), ids=os.path.basename)
def test_example_replays_and_its_dump_holds_the_expected_blobs(tmp_path, path):
    description = read_document(path).get("description")
    assert isinstance(description, str) and len(description.split()) >= 20
    if "large" in os.path.basename(path):
        return      # replayed in test_examples.py (and the benchmark)
    expected = replay(path, str(tmp_path))      # its schema files are found beside it
    if "blobs" in expected:                     # a live dump has its own checks (test_examples.py)
        check_blobs(str(tmp_path), expected)


def test_datasources_names_the_half_created_sources(tmp_path, cli, cli_json):
    expected = run_scenario(load_scenario(os.path.join(EXAMPLES, "half_created_sources.json")), str(tmp_path))
    # the two CREATEs that half-create a slot fail, and the monitor's read after its CREATE finds nothing
    statuses = [(t["op"], t.get("status")) for t in expected["transcript"]]
    assert [s for op, s in statuses if op == "create"] == [0, INVALID_PARAMETER, INVALID_PARAMETER]
    assert [s for op, s in statuses if op == "read"] == [0, INVALID_HANDLE]
    # the logger's two unread records reach the dump
    assert [len(s["records"]) for s in expected["sources"]] == [2]

    dump, isf = str(tmp_path / "MEMORY.DMP"), str(tmp_path / "driver.isf.json")
    rows = cli_json("datasources", dump, "--isf", isf)
    states = [(row["index"], row["writer"], row["state"]) for row in rows]
    assert states == [(0, "-", "empty"), (1, "handle", "active"), (2, "handle", "half-created"),
                      (3, "orphan", "half-created")]
    assert "a CREATE by this writer failed after taking the slot" in rows[2]["state_detail"]
    assert "its writer closed its handle" in rows[3]["state_detail"]
    text = cli("datasources", dump, "--isf", isf).out
    assert "data source 2 is half-created: a CREATE by this writer failed" in " ".join(text.split())
    for forbidden in ("Q-CD", "§", "spec/", ".c:"):
        assert forbidden not in text
