"""Progress of a batch on stderr: a bar redrawn in place when stderr is a terminal, one line every
`interval` seconds otherwise (a log file, CI), and a last line at the end either way.

    [##########..........]  120/200 dumps  45.2/s  ETA 0:00:02  3 errors
    dmfkd batch: 120/200 dumps (60%), 45.2 dumps/s, ETA 0:00:02, 3 errors
"""
import time
from typing import Callable, Optional

BAR_WIDTH = 24
#: the bar is redrawn at most this often (seconds)
REDRAW = 0.1


def _clock_text(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-:--:--"
    seconds = int(round(seconds))
    return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


class Progress:
    def __init__(self, total: int, stream, mode: str = "auto", interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.total = total
        self.stream = stream
        if mode == "auto":
            try:
                mode = "bar" if stream is not None and stream.isatty() else "lines"
            except (AttributeError, ValueError):
                mode = "lines"
        self.mode = mode if stream is not None else "none"
        self.interval = interval
        self.clock = clock
        self.start = clock()
        self.done = 0
        self.errors = 0
        self._last_draw = None  # type: Optional[float]
        self._drawn = 0

    def rate(self) -> Optional[float]:
        elapsed = self.clock() - self.start
        return self.done / elapsed if elapsed > 0 and self.done else None

    def eta(self) -> Optional[float]:
        rate = self.rate()
        return (self.total - self.done) / rate if rate else None

    def update(self, error: bool) -> None:
        self.done += 1
        if error:
            self.errors += 1
        now = self.clock()
        if self.mode == "bar":
            if self._last_draw is None or now - self._last_draw >= REDRAW or self.done == self.total:
                self._draw_bar(now)
        elif self.mode == "lines":
            if self._last_draw is None:
                self._last_draw = now       # the first line comes after one interval
            elif now - self._last_draw >= self.interval:
                self._write(self.line() + "\n")
                self._last_draw = now

    def line(self) -> str:
        rate = self.rate()
        percent = 100 * self.done // self.total if self.total else 100
        return "dmfkd batch: %d/%d dumps (%d%%), %s dumps/s, ETA %s, %d error%s" % (
            self.done, self.total, percent, "%.1f" % rate if rate else "-", _clock_text(self.eta()),
            self.errors, "" if self.errors == 1 else "s")

    def _draw_bar(self, now: float) -> None:
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        rate = self.rate()
        text = "[%s%s] %*d/%d dumps  %s/s  ETA %s  %d error%s" % (
            "#" * filled, "." * (BAR_WIDTH - filled), len(str(self.total)), self.done, self.total,
            "%.1f" % rate if rate else "-", _clock_text(self.eta()), self.errors, "" if self.errors == 1 else "s")
        pad = max(0, self._drawn - len(text))
        self._write("\r" + text + " " * pad)
        self._drawn = len(text)
        self._last_draw = now

    def note(self, text: str) -> None:
        """A line of its own (a warning at the start of the batch), not overwritten by the bar."""
        if self.mode == "none":
            return
        if self.mode == "bar" and self._drawn:
            self._write("\n")
            self._drawn = 0
        self._write("dmfkd batch: %s\n" % text)

    def finish(self) -> None:
        if self.mode == "bar":
            self._draw_bar(self.clock())
            self._write("\n")
        elif self.mode == "lines":
            self._write(self.line() + "\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.mode = "none"      # a closed terminal does not stop the batch
