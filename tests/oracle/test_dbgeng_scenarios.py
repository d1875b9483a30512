"""Microsoft's dbgeng on the replays of the shipped example scenarios: it opens every dump (crash dumps
and the live dump, x64 and x86), its bug check is expected.json's, and every secondary-data blob it
enumerates (.enumtag / ReadTagged) is expected.json's, in the same order, byte for byte. For a
scenario with record types and the driver's PDB (clang-cl + lld-link), dbgeng's `dt` of each record
type and enum agrees with the ISF - the record types reach the PDB WinDbg loads.

Skips with one line without Wine (and, for the PDB, without clang-14/lld-14)."""
import json
import os
import re
import shutil

import pytest

from dmfemu.scenarios.examples import list_examples
from dmfemu.scenarios.replay import dump_name, replay, replay_with_pdb
from dmfemu.scenarios.scenario_format import Scenario, read_document

from oracle import env

pytestmark = pytest.mark.oracle

_DT_LINE = re.compile(r"^\s*\+0x([0-9a-f]+)\s+(\w+)\s+:")
_ENUM_LINE = re.compile(r"^\s*(\w+)\s+=\s+0n(-?\d+)")


def _scenario(example, arch):
    document = read_document(example.path)
    if example.name == "large-million-operations":
        document["operations"][0]["repeat"] = 10000     # the same shape, a dump written in a second
    if arch == "x86":
        document.update(arch="x86", dump_type="full")
    return Scenario(document, base_dir=os.path.dirname(example.path))


@pytest.fixture(scope="module")
def replays(oracle_tmp, dbgeng_oracle):
    out = {}
    for example in list_examples():
        for arch in ("x64", "x86"):
            scenario = _scenario(example, arch)
            folder = os.path.join(str(oracle_tmp), "scenario-%s-%s" % (example.name, arch))
            expected = replay(scenario, folder)
            out[(example.name, arch)] = (os.path.join(folder, dump_name(scenario)), expected)
    answers = dbgeng_oracle.query([dbgeng_oracle.DumpQuery(dump, commands=[".bugcheck"]) for dump, _ in out.values()])
    return {key: (dump, expected, answer) for (key, (dump, expected)), answer in zip(out.items(), answers)}


CASES = [(e.name, arch) for e in list_examples() for arch in ("x64", "x86")]


@pytest.mark.parametrize("name, arch", CASES, ids=["%s-%s" % c for c in CASES])
def test_dbgeng_reads_every_example_replay_as_expected(replays, name, arch):
    dump, expected, answer = replays[(name, arch)]
    assert answer.opened, answer.open_text
    bugcheck = answer.command_text(".bugcheck")
    assert "%08x" % expected["bugcheck"]["code"] in bugcheck.lower(), bugcheck
    if "blobs" in expected:
        assert answer.tag_bytes() == [(b["guid"], b["length"], bytes.fromhex(b["hex"])) for b in expected["blobs"]]
    elif expected.get("secondary") is not None and not expected["exclude_dmf_data"]:
        secondary = expected["secondary"]
        assert (secondary["guid"], bytes.fromhex(secondary["hex"])) in [(g, d) for g, _, d in answer.tag_bytes()]


def test_dbgeng_types_of_a_scenario_with_record_types_come_from_its_pdb(oracle_tmp, dbgeng_oracle):
    from dmfemu import native_build

    try:
        native_build.find_tools()
    except native_build.ToolsMissing as exc:
        pytest.skip("oracle: %s" % exc)
    example = [e for e in list_examples() if e.name == "sensor-self-ring-wraps"][0]
    folder = os.path.join(str(oracle_tmp), "scenario-pdb")
    with env.cache_lock():
        replay_with_pdb(_scenario(example, "x64"), folder, cache=os.path.join(env.cache_dir(), "pdb"))
    with open(os.path.join(folder, "driver.isf.json")) as handle:
        isf = json.load(handle)
    symbols = os.path.join(str(oracle_tmp), "scenario-pdb-symbols")
    shutil.rmtree(symbols, ignore_errors=True)
    os.makedirs(symbols)
    shutil.copy(os.path.join(folder, "symbols", "sensordrv.pdb"), symbols)
    original = env.symbol_dir
    env.symbol_dir = lambda: symbols
    try:
        answer = dbgeng_oracle.query_one(os.path.join(folder, "MEMORY.DMP"), tags=False,
                                         commands=["dt sensordrv!SENSOR_SAMPLE", "dt sensordrv!SENSOR_KIND"])
    finally:
        env.symbol_dir = original
    members = {}
    for line in answer.command_text("dt sensordrv!SENSOR_SAMPLE").splitlines():
        match = _DT_LINE.match(line)
        if match:
            members[match.group(2)] = int(match.group(1), 16)
    assert members == {f: spec["offset"] for f, spec in isf["user_types"]["SENSOR_SAMPLE"]["fields"].items()}
    constants = {}
    for line in answer.command_text("dt sensordrv!SENSOR_KIND").splitlines():
        match = _ENUM_LINE.match(line)
        if match:
            constants[match.group(1)] = int(match.group(2))
    assert constants == isf["enums"]["SENSOR_KIND"]["constants"]
