"""nt/loaded_modules.py against Microsoft's dbgeng: the module list of the real Windows triage dumps
(the dump's own driver list) and of emulator full dumps (PsLoadedModuleList walked in memory),
compared with dbgeng's module list (IDebugSymbols: base, size, time stamp, module and image name)."""
import os
import re

import pytest

from dmfkd.nt.loaded_modules import loaded_modules
from dmfkd.targets.dumpfile import DumpFile

from helpers.paths import DATA, SAMPLE_DUMP

TRIAGE = [os.path.join(DATA, "windows-triage", name) for name in ("triage_x64.dmp", "triage_arm64.dmp")]
# `lm`: "fffff804`79440000 fffff804`79446000   hal        (deferred)"
_LM_LINE = re.compile(r"^([0-9a-f`]{8,17}) ([0-9a-f`]{8,17})\s+(\S+)\s", re.M)


@pytest.fixture(scope="module")
def answers(dbgeng_oracle):
    dumps = TRIAGE + [SAMPLE_DUMP]
    queries = [dbgeng_oracle.DumpQuery(path, tags=False, modules=True, commands=["lm"]) for path in dumps]
    return dict(zip(dumps, dbgeng_oracle.query(queries)))


@pytest.mark.parametrize("path", TRIAGE + [SAMPLE_DUMP], ids=["triage_x64", "triage_arm64", "emulator"])
def test_module_list_equals_dbgengs(answers, path):
    answer = answers[path]
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
    assert len(rows) == {"triage_x64.dmp": 151, "triage_arm64.dmp": 245, "MEMORY.DMP": 2}[os.path.basename(path)]


@pytest.mark.parametrize("path", TRIAGE + [SAMPLE_DUMP], ids=["triage_x64", "triage_arm64", "emulator"])
def test_lm_lines_equal(answers, path):
    """What `lm` prints: start, end and module name of every loaded module (its "Unloaded modules:"
    section is another list, which dmfkd does not read)."""
    text = answers[path].command_text("lm").split("Unloaded modules:")[0]
    theirs = sorted((int(start.replace("`", ""), 16), int(end.replace("`", ""), 16), name.lower())
                    for start, end, name in _LM_LINE.findall(text))
    with DumpFile(path) as dump:
        rows, _ = loaded_modules(dump)
    assert theirs and sorted((row.base, row.end, row.name.lower()) for row in rows) == theirs
