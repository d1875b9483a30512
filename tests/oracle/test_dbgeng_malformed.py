"""Malformed dumps (spec/dbgeng-oracle.md "Malformed files"): where dbgeng rejects or warns, dmfkd
rejects (FormatError, one clear line) or flags the problem too; where dbgeng stays silent dmfkd
should say what is wrong."""
import os
import struct

import pytest

from dmfkd import cli
from dmfkd.errors import FormatError
from dmfkd.targets.dumpfile import DumpFile
from oracle import synthetic

pytestmark = pytest.mark.oracle

E_INVALIDARG = 0x80070057
ERROR_FILE_CORRUPT = 0x80070570


def _variants(directory):
    full = synthetic.build(directory, "x64", "full")
    bitmap = synthetic.build(directory, "x64", "bitmap")
    with DumpFile(full.path) as dump:
        region = dump.blob_region_offset
    data = open(full.path, "rb").read()
    bmp = open(bitmap.path, "rb").read()
    first_blob = region + 16
    pages = struct.unpack_from("<Q", data, 0x90)[0]
    last_payload = len(synthetic.blobs()[-1][1])
    post_pad = -last_payload % 8
    variants = {
        "signature": b"XAGE" + data[4:],
        "dumptype3": data[:0xF98] + struct.pack("<I", 3) + data[0xF9C:],
        "sdmp": bmp[:0x2000] + b"XDMP" + bmp[0x2004:],
        "pages-past-eof": data[:0x90] + struct.pack("<Q", pages + 0x100) + data[0x98:],
        "dumpblob": data[:region] + b"XumpBlob" + data[region + 8:],
        "datasize": data[:first_blob + 0x14] + struct.pack("<I", 0x10000000) + data[first_blob + 0x18:],
        "cut-last-payload": data[:len(data) - post_pad - 10],
    }
    paths = {}
    for name, raw in variants.items():
        paths[name] = os.path.join(directory, "bad-%s.dmp" % name)
        with open(paths[name], "wb") as handle:
            handle.write(raw)
    return paths


@pytest.fixture(scope="module")
def bad(oracle_tmp, dbgeng_oracle):
    directory = os.path.join(str(oracle_tmp), "malformed")
    os.makedirs(directory, exist_ok=True)
    paths = _variants(directory)
    answers = dbgeng_oracle.query([dbgeng_oracle.DumpQuery(p, tag_data=False) for p in paths.values()])
    return {name: (paths[name], answer) for name, answer in zip(paths, answers)}


def _dmfkd_error(path):
    with pytest.raises(FormatError) as info:
        with DumpFile(path) as dump:
            dump.tagged()
    text = str(info.value)
    assert "\n" not in text and path in text
    return text


@pytest.mark.parametrize("name,hr,words", [
    ("signature", E_INVALIDARG, "signature"),
    ("dumptype3", E_INVALIDARG, "dump type 3"),
    ("sdmp", ERROR_FILE_CORRUPT, "bitmap"),
])
def test_dbgeng_rejects_dmfkd_rejects(bad, name, hr, words):
    path, answer = bad[name]
    assert answer.open["hr"] == hr
    assert words in _dmfkd_error(path)


def test_pages_past_eof(bad):
    path, answer = bad["pages-past-eof"]
    assert answer.open["hr"] == 0
    assert "Dump file has been truncated" in answer.open_text
    assert answer.tags == []
    assert "NumberOfPages" in _dmfkd_error(path)


def test_huge_datasize(bad):
    """dbgeng lists the blobs before the broken header and stops; dmfkd refuses the region."""
    path, answer = bad["datasize"]
    assert answer.open["hr"] == 0
    assert len(answer.tags) <= 1
    assert "DataSize 0x10000000" in _dmfkd_error(path)


def test_cut_inside_last_payload(bad):
    """dbgeng lists the cut blob with its declared size, silently; dmfkd lists it as truncated."""
    path, answer = bad["cut-last-payload"]
    assert answer.open["hr"] == 0
    last = answer.tags[-1]
    with DumpFile(path) as dump:
        blobs = dump.tagged()
    assert [t["guid"] for t in answer.tags] == [b.guid_text for b in blobs]
    assert blobs[-1].truncated and blobs[-1].declared_size == last["size"]
    assert blobs[-1].size == last["size"] - 10


def test_broken_dumpblob_both_find_no_tags(bad):
    path, answer = bad["dumpblob"]
    assert answer.open["hr"] == 0 and answer.tags == [] and "DumpBlob" not in answer.open_text
    with DumpFile(path) as dump:
        assert dump.tagged() == []


def test_broken_dumpblob_dmfkd_says_why(bad, capsys):
    """dbgeng is silent here; dmfkd names the missing DumpBlob signature in info and tags."""
    path, _ = bad["dumpblob"]
    for command in ("info", "tags"):
        assert cli.main([command, path]) == 0
        out = capsys.readouterr()
        assert "DumpBlob" in out.out + out.err, command
