"""The dmf_replay fixture (dmfemu.testing, registered through the pytest11 entry point): a scenario as a
dict, a file or an example's name replays into tmp_path; the result knows its dump and expected
records, runs dmfkd commands in-process and checks itself."""
import json
import os

import pytest

from dmfkd.errors import DmfkdError

GUID = "1234abcd-0000-4000-8000-000000000001"
SCENARIO = {"crashdump": {"ring_buffer_data_guid": "1234abcd-0000-4000-8000-0000000000ff", "buffer_size": 8,
                          "buffer_count": 4},
            "operations": [{"op": "write_self", "text": "self", "repeat": 2}, {"op": "open", "handle": "app"},
                           {"op": "create", "handle": "app", "source": "app log", "guid": GUID, "entries": 2,
                            "entry_size": 8},
                           {"op": "write", "handle": "app", "text": "one"}, {"op": "write", "handle": "app",
                                                                             "text": "two"}]}


def test_a_dict_replays_into_tmp_path(dmf_replay, tmp_path):
    run = dmf_replay(SCENARIO)
    assert run.dump == os.path.join(str(tmp_path), "replay0", "MEMORY.DMP") and os.path.exists(run.dump)
    assert run.records("app log", "hex") == [b"one".hex() + "00" * 5, b"two".hex() + "00" * 5]
    assert run.source("1234abcd-0000-4000-8000-000000000001")["name"] == "app log"
    assert run.source("self")["present"] == 2
    shown = run.dmfkd("crashdump", "--guid", GUID)
    assert [r["hex"] for r in shown["records"]] == run.records(GUID, "hex")
    assert run.dmfkd("bugcheck")["code"] == run.expected["bugcheck"]["code"]
    assert run.check() > 0
    with pytest.raises(KeyError, match="no data source 'nope'"):
        run.source("nope")
    with pytest.raises(DmfkdError):
        run.dmfkd("crashdump", "--guid", "ffffffff-0000-0000-0000-000000000000")


def test_a_file_and_an_example_name(dmf_replay, tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(SCENARIO))
    first = dmf_replay(str(path), name="from-file")
    assert os.path.basename(os.path.dirname(first.dump)) == "from-file"
    live = dmf_replay("live-dump-hang")
    assert live.dump.endswith("LIVEDUMP.DMP")
    assert live.dmfkd("livedump")["live_dump"]["code"] == 0x161
    assert live.check() > 0


def test_check_fails_the_test_at_the_first_difference(dmf_replay):
    run = dmf_replay(SCENARIO)
    path = os.path.join(run.directory, "expected.json")
    with open(path) as handle:
        expected = json.load(handle)
    expected["sources"][1]["records"][0]["hex"] = "00" * 8
    with open(path, "w") as handle:
        json.dump(expected, handle)
    with pytest.raises(AssertionError, match=r"sources\[1\] \(%s\)\.records\[0\]\.hex" % GUID):
        run.check()
