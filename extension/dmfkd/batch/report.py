"""`batch-report DIR`: the questions a team asks of a week of crashes, answered from a batch's tables.

    bugchecks   crashes per bug check code
    drivers     crashes per driver version (driver, DMF version, the symbol file's identity)
    events      the last N records of each source before each crash, grouped by decoded fields that
                name an event type or level (or --group-by)
    sources     the data sources most often truncated or orphaned
    errors      the dumps that could not be read, by kind

The tables are Reports for the normal renderers (fitted to 120 columns); the chart is chart.py's. The
batch's files are input here: read with bounds, a damaged file is one line, a row that is not what the
schema says is counted and left out.
"""
import collections
import datetime
import json
import os
import re
from typing import Any, Dict, Iterator, List, Optional, Tuple

from dmfkd.errors import UsageError
from dmfkd.render import Column, Hex, Report

SECTIONS = ("bugchecks", "drivers", "events", "sources", "errors")
#: decoded field names that say what kind of event a record is
EVENT_FIELD = re.compile(r"event|type|level|severity|category|kind|class", re.IGNORECASE)
#: fields looked at in at most this many records to choose the grouping
_SAMPLE = 1000
_MAX_LINE = 64 * 1024 * 1024


def _bugcheck_names() -> Dict[int, str]:
    from dmfkd.commands.bugcheck import KNOWN

    return KNOWN


# -- reading --------------------------------------------------------------------------------------------

class BatchTables:
    """The summary rows of a batch and a way to stream its records."""

    def __init__(self, folder: str):
        self.folder = folder
        self.skipped_rows = 0
        parquet = os.path.join(folder, "summary.parquet")
        jsonl = os.path.join(folder, "summary.jsonl")
        if os.path.isfile(parquet):
            self.format = "parquet"
        elif os.path.isfile(jsonl):
            self.format = "jsonl"
        elif not os.path.isdir(folder):
            raise UsageError("%s: no such folder" % folder)
        else:
            raise UsageError("%s holds no batch output (summary.parquet or summary.jsonl): run dmfkd batch "
                             "... --out %s first" % (folder, folder))
        self.summary = [row for row in (self._clean(r) for r in self._summary_rows()) if row is not None]

    def path(self, table: str) -> str:
        return os.path.join(self.folder, "%s.%s" % (table, self.format))

    def _parquet(self):
        from dmfkd.batch.writers import pyarrow_modules

        return pyarrow_modules()[1]

    def _summary_rows(self) -> Iterator[Dict[str, Any]]:
        path = self.path("summary")
        if self.format == "parquet":
            try:
                table = self._parquet().read_table(path)
            except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
                raise UsageError("cannot read %s: %s" % (path, _first_line(exc)))
            yield from table.to_pylist()
        else:
            yield from self._jsonl(path)

    def _jsonl(self, path: str) -> Iterator[Dict[str, Any]]:
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise UsageError("cannot read %s: %s" % (path, exc.strerror or exc))
        with handle:
            for number, line in enumerate(iter(lambda: handle.readline(_MAX_LINE), b""), 1):
                try:
                    row = json.loads(line)
                except ValueError:
                    row = None
                if not isinstance(row, dict):
                    self.skipped_rows += 1
                    continue
                yield row

    def _clean(self, row: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        if not isinstance(row.get("dump_id"), int):
            self.skipped_rows += 1
            return None
        when = row.get("crash_time")
        if isinstance(when, str):
            try:
                when = datetime.datetime.strptime(when, "%Y-%m-%dT%H:%M:%S.%fZ")
            except ValueError:
                when = None
        row["crash_time"] = when.replace(tzinfo=None) if isinstance(when, datetime.datetime) else None
        for key in ("drivers", "truncated_sources", "orphaned_sources", "warnings"):
            value = row.get(key)
            row[key] = [str(v) for v in value] if isinstance(value, list) else []
        return row

    def records(self) -> Iterator[Tuple[int, str, int, str]]:
        """(dump_id, guid, index, fields JSON) in file order (each source's records oldest first)."""
        path = self.path("records")
        if not os.path.exists(path):
            return
        if self.format == "parquet":
            try:
                parquet = self._parquet().ParquetFile(path)
                batches = parquet.iter_batches(columns=["dump_id", "guid", "index", "fields"], batch_size=65536)
                for batch in batches:
                    columns = [batch.column(i).to_pylist() for i in range(4)]
                    yield from zip(*columns)
            except UsageError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise UsageError("cannot read %s: %s" % (path, _first_line(exc)))
            return
        for row in self._jsonl(path):
            yield row.get("dump_id"), row.get("guid"), row.get("index"), row.get("fields")


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _fields(text: Any) -> Dict[str, Any]:
    if not isinstance(text, str) or len(text) > _MAX_LINE:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# -- the sections ---------------------------------------------------------------------------------------

def _when(value: Optional[datetime.datetime]) -> Optional[str]:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else None


def _span(rows: List[Dict[str, Any]]) -> Tuple[Optional[str], Optional[str]]:
    times = sorted(r["crash_time"] for r in rows if r["crash_time"] is not None)
    return (_when(times[0]), _when(times[-1])) if times else (None, None)


def _top_counts(values: List[Any], n: int = 3) -> str:
    counts = collections.Counter(values)
    return ", ".join("%s x%d" % (value, count) for value, count in
                     sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n])


def _code_text(code: Any) -> str:
    return "0x%08x" % code if isinstance(code, int) else "-"


def bugchecks_section(summary: List[Dict[str, Any]], top: int) -> Report:
    names = _bugcheck_names()
    groups = collections.defaultdict(list)
    for row in summary:
        groups[row.get("bugcheck_code") if isinstance(row.get("bugcheck_code"), int) else None].append(row)
    rows = []
    for code, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0] is None, kv[0] or 0)):
        first, last = _span(members)
        rows.append({"code": Hex(code, 8) if code is not None else None,
                     "name": names.get(code, "") if code is not None else "(header unreadable)",
                     "crashes": len(members), "with_dmf": sum(1 for r in members if r.get("dmf_present")),
                     "errors": sum(1 for r in members if r.get("error")), "first": first, "last": last})
    return _section("Crashes per bug check", rows[:top], len(rows), top, [
        Column("code", "bug check"), Column("name", "name", wrap=True, min_width=12), Column("crashes", "crashes"),
        Column("with_dmf", "with DMF", optional=2), Column("errors", "errors"),
        Column("first", "first crash", optional=1), Column("last", "last crash")])


def drivers_section(summary: List[Dict[str, Any]], top: int) -> Report:
    groups = collections.defaultdict(list)
    for row in summary:
        if row.get("error") and not row.get("drivers"):
            continue
        driver = ", ".join(row["drivers"]) if row["drivers"] else "(no DMF CrashDump found)"
        groups[(driver, row.get("dmf_version") or "-", row.get("symbols_id") or "-")].append(row)
    rows = []
    for (driver, version, symbols), members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        rows.append({"driver": driver, "dmf_version": version, "symbols_id": symbols, "crashes": len(members),
                     "bugchecks": _top_counts([_code_text(r.get("bugcheck_code")) for r in members]),
                     "last": _span(members)[1]})
    report = _section("Crashes per driver version (driver, DMF version, symbol file)", rows[:top], len(rows),
                      top, [Column("driver", "driver", wrap=True, min_width=10), Column("dmf_version", "DMF"),
                            Column("symbols_id", "symbols"), Column("crashes", "crashes"),
                            Column("bugchecks", "bug checks", wrap=True, min_width=16),
                            Column("last", "last crash")])
    report.notes.append("a driver build is told apart by its symbol file (the symbols column)")
    return report


def _group_fields(sample: List[Dict[str, Any]]) -> List[str]:
    names = []
    for fields in sample:
        for name in fields:
            if name.endswith(("_name", "_utc")) or name in names or not EVENT_FIELD.search(name):
                continue
            if isinstance(fields[name], (int, str, bool)) or fields[name] is None:
                names.append(name)
    return names


def _group_value(fields: Dict[str, Any], name: str) -> Any:
    named = fields.get(name + "_name")
    value = fields.get(name)
    if named:
        return "%s (%s)" % (named, value)
    return value if isinstance(value, (int, str, bool)) or value is None else json.dumps(value)


def events_section(tables: BatchTables, last: int, group_by: Optional[List[str]], top: int
                   ) -> Tuple[Report, Dict[Tuple[int, str], int]]:
    """The events table, and (dump_id, guid) -> records seen (the sources table counts dumps with it)."""
    tails = collections.defaultdict(lambda: collections.deque(maxlen=last))
    seen = collections.Counter()  # type: Dict[Tuple[int, str], int]
    for dump_id, guid, index, fields in tables.records():
        if not isinstance(dump_id, int) or not isinstance(guid, str):
            continue
        tails[(dump_id, guid)].append(fields)
        seen[(dump_id, guid)] += 1
    decoded = [f for tail in tails.values() for f in (_fields(t) for t in tail)]
    decoded_any = [f for f in decoded if f]
    fields_used = group_by if group_by else _group_fields(decoded_any[:_SAMPLE])
    title = "The last %d record(s) of each source before each crash, by %s" % (
        last, ", ".join(fields_used) if fields_used else "event")
    if not decoded_any:
        report = Report(title=title, columns=[Column("records", "records")], rows=[])
        report.notes.append("the records are not decoded: run the batch with --type MODULE!TYPE or --schema "
                            "FILE.py:NAME to group them by event")
        return report, seen
    if not fields_used:
        report = Report(title=title, columns=[Column("records", "records")], rows=[])
        report.notes.append("no decoded field names an event type or level (%s): choose with --group-by F,..."
                            % ", ".join(sorted({k for f in decoded_any[:_SAMPLE] for k in f})[:12]))
        return report, seen
    counts = collections.Counter()
    dumps = collections.defaultdict(set)
    for (dump_id, _), tail in tails.items():
        for text in tail:
            fields = _fields(text)
            if not fields:
                continue
            key = tuple(_group_value(fields, name) for name in fields_used)
            counts[key] += 1
            dumps[key].add(dump_id)
    total = sum(counts.values())
    # the fields are the keys of the rows (CSV headers, JSON keys), clear of the table's own columns
    keys = [name if name not in ("records", "dumps", "share") else "field_" + name for name in fields_used]
    rows = []
    for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], [str(v) for v in kv[0]])):
        row = dict(zip(keys, key))
        row.update(records=count, dumps=len(dumps[key]), share="%.1f%%" % (100.0 * count / total))
        rows.append(row)
    columns = [Column(key, name, wrap=True, min_width=8) for key, name in zip(keys, fields_used)]
    columns += [Column("records", "records"), Column("dumps", "dumps"), Column("share", "share")]
    report = _section(title, rows[:top], len(rows), top, columns)
    report.group_keys = keys
    return report, seen


def sources_section(summary: List[Dict[str, Any]], seen: Dict[Tuple[int, str], int], top: int) -> Report:
    present = collections.defaultdict(set)
    for dump_id, guid in seen:
        present[guid].add(dump_id)
    truncated, orphaned = collections.Counter(), collections.Counter()
    for row in summary:
        for guid in set(row["truncated_sources"]):
            truncated[guid] += 1
            present[guid].add(row["dump_id"])
        for guid in set(row["orphaned_sources"]):
            orphaned[guid] += 1
            present[guid].add(row["dump_id"])
    rows = []
    for guid in sorted(set(truncated) | set(orphaned),
                       key=lambda g: (-(truncated[g] + orphaned[g]), g)):
        rows.append({"guid": guid, "dumps": len(present[guid]), "truncated": truncated[guid],
                     "orphaned": orphaned[guid]})
    return _section("Data sources most often truncated or orphaned", rows[:top], len(rows), top, [
        Column("guid", "source GUID"), Column("dumps", "dumps with it"), Column("truncated", "truncated"),
        Column("orphaned", "orphaned")])


def errors_section(summary: List[Dict[str, Any]], top: int) -> Report:
    groups = collections.defaultdict(list)
    for row in summary:
        if row.get("error"):
            groups[row.get("error_kind") or "-"].append(row)
    rows = [{"kind": kind, "dumps": len(members), "example": members[0].get("path"),
             "error": members[0].get("error")}
            for kind, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    return _section("Dumps that could not be read", rows[:top], len(rows), top, [
        Column("kind", "kind"), Column("dumps", "dumps"), Column("example", "example", wrap=True, min_width=16),
        Column("error", "its error", wrap=True, min_width=20)])


def _section(title: str, rows: List[Dict[str, Any]], total: int, top: int, columns: List[Column]) -> Report:
    report = Report(rows=rows, columns=columns, title=title)
    if total > top:
        report.notes.append("%d more row(s): --top N shows more" % (total - top))
    return report


# -- the whole report -----------------------------------------------------------------------------------

class BatchReport:
    def __init__(self, overview: Dict[str, Any], reports: List[Tuple[str, Report]]):
        self.overview = overview
        self.named = reports
        self.reports = [report for _, report in reports]

    def as_report(self, width: Optional[int], wide: bool = False) -> Report:
        """One Report whatever the format: one table as it is (the overview as its first note); several
        tables laid out one after the other for the text view, as one document for JSON, and as rows
        tagged with their `section` for JSON Lines / CSV."""
        if len(self.named) == 1:
            report = self.reports[0]
            report.notes.insert(0, self.overview["text"])
            return report
        import io

        from dmfkd.render import Output, render

        buffer = io.StringIO()
        for _, report in self.named:
            buffer.write("\n")
            render(report, "table", Output(buffer, width=width, wide=wide))
        document = {"overview": self.overview}
        rows, keys = [], ["section"]
        for name, report in self.named:
            document[name] = report.document if report.document is not None else report.data_rows()
            for row in report.data_rows():
                rows.append(dict(row, section=name))
                keys.extend(k for k in row if k not in keys)
        return Report(title=self.overview["text"], text=buffer.getvalue().rstrip("\n"), document=document,
                      rows=rows, columns=[Column(key, key, where="data") for key in keys])


def build_report(folder: str, last: int = 10, group_by: Optional[List[str]] = None, top: int = 15,
                 sections=SECTIONS, chart: Optional[str] = None) -> BatchReport:
    tables = BatchTables(folder)
    summary = tables.summary
    first, last_crash = _span(summary)
    errors = sum(1 for r in summary if r.get("error"))
    overview = {"dumps": len(summary), "errors": errors, "with_dmf": sum(1 for r in summary if r.get("dmf_present")),
                "records": sum(r["records"] for r in summary if isinstance(r.get("records"), int)),
                "first_crash": first, "last_crash": last_crash, "format": tables.format}
    overview["text"] = ("%s: %d dump(s), %d with DMF data, %d that could not be read, %d record(s)%s"
                        % (folder, overview["dumps"], overview["with_dmf"], errors, overview["records"],
                           "; crashes from %s to %s" % (first, last_crash) if first else ""))
    named = []
    seen = {}  # type: Dict[Tuple[int, str], int]
    if "events" in sections or "sources" in sections:
        events, seen = events_section(tables, last, group_by, top)
        if "events" in sections:
            named.append(("events", events))
    builders = {"bugchecks": lambda: bugchecks_section(summary, top), "drivers": lambda: drivers_section(summary, top),
                "sources": lambda: sources_section(summary, seen, top), "errors": lambda: errors_section(summary, top)}
    named += [(name, builders[name]()) for name in SECTIONS if name in sections and name != "events"]
    named.sort(key=lambda item: SECTIONS.index(item[0]))
    closing = named[-1][1]
    if tables.skipped_rows:
        closing.warnings.append("%d row(s) of %s are not batch rows and were left out" % (tables.skipped_rows, folder))
    if chart:
        from dmfkd.batch.chart import draw_chart

        protected = [tables.path("summary"), tables.path("records")]
        closing.notes.append(draw_chart(chart, dict(named), protected))
    return BatchReport(overview, named)
