"""`dmfkd batch`'s options: wrong ones are one line and status 2 before any work; missing extras are
named; the run's own facts stay out of the tables; help and messages speak the user's language."""
import json
import os
import re
import sys

import pytest

from helpers.batch_runs import demo_dumps, jsonl_rows
from helpers.paths import REPO, SAMPLE_DUMP

FORBIDDEN = re.compile(r"§|sec\. |spec/|Q-RB-|Q-CD-|Q-LKD-|\.c:")


@pytest.fixture(scope="module")
def one_dump(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("one-dump"))
    return demo_dumps(folder, [1])[0]


@pytest.mark.parametrize("options, said", [
    (["--jobs", "0"], "--jobs must be at least 1"),
    (["--timeout", "-1"], "--timeout must be >= 0"),
    (["--memory-limit", "10"], "--memory-limit must be at least 256 MiB"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --engine dask"),
    (["--type", "5f3a=dmfdemo!DMFDEMO_EVENT"], "give the data source's full GUID"),
    (["--schema", "missing.py:X"], "--schema: no such file"),
    (["--type", "a!B", "--type", "c!D"], "give one --type or --schema for all sources"),
    (["--isf", SAMPLE_DUMP], "ISF JSON is not UTF-8"),
    (["--scheduler-timeout", "0", "--engine", "dask"], "--scheduler-timeout must be > 0"),
])
def test_wrong_options_are_one_line_before_any_work(cli, one_dump, tmp_path, options, said):
    out = tmp_path / "out"
    run = cli("batch", one_dump, "--out", str(out), "--progress", "none", *options, code=2)
    assert run.err.count("\n") == 1 and said in run.err
    assert not out.exists()


def test_missing_extras_are_named(cli, one_dump, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    run = cli("batch", one_dump, "--out", str(tmp_path / "a"), "--progress", "none", code=2)
    assert run.err == "dmfkd: Parquet output needs pyarrow: pip install 'dmfkd[parquet]' (or --format jsonl)\n"
    monkeypatch.setitem(sys.modules, "distributed", None)
    run = cli("batch", one_dump, "--out", str(tmp_path / "b"), "--format", "jsonl", "--engine", "dask",
              "--progress", "none", code=2)
    assert run.err == "dmfkd: --engine dask needs Dask: pip install 'dmfkd[dask]'\n"


def test_an_unreachable_scheduler_is_one_line(cli, one_dump, tmp_path):
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as probe:                # a port on this machine nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = cli("batch", one_dump, "--out", str(tmp_path / "out"), "--format", "jsonl", "--engine", "dask",
              "--scheduler", "tcp://127.0.0.1:%d" % port, "--scheduler-timeout", "1", "--progress", "none", code=2)
    assert run.err.startswith("dmfkd: cannot reach the Dask scheduler at tcp://127.0.0.1:%d" % port)
    assert run.err.count("\n") == 1


def test_a_scheduler_address_with_and_without_workers(cli, one_dump, tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=True, dashboard_address=None) as cluster:
        options = ["--format", "jsonl", "--engine", "dask", "--scheduler", cluster.scheduler_address,
                   "--progress", "none"]
        run = cli("batch", one_dump, "--out", str(tmp_path / "none"), "--scheduler-timeout", "1", *options, code=2)
        assert run.err == "dmfkd: the Dask scheduler at %s has no workers (waited 1 s)\n" % cluster.scheduler_address
        assert not (tmp_path / "none").exists()
        cluster.scale(1)
        cli("batch", one_dump, "--out", str(tmp_path / "one"), *options)
    assert [r["records"] for r in jsonl_rows(str(tmp_path / "one"), "summary")] == [24]


def test_the_run_facts_go_to_run_json_not_the_tables(cli, one_dump, tmp_path):
    out = tmp_path / "out"
    run = cli("batch", one_dump, "--out", str(out), "--format", "jsonl", "--progress", "lines", "--jobs", "1")
    assert " ".join(run.out.split()).startswith("1 dump(s): 1 written to %s (0 with an error), 24 record(s)" % out)
    assert "next: dmfkd batch-report %s" % out in run.out
    assert re.match(r"dmfkd batch: 1/1 dumps \(100%\), [\d.]+ dumps/s, ETA 0:00:00, 0 errors\n$", run.err)
    facts = json.load(open(str(out / "run.json")))["runs"]
    assert [f["status"] for f in facts] == ["complete"] and facts[0]["written"] == 1
    from dmfkd.batch.columns import SUMMARY_COLUMNS

    assert list(jsonl_rows(str(out), "summary")[0]) == [c.name for c in SUMMARY_COLUMNS]


def test_help_texts_have_no_spec_references(capsys):
    from dmfkd.cli import main

    for command in ("batch", "batch-report"):
        assert main([command, "--help"]) == 0          # main returns: an in-process caller goes on
        text = capsys.readouterr().out
        assert "DIR" in text
        assert not FORBIDDEN.search(text), text
    from dmfkd.batch import columns

    meanings = [c.meaning for c in columns.SUMMARY_COLUMNS + columns.RECORD_COLUMNS]
    assert not [m for m in meanings if FORBIDDEN.search(m)]


def test_readme_documents_both_schemas_column_for_column():
    from dmfkd.batch.columns import schema_markdown

    readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    for table in ("summary", "records"):
        assert schema_markdown(table) in readme, "README's %s schema table is out of date" % table


def test_inside_the_debugger_batch_says_to_run_it_from_a_shell(cli, one_dump, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", r"C:\Debuggers\x64\windbg.exe")
    run = cli("batch", one_dump, "--out", str(tmp_path / "out"), "--format", "jsonl", code=2)
    assert run.err.count("\n") == 1 and "run it from a shell" in run.err
    assert not (tmp_path / "out").exists()
