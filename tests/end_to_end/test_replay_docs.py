"""What README.md and docs/scenarios.md show a driver team works as shown: README's pytest test, run by
pytest in a fresh folder with only the installed plugin (the pytest11 entry point) to give it the
dmf_replay fixture, and the annotated scenario of docs/scenarios.md, replayed and checked; the examples
table lists the shipped examples."""
import json
import os
import re
import subprocess
import sys

from dmfemu.scenarios.check import check_directory
from dmfemu.scenarios.examples import list_examples
from dmfemu.scenarios.replay import replay

from helpers.paths import REPO


def _block(path: str, marker: str) -> str:
    with open(os.path.join(REPO, path), encoding="utf-8") as handle:
        text = handle.read()
    found = re.search(r"<!-- %s -->\n```\w+\n(.*?)```\n<!-- /%s -->" % (marker, marker), text, re.S)
    assert found, "no %s block in %s" % (marker, path)
    return found.group(1)


def test_the_readme_pytest_example_runs_with_the_installed_plugin(tmp_path):
    code = _block("README.md", "plugin-example")
    assert len(code.strip().splitlines()) <= 20
    (tmp_path / "test_driver_team.py").write_text(code)
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_driver_team.py"],
                          cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=300)
    output = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, output
    assert "1 passed" in output


def test_the_annotated_scenario_replays_and_checks(tmp_path):
    scenario = json.loads(_block("docs/scenarios.md", "scenario-example"))
    expected = replay(scenario, str(tmp_path))
    assert check_directory(str(tmp_path)) > 0
    self_ring, service = expected["sources"]
    assert len(self_ring["records"]) == 16 and self_ring["records"][-1]["fields"]["Value"] == 41000 + 49 * 100
    assert self_ring["records"][0]["enum_names"] == {"Kind": "KindTemperature"}
    assert service["orphaned"] and [r["hex"][:14] for r in service["records"]] == [b"service".hex()] * 2
    assert expected["bugcheck"]["code"] == 0xDEADDEAD


def test_the_docs_list_every_example():
    with open(os.path.join(REPO, "docs", "scenarios.md"), encoding="utf-8") as handle:
        listed = re.findall(r"^\| `([a-z0-9._-]+)` \|", handle.read(), re.M)
    assert sorted(listed) == sorted(e.name for e in list_examples())
