"""dmfemu.pykd: secondary (tagged) data, dbgCommand (`.enumtag`, aliases, ...) and dprint.

Expected values come from spec/real-pykd-under-wine.md (the observed behaviour of the real pykd 0.3.4.15)
and spec/pykd.md, never from the stand-in itself; the dumps are helpers.standin_dumps.
"""
import io
import sys
import uuid

import pytest

from dmfemu import pykd

from helpers.paths import TRIAGE_ARM64, TRIAGE_X64
from helpers.standin_dumps import BLOB1, BLOB2, BLOBS, G1, G2, G3, attach_dump, message


def test_enum_tagged_synthetic(dumps):
    attach_dump(dumps["full"])
    ids = pykd.enumTagged()
    assert type(ids) is list and all(type(i) is str for i in ids)
    assert ids == [str(g) for g, _ in BLOBS]  # file order, repeats and zero-size blocks included
    assert all(i == i.lower() and not i.startswith("{") for i in ids)


def test_load_tagged_buffer_rules(dumps):
    attach_dump(dumps["bitmap"])
    data = pykd.loadTaggedBuffer(str(G1))
    assert type(data) is list and bytes(data) == BLOB1  # the FIRST block of a repeated GUID
    assert bytes(pykd.loadTaggedBuffer(str(G1).upper())) == BLOB1
    assert bytes(pykd.loadTaggedBuffer(str(G2))) == BLOB2
    for zero in (str(uuid.UUID(int=0)), str(G3)):
        with pytest.raises(pykd.DbgException) as info:
            pykd.loadTaggedBuffer(zero)
        assert message(info) == "Call IDebugDataSpaces4::ReadTagged failed\nHRESULT 0x80070057"
    with pytest.raises(pykd.DbgException) as info:
        pykd.loadTaggedBuffer("00000000-0000-0000-0000-000000000001")
    assert message(info) == "Call IDebugDataSpaces4::ReadTagged failed\nHRESULT 0x80004002"
    for bad in ("{%s}" % G1, "not-a-guid", str(G1).replace("-", "")):
        with pytest.raises(pykd.DbgException) as info:
            pykd.loadTaggedBuffer(bad)
        assert message(info) == "Call UuidFromString failed\nRPC_STATUS 0x6a9"


@pytest.mark.parametrize("path,count,loadable", [(TRIAGE_X64, 20, 18), (TRIAGE_ARM64, 42, 39)])
def test_tagged_real_triage(path, count, loadable):
    attach_dump(path)
    ids = pykd.enumTagged()
    assert len(ids) == count
    ok = 0
    for text in ids:
        try:
            pykd.loadTaggedBuffer(text)
            ok += 1
        except pykd.DbgException as exc:
            assert str(exc) == "Call IDebugDataSpaces4::ReadTagged failed\nHRESULT 0x80070057"
    assert ok == loadable
    if path == TRIAGE_ARM64:
        assert ids.count("335d5e04-563b-4e58-aa36-7ed1cfe76fd6") == 3


def test_enumtag_command(dumps):
    attach_dump(dumps["full"])
    text = pykd.dbgCommand(".enumtag")
    assert type(text) is str
    headers = [line for line in text.splitlines() if line.startswith("{")]
    assert headers[0] == "{11111111-2222-3333-4444555555555555} - 0xc0 bytes"
    assert headers[1] == "{5B2C1D0E-7A4F-4C3B-9E210A1B2C3D4E5F} - 0x200 bytes"
    assert headers[2] == "{00000000-0000-0000-0000000000000000} - 0x0 bytes"
    assert headers[3] == "{11111111-2222-3333-4444555555555555} - 0x2c bytes"
    assert len(headers) == 5
    # the layout the real one prints (tests/oracle compares whole texts): no blank line between
    # blocks, TAB shown as itself, 0x80/0x98/0x99 and the C0 controls as "."; a repeated GUID shows
    # the first block's bytes (dbgeng reads blocks by GUID)
    lines = text.split("\n")
    assert "" not in lines[:-1] and lines[-1] == ""
    first = lines[lines.index(headers[0]) + 1]
    assert first == "  00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F  .........\t......"
    row_80 = lines[lines.index(headers[0]) + 1 + 8]
    assert row_80 == ("  80 81 82 83 84 85 86 87 88 89 8A 8B 8C 8D 8E 8F  .." + "".join(map(chr, range(0x82, 0x8D)))
                      + ".\x8e.")
    repeat = lines[lines.index(headers[3]) + 1:lines.index(headers[4])]
    assert len(repeat) == 3 and repeat[0] == first  # 44 bytes of BLOB1, not b"d" * 44


def test_dbg_command(dumps):
    attach_dump(dumps["bitmap"])
    assert pykd.dbgCommand("as !dmftags !py -g -m dmfkd tags") is None  # empty output -> None
    assert pykd.aliases() == {"!dmftags": "!py -g -m dmfkd tags"}
    systems = pykd.dbgCommand("||")
    assert systems == ".  0 64-bit Kernel bitmap dump: %s\n" % dumps["bitmap"]  # dbgeng's spacing
    assert pykd.dbgCommand(".bugcheck").startswith("Bugcheck code DEADDEAD\nArguments 00001fff`8a3b2c38 ")
    with pytest.raises(pykd.DbgException) as info:
        pykd.dbgCommand("r")
    assert message(info) == "Call IDebugControl::ExecuteWide failed\nHRESULT 0x80040205"


class _DbgOut(io.StringIO):
    def __init__(self):
        super().__init__()
        self.dml = []

    def writedml(self, text):
        self.dml.append(text)


def test_dprint(monkeypatch, capsys):
    assert pykd.dprintln("x", True) is None
    assert pykd.dprintln("y") is None
    assert pykd.dprint("z<b>bold</b>\n", True) is None
    assert capsys.readouterr().out == "x\ny\nz<b>bold</b>\n"  # outside WinDbg the tags print raw
    assert pykd.isWindbgExt() is False
    out = _DbgOut()
    monkeypatch.setattr(sys, "stdout", out)
    assert pykd.isWindbgExt() is True
    pykd.dprint("<b>b</b>", True)
    pykd.dprint("plain")
    assert out.dml == ["<b>b</b>"] and out.getvalue() == "plain"


def test_alias_listing(dumps):
    attach_dump(dumps["full"])
    assert pykd.dbgCommand("al") == "No aliases\n"
    pykd.dbgCommand("as !dmfzz !py -g -m dmfkd tags")
    assert pykd.dbgCommand("al") == ("  Alias            Value  \n -------          ------- \n"
                                     " !dmfzz           !py -g -m dmfkd tags \n")
