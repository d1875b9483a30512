"""A picture of records on a time axis: one lane per source, the bug check marked (matplotlib, the
optional `dmfkd[plot]` extra). .svg and .png are matplotlib's own; .html is the SVG inside a page.

Each lane's markers are drawn as one group with the SVG id `lane-<name>`, and text stays text
(svg.fonttype none), so a test - or a person - can find the lanes in the file.
"""
import datetime
import io
import os
from typing import List, NamedTuple, Optional

from dmfkd.bounded_input import open_output
from dmfkd.errors import UsageError
from dmfkd.render.cells import FileTime

PICTURE_FORMATS = ("svg", "png", "html")


class Lane(NamedTuple):
    name: str          # SELF, aux1 ... (the merged table's source column)
    guid: str
    times: List[int]   # FILETIMEs of the lane's records, in time order


def picture_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in PICTURE_FORMATS:
        raise UsageError("-o %s: the extension must be one of %s" % (path, ", ".join("." + f for f in PICTURE_FORMATS)))
    return ext


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UsageError("timeline pictures need matplotlib: pip install 'dmfkd[plot]'")
    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot

    return matplotlib, pyplot


def _when(filetime: int) -> datetime.datetime:
    return FileTime(filetime).datetime() or datetime.datetime(1601, 1, 1)


def draw_timeline(path: str, lanes: List[Lane], title: str, crash: Optional[int], crash_label: str) -> str:
    """Write the picture; returns a one-line note when the bug check lies far outside the records."""
    fmt = picture_format(path)
    matplotlib, pyplot = _pyplot()
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "dmfkd"   # stable ids: the same records give the same file
    times = [t for lane in lanes for t in lane.times]
    figure, axes = pyplot.subplots(figsize=(11, 1.2 + 0.55 * max(1, len(lanes))), dpi=100)
    try:
        for y, lane in enumerate(lanes):
            points = axes.plot([_when(t) for t in lane.times], [y] * len(lane.times), "|", markersize=14,
                               markeredgewidth=1.5, label=lane.name)
            for artist in points:
                artist.set_gid("lane-%s" % lane.name)
        axes.set_yticks(range(len(lanes)))
        axes.set_yticklabels(["%s  %d" % (lane.name, len(lane.times)) for lane in lanes])
        axes.set_ylim(-0.8, len(lanes) - 0.2)
        axes.invert_yaxis()
        axes.grid(axis="x", alpha=0.3)
        axes.set_title(title, fontsize=10)
        note = ""
        if crash is not None and times:
            first, last = min(times), max(times)
            span = max(last - first, 10 ** 7)   # at least a second
            if first - span * 10 <= crash <= last + span * 10:
                line = axes.axvline(_when(crash), color="red", linewidth=1.5)
                line.set_gid("bugcheck")
                axes.annotate(crash_label, xy=(_when(crash), -0.6), color="red", fontsize=8, ha="right")
            else:
                note = ("the bug check (%s) lies %s the records' time span by far: not drawn"
                        % (FileTime(crash).text(), "after" if crash > last else "before"))
        figure.autofmt_xdate()
        figure.tight_layout()
        if fmt == "html":
            buf = io.StringIO()
            figure.savefig(buf, format="svg")
            page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>\n<body>\n%s\n"
                    "</body></html>\n" % (_escape(title), buf.getvalue()[buf.getvalue().find("<svg"):]))
            _write_text(path, page)
        else:
            try:
                with open_output(path) as handle:  # an existing FIFO nobody reads: one line, not a wait
                    figure.savefig(handle, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
            except OSError as exc:
                raise UsageError("cannot write %s: %s" % (path, exc.strerror or exc))
    finally:
        pyplot.close(figure)
    return note


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _write_text(path: str, text: str) -> None:
    try:
        with open_output(path, text=True, encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError("cannot write %s: %s" % (path, exc.strerror or exc))
