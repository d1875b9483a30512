"""A scenario's record types reach the driver's PDB as they reach its ISF (dmfemu.scenarios.replay
.replay_with_pdb: clang-cl + lld-link build the driver from the ISF's types, enums and packed structs
included): dmfkd's PDB reader gives the same layouts and enums as the ISF, and `crashdump --type
DRIVER!TYPE` with the PDB as the symbols decodes the records to the writer's values (enums by name).
Skips with one line without clang-14/lld-14."""
import io
import json
import os

import pytest

from dmfkd import cli
from dmfkd.render import Output
from dmfkd.targets.dumpfile import DumpFile
from dmfkd.targets.isf import IsfSymbols
from dmfkd.targets.pdb import PdbSymbols

from dmfemu import native_build
from dmfemu.scenarios.examples import example
from dmfemu.scenarios.replay import replay_with_pdb
from dmfemu.scenarios.scenario_format import Scenario, read_document

GUID = "7a7a7a7a-1111-4222-8333-444455556666"
TYPED = {
    "format": "dmfemu-scenario/1", "driver": "typeddrv",
    "enums": {"PHASE": {"values": {"PhaseIdle": 0, "PhaseBusy": 3}}},
    "record_types": {
        "POINT": {"fields": [{"name": "X", "type": "SHORT"}, {"name": "Y", "type": "SHORT"}]},
        "PACKED_EVENT": {"pack": 1, "fields": [
            {"name": "Flag", "type": "UCHAR"}, {"name": "Time", "type": "ULONG64"}, {"name": "Phase", "type": "PHASE"},
            {"name": "Where", "type": "POINT"}, {"name": "Name", "type": "WCHAR", "count": 6},
            {"name": "Id", "type": "GUID"}]}},
    "crashdump": {"ring_buffer_data_guid": GUID, "self_record_type": "PACKED_EVENT", "buffer_count": 4},
    "operations": [{"op": "write_self", "fields": {"Flag": 1, "Time": 132800000000000000, "Phase": "PhaseBusy",
                                                   "Where": {"X": -3, "Y": 9}, "Name": "disk0",
                                                   "Id": "01234567-89ab-cdef-0123-456789abcdef"},
                    "repeat": 6, "vary": {"Time": 10000000}}],
}


@pytest.fixture(scope="module")
def tools():
    try:
        native_build.find_tools()
    except native_build.ToolsMissing as missing:
        pytest.skip(str(missing))


def _run(argv, target):
    buffer = io.StringIO()
    assert cli.run(argv + ["--format", "json"], output=Output(buffer), target=target) == 0
    return json.loads(buffer.getvalue())


@pytest.mark.parametrize("name", ["typed", "sensor-self-ring-wraps", "service-dies-orphan"])
def test_record_types_reach_the_pdb_and_decode_through_it(tmp_path_factory, tools, name):
    if name == "typed":
        scenario = Scenario(TYPED)
    else:
        scenario = Scenario(read_document(example(name).path), base_dir=os.path.dirname(example(name).path))
    out = str(tmp_path_factory.mktemp(name))
    replay_with_pdb(scenario, out, cache=str(tmp_path_factory.getbasetemp() / "typed-native-build"))
    with open(os.path.join(out, "expected.json")) as handle:
        expected = json.load(handle)
    isf = IsfSymbols.load(os.path.join(out, "driver.isf.json"))
    driver = expected["module"]
    pdb_path = os.path.join(out, "symbols", driver + ".pdb")
    with PdbSymbols.open(pdb_path, image_base=isf.image_base) as pdb:
        for record_type in expected["record_types"]:
            assert pdb.type_layout(record_type) == isf.type_layout(record_type), record_type
        for enum in isf.enums:
            assert pdb.enum_type(enum).constants == isf.enum_type(enum).constants, enum
        dump = DumpFile(os.path.join(out, "MEMORY.DMP"))
        dump.symbols = pdb
        typed = [s for s in expected["sources"] if "record_type" in s]
        assert typed
        for source in typed:
            shown = _run(["crashdump", "--guid", source["guid"], "--type", "%s!%s" % (driver, source["record_type"])],
                         dump)
            assert len(shown["records"]) == len(source["records"])
            for record, row in zip(source["records"], shown["records"]):
                assert row["hex"] == record["hex"]
                for field, value in record["fields"].items():
                    assert row[field] == value, field
                for field, constant in record.get("enum_names", {}).items():
                    assert row[field + "_name"] == constant, field
