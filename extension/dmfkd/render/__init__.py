"""Renderers: commands hand a Report of typed cells to render(); readers never print, renderers never
read targets, and no command branches on the output format.

Formats: table (text fitted to a width, DML links inside WinDbg), json (one document), jsonl (one row
per line), csv. `--out FILE` writes the same json/jsonl/csv (or the raw record bytes for .bin) through
write_file. Text is ASCII-safe because WinDbg's DbgOut reports encoding "ascii" (spec/pykd.md §6).
"""
import os
import sys
import textwrap
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence

from dmfkd.bounded_input import open_output
from dmfkd.errors import OutputError, UsageError
from dmfkd.render.cells import (UNREADABLE, EnumValue, FileTime, Flag, Hex, Link, Seconds, Unreadable,  # noqa: F401
                                display, plain)
from dmfkd.render.data import csv_text, json_text, json_value, jsonl_lines
from dmfkd.render.table import dml_escape, fit, layout

FORMATS = ("table", "json", "jsonl", "csv")
OUT_FORMATS = ("json", "jsonl", "csv", "bin")
#: how a command is run from a DML link inside WinDbg
DEBUGGER_PREFIX = "!py -g -m dmfkd"
#: the width inside WinDbg, where there is no terminal to ask
WINDBG_WIDTH = 120


def ascii_safe(text: str) -> str:
    return str(text).encode("ascii", "backslashreplace").decode("ascii")


class Column(NamedTuple):
    """One column: `key` in the rows, `title` in the table.

    where: "both", "table" (only in the text table, e.g. an ASCII rendering) or "data" (only in
    JSON/CSV rows, e.g. raw pointers the table leaves out). wrap: True for prose that may wrap onto
    several lines to fit the width; "bytes" for a record's hex and "chars" for its ASCII (cut together). optional: 0 = always shown; n > 0 = may be hidden to fit the width, lower
    numbers first. min_width: the narrowest a wrapping column may get.
    """

    key: str
    title: str
    where: str = "both"
    wrap: object = False
    optional: int = 0
    min_width: Optional[int] = None


def _column(spec) -> Column:
    if isinstance(spec, Column):
        return spec
    key, title = spec
    return Column(key, title)


class Report:
    """What a command produces.

    rows/columns: the table (columns = [Column] or [(key, title)]); document: the JSON document when
    the command's JSON form is not simply the row list (e.g. `crashdump --guid G` prints one object);
    title/warnings/notes: lines around the table; next_steps: Links to the commands worth running next;
    text: a preformatted body (hexdumps, trees) for the table view; fast_jsonl: writes the JSON Lines of
    a large ring without per-row objects; binary: the raw bytes `--out FILE.bin` writes.
    """

    def __init__(self, rows: Optional[List[Dict[str, Any]]] = None, columns: Optional[Sequence] = None,
                 document: Any = None, title: Optional[str] = None, notes: Sequence[str] = (),
                 warnings: Sequence[str] = (), next_steps: Sequence[Link] = (), text: Optional[str] = None,
                 fast_jsonl: Optional[Callable[[Callable[[str], None]], None]] = None,
                 binary: Optional[Callable[[], bytes]] = None):
        self.rows = rows if rows is not None else []
        if columns is None:
            columns = [(k, k) for k in self.rows[0].keys()] if self.rows else []
        self.columns = [_column(c) for c in columns]
        self.document = document
        self.title = title
        self.notes = list(notes)
        self.warnings = list(warnings)
        self.next_steps = list(next_steps)
        self.text = text
        self.fast_jsonl = fast_jsonl
        self.binary = binary

    def data_keys(self) -> List[str]:
        return [c.key for c in self.columns if c.where != "table"]

    def data_rows(self) -> List[Dict[str, Any]]:
        keys = self.data_keys()
        return [{k: row.get(k) for k in keys if k in row} for row in self.rows]

    def data_document(self) -> Any:
        return self.document if self.document is not None else self.data_rows()


class Output:
    """Where rendered text goes and how it should look.

    dml: True only inside WinDbg (pykd.isWindbgExt()). width: the table width (None: no limit).
    wide: every column, no fitting. columns: the column keys (or titles) the user picked.
    dump: the dump path next-step commands name outside WinDbg.
    """

    def __init__(self, stream=None, dml: bool = False, width: Optional[int] = None, wide: bool = False,
                 columns: Optional[List[str]] = None, dump: Optional[str] = None):
        self.stream = stream
        self.dml = dml
        self.width = width
        self.wide = wide
        self.columns = columns
        self.dump = dump

    def write(self, text: str) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        try:
            stream.write(ascii_safe(text))
        except BrokenPipeError:
            raise
        except OSError as exc:  # a full disk, a closed terminal: one line, not a traceback
            raise OutputError("cannot write the output: %s" % (exc.strerror or exc))

    def flush(self) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        try:
            stream.flush()
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:
            raise OutputError("cannot write the output: %s" % (getattr(exc, "strerror", None) or exc))

    def write_dml(self, text: str) -> None:
        """Text already carrying DML tags (only called when self.dml is True)."""
        self.write(text)

    def writeln(self, text: str = "") -> None:
        self.write(text + "\n")


def debugger_command(link: Link) -> str:
    """The command a DML link runs: a debugger command as given, or a dmfkd command line."""
    cmd = link.cmd
    return cmd if cmd[:1] in ("!", ".", "$") else "%s %s" % (DEBUGGER_PREFIX, cmd)


def shell_command(link: Link, dump: Optional[str]) -> str:
    """The same step as a command line outside WinDbg: `dmfkd COMMAND DUMP ARGS...`."""
    cmd = link.cmd
    if cmd.startswith(DEBUGGER_PREFIX + " "):
        cmd = cmd[len(DEBUGGER_PREFIX) + 1:]
    elif cmd[:1] in ("!", ".", "$"):
        return cmd
    word, _, rest = cmd.partition(" ")
    parts = ["dmfkd", word]
    if dump:
        parts.append(_quote(dump))
    if rest:
        parts.append(rest)
    return " ".join(parts)


def _quote(path: str) -> str:
    return '"%s"' % path if any(c in path for c in ' \t"\'') else path


def _pick_columns(report: Report, out: Output) -> List[Column]:
    columns = [c for c in report.columns if c.where != "data"]
    if out.columns:
        wanted = [w.strip().lower() for w in out.columns if w.strip()]
        by_name = {}
        for c in report.columns:
            by_name.setdefault(c.key.lower(), c)
            by_name.setdefault(c.title.lower(), c)
        unknown = [w for w in wanted if w not in by_name]
        if unknown:
            raise UsageError("--columns: no column %s (this table has: %s)"
                             % (", ".join(unknown), ", ".join(c.key for c in columns)))
        columns = [by_name[w] for w in wanted]
    return columns


def _lines(text: str, width: Optional[int], indent: str = "  ") -> List[str]:
    """A prose line wrapped to the width (continuation lines indented)."""
    if width is None or len(text) <= width:
        return [text]
    return textwrap.wrap(text, width=width, subsequent_indent=indent, break_long_words=True,
                         break_on_hyphens=False) or [text]


def render_table(report: Report, out: Output) -> None:
    dml = out.dml
    width = None if out.wide else out.width
    esc = dml_escape if dml else (lambda t: t)
    lines = []  # type: List[str]
    if report.title:
        lines.extend(esc(line) for line in _lines(report.title, width))
    for warning in report.warnings:
        lines.extend(esc(line) for line in _lines("WARNING: " + warning, width))
    if report.text is not None:
        for line in report.text.split("\n"):
            lines.extend(esc(part) for part in _lines(line, width, " " * (len(line) - len(line.lstrip()) + 2)))
    columns = _pick_columns(report, out)
    if columns and report.rows:
        table = fit(columns, report.rows, width, debugger_command if dml else (lambda link: None))
        lines.append(layout(table, dml))
        for n, note in enumerate(table.notes, 1):
            lines.extend(esc(line) for line in _lines("[%d] %s" % (n, note), width, "    "))
        if table.hidden:
            lines.extend(esc(line) for line in _lines(
                "(columns hidden to fit %d characters: %s; --wide or --columns shows them)"
                % (width, ", ".join(table.hidden)), width))
    elif columns and report.text is None:
        lines.append("(none)")
    for note in report.notes:
        lines.extend(esc(line) for line in _lines(note, width))
    if report.next_steps:
        if dml:
            lines.append("  ".join('<link cmd="%s">%s</link>' % (dml_escape(debugger_command(link)),
                                                                  dml_escape(display(link.text)))
                                   for link in report.next_steps))
        else:
            steps = [shell_command(link, out.dump) for link in report.next_steps]
            lines.extend(_lines("next: " + " | ".join(steps), width, "      "))
    text = "\n".join(lines) + "\n"
    if dml:
        out.write_dml(text)
    else:
        out.write(text)


def render(report: Report, fmt: str, out: Output) -> None:
    if fmt == "table":
        render_table(report, out)
    elif fmt == "json":
        out.write(json_text(report.data_document()))
    elif fmt == "jsonl":
        if report.fast_jsonl is not None:
            report.fast_jsonl(out.write)
        else:
            for line in jsonl_lines(report.data_rows()):
                out.write(line)
    elif fmt == "csv":
        out.write(csv_text(report.data_keys(), report.data_rows()))
    else:
        raise ValueError("unknown format %r" % fmt)


def out_format(path: str) -> str:
    """The format `--out FILE` writes, from the file's extension."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in OUT_FORMATS:
        raise UsageError("--out %s: the extension must be one of %s" % (path, ", ".join("." + f for f in OUT_FORMATS)))
    return ext


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # ValueError: a NUL byte in a path (it names no file)
        return os.path.abspath(a) == os.path.abspath(b)


def write_file(report: Report, path: str, protected: Sequence[Optional[str]] = ()) -> int:
    """Write the report to `path` in the format its extension names; returns the bytes written.
    Never overwrites a protected path (the dump being read, its symbol files)."""
    fmt = out_format(path)
    for other in protected:
        if other and same_file(path, other):
            raise UsageError("refusing to overwrite %s: it is an input of this command" % path)
    try:
        # opened without blocking (an existing FIFO nobody reads is one line, not a wait)
        if fmt == "bin":
            data = report.binary() if report.binary is not None else b""
            with open_output(path) as handle:
                handle.write(data)
            return len(data)
        with open_output(path, text=True) as handle:
            sink = _CountingSink(handle)
            render(report, fmt, Output(sink))
            return sink.count
    except OSError as exc:
        raise UsageError("cannot write %s: %s" % (path, exc.strerror or exc))


class _CountingSink:
    def __init__(self, handle):
        self.handle = handle
        self.count = 0

    def write(self, text: str) -> None:
        self.handle.write(text)
        self.count += len(text)


__all__ = ["FORMATS", "OUT_FORMATS", "Column", "Report", "Output", "render", "write_file", "out_format",
           "ascii_safe", "dml_escape", "json_value", "Link", "Hex", "Unreadable", "UNREADABLE", "FileTime",
           "EnumValue", "Flag", "display", "plain", "debugger_command", "shell_command"]
