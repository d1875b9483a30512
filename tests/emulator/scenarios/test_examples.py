"""The example scenarios shipped with dmfemu: `dmfemu scenario --list` shows them with their descriptions,
`dmfemu scenario --example NAME -o DIR` writes and replays each, on x64, x86 and ARM64, and `dmfemu check DIR`
finds that dmfkd shows what expected.json says - and a changed expected.json is a difference."""
import json
import os

import pytest

from dmfemu import cli
from dmfemu.scenarios.examples import example, list_examples
from dmfemu.scenarios.scenario_format import load_scenario_file

EXAMPLES = [e.name for e in list_examples()]
LARGE = "large-million-operations"


def test_the_examples_are_the_driver_patterns_the_issue_names(capsys):
    assert sorted(EXAMPLES) == sorted([
        "sensor-self-ring-wraps", "service-dies-orphan", "reader-drains-before-crash",
        "truncated-by-maximum-allowed", "x86-dmf-1.0", "live-dump-hang", "deaddead-ioctl", LARGE,
        "half_created_sources"])
    assert cli.main(["scenario", "--list"]) == 0
    listing = capsys.readouterr().out
    for name in EXAMPLES:
        assert "\n%s\n" % name in "\n" + listing
    assert max(len(line) for line in listing.splitlines()) <= 100


def _arch_case(name, arch):
    """The example as written (x64 unless it says otherwise), or overridden to x86 where dmfemu writes
    that dump (x86 has no triage dumps: full instead)."""
    if arch == "x86":
        return ["--arch", "x86", "--dump-type", "full"]
    return ["--arch", arch]


# ARM64 too (the large one, six seconds per architecture, on x64 and x86 only)
CASES = [(name, arch) for name in EXAMPLES for arch in ("x64", "x86", "arm64") if (name, arch) != (LARGE, "arm64")]


@pytest.mark.parametrize("name, arch", CASES, ids=["%s-%s" % case for case in CASES])
def test_every_example_replays_and_dmfkd_shows_what_it_expects(tmp_path, capsys, name, arch):
    out = str(tmp_path / name)
    assert cli.main(["scenario", "--example", name, "-o", out] + _arch_case(name, arch)) == 0
    assert os.path.exists(os.path.join(out, name + ".json"))
    report = capsys.readouterr().out
    assert "operation(s)" in report and len(report.splitlines()) == 1
    assert cli.main(["check", out]) == 0
    assert "dmfkd shows what expected.json says" in capsys.readouterr().out
    with open(os.path.join(out, "expected.json")) as handle:
        expected = json.load(handle)
    assert expected["arch"] == arch


def test_the_large_example_has_a_million_operations():
    scenario = load_scenario_file(example(LARGE).path)
    assert sum(op.repeat for op in scenario.operations) >= 1000000


def test_an_example_with_a_schema_file_brings_it_along(tmp_path, capsys):
    out = tmp_path / "svc"
    assert cli.main(["scenario", "--example", "service-dies-orphan", "-o", str(out)]) == 0
    assert (out / "service_event.py").exists()
    # the copy replays from its own folder too
    assert cli.main(["scenario", str(out / "service-dies-orphan.json"), "-o", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "expected.json").read_bytes() == (out / "expected.json").read_bytes()


@pytest.mark.parametrize("change, message", [
    (lambda e: e["sources"][1]["records"][3].update(hex="00" * 64),
     "sources[1] (3b6e1f20-94c7-4d8a-b2e5-70c1a9d4e610).records[3].hex: expected 0000"),
    (lambda e: e["sources"][1].update(orphaned=False),
     "sources[1] (3b6e1f20-94c7-4d8a-b2e5-70c1a9d4e610) (N, S, P, orphaned): expected [64, 64, 41, false], dmfkd "
     "shows [64, 64, 41, true]"),
    (lambda e: e["sources"][1]["records"][0]["fields"].update(Detail="other"),
     "sources[1] (3b6e1f20-94c7-4d8a-b2e5-70c1a9d4e610).records[0].fields.Detail: expected other, dmfkd shows "
     "uploading batch"),
    (lambda e: e["sources"][1]["records"][40]["enum_names"].update(Code="Warning"),
     "sources[1] (3b6e1f20-94c7-4d8a-b2e5-70c1a9d4e610).records[40].enum_names.Code: expected Warning, dmfkd "
     "shows Failure"),
    (lambda e: e["bugcheck"].update(code=1), "bugcheck.code: expected 1, dmfkd shows 10"),
    (lambda e: e["blobs"].pop(), "blobs (GUID, size) in file order: expected"),
])
def test_check_reports_the_first_difference(tmp_path, capsys, change, message):
    out = str(tmp_path / "svc")
    assert cli.main(["scenario", "--example", "service-dies-orphan", "-o", out]) == 0
    path = os.path.join(out, "expected.json")
    with open(path) as handle:
        expected = json.load(handle)
    change(expected)
    with open(path, "w") as handle:
        json.dump(expected, handle)
    capsys.readouterr()
    assert cli.main(["check", out]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dmfemu: " + message) and len(err.splitlines()) == 1


def test_check_without_a_replay_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["check", str(tmp_path)]) == 2
    assert "expected.json" in capsys.readouterr().err
