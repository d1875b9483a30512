"""Property test of the replay path (hypothesis): random scenarios - configs (SELF ring, data sources,
MaximumAllowed, DMF versions, x64/x86/ARM64, dump types), clients (open, create, write, read, capture,
destroy, close, triage data) and crash kinds (a bug check, IOCTL_CRASH_DRIVER) - replay into a dump on
which dmfkd shows what expected.json says, through the CLI (`dmfemu check`) and through the pykd
stand-in; and dump -> scenario -> dump gives the same rows.

The generator does not know which operation DMF will refuse (a full slot table, a ring too large, a
read of an empty ring): a first replay marks every operation that fails with the status it returned
("expect") and drops operations that make no sense (a read on a handle that opened no source); the
marked scenario is what is tested.
"""
import json
import os

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dmfkd import cli
from dmfkd.targets.dumpfile import DumpFile
from dmfkd.targets.isf import IsfSymbols

from dmfemu.scenarios.check import check_directory
from dmfemu.scenarios.crashdump_replay import ScenarioRun
from dmfemu.scenarios.replay import replay
from dmfemu.scenarios.scenario_format import ReplayFailure, ScenarioError, status_name

from helpers.replay_compare import first_difference, rows
from helpers.standin import run_in_windbg

GUIDS = ["0badc0de-0000-4000-8000-00000000000%d" % n for n in range(1, 4)]
HANDLES = ["h0", "h1", "h2"]
VERSIONS = ["1.0.0", "1.1.84", "1.1.100", "1.1.140", "1.1.154"]


@st.composite
def scenarios(draw):
    arch = draw(st.sampled_from(["x64", "x86", "arm64"]))
    version = draw(st.sampled_from(VERSIONS))
    nested = version not in ("1.0.0", "1.1.84")
    dump_type = draw(st.sampled_from(["full", "bitmap"] + (["triage"] if arch != "x86" else [])))
    self_count, self_size = draw(st.integers(0, 5)), draw(st.sampled_from([8, 16]))
    crashdump = {"ring_buffer_data_guid": "0badc0de-0000-4000-8000-0000000000ff", "buffer_count": self_count,
                 "buffer_size": self_size, "data_source_count": draw(st.integers(1, 3)),
                 "ring_buffer_maximum_size": draw(st.sampled_from([64, 4096]))}
    if nested and draw(st.booleans()):
        crashdump["triage_dump_data_array_size"] = 2
    if draw(st.booleans()):
        crashdump.update(additional_data_guid="0badc0de-0000-4000-8000-0000000000fe",
                         additional_data={"text": draw(st.text("abc", min_size=1, max_size=40))})
    ops, sizes = [], {}
    for _ in range(draw(st.integers(2, 30))):
        kind = draw(st.sampled_from(["write_self", "open", "close", "create", "write", "write", "open_source",
                                     "read", "capture", "destroy", "triage_add"]))
        handle = draw(st.sampled_from(HANDLES))
        if kind == "write_self":
            if self_count:
                ops.append({"op": kind, "hex": draw(st.binary(min_size=self_size, max_size=self_size)).hex(),
                            "repeat": draw(st.integers(1, 9))})
        elif kind in ("open", "close", "read", "capture", "destroy"):
            ops.append({"op": kind, "handle": handle})
        elif kind == "create":
            sizes[handle] = draw(st.sampled_from([4, 8, 12]))
            ops.append({"op": kind, "handle": handle, "guid": draw(st.sampled_from(GUIDS)),
                        "entries": draw(st.integers(1, 6)), "entry_size": sizes[handle]})
        elif kind == "write":
            size = sizes.get(handle, 8) if draw(st.integers(0, 9)) else draw(st.integers(1, 13))
            ops.append({"op": kind, "handle": handle, "hex": draw(st.binary(min_size=size, max_size=size)).hex(),
                        "repeat": draw(st.integers(1, 4))})
        elif kind == "open_source":
            ops.append({"op": kind, "handle": handle, "guid": draw(st.sampled_from(GUIDS))})
        else:
            ops.append({"op": kind, "hex": draw(st.binary(min_size=1, max_size=24)).hex()})
    document = {"format": "dmfemu-scenario/1", "arch": arch, "dmf_version": version, "dump_type": dump_type,
                "crashdump": crashdump, "operations": ops}
    if draw(st.booleans()):
        document["maximum_allowed"] = draw(st.integers(16, 200))
    if draw(st.booleans()):
        document["crash"] = {"via": "ioctl", "handle": draw(st.sampled_from(HANDLES))}
    else:
        document["crash"] = {"via": "bugcheck", "code": draw(st.integers(1, 0xFFFFFFFF)),
                             "parameters": [draw(st.integers(0, 0xFFFFFFFF)) for _ in range(4)]}
    return document


def settle(document: dict) -> dict:
    """The scenario with every failing operation marked with the status it returns (a repeated one
    repeated once), and operations that cannot be replayed (an unknown handle, no reader, a destroyed
    data source used) left out; a crash through a handle that is not open becomes a bug check. Each
    change replays the scenario from the start again, so the marks are what a replay finds."""
    operations = [dict(op) for op in document["operations"]]
    while True:
        run = ScenarioRun(dict(document, operations=[]))
        for index, op in enumerate(operations):
            try:
                run.run(op)
            except ReplayFailure as failure:
                if failure.status is None:
                    del operations[index]
                elif op.get("repeat", 1) > 1:
                    op["repeat"] = 1
                else:
                    op["expect"] = status_name(failure.status)
                break
            except ScenarioError:
                del operations[index]
                break
        else:
            break
    crash = document["crash"]
    if crash["via"] == "ioctl" and crash["handle"] not in run.handles:
        crash = {"via": "bugcheck", "code": 0xDEADDEAD, "parameters": [0, 0, 0, 0]}
    return dict(document, operations=operations, crash=crash)


@settings(max_examples=int(os.environ.get("DMFKD_PROPERTY_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(document=scenarios())
def test_random_scenarios_show_what_they_expect_and_round_trip(tmp_path_factory, document):
    document = settle(document)
    kinds = [op["op"] for op in document["operations"]]
    event("destroy replayed" if "destroy" in kinds else "no destroy")
    event("%d failing operation(s) expected" % min(sum("expect" in op for op in document["operations"]), 3))
    event("a CREATE failed after taking a slot" if any(
        op["op"] == "create" and op.get("expect") == "STATUS_INVALID_PARAMETER" for op in document["operations"])
        else "no half-created slot")
    base = tmp_path_factory.mktemp("property")
    original = str(base / "original")
    expected = replay(document, original)
    assert check_directory(original) > 0
    dump = os.path.join(original, "MEMORY.DMP")
    symbols = IsfSymbols.load(os.path.join(original, "driver.isf.json"))
    if document["dump_type"] != "triage":
        # the same records through pykd (the stand-in), as inside WinDbg
        guids = [source["guid"] for source in expected["sources"]]
        for source in expected["sources"]:
            if guids.count(source["guid"]) > 1:
                continue    # two live data sources with one GUID: --guid cannot name the second
            shown = json.loads(run_in_windbg(["crashdump", "--guid", source["guid"], "--format", "json"],
                                             DumpFile(dump), symbols))
            records = [r["hex"] for r in shown["records"] if not r.get("partial")]
            assert records == [r["hex"] for r in source["records"]], source["guid"]
        # dump -> scenario -> dump
        scenario = str(base / "scenario.json")
        assert cli.main(["crashdump", dump, "--to-scenario", scenario]) == 0
        again = str(base / "replayed")
        replay(scenario, again)
        before, after = rows(dump), rows(os.path.join(again, "MEMORY.DMP"))
        for command in before:
            assert first_difference(before[command], after[command]) == "", command
