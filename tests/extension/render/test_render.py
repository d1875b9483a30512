import csv
import io
import json

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
