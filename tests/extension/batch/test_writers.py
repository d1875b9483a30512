"""Output that survives: a killed batch keeps what it finished, --resume finishes it to the same bytes a
run without the kill writes, a half-written JSON line is cut, and an output folder is never mixed up."""
import filecmp
import glob
import os
import subprocess
import sys
import time

import pytest

from helpers.batch_runs import demo_dumps, jsonl_rows, parquet_rows, schema_file
from helpers.paths import SOURCE_PATH

pytest.importorskip("pyarrow", reason="the Parquet output needs pyarrow (dmfkd[parquet])")

#: seeds 1-12; with DMFKD_TEST_HANG set, the schema below hangs on seed 5
SEEDS = list(range(1, 13))
SCHEMA = '''
    if os.environ.get("DMFKD_TEST_HANG") and b"seed 5\\x00" in data:
        time.sleep(600)
    return {"b": data[8]}'''
KILLABLE_BATCH = """
import sys
from dmfkd.batch.runner import BatchOptions, run_batch
try:
    run_batch(BatchOptions([sys.argv[1]], sys.argv[2], jobs=2, progress="none", schemas=[sys.argv[3]],
                           checkpoint_seconds=0.05, timeout=0))
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("twelve"))
    demo_dumps(folder, SEEDS)
    schema_file(folder, SCHEMA)
    return folder


def _schema(dumps):
    return os.path.join(dumps, "schema.py") + ":Event"


def _start_and_wait_for_parts(dumps, out):
    """The batch in a process of its own, once it has saved the 7 dumps before the one that hangs."""
    env = dict(os.environ, DMFKD_TEST_HANG="1", PYTHONPATH=SOURCE_PATH)
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE_BATCH, dumps, out, _schema(dumps)], env=env)
    deadline = time.monotonic() + 60
    before_hang = sorted("seed-%d" % n for n in SEEDS).index("seed-5")    # batch order is path order
    parts, done = [], 0
    while time.monotonic() < deadline and proc.poll() is None and done < before_hang:
        parts = glob.glob(os.path.join(out, ".dmfkd-batch", "part-*.summary.parquet"))
        done = sum(len(parquet_rows_of(p)) for p in parts)
        time.sleep(0.05)
    assert done == before_hang == 7
    return proc, parts


def test_a_killed_batch_keeps_its_parts_and_resume_gives_the_same_bytes(dumps, tmp_path, cli):
    fresh = str(tmp_path / "fresh")
    cli("batch", dumps, "--out", fresh, "--jobs", "2", "--progress", "none", "--schema", _schema(dumps))
    killed = str(tmp_path / "killed")
    proc, parts = _start_and_wait_for_parts(dumps, killed)
    try:
        assert proc.poll() is None, "the batch ended by itself"
        workers = _children(proc.pid)
        assert len(workers) == 2 or not os.path.exists("/proc")
    finally:
        proc.kill()
        proc.wait()
    # its worker processes (one of them stuck in the hanging dump) end with it
    deadline = time.monotonic() + 5
    while workers and time.monotonic() < deadline:
        workers = [pid for pid in workers if os.path.exists("/proc/%d" % pid)]
        time.sleep(0.05)
    assert workers == []
    assert not os.path.exists(os.path.join(killed, "summary.parquet"))
    # what the killed batch finished is readable as it is
    assert sorted(r["dump_id"] for p in parts for r in parquet_rows_of(p)) == list(range(7))
    run = cli("batch", dumps, "--out", killed, "--resume", "--jobs", "2", "--progress", "none",
              "--schema", _schema(dumps))
    assert "7 skipped as already in the output" in " ".join(run.out.split())
    assert not os.path.exists(os.path.join(killed, ".dmfkd-batch"))
    for name in ("summary.parquet", "records.parquet"):
        assert filecmp.cmp(os.path.join(fresh, name), os.path.join(killed, name), shallow=False), name


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT as a terminal sends it is POSIX")
def test_ctrl_c_merges_what_was_finished(dumps, tmp_path):
    import json
    import signal

    out = str(tmp_path / "interrupted")
    proc, _ = _start_and_wait_for_parts(dumps, out)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert [r["dump_id"] for r in parquet_rows(out, "summary")] == list(range(7))
    assert not os.path.exists(os.path.join(out, ".dmfkd-batch"))
    assert json.load(open(os.path.join(out, "run.json")))["runs"][-1]["status"] == "interrupted"


def _children(pid):
    """Child process ids of pid (Linux /proc; elsewhere none are checked)."""
    found = []
    for entry in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = open(entry).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.split("/")[2]))
    return found


def parquet_rows_of(path):
    import pyarrow.parquet

    return pyarrow.parquet.read_table(path).to_pylist()


def test_resume_of_a_finished_batch_adds_only_new_dumps(dumps, tmp_path, cli):
    out = str(tmp_path / "out")
    cli("batch", os.path.join(dumps, "seed-1"), os.path.join(dumps, "seed-10", "MEMORY.DMP"), "--out", out,
        "--progress", "none")
    before = parquet_rows(out, "summary")
    run = cli("batch", dumps, "--out", out, "--resume", "--progress", "none")
    assert "2 skipped as already in the output" in " ".join(run.out.split())
    after = parquet_rows(out, "summary")
    assert after[:2] == before
    assert [r["dump_id"] for r in after] == list(range(len(SEEDS)))
    assert len({r["sha256"] for r in after}) == len(SEEDS)


def test_resume_with_other_decoding_options_is_refused(dumps, tmp_path, cli):
    out = str(tmp_path / "out")
    cli("batch", os.path.join(dumps, "seed-1"), "--out", out, "--progress", "none")
    run = cli("batch", dumps, "--out", out, "--resume", "--progress", "none", "--schema", _schema(dumps), code=2)
    assert "--resume with other decoding options" in run.err


def test_an_existing_output_needs_resume_and_the_same_format(dumps, tmp_path, cli):
    out = str(tmp_path / "out")
    cli("batch", os.path.join(dumps, "seed-1"), "--out", out, "--progress", "none")
    run = cli("batch", dumps, "--out", out, "--progress", "none", code=2)
    assert "already holds a batch" in run.err and "--resume" in run.err
    run = cli("batch", dumps, "--out", out, "--resume", "--format", "jsonl", "--progress", "none", code=2)
    assert "another --format" in run.err


def test_jsonl_resume_cuts_a_half_written_line_and_records_without_a_summary(dumps, tmp_path, cli):
    fresh = str(tmp_path / "fresh")
    cli("batch", dumps, "--out", fresh, "--format", "jsonl", "--progress", "none")
    out = str(tmp_path / "cut")
    cli("batch", dumps, "--out", out, "--format", "jsonl", "--progress", "none")
    summary_path = os.path.join(out, "summary.jsonl")
    records_path = os.path.join(out, "records.jsonl")
    with open(summary_path, "rb") as handle:
        lines = handle.read().splitlines(keepends=True)
    kept = b"".join(lines[:5]) + lines[5][:40]              # killed while writing the 6th dump's line
    with open(summary_path, "wb") as handle:
        handle.write(kept)
    cli("batch", dumps, "--out", out, "--format", "jsonl", "--resume", "--progress", "none")
    assert jsonl_rows(out, "summary") == jsonl_rows(fresh, "summary")
    assert jsonl_rows(out, "records") == jsonl_rows(fresh, "records")
    with open(records_path, "rb") as a, open(os.path.join(fresh, "records.jsonl"), "rb") as b:
        assert a.read() == b.read()


def test_a_second_batch_on_the_same_folder_is_refused_while_one_runs(dumps, tmp_path):
    pytest.importorskip("fcntl", reason="the folder lock is flock on POSIX")
    from dmfkd.batch.writers import JsonlOutput
    from dmfkd.errors import UsageError

    out = str(tmp_path / "out")
    first = JsonlOutput(out, resume=False, metadata={})
    try:
        with pytest.raises(UsageError, match="another batch is writing"):
            JsonlOutput(out, resume=True, metadata={})
    finally:
        first.close()
        first.release()
    JsonlOutput(out, resume=True, metadata={}).release()


def test_inputs_are_opened_read_only_and_left_as_they_were(dumps, tmp_path, cli):
    paths = sorted(glob.glob(os.path.join(dumps, "*", "MEMORY.DMP")))
    before = {p: (os.stat(p).st_mtime_ns, open(p, "rb").read()) for p in paths}
    for path in paths:
        os.chmod(path, 0o444)
    try:
        cli("batch", dumps, "--out", str(tmp_path / "out"), "--progress", "none")
    finally:
        for path in paths:
            os.chmod(path, 0o644)
    assert {p: (os.stat(p).st_mtime_ns, open(p, "rb").read()) for p in paths} == before


def test_an_output_folder_that_is_an_input_is_refused(dumps, tmp_path, cli):
    out = tmp_path / "out"
    out.mkdir()
    decoy = out / "summary.parquet"
    decoy.write_bytes(open(os.path.join(dumps, "seed-1", "MEMORY.DMP"), "rb").read())
    run = cli("batch", str(decoy), "--out", str(out), "--resume", "--progress", "none", code=2)
    assert "is an input of this batch" in run.err


def test_resume_over_damaged_output_is_one_line(dumps, tmp_path, cli):
    out = tmp_path / "out"
    cli("batch", os.path.join(dumps, "seed-1"), "--out", str(out), "--progress", "none")
    (out / "summary.parquet").write_bytes(b"PAR1 not really")
    run = cli("batch", dumps, "--out", str(out), "--resume", "--progress", "none", code=2)
    assert run.err.startswith("dmfkd: cannot read %s to resume: " % (out / "summary.parquet"))
    assert run.err.count("\n") == 1
    jsonl = tmp_path / "jsonl"
    cli("batch", os.path.join(dumps, "seed-1"), "--out", str(jsonl), "--format", "jsonl", "--progress", "none")
    with open(str(jsonl / "summary.jsonl"), "a") as handle:
        handle.write('{"dump_id": 7, "sha256": ["not", "a", "hash"]}\n')
    cli("batch", dumps, "--out", str(jsonl), "--format", "jsonl", "--resume", "--progress", "none")
    assert [r["dump_id"] for r in jsonl_rows(str(jsonl), "summary")][-1] == 7 + len(SEEDS) - 1
