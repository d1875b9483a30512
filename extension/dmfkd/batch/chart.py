"""The chart of `batch-report` (the `dmfkd[plot]` extra, matplotlib): one bar chart per table, in one file.

Drawn from the rows the tables show, never from the batch files again. Without matplotlib the report
says so in one line and the tables are the whole answer.
"""
import os
from typing import Dict, List, Sequence

from dmfkd.errors import UsageError
from dmfkd.render import Report, display

CHART_FORMATS = (".png", ".svg", ".pdf")
_LABEL = 28


def _short(text: str) -> str:
    return text if len(text) <= _LABEL else text[:_LABEL - 3] + "..."


def _panels(sections: Dict[str, Report]) -> List[tuple]:
    """(title, labels, [(series name, values)]) per table that has rows."""
    panels = []
    if sections.get("bugchecks") and sections["bugchecks"].rows:
        rows = sections["bugchecks"].rows
        panels.append(("Crashes per bug check", [display(r["code"]) or "-" for r in rows],
                       [("crashes", [r["crashes"] for r in rows])]))
    if sections.get("drivers") and sections["drivers"].rows:
        rows = sections["drivers"].rows
        panels.append(("Crashes per driver version", ["%s %s %s" % (r["driver"], r["dmf_version"], r["symbols_id"][-6:])
                                                      for r in rows], [("crashes", [r["crashes"] for r in rows])]))
    events = sections.get("events")
    if events is not None and events.rows:
        keys = getattr(events, "group_keys", [])
        panels.append(("Last records before the crash, by event",
                       [" / ".join(display(r[k]) for k in keys) for r in events.rows],
                       [("records", [r["records"] for r in events.rows])]))
    if sections.get("sources") and sections["sources"].rows:
        rows = sections["sources"].rows
        panels.append(("Sources truncated or orphaned", [r["guid"][:8] for r in rows],
                       [("truncated", [r["truncated"] for r in rows]), ("orphaned", [r["orphaned"] for r in rows])]))
    return panels


def draw_chart(path: str, sections: Dict[str, Report], protected: Sequence[str]) -> str:
    """Write the chart; returns the line the report shows about it."""
    if os.path.splitext(path)[1].lower() not in CHART_FORMATS:
        raise UsageError("--chart %s: the name must end in %s" % (path, ", ".join(CHART_FORMATS)))
    for other in protected:
        if os.path.exists(other) and os.path.exists(path) and os.path.samefile(path, other):
            raise UsageError("refusing to overwrite %s: it is an input of this report" % path)
    try:
        import matplotlib

        matplotlib.use("Agg")       # no display: a file only
        from matplotlib import pyplot
    except ImportError:
        return "no chart: matplotlib is not installed (pip install 'dmfkd[plot]')"
    panels = _panels(sections)
    if not panels:
        return "no chart: the tables have no rows"
    figure, axes = pyplot.subplots(len(panels), 1, figsize=(10, 3.2 * len(panels)), squeeze=False)
    try:
        for axis, (title, labels, series) in zip(axes[:, 0], panels):
            positions = list(range(len(labels)))
            bottom = [0] * len(labels)
            for name, values in series:
                axis.barh(positions, values, left=bottom, label=name)
                bottom = [b + v for b, v in zip(bottom, values)]
            axis.set_yticks(positions)
            axis.set_yticklabels([_short(label) for label in labels], fontsize=8)
            axis.invert_yaxis()
            axis.set_title(title, fontsize=10)
            if len(series) > 1:
                axis.legend(fontsize=8)
        figure.tight_layout()
        try:
            figure.savefig(path)
        except OSError as exc:
            raise UsageError("cannot write %s: %s" % (path, exc.strerror or exc))
    finally:
        pyplot.close(figure)
    return "chart: %s" % path
