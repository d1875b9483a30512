"""A scenario file is input like any other: whatever it holds, `dmfemu scenario` answers in one line
with exit status 2 - never a traceback, a hang on a special file, or an allocation the file asks for."""
import os

import pytest

from dmfemu import cli


def _run(capsys, path, tmp_path):
    status = cli.main(["scenario", str(path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    return status, err


@pytest.mark.parametrize("content, message", [
    ("[" * 100000 + "]" * 100000, "nests deeper than 100 levels"),
    ("{\"arch\": \"x64\",}", "cannot read scenario"),
    ("[1, 2]", "the top level must be a JSON object"),
    ("{\"operations\": [{\"op\": \"write_self\", \"hex\": \"00\", \"repeat\": NaN}]}",
     "operations[0].repeat: must be an integer"),
    ("{\"maximum_allowed\": 1e400}", "maximum_allowed: must be null or an integer"),
])
def test_bad_json_is_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "s.json"
    path.write_text(content)
    status, err = _run(capsys, path, tmp_path)
    assert status == 2 and message in err and len(err.splitlines()) == 1


def test_bytes_that_are_not_utf8(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_bytes(b"{\"description\": \"\xff\xfe\"}")
    status, err = _run(capsys, path, tmp_path)
    assert status == 2 and "cannot read scenario" in err


def test_special_files_and_folders_are_not_read(tmp_path, capsys):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(str(fifo))
    status, err = _run(capsys, fifo, tmp_path)
    assert status == 2 and "not a regular file" in err
    status, err = _run(capsys, tmp_path, tmp_path)
    assert status == 2 and "not a regular file" in err


def test_a_file_too_large_is_refused_before_it_is_parsed(tmp_path, capsys):
    path = tmp_path / "big.json"
    with open(str(path), "wb") as handle:
        handle.truncate(65 << 20)          # sparse: costs no disk
    status, err = _run(capsys, path, tmp_path)
    assert status == 2 and "more than the" in err and "use repeat" in err
