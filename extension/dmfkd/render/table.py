"""Text tables fitted to a width (tabulate's "simple" style), with DML links inside WinDbg.

Fitting, in order, until the widest line is within the width:
1. record bytes (Column.wrap "bytes", and the "chars" column of their ASCII) are cut at the same number of
   bytes a line, a multiple of 8 where there is room;
2. prose columns (Column.wrap True) wrap onto several lines, never narrower than their minimum;
3. optional columns are hidden, least important first, and a note says which (`--wide` shows them); the
   room that makes goes back to the wrapped columns;
4. the longest remaining cells move to numbered notes under the table ("[1]" in the cell).
The plain text is tabulate's; the DML text is laid out here with the same widths, so the columns line up
once the link tags are gone.
"""
import re
import textwrap
from typing import Dict, List, Optional, Sequence

from tabulate import tabulate

from dmfkd.render.cells import Link, display

SEPARATOR = 2          # spaces between columns (tabulate "simple")
HEADER_PAD = 2         # tabulate pads a header by 2 (MIN_PADDING): a column is at least len(title) + 2
DEFAULT_MIN_WRAP = 16  # a wrapping column keeps at least this many characters a line
NOTE_MIN = 12          # cells shorter than this never move to notes
MIN_BYTES_PER_LINE = 8  # record bytes are never cut finer than this


def dml_escape(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


class FittedTable:
    """The cells, columns and notes of one table after fitting."""

    def __init__(self, titles: List[str], cells: List[List[str]], links: List[List[Optional[str]]],
                 notes: List[str], hidden: List[str]):
        self.titles = titles
        self.cells = cells
        self.links = links
        self.notes = notes
        self.hidden = hidden


def _natural(title: str, column_cells: Sequence[str]) -> int:
    longest = max((len(line) for cell in column_cells for line in cell.split("\n")), default=0)
    return max(len(title) + HEADER_PAD, longest)


def _total(widths: Sequence[int]) -> int:
    return sum(widths) + SEPARATOR * max(0, len(widths) - 1)


def _wrap(text: str, width: int) -> str:
    lines = []
    for part in text.split("\n"):
        lines.extend(textwrap.wrap(part, width=width, break_long_words=True, break_on_hyphens=False) or [""])
    return "\n".join(lines)


def _chunks(text: str, size: int) -> str:
    return "\n".join(text[i:i + size] for i in range(0, len(text), size)) or text


def fit(columns, rows: List[Dict], width: Optional[int], command_of) -> FittedTable:
    """Lay out `rows` (typed cells) in `columns` (render.Column) within `width` (None: no limit).
    `command_of(link)` gives a Link's debugger command (None when links are not shown)."""
    cols = list(columns)
    cells = [[display(row.get(c.key)) for c in cols] for row in rows]
    links = [[command_of(row.get(c.key)) if isinstance(row.get(c.key), Link) else None for c in cols] for row in rows]
    titles = [c.title for c in cols]
    notes = []  # type: List[str]
    hidden = []  # type: List[str]
    if width is None:
        return FittedTable(titles, cells, links, notes, hidden)

    def widths() -> List[int]:
        return [_natural(titles[i], [r[i] for r in cells]) for i in range(len(titles))]

    original = [list(r) for r in cells]

    def wrap_to(i: int, target: int) -> None:
        for n, r in enumerate(cells):
            r[i] = _wrap(original[n][i], target) if target < _natural(titles[i], [original[n][i]]) else original[n][i]

    # 1. record bytes (hex, and the ASCII beside it) cut at the same number of bytes a line
    current = widths()
    wrapped = []  # type: List[int]
    hex_col = next((i for i, c in enumerate(cols) if c.wrap == "bytes"), None)
    if hex_col is not None and _total(current) > width:
        ascii_col = next((i for i, c in enumerate(cols) if c.wrap == "chars"), None)
        per_byte = 3 if ascii_col is not None else 2
        longest = max(current[hex_col] // 2, 1)
        room = longest * per_byte - (_total(current) - width)
        per_line = max(MIN_BYTES_PER_LINE, room // per_byte // 8 * 8 or room // per_byte)
        if per_line < longest:
            for r in cells:
                r[hex_col] = _chunks(r[hex_col], 2 * per_line)
                if ascii_col is not None:
                    r[ascii_col] = _chunks(r[ascii_col], per_line)
            current = widths()
    # 2. wrap prose columns, widest first, down to their minimum
    for i in sorted((i for i, c in enumerate(cols) if c.wrap is True), key=lambda i: -current[i]):
        excess = _total(current) - width
        if excess <= 0:
            break
        floor = max(cols[i].min_width or DEFAULT_MIN_WRAP, len(titles[i]) + HEADER_PAD)
        target = max(floor, current[i] - excess)
        if target < current[i]:
            wrap_to(i, target)
            wrapped.append(i)
            current = widths()
    # 3. hide optional columns, least important (lowest Column.optional) first
    if _total(current) > width:
        drop = set()
        for i in sorted((i for i, c in enumerate(cols) if c.optional), key=lambda i: cols[i].optional):
            if _total([w for k, w in enumerate(current) if k not in drop]) <= width:
                break
            drop.add(i)
        keep = [i for i in range(len(cols)) if i not in drop]
        hidden = [titles[i] for i in sorted(drop)]
        wrapped = [keep.index(i) for i in wrapped if i in keep]
        titles = [titles[i] for i in keep]
        cells = [[r[i] for i in keep] for r in cells]
        original = [[r[i] for i in keep] for r in original]
        links = [[r[i] for i in keep] for r in links]
        cols = [cols[i] for i in keep]
        current = widths()
        # the room hiding made goes back to the wrapped columns
        for i in wrapped:
            slack = width - _total(current)
            if slack <= 0:
                break
            wrap_to(i, current[i] + slack)
            current = widths()
    # 4. move the longest cells to numbered notes
    while _total(current) > width:
        i = max(range(len(cols)), key=lambda k: current[k])
        candidates = [(len(r[i]), n) for n, r in enumerate(cells) if len(r[i]) >= NOTE_MIN
                      and not r[i].startswith("[")]
        if not candidates:
            break
        length = max(candidates)[0]
        for _, n in sorted(c for c in candidates if c[0] == length):
            notes.append(cells[n][i].replace("\n", " "))
            cells[n][i] = "[%d]" % len(notes)
            links[n][i] = None
        current = widths()
    return FittedTable(titles, cells, links, notes, hidden)


def _pad_cell(text: str, link: Optional[str], width: int, dml: bool) -> str:
    shown = dml_escape(text) if dml else text
    if dml and link is not None:
        shown = '<link cmd="%s">%s</link>' % (dml_escape(link), shown)
    return shown + " " * (width - len(text))


def layout(table: FittedTable, dml: bool) -> str:
    """The table's lines: tabulate's text, or the same layout with DML links and escaping."""
    if not dml:
        return tabulate([[c.replace("\t", " ") for c in r] for r in table.cells], headers=table.titles,
                        tablefmt="simple", disable_numparse=True)
    widths = [_natural(t, [r[i] for r in table.cells]) for i, t in enumerate(table.titles)]
    sep = " " * SEPARATOR
    out = [sep.join(dml_escape(t) + " " * (widths[i] - len(t)) for i, t in enumerate(table.titles)).rstrip(),
           sep.join("-" * w for w in widths)]
    for row, row_links in zip(table.cells, table.links):
        parts = [cell.split("\n") for cell in row]
        height = max(len(p) for p in parts)
        for k in range(height):
            line = []
            for i, p in enumerate(parts):
                text = p[k] if k < len(p) else ""
                line.append(_pad_cell(text, row_links[i] if k == 0 and text else None, widths[i], True))
            out.append(sep.join(line).rstrip())
    return "\n".join(out)


_TAG = re.compile(r"<[^>]*>")


def visible(text: str) -> str:
    """DML text as the user sees it (tags gone, entities decoded)."""
    plain = _TAG.sub("", text)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        plain = plain.replace(entity, char)
    return plain
