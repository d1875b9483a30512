"""dmfkd.bounded_input: regular files only, reads and decompression capped, JSON depth and integer
digits bounded before json.loads, numeric options bounded before int()."""
import gzip
import json
import lzma
import os
import socket
import threading

import pytest

from dmfkd import bounded_input
from dmfkd.errors import FormatError, UsageError


def finishes(call, seconds=30):
    """call() in a thread: (finished, result or exception) - a regression to a blocking open must fail
    the test, not hang the suite."""
    box = {}

    def body():
        try:
            box["value"] = call()
        except BaseException as exc:
            box["value"] = exc
    worker = threading.Thread(target=body, daemon=True)
    worker.start()
    worker.join(seconds)
    return not worker.is_alive(), box.get("value")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = str(tmp_path / "pipe")
    os.mkfifo(fifo)
    done, value = finishes(lambda: bounded_input.open_regular(fifo))
    assert done and isinstance(value, FormatError)
    assert str(value) == "%s: is a FIFO (named pipe), not a regular file" % fifo


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no unix sockets")
def test_socket_and_directory_are_refused(tmp_path):
    path = str(tmp_path / "sock")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(path)
        with pytest.raises(FormatError, match="is a socket, not a regular file"):
            bounded_input.open_regular(path)
    finally:
        server.close()
    with pytest.raises(FormatError, match="is a directory"):
        bounded_input.open_regular(str(tmp_path))
    with pytest.raises(FormatError, match=r"cannot open \(no such file\)"):
        bounded_input.open_regular(str(tmp_path / "missing"))


def test_symlink_to_a_regular_file_is_fine(tmp_path):
    target = tmp_path / "real"
    target.write_bytes(b"abc")
    link = tmp_path / "link"
    try:
        os.symlink(str(target), str(link))
    except (OSError, NotImplementedError):
        pytest.skip("no symlinks")
    with bounded_input.open_regular(str(link)) as handle:
        assert handle.read() == b"abc"


def test_read_limit_and_decompression_cap(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"x" * 101)
    assert bounded_input.read_file(str(plain), 101) == b"x" * 101
    with pytest.raises(FormatError, match="larger than 100 bytes: refused"):
        bounded_input.read_file(str(plain), 100)
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(bytes(8 << 20)))      # 8 MiB inflated, 8 KB stored
    with pytest.raises(FormatError, match=r"\(decompressed\) larger than 1 MiB: refused"):
        bounded_input.read_file(str(bomb), 1 << 20, compression="gzip")
    xz = tmp_path / "bomb.xz"
    xz.write_bytes(lzma.compress(bytes(8 << 20)))
    with pytest.raises(FormatError, match=r"\(decompressed\) larger than 1 MiB: refused"):
        bounded_input.read_file(str(xz), 1 << 20, compression="xz")
    corrupt = tmp_path / "corrupt.gz"
    corrupt.write_bytes(gzip.compress(b"{}")[:-6] + b"\xff" * 6)
    with pytest.raises(FormatError, match="cannot read"):
        bounded_input.read_file(str(corrupt), 1 << 20, compression="gzip")


@pytest.mark.parametrize("text,depth", [
    ("{}", 1), ("[[[]]]", 3), ('{"a": "[[[[[[[["}', 1), ('["\\"[[[", [1]]', 2), ("1", 0), ("]]]", 0),
    ('{"k": [{"k": [[]]}]}', 5)])
def test_json_depth_ignores_brackets_in_strings(text, depth):
    assert bounded_input.json_depth(text) == depth


def test_json_bounds():
    deep = "[" * 101 + "]" * 101
    with pytest.raises(FormatError, match="nests deeper than 100 levels"):
        bounded_input.parse_json(deep, "f.json")
    assert bounded_input.parse_json("[" * 100 + "]" * 100, "f.json")
    unclosed = "[" * 100000       # the scanner would recurse before it noticed the missing ]
    with pytest.raises(FormatError, match="nests deeper"):
        bounded_input.parse_json(unclosed, "f.json")
    with pytest.raises(FormatError, match="an integer of 41 digits"):
        bounded_input.parse_json("[%s]" % ("9" * 41), "f.json")
    assert bounded_input.parse_json("[-%s, 1.5e999]" % ("9" * 40), "f.json")[0] == -int("9" * 40)
    with pytest.raises(FormatError, match="not JSON"):
        bounded_input.parse_json("{", "f.json")


def test_read_json_utf8_bom_and_garbage(tmp_path):
    good = tmp_path / "a.json"
    good.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert bounded_input.read_json(str(good), 100) == {"a": 1}
    bad = tmp_path / "b.json"
    bad.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(FormatError, match="is not UTF-8"):
        bounded_input.read_json(str(bad), 100)


@pytest.mark.parametrize("text,value", [("0", 0), ("64", 64), ("0x40", 64), ("+7", 7), (" 12 ", 12)])
def test_option_int(text, value):
    assert bounded_input.option_int(text, "--n", 0, 100) == value


@pytest.mark.parametrize("text,message", [
    ("101", "--n must be between 0 and 100 (got 101)"), ("-1", "--n must be between 0 and 100 (got -1)"),
    ("9" * 5000, "is not a number of at most 24 digits"), ("1e3", "is not a number"), ("", "is not a number"),
    ("0x", "is not a number"), ("1_000", "is not a number")])
def test_option_int_refusals(text, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bounded_input.option_int(text, "--n", 0, 100)


def test_json_value_count_is_bounded_before_parsing(monkeypatch):
    assert bounded_input.json_shape('{"a": [1, 2, {"b": "x,y,[{"}], "c": []}') == (3, 8)  # 7 values, counted generously
    assert bounded_input.json_shape("7") == (0, 1)
    monkeypatch.setattr(bounded_input, "MAX_JSON_VALUES", 1000)
    assert len(bounded_input.parse_json("[" + ",".join(["[]"] * 499) + "]", "f.json")) == 499
    with pytest.raises(FormatError, match=r"holds more than 1000 values \(1001\)"):
        bounded_input.parse_json("[" + ",".join(["[]"] * 500) + "]", "f.json")


def test_a_bracket_bomb_is_refused_by_its_count_before_its_depth_is_walked():
    """Found by the isf class: a 24 MiB xz ISF of '[' took ~20 s on a loaded machine in the depth walk.
    The value count (str.count) refuses it first; the depth is measured only up to one past its limit."""
    assert bounded_input.json_shape("[" * 3000, 100, 2000) == (0, 3001)
    assert bounded_input.json_shape("[" * 3000, 100)[0] > 100
    with pytest.raises(FormatError, match="holds more than"):
        bounded_input.parse_json("[" * (bounded_input.MAX_JSON_VALUES + 1), "f.json")


# -- the JSON shape, against a character-by-character scanner -------------------------------------------

def _scanned_shape(text: str):
    """(depth, values) as a JSON lexer sees them, one character at a time (the reference: slow, obvious):
    outside a string, [ { open, ] } close, [ { , each add a value; inside one, a backslash escapes the
    next character."""
    depth = deepest = 0
    values = 1 if text.strip() else 0
    structure = False
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            values += 1
            structure = True
        elif char in "]}":
            depth -= 1
            structure = True
        elif char == ",":
            values += 1
            structure = True
    return deepest, (values if structure else (1 if text.strip() else 0))


_TRICKY = "\"\\[]{},:0a\u00e9\u2603\U0001f600 \n/"


def _json_values():
    from hypothesis import strategies as st

    leaves = st.none() | st.booleans() | st.integers(-10 ** 30, 10 ** 30) | st.floats(allow_nan=False) | \
        st.text(alphabet=_TRICKY, max_size=12)
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=5) |
                        st.dictionaries(st.text(alphabet=_TRICKY, max_size=6), inner, max_size=5), max_leaves=40)


def test_the_shape_of_any_json_document_is_what_a_lexer_sees():
    """The C-speed passes (escapes dropped, quote pairs dropped, strings with structure inside removed)
    agree with a character-by-character lexer on documents whose strings hold quotes, backslashes,
    brackets, commas and non-ASCII text; ASCII-escaped and raw UTF-8 spellings alike."""
    from hypothesis import given, settings, strategies as st

    @settings(max_examples=400, deadline=None)
    @given(_json_values(), st.booleans())
    def check(value, ascii_only):
        text = json.dumps(value, ensure_ascii=ascii_only)
        assert bounded_input.json_shape(text) == _scanned_shape(text), text
    check()


@pytest.mark.parametrize("text", ['"\\\\"', '["\\\\\\"]", 1]', '["a\\"b,[", {"\\\\": "]"}]', '["", "", ""]',
                                  '[",", ",", "[[", "]]"]', '{"a": [[["\\"]"]]]}'])
def test_escapes_and_structure_inside_strings(text):
    json.loads(text)
    assert bounded_input.json_shape(text) == _scanned_shape(text)


def test_a_long_digit_run_in_a_string_is_no_integer():
    # the integer hook is used because a 41-digit run is in the text; only an integer literal is refused
    assert bounded_input.parse_json('{"name": "%s", "n": 1}' % ("7" * 60), "t") == {"name": "7" * 60, "n": 1}
    with pytest.raises(FormatError, match="an integer of 41 digits"):
        bounded_input.parse_json('{"name": "x", "n": %s}' % ("7" * 41), "t")
    assert bounded_input.parse_json('[%s]' % ("7" * 40), "t") == [int("7" * 40)]
