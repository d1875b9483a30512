"""Issue 14's acceptance: `dmfkd batch` over a 200-dump corpus with corrupt members writes summary and
records Parquet that pyarrow reads, one error row per corrupt dump, records equal to per-dump
`crashdump --all --format json`, and the Dask engine (a LocalCluster) gives the same bytes."""
import filecmp
import json
import os

import pytest

from helpers.batch_runs import as_crashdump_record, jsonl_rows, parquet_rows, records_by_dump

pytest.importorskip("pyarrow", reason="the Parquet output needs pyarrow (dmfkd[parquet])")


@pytest.fixture(scope="module")
def local_batch(batch_corpus, tmp_path_factory):
    folder, document = batch_corpus
    out = str(tmp_path_factory.mktemp("batch-local") / "out")
    from dmfkd.cli import main

    assert main(["batch", folder, "--out", out, "--jobs", "2", "--progress", "none"]) == 0
    return out


def test_one_error_row_per_corrupt_dump_and_every_dump_once(batch_corpus, local_batch):
    _, document = batch_corpus
    summary = parquet_rows(local_batch, "summary")
    members = {m["path"]: m for m in document["members"]}
    assert sorted(r["path"] for r in summary) == sorted(members)
    assert [r["dump_id"] for r in summary] == list(range(len(members)))
    errors = {r["path"] for r in summary if r["error"]}
    assert errors == {path for path, m in members.items() if m.get("corrupt")}
    assert len(errors) == 8
    for row in summary:
        member = members[row["path"]]
        if member.get("corrupt"):
            assert row["error_kind"] == "format" and row["records"] == 0
            continue
        assert row["sha256"] and row["sha256_scope"] == "file"
        assert row["arch"] == member["arch"]
        if member["kind"] == "crash":
            assert row["dmf_version"] == member["dmf_version"] and row["drivers"] == ["dmfdemo"]
            assert row["bugcheck_code"] == member["bugcheck"]
            assert row["crash_time"] is not None


def test_the_sha256_is_the_files(batch_corpus, local_batch):
    import hashlib

    for row in parquet_rows(local_batch, "summary")[:20]:
        with open(row["path"], "rb") as handle:
            assert row["sha256"] == hashlib.sha256(handle.read()).hexdigest()


def test_records_equal_crashdump_all_json_per_dump(local_batch, capsys):
    from dmfkd.cli import main

    summary = parquet_rows(local_batch, "summary")
    records = records_by_dump(parquet_rows(local_batch, "records"))
    compared = 0
    for row in summary:
        code = main(["crashdump", row["path"], "--all", "--format", "json"])
        out, err = capsys.readouterr()
        mine = [as_crashdump_record(r) for r in records.get(row["dump_id"], [])]
        if code != 0:
            # crashdump refuses the dump: it is an error row with the same words, or it holds no ring
            assert mine == []
            first_line = err.strip()[len("dmfkd: "):]
            assert row["error"] == first_line or "no DMF ring data" in first_line, (row["path"], err)
            continue
        theirs = [dict(rec, guid=source["guid"]) for source in json.loads(out)["sources"] for rec in source["records"]]
        mine_with_guid = [dict(as_crashdump_record(r), guid=r["guid"]) for r in records.get(row["dump_id"], [])]
        assert mine_with_guid == theirs, row["path"]
        compared += 1
    assert compared > 180


def test_record_columns_are_typed(local_batch):
    import pyarrow
    import pyarrow.parquet

    summary = pyarrow.parquet.read_schema(os.path.join(local_batch, "summary.parquet"))
    assert summary.field("crash_time").type == pyarrow.timestamp("us", tz="UTC")
    assert summary.field("bugcheck_p1").type == pyarrow.uint64()
    assert summary.field("build").type == pyarrow.int32()
    records = pyarrow.parquet.read_schema(os.path.join(local_batch, "records.parquet"))
    assert records.field("index").type == pyarrow.int64()
    assert records.field("partial").type == pyarrow.bool_()


def test_dask_local_cluster_writes_the_same_bytes(batch_corpus, local_batch, tmp_path):
    pytest.importorskip("distributed", reason="--engine dask needs dask[distributed] (dmfkd[dask])")
    from dmfkd.cli import main

    folder, _ = batch_corpus
    out = str(tmp_path / "dask")
    assert main(["batch", folder, "--out", out, "--engine", "dask", "--jobs", "2", "--progress", "none"]) == 0
    for name in ("summary.parquet", "records.parquet"):
        assert filecmp.cmp(os.path.join(local_batch, name), os.path.join(out, name), shallow=False), name
    runs = json.load(open(os.path.join(out, "run.json")))["runs"]
    assert runs[-1]["engine"] == "dask" and runs[-1]["status"] == "complete"


def test_one_worker_writes_the_same_bytes_as_two(batch_corpus, local_batch, tmp_path):
    from dmfkd.cli import main

    folder, _ = batch_corpus
    out = str(tmp_path / "one")
    assert main(["batch", folder, "--out", out, "--jobs", "1", "--progress", "none"]) == 0
    for name in ("summary.parquet", "records.parquet"):
        assert filecmp.cmp(os.path.join(local_batch, name), os.path.join(out, name), shallow=False), name


def test_jsonl_rows_are_the_parquet_rows(batch_corpus, local_batch, tmp_path):
    from dmfkd.batch.columns import filetime_iso
    from dmfkd.cli import main

    folder, document = batch_corpus
    out = str(tmp_path / "jsonl")
    assert main(["batch", folder, "--out", out, "--format", "jsonl", "--progress", "none"]) == 0
    parquet_summary = parquet_rows(local_batch, "summary")
    summary = jsonl_rows(out, "summary")
    times = {m["path"]: m.get("crash_time") for m in document["members"]}
    assert len(summary) == len(parquet_summary)
    for theirs, mine in zip(parquet_summary, summary):
        expected = None if theirs.pop("crash_time") is None else filetime_iso(times[mine["path"]])
        assert mine.pop("crash_time") == expected
        assert mine == theirs
    assert jsonl_rows(out, "records") == parquet_rows(local_batch, "records")
