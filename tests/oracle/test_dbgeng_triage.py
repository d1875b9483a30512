"""dbgeng vs dmfkd's DumpFile on the real Windows triage dumps (tests/data/windows-triage/)."""
import os

import pytest

from dmfkd.targets.dumpfile import DumpFile

pytestmark = pytest.mark.oracle

from helpers.paths import DATA as _DATA

DATA = os.path.join(_DATA, "windows-triage")
FIXTURES = ["triage_x64.dmp", "triage_arm64.dmp"]
MACHINE = {"x64": 0x8664, "arm64": 0xAA64}
TRIAGE_READS = 24          # triage VA regions read back per dump
READ_BYTES = 0x40


def _triage_reads(path):
    with DumpFile(path) as dump:
        regions = dump.triage_regions()
    step = max(1, len(regions) // TRIAGE_READS)
    reads = []
    for start, end, _ in regions[::step]:
        reads.append((start, min(READ_BYTES, end - start)))
        if end - start > 2:  # a read that ends exactly at the region's last byte
            reads.append((end - 2, 2))
    return reads


@pytest.fixture(scope="module")
def answers(dbgeng_oracle):
    queries = [dbgeng_oracle.DumpQuery(os.path.join(DATA, name), reads=_triage_reads(os.path.join(DATA, name)),
                                       readtags=["00000000-0000-0000-0000-000000000099"],
                                       commands=["vertarget"], regs=True)
               for name in FIXTURES]
    return dict(zip(FIXTURES, dbgeng_oracle.query(queries)))


@pytest.mark.parametrize("name", FIXTURES)
def test_dbgeng_opens_as_mini_kernel_dump(answers, name):
    answer = answers[name]
    assert answer.opened, answer.open
    assert answer.open["class"] == 1 and answer.open["qualifier"] == 1024     # kernel, small dump
    assert "Mini Kernel Dump File" in answer.open_text
    with DumpFile(answer.query.path) as dump:
        assert dump.dump_type == 4
        assert answer.open["machine"] == MACHINE[dump.arch]
        assert answer.open["build"] == dump.build
        assert answer.open["processors"] == dump.header.NumberProcessors


@pytest.mark.parametrize("name", FIXTURES)
def test_bugcheck_equals(answers, name):
    answer = answers[name]
    with DumpFile(answer.query.path) as dump:
        code, params = dump.bugcheck()
    assert answer.open["bugcheck"] == [code] + list(params)


@pytest.mark.parametrize("name", FIXTURES)
def test_tags_guid_size_order_equal(answers, name):
    answer = answers[name]
    with DumpFile(answer.query.path) as dump:
        mine = [(b.guid_text, b.size) for b in dump.tagged()]
        assert not any(b.truncated for b in dump.tagged())
    theirs = [(t["guid"], t["size"]) for t in answer.tags]
    assert theirs == mine
    assert len(theirs) == {"triage_x64.dmp": 20, "triage_arm64.dmp": 42}[name]   # spec/dbgeng-oracle.md


@pytest.mark.parametrize("name", FIXTURES)
def test_readtagged_bytes_equal_first_blob(answers, name):
    """ReadTagged returns the FIRST block of a GUID; zero-size blocks fail with E_INVALIDARG."""
    answer = answers[name]
    with DumpFile(answer.query.path) as dump:
        for guid, size, data in answer.tag_bytes():
            if size == 0:
                assert data is None
                continue
            assert data == dump.read_tagged(guid), guid
        failed = [t for t in answer.tags if "hex" not in t]
        assert all(t["read_hr"] == 0x80070057 and t["size"] == 0 for t in failed)
        assert len(failed) == sum(1 for b in dump.tagged() if b.size == 0)


@pytest.mark.parametrize("name", FIXTURES)
def test_missing_tag(answers, name, dbgeng_oracle):
    (reply,) = answers[name].readtags
    assert reply["hr"] == dbgeng_oracle.E_NOINTERFACE
    from dmfkd.errors import TagNotFoundError

    with DumpFile(answers[name].query.path) as dump:
        with pytest.raises(TagNotFoundError):
            dump.read_tagged(reply["guid"])


@pytest.mark.parametrize("name", FIXTURES)
def test_triage_virtual_reads_equal(answers, name):
    """Memory a triage dump carries (KDBG copy, stack, data blocks) reads the same through both."""
    answer = answers[name]
    assert answer.reads
    with DumpFile(answer.query.path) as dump:
        for reply in answer.reads:
            assert reply["hr"] == 0, reply
            assert bytes.fromhex(reply["hex"]) == dump.read(reply["address"], reply["size"]), hex(reply["address"])


@pytest.mark.parametrize("name", FIXTURES)
def test_vertarget_matches_header(answers, name):
    text = answers[name].command_text("vertarget")
    with DumpFile(answers[name].query.path) as dump:
        assert "Kernel Version %d" % dump.build in text
        assert "(%d procs)" % dump.header.NumberProcessors in text
