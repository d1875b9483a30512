"""Failures are failures: an operation that returns a failure NTSTATUS stops the replay with exit status 1
and one line (operation index, op, NTSTATUS name, and why DMF usually says so) unless it says
"expect"; an expectation that does not happen fails too. NTSTATUS values are the spec's (helpers.ntstatus)."""
import json
import os

import pytest

from dmfemu import cli
from dmfemu.scenarios.crashdump_replay import run_scenario
from dmfemu.scenarios.scenario_format import ReplayFailure

from helpers import ntstatus

GUID = "aaaaaaaa-0000-4000-8000-000000000001"
GUID2 = "aaaaaaaa-0000-4000-8000-000000000002"


def _replay_cli(tmp_path, capsys, document):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(document))
    out = tmp_path / "out"
    status = cli.main(["scenario", str(path), "-o", str(out)])
    captured = capsys.readouterr()
    return status, captured.err.strip(), out


def _client(*operations, **crashdump):
    return {"crashdump": crashdump, "operations": [{"op": "open", "handle": "a"}] + list(operations)}


CASES = [
    (_client({"op": "create", "handle": "a", "guid": GUID, "entries": 4096, "entry_size": 32}),
     "operations[1] create: STATUS_INVALID_PARAMETER (entries x entry_size = 131072 > "
     "crashdump.ring_buffer_maximum_size 65536)"),
    (_client({"op": "create", "handle": "a", "guid": GUID, "entries": 4, "entry_size": 8},
             {"op": "create", "handle": "a", "guid": GUID2, "entries": 4, "entry_size": 8}),
     "operations[2] create: STATUS_NO_MORE_FILES (every one of the crashdump.data_source_count = 2 data sources "
     "is taken, or the handle already writes one)"),
    (_client({"op": "create", "handle": "a", "guid": GUID, "entries": 4, "entry_size": 8},
             {"op": "write", "handle": "a", "hex": "0102"}),
     "operations[2] write: STATUS_UNSUCCESSFUL (a record must be exactly the data source's entry size)"),
    (_client({"op": "write", "handle": "a", "hex": "0102"}),
     "operations[1] write: STATUS_INVALID_HANDLE (handle a writes no data source)", ),
    (_client({"op": "create", "handle": "a", "guid": GUID, "entries": 4, "entry_size": 8},
             {"op": "write", "handle": "a", "text": "x", "repeat": 5},
             {"op": "open", "handle": "r"}, {"op": "open_source", "handle": "r", "guid": GUID},
             {"op": "read", "handle": "r", "repeat": 5}),
     "operations[5] read (repetition 5 of 5): STATUS_UNSUCCESSFUL (the data source is empty)"),
    ({"crashdump": {"buffer_size": 4, "buffer_count": 2, "data_source_count": 1},
      "operations": [{"op": "triage_add", "hex": "00"}]},
     "operations[0] triage_add: STATUS_INVALID_PARAMETER (crashdump.triage_dump_data_array_size is 0)"),
    (_client({"op": "create", "handle": "a", "guid": GUID, "entries": 4, "entry_size": 8,
              "expect": "STATUS_INVALID_PARAMETER"}),
     "operations[1] create: returned STATUS_SUCCESS, the scenario expects STATUS_INVALID_PARAMETER"),
    ({"crashdump": {"data_source_count": 1}, "operations": [{"op": "open", "handle": "a", "administrator": False}]},
     "operations[0] open: STATUS_ACCESS_DENIED"),
    ({"crashdump": {"data_source_count": 0}},
     "DMF_CrashDump_Create failed: STATUS_INVALID_PARAMETER (the config asks for nothing"),
]


@pytest.mark.parametrize("document, message", CASES, ids=[m.split(":")[0] for _, m in CASES])
def test_an_unexpected_failure_stops_the_replay_in_one_line(tmp_path, capsys, document, message):
    status, err, out = _replay_cli(tmp_path, capsys, document)
    assert status == 1
    assert err.startswith("dmfemu: " + message) and len(err.splitlines()) == 1
    assert not os.path.exists(out / "MEMORY.DMP")


def test_a_failure_the_scenario_expects_is_replayed(tmp_path):
    document = _client({"op": "create", "handle": "a", "guid": GUID, "entries": 4096, "entry_size": 32,
                        "expect": "STATUS_INVALID_PARAMETER"},
                       {"op": "create", "handle": "a", "guid": GUID, "entries": 4, "entry_size": 8},
                       {"op": "write", "handle": "a", "hex": "0102", "expect": "STATUS_UNSUCCESSFUL"},
                       {"op": "write", "handle": "a", "hex": "00" * 9, "expect": "STATUS_BUFFER_OVERFLOW",
                        "repeat": 3},
                       {"op": "write", "handle": "a", "text": "ok"},
                       {"op": "open", "handle": "n", "administrator": False, "expect": "STATUS_ACCESS_DENIED"})
    expected = run_scenario(document, str(tmp_path))
    statuses = [entry.get("status") for entry in expected["transcript"]]
    assert statuses == [None, ntstatus.INVALID_PARAMETER, ntstatus.SUCCESS, ntstatus.UNSUCCESSFUL,
                        ntstatus.BUFFER_OVERFLOW, ntstatus.SUCCESS, ntstatus.ACCESS_DENIED]
    assert expected["transcript"][4]["repeat"] == 3
    assert [r["hex"] for r in expected["sources"][0]["records"]] == [b"ok".hex() + "00" * 6]


def test_an_unknown_handle_or_architecture_is_a_usage_error(tmp_path, capsys):
    status, err, _ = _replay_cli(tmp_path, capsys, {"crashdump": {"data_source_count": 1},
                                                    "operations": [{"op": "close", "handle": "z"}]})
    assert status == 2 and err == "dmfemu: operations[0].handle: handle 'z' is not open (open it first)"
    status, err, _ = _replay_cli(tmp_path, capsys, {"arch": "mips", "crashdump": {"data_source_count": 1}})
    assert status == 2 and err.endswith("s.json: arch: must be one of x64, x86, arm64, not 'mips'")


def test_replay_failure_is_a_dmfkd_error_with_exit_status_1(tmp_path):
    with pytest.raises(ReplayFailure) as failed:
        run_scenario(_client({"op": "write", "handle": "a", "hex": "00"}), str(tmp_path))
    assert failed.value.exit_status == 1 and os.listdir(str(tmp_path)) == []
