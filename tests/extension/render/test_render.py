import csv
import io
import json

import pytest

from dmfkd.render import Link, Output, Report, render
from dmfkd.render.hexdump import hexdump


def _render(report, fmt, dml=False):
    buf = io.StringIO()
    render(report, fmt, Output(buf, dml=dml))
    return buf.getvalue()


def _report():
    return Report(rows=[{"index": 0, "guid": Link("aa-bb", '!py -g -m dmfkd tags --hex "aa-bb"'), "size": 3},
                        {"index": 1, "guid": "cc<dd>", "size": None}],
                  columns=[("index", "Index"), ("guid", "GUID"), ("size", "Size")],
                  title="Blobs", notes=["note & more"])


def test_table_plain_has_no_markup():
    text = _render(_report(), "table")
    assert "<link" not in text and "&amp;" not in text
    assert text.splitlines()[0] == "Blobs"
    assert "aa-bb" in text and "cc<dd>" in text and text.rstrip().endswith("note & more")


def test_table_dml_links_escape_and_align():
    text = _render(_report(), "table", dml=True)
    assert '<link cmd="!py -g -m dmfkd tags --hex &quot;aa-bb&quot;">aa-bb</link>' in text
    assert "cc&lt;dd&gt;" in text and "note &amp; more" in text
    # with the tags stripped, the columns line up as in the plain view
    import re
    rows = [re.sub(r"<[^>]*>", "", l).replace("&lt;", "<").replace("&gt;", ">")
            for l in text.splitlines()[1:5]]
    assert rows[2].index("aa-bb") == rows[0].index("GUID") == rows[3].index("cc<dd>")


def test_json_and_jsonl_use_plain_values():
    rows = json.loads(_render(_report(), "json"))
    assert rows[0]["guid"] == "aa-bb" and rows[1]["size"] is None
    lines = _render(_report(), "jsonl").splitlines()
    assert [json.loads(l)["index"] for l in lines] == [0, 1]


def test_json_prefers_document():
    report = Report(rows=[{"a": 1}], document={"records": [{"hex": b"\x01\x02"}]})
    assert json.loads(_render(report, "json")) == {"records": [{"hex": "0102"}]}


def test_csv_roundtrip():
    parsed = list(csv.reader(io.StringIO(_render(_report(), "csv"))))
    assert parsed == [["index", "guid", "size"], ["0", "aa-bb", "3"], ["1", "cc<dd>", ""]]


def test_output_is_ascii_safe():
    report = Report(rows=[{"s": "caf\u00e9"}], columns=[("s", "S")])
    text = _render(report, "table")
    assert text.encode("ascii") and "caf\\xe9" in text


def test_hexdump_shape():
    lines = hexdump(bytes(range(0x41, 0x41 + 20)), base=0x10).splitlines()
    assert lines[0] == "00000010  41 42 43 44 45 46 47 48-49 4a 4b 4c 4d 4e 4f 50  ABCDEFGHIJKLMNOP"
    assert lines[1].startswith("00000020  51 52 53 54") and lines[1].endswith("QRST")


# -- typed cells: the renderer decides how a value looks -------------------------------------------

from dmfkd.render import Column, EnumValue, FileTime, Flag, Hex, UNREADABLE, Unreadable  # noqa: E402


def _typed():
    return Report(rows=[{"addr": Hex(0x1234), "when": FileTime(132500003448379745), "level": EnumValue(5, "Verbose"),
                         "ok": Flag(True), "gone": Unreadable("paged out")}],
                  columns=[("addr", "address"), ("when", "time"), ("level", "level"), ("ok", "ok"), ("gone", "gone")])


def test_typed_cells_in_a_table():
    text = _render(_typed(), "table")
    row = text.splitlines()[2]
    # FILETIME counts 100 ns from 1601; 11644473600 s separate 1601 from the Unix epoch
    unix = 132500003448379745 / 1e7 - 11644473600
    assert unix == pytest.approx(1605526744.8379745)  # 2020-11-16 11:39:04.837 UTC
    assert "0x1234" in row and "2020-11-16 11:39:04.837Z" in row and "Verbose" in row
    assert "yes" in row and "unreadable" in row


def test_typed_cells_keep_machine_values_in_json_and_csv():
    doc = json.loads(_render(_typed(), "json"))[0]
    assert doc["addr"] == 0x1234 and doc["when"] == 132500003448379745 and doc["level"] == 5
    assert doc["level_name"] == "Verbose" and doc["when_utc"] == "2020-11-16T11:39:04.837Z"
    assert doc["ok"] is True and doc["gone"] == "unreadable"
    rows = list(csv.reader(io.StringIO(_render(_typed(), "csv"))))
    assert rows[1][:3] == [str(0x1234), "132500003448379745", "5"]


def test_unreadable_compares_like_the_old_string():
    assert UNREADABLE == "unreadable" and Unreadable("why").reason == "why"


def test_json_survives_a_self_referencing_value():
    loop = {"a": 1}
    loop["self"] = loop
    deep = []
    for _ in range(100):
        deep = [deep]
    doc = json.loads(_render(Report(document={"loop": loop, "deep": deep}), "json"))
    assert doc["loop"]["self"] == "<cycle>" and "<too deep>" in json.dumps(doc["deep"])


# -- width -----------------------------------------------------------------------------------------

def _wide_report():
    rows = [{"id": i, "guid": "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f7%d" % i, "extra": "x" * 30,
             "state": "a long explanation of what happened to this slot, in words " * 2} for i in range(3)]
    return Report(rows=rows, columns=[Column("id", "#"), Column("guid", "GUID"), Column("extra", "extra", optional=1),
                                      Column("state", "state", wrap=True)])


def _render_width(report, width, **kw):
    buf = io.StringIO()
    render(report, "table", Output(buf, width=width, **kw))
    return buf.getvalue()


def test_tables_fit_the_width():
    for width in (60, 80, 120):
        text = _render_width(_wide_report(), width)
        assert max(len(line) for line in text.splitlines()) <= width, (width, text)
    narrow = _render_width(_wide_report(), 80)
    assert "columns hidden to fit 80 characters: extra" in narrow
    assert "a long explanation" in narrow  # wrapped, not lost


def test_wide_and_columns():
    wide = _render_width(_wide_report(), 60, wide=True)
    assert max(len(line) for line in wide.splitlines()) > 120 and "x" * 30 in wide
    picked = _render_width(_wide_report(), 120, columns=["#", "guid"])
    assert picked.splitlines()[0].split() == ["#", "GUID"]
    from dmfkd.errors import UsageError
    with pytest.raises(UsageError, match="no column nope"):
        _render_width(_wide_report(), 120, columns=["nope"])


def test_long_cells_move_to_numbered_notes():
    report = Report(rows=[{"a": "y" * 150}], columns=[("a", "a")])
    text = _render_width(report, 60)
    assert "[1]" in text.splitlines()[2] and ("[1] " + "y" * 40) in text
    assert max(len(line) for line in text.splitlines()) <= 60


def test_next_steps_are_commands_outside_windbg_and_links_inside():
    report = Report(text="x", next_steps=[Link("data sources", "datasources"), Link("tree", "modules 0x10")])
    plain = _render_width(report, 120, dump="C:/dumps/MEMORY.DMP")
    assert plain.splitlines()[-1] == ("next: dmfkd datasources C:/dumps/MEMORY.DMP | "
                                      "dmfkd modules C:/dumps/MEMORY.DMP 0x10")
    dml = _render(report, "table", dml=True)
    assert '<link cmd="!py -g -m dmfkd datasources">data sources</link>' in dml
    assert '<link cmd="!py -g -m dmfkd modules 0x10">tree</link>' in dml
