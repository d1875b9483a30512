"""A batch finds each dump's symbols as `crashdump DUMP` does - --isf, --pdb, driver.isf.json beside the
dump, the symbol path - and its records are then decoded as that command decodes them."""
import json
import os

import pytest

from helpers.batch_runs import as_crashdump_record, jsonl_rows
from helpers.pdb_demos import alone, pdb_demo

EVENT = "dmfdemo!DMFDEMO_EVENT"
#: the SELF ring holds DMFDEMO_EVENTs; the user-mode sources hold records of other sizes
SELF_EVENT = "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70=" + EVENT


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return pdb_demo(tmp_path_factory, "x64", "1.1.154")


def _crashdump_records(capsys, dump, *options):
    from dmfkd.cli import main

    assert main(["crashdump", dump, "--all", "--format", "json"] + list(options)) == 0
    document = json.loads(capsys.readouterr().out)
    return [dict(record, guid=source["guid"]) for source in document["sources"] for record in source["records"]]


@pytest.mark.parametrize("how", ["symbols", "pdb"])
def test_the_drivers_pdb_from_a_symbol_path_or_given(demo, tmp_path, cli, capsys, how):
    dump = alone(demo, tmp_path / "dumps")
    options = ["--symbols", demo.symbols] if how == "symbols" else ["--pdb", demo.pdb]
    out = str(tmp_path / "out")
    cli("batch", dump, "--out", out, "--format", "jsonl", "--progress", "none", "--jobs", "1", "--type", SELF_EVENT,
        *options)
    summary = jsonl_rows(out, "summary")[0]
    assert summary["error"] is None and summary["drivers"] == ["dmfdemo"]
    assert summary["symbols"] == demo.pdb
    assert summary["symbols_id"].startswith("pdb:") and len(summary["symbols_id"]) > 36
    mine = [dict(as_crashdump_record(r), guid=r["guid"]) for r in jsonl_rows(out, "records")]
    assert mine == _crashdump_records(capsys, dump, "--type", SELF_EVENT, *options)
    assert any(r["decoder"] == EVENT for r in jsonl_rows(out, "records"))


def test_an_isf_beside_the_dump_wins_over_the_symbol_path_and_says_so(demo, tmp_path, cli):
    out = str(tmp_path / "out")
    cli("batch", demo.dump, "--out", out, "--format", "jsonl", "--progress", "none", "--jobs", "1",
        "--symbols", demo.symbols)
    summary = jsonl_rows(out, "summary")[0]
    assert summary["symbols"] == os.path.join(demo.folder, "driver.isf.json")
    assert summary["symbols_id"].startswith("isf:")
    assert any("an ISF beside the dump wins over --symbols" in w for w in summary["warnings"])


def test_no_symbols_at_all_is_said_per_dump_not_an_error(demo, tmp_path, cli):
    dump = alone(demo, tmp_path / "dumps")
    out = str(tmp_path / "out")
    cli("batch", dump, "--out", out, "--format", "jsonl", "--progress", "none", "--jobs", "1", "--driver", "dmfdemo")
    summary = jsonl_rows(out, "summary")[0]
    assert summary["symbols"] is None
    assert any(w.startswith("symbols: no symbols for dmfdemo") for w in summary["warnings"])


def test_a_type_that_fits_not_every_source_refuses_the_dump_as_crashdump_does(demo, tmp_path, cli):
    out = str(tmp_path / "out")
    cli("batch", demo.dump, "--out", out, "--format", "jsonl", "--progress", "none", "--jobs", "1", "--type", EVENT)
    summary = jsonl_rows(out, "summary")[0]
    run = cli("crashdump", demo.dump, "--all", "--type", EVENT, code=2)
    assert (summary["error_kind"], "dmfkd: %s\n" % summary["error"]) == ("options", run.err)
    assert summary["records"] == 0 and jsonl_rows(out, "records") == []


def test_contradicting_symbol_options_are_one_line(tmp_path, cli, demo):
    run = cli("batch", demo.dump, "--out", str(tmp_path / "a"), "--isf", demo.isf_path, "--pdb", demo.pdb, code=2)
    assert run.err == "dmfkd: give --isf FILE or --pdb FILE, not both\n"
    run = cli("batch", demo.dump, "--out", str(tmp_path / "b"), "--symbols", "ftp://nowhere/x", code=2)
    assert run.err.startswith("dmfkd: symbol path element 'ftp://nowhere/x'")
