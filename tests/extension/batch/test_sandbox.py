"""A dump never takes the batch down: a runaway (time, memory), a dying worker and a broken schema each
become that dump's error row - or, for a schema that cannot load at all, one line before any work."""
import io
import os
import pickle
import sys

import pytest

from helpers.batch_runs import demo_dumps, jsonl_rows, schema_file


@pytest.fixture(scope="module")
def three_dumps(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("three-dumps"))
    demo_dumps(folder, [1, 2, 3])
    return folder


def _batch(cli, dumps, tmp_path, schema_body, *options):
    schema = schema_file(str(tmp_path), schema_body)
    out = str(tmp_path / "out")
    cli("batch", dumps, "--out", out, "--format", "jsonl", "--jobs", "1", "--progress", "none",
        "--schema", schema + ":Event", *options)
    return {os.path.basename(os.path.dirname(r["path"])): r for r in jsonl_rows(out, "summary")}, out


def test_a_dump_over_the_time_limit_is_a_timeout_row(cli, three_dumps, tmp_path):
    rows, _ = _batch(cli, three_dumps, tmp_path, '''
        if b"seed 2" in data:
            while True:
                pass
        return {"b": data[8]}''', "--timeout", "1")
    assert rows["seed-2"]["error_kind"] == "timeout"
    assert rows["seed-2"]["error"] == "reading this dump took longer than 1 s (--timeout): stopped"
    assert rows["seed-1"]["error"] is None and rows["seed-3"]["error"] is None
    assert rows["seed-3"]["records"] == rows["seed-1"]["records"] > 0


@pytest.mark.parametrize("how, said", [("os._exit(3)", "exit status 3"),
                                       ("os.kill(os.getpid(), 9)", "killed by SIGKILL")])
def test_a_worker_that_dies_is_a_worker_died_row(cli, three_dumps, tmp_path, how, said):
    if sys.platform == "win32" and "kill" in how:
        pytest.skip("signals are POSIX")
    rows, _ = _batch(cli, three_dumps, tmp_path, '''
        if b"seed 2" in data:
            %s
        return {"b": data[8]}''' % how)
    assert rows["seed-2"]["error_kind"] == "worker-died"
    assert rows["seed-2"]["error"] == "the worker process reading this dump died (%s)" % said
    assert rows["seed-3"]["error"] is None and rows["seed-3"]["records"] > 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux only")
def test_the_memory_limit_holds_in_the_worker(cli, three_dumps, tmp_path):
    rows, out = _batch(cli, three_dumps, tmp_path, '''
        if b"seed 2" in data:
            return {"big": "x" * (700 << 20)}   # more than the whole limit
        import resource
        return {"limit": resource.getrlimit(resource.RLIMIT_AS)[0]}''', "--memory-limit", "600")
    assert rows["seed-2"]["error_kind"] == "memory"
    assert rows["seed-2"]["error"] == "out of memory while reading the dump (the per-dump memory limit)"
    fields = {r["fields"] for r in jsonl_rows(out, "records") if r["decoder"] != "hex"}
    assert fields == {'{"limit":%d}' % (600 << 20)}
    assert rows["seed-3"]["error"] is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux only")
def test_an_allocation_past_the_limit_fails_fast_instead_of_taking_the_machine(cli, three_dumps, tmp_path):
    # 64 GiB would exhaust this machine; under the limit it is a MemoryError at once: that dump's memory row,
    # and the next dump is read as usual
    rows, out = _batch(cli, three_dumps, tmp_path, '''
        if b"seed 2" in data:
            big = bytearray(64 << 30)
        return {"b": data[8]}''', "--memory-limit", "512")
    assert rows["seed-2"]["error_kind"] == "memory"
    assert rows["seed-1"]["error"] is None and rows["seed-3"]["error"] is None


def test_a_schema_that_cannot_load_stops_the_batch_in_one_line(cli, three_dumps, tmp_path):
    schema = str(tmp_path / "broken.py")
    with open(schema, "w") as handle:
        handle.write("raise RuntimeError('no')\n")
    run = cli("batch", three_dumps, "--out", str(tmp_path / "out"), "--format", "jsonl", "--progress", "none",
              "--schema", schema + ":Event", code=2)
    assert run.err.count("\n") == 1
    assert run.err == "dmfkd: --schema %s:Event: loading %s raised RuntimeError: no\n" % (schema, schema)


def test_the_runner_used_by_dask_tasks_restarts_after_a_timeout_and_a_death(three_dumps, tmp_path):
    from dmfkd.batch.sandbox import SandboxRunner

    schema = schema_file(str(tmp_path), '''
        if b"seed 2" in data:
            while True:
                pass
        if b"seed 3" in data:
            os._exit(5)
        return {"b": data[8]}''')
    runner = SandboxRunner({"schemas": [schema + ":Event"]}, timeout=1.0)
    try:
        paths = [os.path.join(three_dumps, "seed-%d" % n, "MEMORY.DMP") for n in (1, 2, 3, 1)]
        results = [runner.run(i, path)["summary"] for i, path in enumerate(paths)]
    finally:
        runner.close()
    assert [r["error_kind"] for r in results] == [None, "timeout", "worker-died", None]
    assert results[0]["records"] == results[3]["records"] > 0


def test_frames_carry_plain_data_only():
    import datetime

    from dmfkd.batch.sandbox import FrameError, MAX_FRAME, read_frame, write_frame

    stream = io.BytesIO()
    message = ("result", 3, {"summary": {"a": [1, None, "x"], "b": True}, "records": [], "s": frozenset({"h"})})
    write_frame(stream, message)
    stream.seek(0)
    assert read_frame(stream) == message
    assert read_frame(stream) is None
    payload = pickle.dumps(datetime.date(2024, 1, 1), protocol=4)
    with pytest.raises(FrameError):
        read_frame(io.BytesIO(len(payload).to_bytes(8, "big") + payload))
    with pytest.raises(FrameError):
        read_frame(io.BytesIO((MAX_FRAME + 1).to_bytes(8, "big")))
    assert read_frame(io.BytesIO(b"\x00\x00\x00\x00\x00\x00\x00\x10abc")) is None   # cut short: the end
