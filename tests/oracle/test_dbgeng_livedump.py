"""Emulated DMF live kernel dumps judged by Microsoft's dbgeng (oracle): dbgeng opens them, reports the
live dump code and parameters dmfkd shows, ReadTagged gives the secondary data, and every buffer dmfkd
`livedump` says is readable (or not) in the dump reads the same bytes (or fails) through dbgeng.
Skips with one line when Wine / dbgeng are unavailable (tests/oracle/env.py)."""
import json

import pytest

from dmfkd.targets.dumpfile import DumpFile

from helpers.livedump_runs import build, doc_of

pytestmark = pytest.mark.oracle

# (arch, dump type): the live minidump and the full live dump; ARM64 also as type 1
KINDS = [("x64", "triage"), ("x64", "bitmap-kernel"), ("arm64", "triage"), ("arm64", "bitmap-kernel"),
         ("arm64", "full")]
IDS = ["-".join(kind) for kind in KINDS]


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    from oracle import dbgeng, env

    try:
        dbgeng.ensure()
    except env.OracleUnavailable as exc:
        pytest.skip("oracle: %s" % str(exc).splitlines()[0])
    built = {}
    queries = []
    for kind in KINDS:
        arch, dump_type = kind
        run, expected, path, isf = build(tmp_path_factory.mktemp("lkd-%s-%s" % kind), arch=arch, dump_type=dump_type)
        doc = doc_of(["livedump", path])
        reads = [(r["address"], r["size"]) for r in doc["data_buffers"]]
        # the removed client buffer: in the ring (invalid), never inserted into a live minidump
        removed = [(e["address"], e["size"]) for e in expected["data_buffers"] if not e["valid"]]
        built[kind] = (path, expected, doc, reads, removed)
        queries.append(dbgeng.DumpQuery(path, reads=reads + removed))
    answers = dbgeng.query(queries)
    return {kind: built[kind] + (answer,) for kind, answer in zip(KINDS, answers)}


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_dbgeng_opens_the_live_dump_with_the_same_code_and_parameters(judged, kind):
    path, expected, doc, reads, removed, answer = judged[kind]
    assert answer.opened, answer.open_text
    code = expected["bugcheck"]["code"]
    assert answer.open["bugcheck"] == [code] + expected["bugcheck"]["parameters"]
    assert doc["live_dump"]["code"] == code and doc["live_dump"]["parameters"] == expected["bugcheck"]["parameters"]
    assert [(g, n) for g, n, _ in answer.tag_bytes()] == [(expected["secondary"]["guid"],
                                                           len(bytes.fromhex(expected["secondary"]["hex"])))]
    assert answer.tag_bytes()[0][2] == bytes.fromhex(expected["secondary"]["hex"])


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_dbgeng_reads_what_livedump_calls_readable(judged, kind):
    path, expected, doc, reads, removed, answer = judged[kind]
    replies = answer.reads
    assert len(replies) == len(reads) + len(removed)
    with DumpFile(path) as dump:
        for row, (va, size), reply in zip(doc["data_buffers"], reads, replies):
            assert (reply["hr"] == 0) == (row["readable"] == "yes"), row
            if reply["hr"] == 0:
                assert bytes.fromhex(reply["hex"]) == dump.read(va, size)
    for (va, size), reply in zip(removed, replies[len(reads):]):
        # a full live dump has all memory; a live minidump only what was inserted
        assert (reply["hr"] == 0) == (kind[1] != "triage"), hex(va)


@pytest.fixture(scope="module")
def through_real_pykd(judged):
    """`python -m dmfkd --pykd-dump DUMP livedump` with the REAL pykd 0.3.4.15 (Windows CPython 3.9
    under Wine), for the same live dumps."""
    from oracle import env, realpykd

    try:
        realpykd.ensure()
    except env.OracleUnavailable as exc:
        pytest.skip("oracle: %s" % str(exc).splitlines()[0])
    runs = realpykd.run_dmfkd_batch([["--pykd-dump", judged[kind][0], "livedump", "--format", "json"]
                                     for kind in KINDS])
    return dict(zip(KINDS, runs))


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_real_pykd_gives_the_cli_rows(judged, through_real_pykd, kind):
    path, expected, doc, reads, removed, answer = judged[kind]
    run = through_real_pykd[kind]
    assert run.returncode == 0, run.stderr
    via = json.loads(run.stdout)
    assert via["data_buffers"] == doc["data_buffers"]
    assert via["modules"] == doc["modules"]
    assert via["live_dump"]["parameters"] == expected["bugcheck"]["parameters"]
