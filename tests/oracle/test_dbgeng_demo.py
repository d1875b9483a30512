"""The product demo (`dmfemu demo`) judged by dbgeng: the crash blobs ReadTagged returns are the
bytes dmfkd decodes from (DumpFile) and the bytes the emulator says it wrote (expected.json); `lm`
lists the demo driver at its image base and `r` shows registers."""
import json
import os
import subprocess
import sys

import pytest

from dmfkd.targets.dumpfile import DumpFile

pytestmark = pytest.mark.oracle

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMOS = [("x64", "full"), ("x64", "bitmap"), ("x86", "full"), ("arm64", "full"), ("arm64", "bitmap"),
         ("arm64", "triage")]


@pytest.fixture(scope="module")
def demos(oracle_tmp, dbgeng_oracle):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(REPO, "extension"), os.path.join(REPO, "emulator")])
    out = {}
    for arch, dump_type in DEMOS:
        directory = os.path.join(str(oracle_tmp), "dbgeng-demo-%s-%s" % (arch, dump_type))
        subprocess.run([sys.executable, "-m", "dmfemu", "demo", "-o", directory, "--arch", arch,
                        "--dump-type", dump_type], check=True, env=env, stdout=subprocess.DEVNULL, timeout=300)
        with open(os.path.join(directory, "expected.json")) as handle:
            out[(arch, dump_type)] = (os.path.join(directory, "MEMORY.DMP"), json.load(handle))
    answers = dbgeng_oracle.query([dbgeng_oracle.DumpQuery(path, commands=["lm", "r"], modules=True)
                                   for path, _ in out.values()])
    return {key: (path, expected, answer) for (key, (path, expected)), answer in zip(out.items(), answers)}


@pytest.mark.parametrize("kind", DEMOS, ids=["-".join(k) for k in DEMOS])
def test_crash_blobs_dbgeng_reads_are_what_dmfkd_decodes(demos, kind):
    path, expected, answer = demos[kind]
    assert answer.opened, answer.open_text
    theirs = answer.tag_bytes()
    assert [(g, n) for g, n, _ in theirs] == [(b["guid"], b["length"]) for b in expected["blobs"]]
    with DumpFile(path) as dump:
        for (guid, _, data), blob in zip(theirs, expected["blobs"]):
            assert data == dump.read_tagged(guid) == bytes.fromhex(blob["hex"])


@pytest.mark.parametrize("kind", DEMOS, ids=["-".join(k) for k in DEMOS])
def test_lm_lists_the_demo_driver_and_r_works(demos, kind):
    _, expected, answer = demos[kind]
    base = expected["image_base"]
    if kind[0] == "x86" and base & 0x80000000:
        base |= 0xFFFFFFFF00000000            # dbgeng widens 32-bit addresses by sign extension
    modules = {m["module"]: m["base"] for m in answer.modules}
    assert modules[expected["module"]] == base
    assert expected["module"] in answer.command_text("lm")
    assert answer.commands["r"]["hr"] == 0, answer.command_text("r")
    assert answer.open["bugcheck"][0] == expected["bugcheck"]["code"]
