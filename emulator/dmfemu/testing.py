"""The pytest plugin for driver teams (registered through the ``pytest11`` entry point, so
``pip install dmfkd`` is all it takes): the ``dmf_replay`` fixture replays a scenario into the test's
``tmp_path`` and hands back the dump, what it must show, and dmfkd to look at it::

    def test_the_service_log_survives_the_crash(dmf_replay):
        run = dmf_replay("tests/scenarios/service-crash.json")     # or a scenario dict
        shown = run.dmfkd("crashdump", "--guid", "3b6e1f20")        # dmfkd crashdump DUMP --guid ... --format json
        assert [r["hex"] for r in shown["records"]] == run.records("service log", "hex")

``run.dmfkd(COMMAND, ARGS...)`` runs any dmfkd command in-process on the replay's dump (inserted after
the command name) with ``--format json`` and returns the parsed document; a dmfkd error raises
dmfkd.errors.DmfkdError with its one-line message. ``run.check()`` does what ``dmfemu check`` does.

The plugin module stays light: dmfemu's replay code is imported when a test first uses the fixture,
not when pytest starts, so it costs nothing to test runs that never replay.
"""
import io
import json
import os
from typing import Any, Dict, List, Optional

import pytest


class Replay(object):
    """A replayed scenario: `directory` (the test's tmp_path), `dump` (MEMORY.DMP or LIVEDUMP.DMP),
    `isf` (driver.isf.json), `expected` (expected.json's document)."""

    def __init__(self, directory: str, dump: str, expected: Dict[str, Any]):
        self.directory = directory
        self.dump = dump
        self.isf = os.path.join(directory, "driver.isf.json")
        self.expected = expected

    def source(self, name_or_guid: str) -> Dict[str, Any]:
        """expected.json's data source by its name ("self", a create's "source", the handle that created
        it) or by (a prefix of) its GUID."""
        sources = self.expected.get("sources", [])
        for source in sources:
            if source["name"] == name_or_guid or source["guid"] == name_or_guid.lower():
                return source
        matches = [s for s in sources if s["guid"].startswith(name_or_guid.lower())]
        if len(matches) == 1:
            return matches[0]
        raise KeyError("no data source %r in this replay (it has %s)" % (
            name_or_guid, ", ".join("%s %s" % (s["name"], s["guid"]) for s in sources) or "none"))

    def records(self, name_or_guid: str, key: Optional[str] = None) -> List[Any]:
        """The records a data source must show, oldest first (each {"index", "hex"[, "fields"]}), or
        just their `key` ("hex", "fields")."""
        records = self.source(name_or_guid)["records"]
        return records if key is None else [record[key] for record in records]

    def dmfkd(self, command: str, *args) -> Any:
        """`dmfkd COMMAND DUMP ARGS... --format json`, in-process; the parsed JSON."""
        from dmfkd import cli
        from dmfkd.render import Output

        buffer = io.StringIO()
        argv = [command, self.dump] + [str(a) for a in args]
        if "--format" not in argv:
            argv += ["--format", "json"]
        cli.run(argv, output=Output(buffer))
        return json.loads(buffer.getvalue())

    def check(self) -> int:
        """`dmfemu check` on this replay: the number of checks; AssertionError at the first difference."""
        from dmfemu.scenarios import check

        try:
            return check.check_directory(self.directory)
        except check.Difference as difference:
            raise AssertionError(str(difference)) from None


@pytest.fixture
def dmf_replay(tmp_path):
    """dmf_replay(scenario, name=None) -> Replay: `scenario` is a dict, a path or the name of a shipped
    example ("sensor-self-ring-wraps"); each call replays into its own folder of tmp_path."""
    from dmfemu.scenarios import examples, replay, scenario_format

    calls = []

    def run(scenario, name: Optional[str] = None) -> Replay:
        if isinstance(scenario, str) and not os.path.exists(scenario) and not scenario.endswith(".json"):
            scenario = examples.example(scenario).path
        spec = scenario_format.as_scenario(scenario)
        directory = os.path.join(str(tmp_path), name or "replay%d" % len(calls))
        calls.append(directory)
        expected = replay.replay(spec, directory)
        return Replay(directory, os.path.join(directory, replay.dump_name(spec)), expected)
    return run
