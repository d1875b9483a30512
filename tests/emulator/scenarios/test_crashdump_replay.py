"""Scenario replays (dmfemu.scenarios.crashdump_replay): a data source destroyed and created again
registers its bug-check record last, short writes to a full ring lose the oldest record, a source
left registered by module_close faults in the crash - expected.json and the dump agree."""
import pytest

from dmfkd.errors import DmfkdError, UsageError
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
            {"op": "write_self", "hex": "0303", "expect": "STATUS_UNSUCCESSFUL"},   # drops 01.. (Q-RB-2)
            {"op": "open", "handle": "a"},
            {"op": "create", "handle": "a", "guid": g, "entries": 2, "entry_size": 4},
            {"op": "write", "handle": "a", "hex": "0a0a0a0a"}, {"op": "write", "handle": "a", "hex": "0b0b0b0b"},
            {"op": "write", "handle": "a", "hex": "0c0c", "expect": "STATUS_UNSUCCESSFUL"},   # drops 0a..
            {"op": "write", "handle": "a", "hex": "0d0d0d0d0d",
             "expect": "STATUS_BUFFER_OVERFLOW"},                                  # ring untouched
        ],
    }
    expected = run_scenario(scenario, str(tmp_path))
    check_blobs(str(tmp_path), expected)
    records = {s["name"]: [r["hex"] for r in s["records"]] for s in expected["sources"]}
    assert records == {"self": ["02020202"], "a": ["0b0b0b0b"]}
    assert [t.get("status") for t in expected["transcript"] if t["op"] == "write"] == [0, 0, 0xC0000001, 0x80000005]


def test_scenario_module_close_leaks_a_source_whose_callback_faults_in_the_crash(tmp_path):
    """spec/dmf.md Q-CD-13 through the replayer: after module_close the clients expect nothing in the
    dump; DMF left one record registered, its callback faults, the dump is still written without
    blobs and the fault ends the transcript."""
    g1, g2 = "cccccccc-0000-0000-0000-000000000001", "cccccccc-0000-0000-0000-000000000002"
    scenario = {
        "crashdump": {"data_source_count": 2, "ring_buffer_maximum_size": 64},
        "operations": [
            {"op": "open", "handle": "a"}, {"op": "open", "handle": "b"},
            {"op": "create", "handle": "a", "guid": g1, "entries": 2, "entry_size": 4},
            {"op": "open_source", "handle": "a", "guid": g1},
            {"op": "create", "handle": "b", "guid": g2, "entries": 2, "entry_size": 4},
            {"op": "write", "handle": "b", "hex": "01020304"},
            {"op": "close", "handle": "b"},
            {"op": "create", "handle": "a", "guid": g2, "entries": 2, "entry_size": 4},
            {"op": "module_close"},
            {"op": "close", "handle": "a"},
        ],
        "crash": {"via": "bugcheck", "code": 0xE2},
    }
    expected = run_scenario(scenario, str(tmp_path))
    assert expected["sources"] == [] and expected["blobs"] == []
    check_blobs(str(tmp_path), expected)
    last = expected["transcript"][-1]
    assert (last["op"], last["call"], last["routine"]) == (
        "bugcheck_fault", "size query", "CrashDump_BugCheckSecondaryDumpDataCallbackRingBuffer")
    assert [t["op"] for t in expected["transcript"]].count("bugcheck_fault") == 1


def test_scenario_operations_after_module_close_are_refused(tmp_path):
    scenario = {"crashdump": {"data_source_count": 1, "ring_buffer_maximum_size": 64},
                "operations": [{"op": "open", "handle": "a"}, {"op": "module_close"},
                               {"op": "create", "handle": "a", "guid": "cccccccc-0000-0000-0000-000000000001",
                                "entries": 2, "entry_size": 4}]}
    with pytest.raises(UsageError, match="after module_close"):
        run_scenario(scenario, str(tmp_path))


def test_scenario_operation_that_faults_in_the_kernel_is_one_error(tmp_path):
    """A write through a writer whose data source its reader destroyed hands DMF_RingBuffer a NULL
    module (spec/dmf.md Q-CD-5): refused with one line, not a traceback."""
    g = "cccccccc-0000-0000-0000-000000000001"
    scenario = {"crashdump": {"data_source_count": 1, "ring_buffer_maximum_size": 64},
                "operations": [{"op": "open", "handle": "w"}, {"op": "open", "handle": "r"},
                               {"op": "create", "handle": "w", "guid": g, "entries": 2, "entry_size": 4},
                               {"op": "open_source", "handle": "r", "guid": g},
                               {"op": "destroy", "handle": "r"},
                               {"op": "write", "handle": "w", "hex": "01020304"}]}
    with pytest.raises(DmfkdError, match=r"operations\[5\] write: .* destroyed by its reader; DMF would use its "
                       r"NULL ring here and crash the machine") as raised:
        run_scenario(scenario, str(tmp_path))
    assert "\n" not in str(raised.value)
