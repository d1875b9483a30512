"""dump -> scenario -> dump: `dmfkd crashdump DUMP --to-scenario FILE` writes the DMF state a dump shows as
a scenario (checked against the shipped schema); replaying it gives a dump on which every command that
shows the CrashDump state prints the same rows (addresses and handles aside: helpers.replay_compare) and
the same table text - for every crash-dump example, as written and on ARM64."""
import io
import json
import os
import re

import pytest

from dmfkd import cli
from dmfkd.render import Output

from dmfemu.scenarios.examples import example, list_examples
from dmfemu.scenarios.replay import replay
from dmfemu.scenarios.scenario_format import Scenario, read_document
from dmfemu.scenarios.schema_validation import scenario_validator

from helpers.replay_compare import COMMANDS, first_difference, rows

CRASH_EXAMPLES = [e.name for e in list_examples() if "livekerneldump" not in read_document(e.path)]


def to_scenario(dump: str, path: str, *extra) -> dict:
    buffer = io.StringIO()
    assert cli.run(["crashdump", dump, "--to-scenario", path] + list(extra), output=Output(buffer)) == 0
    with open(path) as handle:
        document = json.load(handle)
    assert scenario_validator().first_error(document) is None
    return document


def text_of(dump: str, argv) -> str:
    """The table text, the dump's folder and the machine's addresses and handles taken out."""
    buffer = io.StringIO()
    cli.run([argv[0], dump] + list(argv[1:]) + ["--wide"], output=Output(buffer))
    return re.sub(r"0x[0-9a-f]{6,}", "0x<machine>", buffer.getvalue().replace(os.path.dirname(dump), "<dir>"))


def round_trip(tmp_path, name: str, document, *extra):
    original = str(tmp_path / "original")
    replay(document, original)
    scenario = to_scenario(os.path.join(original, "MEMORY.DMP"), str(tmp_path / "scenario.json"), *extra)
    again = str(tmp_path / "replayed")
    replay(scenario, again)
    return os.path.join(original, "MEMORY.DMP"), os.path.join(again, "MEMORY.DMP"), scenario


ROUND_TRIPS = [(name, None) for name in CRASH_EXAMPLES] + \
    [(name, "arm64") for name in CRASH_EXAMPLES if name != "large-million-operations"]


@pytest.mark.parametrize("name, arch", ROUND_TRIPS, ids=["%s-%s" % (n, a or "as-written") for n, a in ROUND_TRIPS])
def test_every_example_round_trips(tmp_path, name, arch):
    document = read_document(example(name).path)
    if arch is not None:
        document["arch"] = arch
    if name == "large-million-operations":
        document["operations"][0]["repeat"] = 5000    # the same state in small: the ring still wraps
    document = Scenario(document, base_dir=os.path.dirname(example(name).path))   # its schema file is there
    extra = ("--entry-size", "128") if document.dump_type == "triage" else ()
    original, replayed, scenario = round_trip(tmp_path, name, document, *extra)
    before, after = rows(original), rows(replayed)
    for command in before:
        assert first_difference(before[command], after[command]) == "", command
    # and the tables read the same, line for line
    for argv in COMMANDS:
        assert text_of(original, argv) == text_of(replayed, argv), argv
    assert scenario["format"] == "dmfemu-scenario/1"


def test_the_scenario_of_the_bundled_sample(tmp_path):
    sample = os.path.join(os.path.dirname(__file__), os.pardir, "data", "dmfdemo", "MEMORY.DMP")
    scenario = to_scenario(os.path.abspath(sample), str(tmp_path / "sample.json"))
    ops = [op["op"] for op in scenario["operations"]]
    # SELF records, then the orphaned source (created, written, closed) and the live one with its reader
    assert ops.count("create") == 2 and ops.count("close") == 1 and "open_source" in ops
    assert scenario["crash"] == {"via": "ioctl", "handle": "handle1"}
    replay(scenario, str(tmp_path / "again"))
    before, after = rows(os.path.abspath(sample)), rows(str(tmp_path / "again" / "MEMORY.DMP"))
    for command in before:
        assert first_difference(before[command], after[command]) == "", command


def test_to_scenario_refuses_to_overwrite_its_inputs_and_other_extensions(tmp_path, capsys):
    document = read_document(example("deaddead-ioctl").path)
    replay(document, str(tmp_path))
    dump = str(tmp_path / "MEMORY.DMP")
    isf = str(tmp_path / "driver.isf.json")
    before = open(isf, "rb").read()
    assert cli.main(["crashdump", dump, "--to-scenario", isf]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert open(isf, "rb").read() == before
    assert cli.main(["crashdump", dump, "--to-scenario", str(tmp_path / "s.txt")]) == 2
    assert "must end in .json" in capsys.readouterr().err
    assert cli.main(["crashdump", dump, "--to-scenario", str(tmp_path / "s.json"), "--last", "3"]) == 2
    assert "--last does not apply to --to-scenario" in capsys.readouterr().err


def test_without_dmf_data_there_is_no_scenario(tmp_path, capsys, triage_x64):
    assert cli.main(["crashdump", triage_x64, "--to-scenario", str(tmp_path / "s.json")]) == 2
    assert "no DMF data" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()
