"""Scenario format v1 (dmfemu.scenarios.scenario_format, scenario-v1.schema.json): the shipped examples
are valid for dmfemu's own validator and for the `jsonschema` package (an independent implementation
of JSON Schema 2020-12); broken documents are refused by both, dmfemu's message naming the JSON path;
what the schema cannot say is refused in one line too."""
import copy
import json

import pytest

from dmfemu.scenarios.examples import list_examples
from dmfemu.scenarios.scenario_format import Scenario, ScenarioError, read_document
from dmfemu.scenarios.schema_validation import Validator, scenario_schema_path, scenario_validator

jsonschema = pytest.importorskip("jsonschema")

GUID = "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70"
GUID2 = "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f71"


def _schema():
    with open(scenario_schema_path()) as handle:
        return json.load(handle)


def _independent(document) -> bool:
    return jsonschema.Draft202012Validator(_schema()).is_valid(document)


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(_schema())


@pytest.mark.parametrize("example", list_examples(), ids=lambda e: e.name)
def test_every_example_is_valid_for_both_validators(example):
    document = read_document(example.path)
    assert scenario_validator().first_error(document) is None
    assert _independent(document)
    assert document["format"] == "dmfemu-scenario/1" and len(document["description"]) > 200


BASE = {"format": "dmfemu-scenario/1", "crashdump": {"data_source_count": 1},
        "operations": [{"op": "open", "handle": "a"},
                       {"op": "create", "handle": "a", "guid": GUID, "entries": 4, "entry_size": 8},
                       {"op": "write", "handle": "a", "hex": "0102030405060708"}],
        "crash": {"via": "ioctl", "handle": "a"}}


def _set(path, value):
    def change(document):
        node = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


BROKEN = [
    (_set(["operations", 1, "entries"], 0), "operations[1].entries: must be >= 1"),
    (_set(["operations", 1, "guid"], "not-a-guid"), "operations[1].guid: must be a GUID like " + GUID),
    (_set(["operations", 2, "hex"], "abc"), "operations[2].hex: must be hex digits, two per byte"),
    (_set(["operations", 2, "text"], "x"), "operations[2]: must have exactly one of hex, text, fields"),
    (_set(["operations", 1, "hnadle"], "a"), "operations[1].hnadle: unknown key (known: comment, entries, "
     "entry_size, expect, guid, handle, op, record_type, source)"),
    (_set(["operations", 0, "op"], "opn"), "operations[0].op: must be one of write_self, open, close, create, "
     "write, open_source, read, capture, destroy, triage_add, surprise_removal, module_close, buffer_add, "
     "buffer_remove, client_structure, not 'opn'"),
    (_set(["operations", 2, "expect"], "ERROR_FAIL"), "operations[2].expect: must be an NTSTATUS name like "
     "STATUS_INVALID_PARAMETER"),
    (_set(["crashdump", "data_source_count"], 9), "crashdump.data_source_count: must be <= 8"),
    (_set(["arch"], "arm"), "arch: must be one of x64, x86, arm64"),
    (_set(["crash"], {"via": "ioctl"}), "crash.handle: is required"),
    (_set(["crash"], {"via": "bugcheck", "parameters": [1, 2, 3, 4, 5]}), "crash.parameters: must have at most 4"),
    (_set(["format"], "dmfemu-scenario/2"), "format: must be dmfemu-scenario/1"),
    (_set(["maximum_allowed"], 0), "maximum_allowed: must be >= 1"),
    (_set(["record_types"], {"9x": {"fields": [{"name": "A", "type": "ULONG"}]}}),
     "record_types[\"9x\"]: key must be a C identifier"),
    (_set(["record_types"], {"T": {"fields": []}}), "record_types.T.fields: must have at least 1 item(s)"),
    (_set(["enums"], {"E": {"values": {"A": -1}}}), "enums.E.values.A: must be >= 0"),
    (_set(["operations", 1, "entries"], True), "operations[1].entries: must be an integer"),
    (_set(["operations"], {}), "operations: must be an array"),
]


@pytest.mark.parametrize("change, message", BROKEN, ids=[m.split(":")[0] for _, m in BROKEN])
def test_broken_documents_name_the_json_path(change, message):
    document = copy.deepcopy(BASE)
    assert scenario_validator().first_error(document) is None and _independent(document)
    change(document)
    assert str(scenario_validator().first_error(document)).startswith(message)
    assert not _independent(document)
    with pytest.raises(ScenarioError) as refused:
        Scenario(document, source="s.json")
    assert str(refused.value).startswith("s.json: " + message) and "\n" not in str(refused.value)


SEMANTIC = [
    ({"operations": [{"op": "write_self", "hex": "00", "expect": "STATUS_NOT_A_THING"}]},
     "operations[0].expect: unknown NTSTATUS name STATUS_NOT_A_THING"),
    ({"operations": [{"op": "write_self", "hex": "00", "vary": {"A": 1}}]},
     "operations[0].vary: needs fields and a repeat of at least 2"),
    ({"crashdump": {"self_record_type": "NOPE"}}, "crashdump.self_record_type: no record type NOPE"),
    ({"record_types": {"T": {"fields": [{"name": "A", "type": "FLOAT"}]}}},
     "record_types.T.fields[0].type: no record type FLOAT"),
    ({"record_types": {"T": {"fields": [{"name": "A", "type": "ULONG"}, {"name": "A", "type": "ULONG"}]}}},
     "record_types.T.fields[1].name: A appears twice"),
    ({"record_types": {"T": {"fields": [{"name": "A", "type": "T"}]}}}, "record_types.T: contains itself"),
    ({"enums": {"E": {"values": {"A": 1}}, "F": {"values": {"A": 2}}}},
     "enums.F.values.A: already a constant of E"),
    ({"dmf_version": "1.0.0", "crashdump": {"triage_dump_data_array_size": 4}},
     "crashdump.triage_dump_data_array_size: DMF 1.0.0 has the flat CrashDump config"),
    ({"arch": "x86", "dump_type": "triage"}, "dump_type: x86 triage dumps are not written"),
    ({"livekerneldump": {}, "crash": {"via": "bugcheck"}}, "crash.via: a scenario with livekerneldump ends"),
    ({"crash": {"via": "live_dump"}, "operations": [{"op": "open", "handle": "a"}]},
     "operations[0].op: open is not an operation of a live-dump scenario"),
    ({"crash": {"via": "live_dump"}, "operations": [{"op": "buffer_remove", "name": "b"}]},
     "operations[0].name: no buffer named b was added before"),
    ({"crashdump": {"data_source_count": 0}, "crash": {"via": "ioctl", "handle": "a"}},
     "crash: IOCTL_CRASH_DRIVER needs the CrashDump interface"),
    ({"crashdump": {"buffer_size": 8, "self_record_type": "T"},
      "record_types": {"T": {"fields": [{"name": "A", "type": "ULONG"}]}}},
     "crashdump.buffer_size: 8, but T is 4 bytes"),
    # what a scenario asks the emulator to allocate is bounded before anything is
    ({"crashdump": {"buffer_size": 65536, "buffer_count": 65536}},
     "crashdump.buffer_count x buffer_size = 4294967296 bytes: more than the 64 MiB"),
    ({"crashdump": {"ring_buffer_maximum_size": 0xFFFFFFFF}, "operations": [
        {"op": "open", "handle": "a"},
        {"op": "create", "handle": "a", "guid": GUID, "entries": 0x10000, "entry_size": 0x10000}]},
     "operations[1]: entries x entry_size = 4294967296 bytes: more than the 64 MiB"),
    ({"crash": {"via": "live_dump"}, "livekerneldump": {"buffer_size": 65536, "buffer_count": 65536}},
     "livekerneldump.buffer_count x buffer_size = 4294967296 bytes"),
    ({"crashdump": {"triage_dump_data_array_size": 1 << 20}},
     "crashdump.triage_dump_data_array_size: more than the 65536 blocks"),
]


@pytest.mark.parametrize("document, message", SEMANTIC, ids=[m.split(":")[0] for _, m in SEMANTIC])
def test_what_the_schema_cannot_say_is_refused_in_one_line(document, message):
    assert scenario_validator().first_error(document) is None
    with pytest.raises(ScenarioError) as refused:
        Scenario(document)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_the_validator_refuses_a_schema_keyword_it_does_not_implement():
    with pytest.raises(ValueError, match="allOf"):
        Validator({"type": "object", "properties": {"a": {"allOf": []}}})


def test_defaults_a_driver_would_use():
    # the issue's first tries: no data_source_count, no ring_buffer_maximum_size, and creates still work
    scenario = Scenario({"operations": [
        {"op": "open", "handle": "a"}, {"op": "create", "handle": "a", "guid": GUID, "entries": 64, "entry_size": 32},
        {"op": "open", "handle": "b"}, {"op": "create", "handle": "b", "guid": GUID2, "entries": 8, "entry_size": 32},
        {"op": "create", "handle": "b", "guid": GUID2, "entries": 8, "entry_size": 32}]})
    assert scenario.crashdump["data_source_count"] == 2
    assert scenario.crashdump["ring_buffer_maximum_size"] == 65536
    assert (scenario.arch, scenario.dump_type, scenario.driver) == ("x64", "full", "dmfdemo")
    assert scenario.crash == {"via": "bugcheck"}
