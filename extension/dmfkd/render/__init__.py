"""Renderers: commands hand a Report to render(); readers never print, renderers never read targets.

Formats: table (tabulate text, with DML links inside WinDbg), json (one document), jsonl (one row
per line), csv. Output is ASCII-safe because WinDbg's DbgOut reports encoding "ascii"
(spec/pykd.md §6).
"""
import csv
import io
import json
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tabulate import tabulate

FORMATS = ("table", "json", "jsonl", "csv")


class Link:
    """A cell that is a DML link inside WinDbg and plain text everywhere else."""

    __slots__ = ("text", "cmd")

    def __init__(self, text, cmd: str):
        self.text = text
        self.cmd = cmd

    def __str__(self) -> str:
        return str(self.text)

    def __repr__(self) -> str:
        return "Link(%r, %r)" % (self.text, self.cmd)


def dml_escape(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def ascii_safe(text: str) -> str:
    return str(text).encode("ascii", "backslashreplace").decode("ascii")


class Output:
    """Where rendered text goes. `dml` is True only inside WinDbg (pykd.isWindbgExt())."""

    def __init__(self, stream=None, dml: bool = False):
        self.stream = stream
        self.dml = dml

    def write(self, text: str) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write(ascii_safe(text))

    def write_dml(self, text: str) -> None:
        """Text already carrying DML tags (only called when self.dml is True)."""
        self.write(text)

    def writeln(self, text: str = "") -> None:
        self.write(text + "\n")


class Report:
    """What a command produces.

    rows/columns: the table (columns = [(key, title)]); document: the JSON document when the
    command's JSON form is not simply the row list (e.g. `crashdump --guid G` prints one object);
    text_before/text_after: extra lines for the table view (headings, warnings, notes, footers).
    """

    def __init__(self, rows: Optional[List[Dict[str, Any]]] = None,
                 columns: Optional[Sequence[Tuple[str, str]]] = None,
                 document: Any = None, title: Optional[str] = None,
                 notes: Sequence[str] = (), warnings: Sequence[str] = (),
                 footer_links: Sequence[Link] = (), text: Optional[str] = None,
                 jsonl: Optional[str] = None):
        self.rows = rows if rows is not None else []
        self.columns = list(columns) if columns is not None else (
            [(k, k) for k in self.rows[0].keys()] if self.rows else [])
        self.document = document
        self.title = title
        self.notes = list(notes)
        self.warnings = list(warnings)
        self.footer_links = list(footer_links)
        self.text = text          # a preformatted body (hexdumps, trees) shown in table view
        self.jsonl = jsonl        # pre-rendered JSON Lines (large rings), used as is by --format jsonl


def _plain(value):
    if isinstance(value, Link):
        return _plain(value.text)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _cell(value, dml: bool) -> str:
    if isinstance(value, Link):
        if dml:
            return '<link cmd="%s">%s</link>' % (dml_escape(value.cmd), dml_escape(value.text))
        return str(value.text)
    if value is None:
        return ""
    text = str(value)
    return dml_escape(text) if dml else text


def json_ready(value):
    """Rows may hold Links, bytes, tuples; JSON gets their plain values."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return _plain(value)


def render_table(report: Report, out: Output) -> None:
    dml = out.dml
    lines = []
    if report.title:
        lines.append(dml_escape(report.title) if dml else report.title)
    for warning in report.warnings:
        lines.append(("WARNING: " + (dml_escape(warning) if dml else warning)))
    if report.text is not None:
        lines.append(dml_escape(report.text) if dml else report.text)
    if report.columns and report.rows:
        headers = [title for _, title in report.columns]
        body = [[_cell(row.get(key), dml) for key, _ in report.columns] for row in report.rows]
        # disable_numparse keeps hex strings and GUIDs exactly as given
        table = tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True)
        if dml:
            # tabulate pads by the length of the tag text; re-pad so columns line up once tags vanish
            table = _realign_dml(body, headers)
        lines.append(table)
    elif report.columns and report.text is None:
        lines.append("(none)")
    for note in report.notes:
        lines.append(dml_escape(note) if dml else note)
    if report.footer_links:
        lines.append("  ".join(_cell(link, dml) for link in report.footer_links))
    text = "\n".join(lines) + "\n"
    if dml:
        out.write_dml(text)
    else:
        out.write(text)


def _visible_len(cell: str) -> int:
    import re

    plain = re.sub(r"<[^>]*>", "", cell)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        plain = plain.replace(entity, char)
    return len(plain)


def _realign_dml(body: List[List[str]], headers: List[str]) -> str:
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], _visible_len(cell))
    def fmt(cells):
        return "  ".join(c + " " * (widths[i] - _visible_len(c)) for i, c in enumerate(cells)).rstrip()
    out = [fmt([dml_escape(h) for h in headers]), "  ".join("-" * w for w in widths)]
    out.extend(fmt(row) for row in body)
    return "\n".join(out)


def render(report: Report, fmt: str, out: Output) -> None:
    if fmt == "table":
        render_table(report, out)
    elif fmt == "json":
        doc = report.document if report.document is not None else report.rows
        out.write(json.dumps(json_ready(doc), indent=2) + "\n")
    elif fmt == "jsonl" and report.jsonl is not None:
        out.write(report.jsonl)
    elif fmt == "jsonl":
        for row in report.rows:
            out.write(json.dumps(json_ready(row), separators=(",", ":")) + "\n")
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([key for key, _ in report.columns])
        for row in report.rows:
            writer.writerow(["" if row.get(k) is None else _plain(row.get(k)) for k, _ in report.columns])
        out.write(buf.getvalue())
    else:
        raise ValueError("unknown format %r" % fmt)
