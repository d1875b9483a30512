"""Progress on stderr: a bar redrawn in place on a terminal, a line every interval otherwise."""
import io

from dmfkd.batch.progress import Progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_lines_when_stderr_is_not_a_terminal():
    clock, stream = Clock(), io.StringIO()
    progress = Progress(200, stream, "auto", interval=10.0, clock=clock)
    assert progress.mode == "lines"
    for n in range(100):
        clock.now += 0.25               # 4 dumps/s
        progress.update(error=n % 50 == 0)
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "dmfkd batch: 41/200 dumps (20%), 4.0 dumps/s, ETA 0:00:40, 1 error"
    assert lines[-1] == "dmfkd batch: 100/200 dumps (50%), 4.0 dumps/s, ETA 0:00:25, 2 errors"
    assert len(lines) == 3


def test_a_bar_on_a_terminal_is_redrawn_in_place():
    clock, stream = Clock(), Terminal()
    progress = Progress(8, stream, "auto", clock=clock)
    assert progress.mode == "bar"
    for n in range(8):
        clock.now += 0.5
        progress.update(error=n == 3)
    progress.finish()
    text = stream.getvalue()
    assert "\n" not in text[:-1] and text.endswith("\n")
    assert text.split("\r")[-1] == "[########################] 8/8 dumps  2.0/s  ETA 0:00:00  1 error\n"


def test_notes_keep_their_own_line_and_none_writes_nothing():
    stream = Terminal()
    progress = Progress(2, stream, "bar", clock=Clock())
    progress.update(error=False)
    progress.note("the per-dump memory limit is not enforced on this OS")
    assert "\ndmfkd batch: the per-dump memory limit is not enforced on this OS\n" in stream.getvalue()
    quiet = io.StringIO()
    progress = Progress(2, quiet, "none")
    progress.update(error=True)
    progress.finish()
    assert quiet.getvalue() == ""
