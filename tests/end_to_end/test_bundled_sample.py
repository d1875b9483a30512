"""The bundled sample (tests/data/dmfdemo, README's main job) is exactly what the emulator writes today,
and dmfkd reads from it what the emulated clients logged."""
import json
import os
import subprocess
import sys

import pytest

from helpers.paths import DATA, REPO
from dmfkd.cli import main

SAMPLE = os.path.join(DATA, "dmfdemo")


def test_sample_regenerates_byte_for_byte(tmp_path):
    script = os.path.join(REPO, "scripts", "make_sample.py")
    subprocess.run([sys.executable, script, str(tmp_path)], check=True, stdout=subprocess.DEVNULL)
    for name in ("MEMORY.DMP", "driver.isf.json", "expected.json"):
        with open(os.path.join(SAMPLE, name), "rb") as bundled, open(str(tmp_path / name), "rb") as fresh:
            assert bundled.read() == fresh.read(), "%s is stale: run scripts/make_sample.py" % name


@pytest.mark.parametrize("index", [0, 1, 2])
def test_sample_records_match_the_clients_log(capsys, index):
    with open(os.path.join(SAMPLE, "expected.json")) as handle:
        want = json.load(handle)["sources"][index]
    assert main(["crashdump", os.path.join(SAMPLE, "MEMORY.DMP"), "--guid", want["guid"], "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["index"], r["hex"]) for r in doc["records"]] == [(r["index"], r["hex"]) for r in want["records"]]
