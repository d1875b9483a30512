"""Scenario replays (dmfemu.scenarios.crashdump_replay): a data source destroyed and created again
registers its bug-check record last, and short writes to a full ring lose the oldest record -
expected.json and the dump agree."""
from dmfemu.scenarios.crashdump_replay import run_scenario

from helpers.emulated_drivers import check_blobs


def test_scenario_destroy_and_recreate_moves_the_blob_last(tmp_path):
    g1, g2 = "aaaaaaaa-0000-0000-0000-000000000001", "aaaaaaaa-0000-0000-0000-000000000002"
    scenario = {
        "crashdump": {"data_source_count": 2, "ring_buffer_maximum_size": 256},
        "operations": [
            {"op": "open", "handle": "a"}, {"op": "open", "handle": "b"},
            {"op": "create", "handle": "a", "guid": g1, "entries": 2, "entry_size": 4},
            {"op": "create", "handle": "b", "guid": g2, "entries": 2, "entry_size": 4},
            {"op": "write", "handle": "a", "hex": "01020304"},
            {"op": "write", "handle": "b", "hex": "05060708"},
            {"op": "destroy", "handle": "a"},
            {"op": "create", "handle": "a", "guid": g1, "entries": 3, "entry_size": 4},
            {"op": "write", "handle": "a", "hex": "0a0b0c0d"},
        ],
    }
    expected = run_scenario(scenario, str(tmp_path))
    assert [b["guid"] for b in expected["blobs"]] == [g2, g1]
    check_blobs(str(tmp_path), expected)
    assert [t["status"] for t in expected["transcript"] if t["op"] == "destroy"] == [0]


def test_scenario_short_writes_to_full_rings_lose_the_oldest_record(tmp_path):
    g = "bbbbbbbb-0000-0000-0000-000000000001"
    scenario = {
        "crashdump": {"ring_buffer_data_guid": "bbbbbbbb-0000-0000-0000-000000000002", "buffer_size": 4,
                      "buffer_count": 2, "data_source_count": 1, "ring_buffer_maximum_size": 64},
        "operations": [
            {"op": "write_self", "hex": "01010101"}, {"op": "write_self", "hex": "02020202"},
            {"op": "write_self", "hex": "0303"},                        # fails, drops 01.. (Q-RB-2)
            {"op": "open", "handle": "a"},
            {"op": "create", "handle": "a", "guid": g, "entries": 2, "entry_size": 4},
            {"op": "write", "handle": "a", "hex": "0a0a0a0a"}, {"op": "write", "handle": "a", "hex": "0b0b0b0b"},
            {"op": "write", "handle": "a", "hex": "0c0c"},              # fails, drops 0a..
            {"op": "write", "handle": "a", "hex": "0d0d0d0d0d"},        # BUFFER_OVERFLOW, ring untouched
        ],
    }
    expected = run_scenario(scenario, str(tmp_path))
    check_blobs(str(tmp_path), expected)
    records = {s["name"]: [r["hex"] for r in s["records"]] for s in expected["sources"]}
    assert records == {"self": ["02020202"], "a": ["0b0b0b0b"]}
    assert [t.get("status") for t in expected["transcript"] if t["op"] == "write"] == [0, 0, 0xC0000001, 0x80000005]
