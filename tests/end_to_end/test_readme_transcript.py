"""README's WinDbg transcript is what `!crashdump` prints today, through the pykd path (dmfemu's stand-in
attached to the bundled sample, as WinDbg would have it open), at the 120 columns the debugger gives.
This keeps the documentation true; the output's correctness is checked elsewhere (oracle, end-to-end)."""
import io
import os
import shlex

from dmfkd import cli
from dmfkd.render import Output
from dmfkd.render.table import visible
from dmfkd.targets.dumpfile import DumpFile
from dmfkd.targets.isf import IsfSymbols

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(REPO, "tests", "data", "dmfdemo")


def _transcript_commands():
    """(argv, the lines README shows for it) for each `0: kd> !crashdump ...` in the WinDbg section."""
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    section = text[text.index("## Using in WinDbg"):]
    block = section[section.index("```\n") + 4:]
    block = block[:block.index("```\n")]
    commands, current = [], None
    for line in block.splitlines():
        if line.startswith("0: kd> "):
            current = None
            if line.startswith("0: kd> !crashdump"):
                current = (["crashdump"] + shlex.split(line[len("0: kd> !crashdump"):]), [])
                commands.append(current)
        elif current is not None:
            current[1].append(line)
    return commands


def test_the_readme_transcript_is_todays_output(pykd_standin):
    commands = _transcript_commands()
    assert len(commands) >= 2
    with DumpFile(os.path.join(SAMPLE, "MEMORY.DMP")) as target:
        target.symbols = IsfSymbols.load(os.path.join(SAMPLE, "driver.isf.json"))
        pykd_standin.attach(target)
        for argv, shown in commands:
            buf = io.StringIO()
            assert cli.run(argv + ["--width", "120"], output=Output(buf, dml=True)) == 0
            assert visible(buf.getvalue()).splitlines() == shown, " ".join(argv)
            assert max(len(line) for line in shown) <= 120
