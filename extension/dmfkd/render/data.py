"""Machine formats: JSON (one document), JSON Lines (one row per line) and CSV, from typed cells.

JSON keeps machine values (ints as ints, see cells.plain) and adds a readable companion for cells that
have one: an enum field `Level` gets `Level_name`, a FILETIME field `Timestamp` gets `Timestamp_utc`.
Values nest at most MAX_DEPTH levels and a container seen twice on one path (a self-referencing dict a
user's schema returned) is cut with a marker, so rendering never recurses without bound.
"""
import csv
import io
import json
from typing import Any, Callable, Dict, Iterable, List

from dmfkd.render.cells import EnumValue, FileTime, plain

MAX_DEPTH = 32
CYCLE = "<cycle>"
TOO_DEEP = "<too deep>"


def json_value(value: Any, _depth: int = 0, _path: tuple = ()) -> Any:
    """A typed value (cells, dicts, lists, tuples, bytes) as plain JSON-ready data."""
    if isinstance(value, dict):
        if id(value) in _path:
            return CYCLE
        if _depth >= MAX_DEPTH:
            return TOO_DEEP
        path = _path + (id(value),)
        out = {}  # type: Dict[str, Any]
        for key, item in value.items():
            key = str(key)
            out[key] = json_value(item, _depth + 1, path)
            if isinstance(item, EnumValue) and item.name and key + "_name" not in value:
                out[key + "_name"] = item.name
            elif isinstance(item, FileTime) and key + "_utc" not in value:
                out[key + "_utc"] = item.iso()
        return out
    if isinstance(value, (list, tuple)):
        if id(value) in _path:
            return CYCLE
        if _depth >= MAX_DEPTH:
            return TOO_DEEP
        path = _path + (id(value),)
        return [json_value(item, _depth + 1, path) for item in value]
    value = plain(value)
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def json_text(document: Any) -> str:
    return json.dumps(json_value(document), indent=2, allow_nan=False) + "\n"


def jsonl_lines(rows: Iterable[Dict[str, Any]]) -> Iterable[str]:
    for row in rows:
        yield json.dumps(json_value(row), separators=(",", ":"), allow_nan=False) + "\n"


def csv_cell(value: Any) -> Any:
    """One CSV field: nested values as compact JSON, None as empty."""
    value = json_value(value)
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return value


def csv_text(keys: List[str], rows: Iterable[Dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow([csv_cell(row.get(key)) for key in keys])
    return buf.getvalue()


#: writes pre-rendered JSON Lines to a text sink (a ring of a million records: no per-row objects)
FastJsonl = Callable[[Callable[[str], None]], None]
