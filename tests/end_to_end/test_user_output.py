"""What a user reads: every table fits 120 columns (plain text and DML), and nothing a user sees cites
the spec's section numbers, quirk ids, invariant numbers or C source lines - on the bundled sample and on
the emulator's x64, x86, triage and live dumps, for every command and every --help."""
import io
import json
import os
import re

import pytest

from dmfkd import cli
from dmfkd.commands import load_all
from dmfkd.render import Output
from dmfkd.render.table import visible
from dmfemu.scenarios.crashdump_demo import demo_scenario
from dmfemu.scenarios.crashdump_replay import run_scenario

from helpers.livedump_runs import build
from helpers.paths import SAMPLE_DUMP

FORBIDDEN = re.compile(r"spec/|\u00a7|sec\. \d|Q-RB|Q-CD|Q-LKD|\.c:\d|\binv\. \d")
WIDTH = 120


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    out = {"sample": (SAMPLE_DUMP, json.load(open(os.path.join(os.path.dirname(SAMPLE_DUMP), "expected.json"))))}
    for arch, dump_type in (("x64", "bitmap"), ("x86", "full"), ("x64", "triage")):
        folder = str(tmp_path_factory.mktemp("%s-%s" % (arch, dump_type)))
        expected = run_scenario(demo_scenario(arch=arch, dump_type=dump_type), folder)
        out["%s-%s" % (arch, dump_type)] = (os.path.join(folder, "MEMORY.DMP"), expected)
    live = tmp_path_factory.mktemp("live")
    run, expected, path, isf = build(live)
    out["livedump"] = (path, expected)
    return out


def _text(argv, dml=False):
    buf = io.StringIO()
    assert cli.run(argv, output=Output(buf, dml=dml)) == 0, argv
    return buf.getvalue()


def _command_lines(name, dump, expected, tmp):
    lines = [["info"], ["tags"], ["crashdump"], ["crashdump", "--all"], ["datasources"], ["modules"], ["bugcheck"],
             ["livedump"], ["lm"]]
    for source in expected.get("sources", []):
        lines.append(["crashdump", "--guid", source["guid"]])
        lines.append(["crashdump", "--guid", source["guid"], "--last", "3", "--hex"])
    if expected.get("sources"):
        self_guid = expected["sources"][0]["guid"]
        lines.append(["crashdump", "--guid", self_guid, "--type", "dmfdemo!DMFDEMO_EVENT"])
        lines.append(["crashdump", "--merge-by", "Timestamp", "--type", "%s=dmfdemo!DMFDEMO_EVENT" % self_guid])
        lines.append(["timeline", "-o", os.path.join(tmp, "%s.svg" % name), "--type",
                      "%s=dmfdemo!DMFDEMO_EVENT" % self_guid])
        lines.append(["tags", "--hex", self_guid])
    if name == "livedump":
        lines.append(["livedump", "--hex", "0"])
    return lines


def _check(text, where):
    widest = max((len(visible(line)) for line in text.splitlines()), default=0)
    assert widest <= WIDTH, "%s: a line of %d columns\n%s" % (where, widest, text)
    leak = FORBIDDEN.search(text)
    assert not leak, "%s: %r in what the user reads\n%s" % (where, leak.group(0), text)


def test_every_command_fits_and_speaks_the_users_language(dumps, tmp_path):
    pytest.importorskip("matplotlib")
    ran = set()
    for name, (dump, expected) in dumps.items():
        for argv in _command_lines(name, dump, expected, str(tmp_path)):
            full = argv[:1] + [dump] + argv[1:] + ["--width", str(WIDTH)]
            _check(_text(full), "%s: %s" % (name, " ".join(argv)))
            ran.add(argv[0])
        _check(_text(["crashdump", dump], dml=True), "%s: crashdump (DML)" % name)
        # the ring handles the memory shows (not in a triage dump)
        if name != "x64-triage" and name != "livedump":
            for source in json.loads(_text(["datasources", dump, "--format", "json"])):
                if source.get("ring_handle"):
                    _check(_text(["ringbuffer", dump, "0x%x" % source["ring_handle"], "--width", str(WIDTH)]),
                           "%s: ringbuffer" % name)
                    ran.add("ringbuffer")
    assert ran == {c.name for c in load_all()}


def test_help_speaks_the_users_language(capsys):
    from dmfkd.cli import build_parser

    parser = build_parser()
    texts = [parser.format_help()]
    for action in parser._subparsers._group_actions:
        for name, sub in action.choices.items():
            texts.append(sub.format_help())
    for text in texts:
        leak = FORBIDDEN.search(text)
        assert not leak, "%r in --help:\n%s" % (leak.group(0), text)
    assert len(texts) == len(load_all()) + 1


def test_json_keeps_every_field_whatever_the_width(dumps):
    dump, _ = dumps["sample"]
    narrow = json.loads(_text(["datasources", dump, "--format", "json", "--width", "40"]))
    wide = json.loads(_text(["datasources", dump, "--format", "json", "--wide"]))
    assert narrow == wide and {"reader", "items", "ring_handle", "component"} <= set(narrow[0])
