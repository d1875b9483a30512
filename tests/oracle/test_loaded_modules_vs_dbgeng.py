"""nt/loaded_modules.py against Microsoft's dbgeng: the module list of the real Windows triage dumps
(the dump's own driver list) and of emulator full dumps (PsLoadedModuleList walked in memory),
compared with dbgeng's module list (IDebugSymbols: base, size, time stamp, module and image name); the
emulator's ARM64 demo too, as a full dump and as a triage dump."""
import os
import re

import pytest

from dmfkd.nt.loaded_modules import loaded_modules
from dmfkd.targets.dumpfile import DumpFile

from helpers.paths import DATA, SAMPLE_DUMP

TRIAGE = [os.path.join(DATA, "windows-triage", name) for name in ("triage_x64.dmp", "triage_arm64.dmp")]
# `lm`: "fffff804`79440000 fffff804`79446000   hal        (deferred)"
_LM_LINE = re.compile(r"^([0-9a-f`]{8,17}) ([0-9a-f`]{8,17})\s+(\S+)\s", re.M)


def _arm64_demos(directory):
    """The emulator's ARM64 demo, full (PsLoadedModuleList in memory) and triage (the dump's driver list)."""
    from dmfemu.scenarios.crashdump_demo import demo_scenario
    from dmfemu.scenarios.crashdump_replay import run_scenario

    paths = []
    for dump_type in ("full", "triage"):
        out = os.path.join(directory, "modules-arm64-%s" % dump_type)
        run_scenario(demo_scenario("arm64", dump_type=dump_type), out)
        paths.append(os.path.join(out, "MEMORY.DMP"))
    return paths


@pytest.fixture(scope="module")
def dumps(oracle_tmp):
    return TRIAGE + [SAMPLE_DUMP] + _arm64_demos(str(oracle_tmp))


@pytest.fixture(scope="module")
def answers(dbgeng_oracle, dumps):
    queries = [dbgeng_oracle.DumpQuery(path, tags=False, modules=True, commands=["lm"]) for path in dumps]
    return dict(zip(IDS, dbgeng_oracle.query(queries)))


IDS = ["triage_x64", "triage_arm64", "emulator", "emulator_arm64_full", "emulator_arm64_triage"]


@pytest.mark.parametrize("name", IDS)
def test_module_list_equals_dbgengs(answers, dumps, name):
    path = dumps[IDS.index(name)]
    answer = answers[name]
    assert answer.opened, answer.open
    with DumpFile(path) as dump:
        rows, warnings = loaded_modules(dump)
        entries = dump.triage_drivers()
    assert warnings == []
    theirs = sorted((m["base"], m["size"], m["module"].lower(), m["image"]) for m in answer.modules)
    mine = sorted((row.base, row.end - row.base, row.name.lower(), row.image_path) for row in rows)
    assert mine == theirs
    if entries is not None:
        # dbgeng's time stamp is the driver list's (the PE header of most drivers is not in a triage dump)
        assert sorted((m["base"], m["timestamp"]) for m in answer.modules) == \
            sorted((entry.base, entry.time_date_stamp) for entry in entries)
    else:
        assert sorted((m["base"], m["timestamp"]) for m in answer.modules) == \
            sorted((row.base, row.time_date_stamp) for row in rows)
    assert len(rows) == {"triage_x64": 151, "triage_arm64": 245}.get(name, 2)


@pytest.mark.parametrize("name", IDS)
def test_lm_lines_equal(answers, dumps, name):
    """What `lm` prints: start, end and module name of every loaded module (its "Unloaded modules:"
    section is another list, which dmfkd does not read)."""
    path = dumps[IDS.index(name)]
    text = answers[name].command_text("lm").split("Unloaded modules:")[0]
    theirs = sorted((int(start.replace("`", ""), 16), int(end.replace("`", ""), 16), name.lower())
                    for start, end, name in _LM_LINE.findall(text))
    with DumpFile(path) as dump:
        rows, _ = loaded_modules(dump)
    assert theirs and sorted((row.base, row.end, row.name.lower()) for row in rows) == theirs
