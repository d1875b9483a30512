"""dmfemu's triage (type 4) dumps checked by Microsoft's dbgeng (the oracle under Wine; skips when it
is unavailable). kdmp-parser cannot read type 4 (spec/dump-format.md §5.1), so dbgeng is the only
independent reader here: it must open the dump, list the same blobs, and read the data blocks, the
KDBG copy and the call stack at the VAs DumpFile reads them from."""
import os
import struct

import pytest

from dmfemu.dumpwriter import write_dump
from dmfkd.targets.dumpfile import DumpFile

from helpers.paths import DATA
from helpers.synthetic_dumps import BLOBS, CONTEXT, PFN_4K, VA_4K, x64_pages

pytestmark = pytest.mark.oracle

P = 0x1000
BLOCKS = [(0xFFFFE00000001000, b"triage block one"), (0xFFFFE00000005000, bytes(range(200)))]


@pytest.fixture(scope="module")
def answer(tmp_path_factory):
    try:
        from oracle import dbgeng, env
    except ImportError as exc:
        pytest.skip("oracle helpers unavailable: %s" % exc)
    pages = dict(x64_pages())
    kdbg = bytearray(0x380)
    kdbg[0x10:0x14] = b"KDBG"
    struct.pack_into("<I", kdbg, 0x14, len(kdbg))
    page = bytearray(pages[PFN_4K[0]])
    page[0x100:0x100 + len(kdbg)] = kdbg
    pages[PFN_4K[0]] = bytes(page)
    path = str(tmp_path_factory.mktemp("triage") / "triage.dmp")
    write_dump(path, arch="x64", dump_type="triage", pages=pages, dtb=P, blobs=BLOBS, context=CONTEXT,
               kdbg_va=VA_4K + 0x100, triage_blocks=BLOCKS)
    reads = [(va, len(data)) for va, data in BLOCKS] + [(VA_4K + 0x100, 0x20), (CONTEXT["Rsp"], 0x40),
                                                        (0xFFFFE00000003000, 8)]
    try:
        result = dbgeng.query_one(path, reads=reads)
    except env.OracleUnavailable as exc:
        pytest.skip("oracle: %s" % str(exc).splitlines()[0])
    return path, reads, result


def test_dbgeng_opens_and_lists_the_same_blobs(answer):
    path, _, result = answer
    assert result.opened, result.open_text
    with DumpFile(path) as dump:
        ours = [(b.guid_text, b.size) for b in dump.tagged()]
    assert [(g, s) for g, s, _ in result.tag_bytes()] == ours
    first = {}
    for guid, data in BLOBS:
        first.setdefault(str(guid), data)
    for guid, size, data in result.tag_bytes():
        if size:
            assert data == first[guid]          # ReadTagged: the first blob of a GUID


def test_dbgeng_reads_the_triage_regions_like_dumpfile(answer):
    path, reads, result = answer
    with DumpFile(path) as dump:
        for (va, size), reply in zip(reads[:-1], result.reads):
            assert reply["hr"] == 0, hex(va)
            assert bytes.fromhex(reply["hex"]) == dump.read(va, size)
    assert result.reads[-1]["hr"] != 0            # not in any region: unreadable in both


@pytest.mark.parametrize("name", ["triage_x64.dmp", "triage_arm64.dmp"])
def test_real_minidumps_thread_and_process_read_like_dbgeng(name):
    """Windows' own minidumps: the current thread (PRCB.CurrentThread) and its process are mapped
    at their VAs by dbgeng; DumpFile maps the same bytes there (sizes from the dump's KDBG copy)."""
    try:
        from oracle import dbgeng, env
    except ImportError as exc:
        pytest.skip("oracle helpers unavailable: %s" % exc)
    path = os.path.join(DATA, "windows-triage", name)
    with DumpFile(path) as dump:
        stored = (dump.triage.ThreadOffset, dump.triage.ProcessOffset)
        objects = [(start, end) for start, end, offset in dump.triage_regions() if offset in stored]
    assert len(objects) == 2
    reads = [(start, 0x40) for start, _ in objects] + [(end - 8, 8) for _, end in objects]
    try:
        result = dbgeng.query_one(path, reads=reads)
    except env.OracleUnavailable as exc:
        pytest.skip("oracle: %s" % str(exc).splitlines()[0])
    with DumpFile(path) as dump:
        for (va, size), reply in zip(reads, result.reads):
            assert reply["hr"] == 0, hex(va)
            assert bytes.fromhex(reply["hex"]) == dump.read(va, size)
