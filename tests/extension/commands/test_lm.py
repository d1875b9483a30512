"""`dmfkd lm`: the loaded modules with each image's PDB GUID/age and symbol status, as a table within 120
columns and as JSON with machine values; --driver filters and is the only module a server is asked
about; --pdb shows how a file fits its module. The emulator's PDB dumps carry a real CodeView record for
the driver; the real Windows triage dumps carry a driver list and no image headers."""
import os

import pytest

from dmfkd.targets.pdb import read_identity

from helpers.paths import DATA, TRIAGE_X64
from helpers.pdb_demos import alone, pdb_demo
from helpers.symbol_servers import SymbolHttpServer, store_pdb

OTHER_PDB = os.path.join(DATA, "msvc-pdb", "x64", "xcpt4.pdb")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    demo = pdb_demo(tmp_path_factory, "x86", "1.1.154")
    return demo, alone(demo, tmp_path_factory.mktemp("alone"))


def _rows(cli_json, *argv):
    return {row["name"]: row for row in cli_json("lm", *argv)}


def test_without_a_symbol_path_the_status_is_not_checked(cli, cli_json, demo):
    build, dump = demo
    rows = _rows(cli_json, dump)
    identity = read_identity(build.pdb)
    assert list(rows) == ["nt", "dmfdemo"]
    driver = rows["dmfdemo"]
    assert driver["symbol_status"] == "not checked" and driver["symbol_file"] is None
    assert (driver["pdb_guid"], driver["pdb_age"], driver["pdb_name"]) == (str(identity.guid), identity.age,
                                                                           "dmfdemo.pdb")
    assert driver["base"] == build.image_base and driver["end"] > driver["base"] and driver["size"] > 0
    assert isinstance(driver["time_date_stamp"], int) and isinstance(driver["checksum"], int)
    text = cli("lm", dump, quiet=True).out
    assert "symbols not checked: give --symbols PATH or set _NT_SYMBOL_PATH" in text
    # x86: 8-digit addresses
    assert "0x%08x" % build.image_base in text and max(len(line) for line in text.splitlines()) <= 120


def test_matched_mismatched_and_not_found(cli_json, demo, tmp_path):
    build, dump = demo
    assert _rows(cli_json, dump, "--symbols", build.symbols)["dmfdemo"]["symbol_status"] == "matched"
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "dmfdemo.pdb").write_bytes(open(OTHER_PDB, "rb").read())
    driver = _rows(cli_json, dump, "--symbols", str(wrong))["dmfdemo"]
    other = read_identity(OTHER_PDB)
    assert driver["symbol_status"] == "mismatched"
    assert driver["detail"] == "mismatched: found %s (GUID %s age %d)" % (wrong / "dmfdemo.pdb",
                                                                        str(other.guid).upper(), other.age)
    assert _rows(cli_json, dump, "--symbols", str(tmp_path / "empty"))["dmfdemo"]["symbol_status"] == "not found"
    # --pdb: the file against the module it belongs to
    assert _rows(cli_json, dump, "--pdb", build.pdb)["dmfdemo"]["symbol_status"] == "matched"
    assert _rows(cli_json, dump, "--pdb", str(wrong / "dmfdemo.pdb"))["dmfdemo"]["symbol_status"] == "mismatched"


def test_only_the_driver_named_is_asked_of_a_server(cli, cli_json, demo, tmp_path):
    build, dump = demo
    served = tmp_path / "served"
    store_pdb(str(served), build.pdb)
    symbols = "srv*%s*" % (tmp_path / "cache")
    with SymbolHttpServer(str(served)) as server:
        rows = _rows(cli_json, dump, "--symbols", symbols + server.url)
        assert server.requests == [] and rows["dmfdemo"]["symbol_status"] == "not found"
        run = cli("lm", dump, "--symbols", symbols + server.url, "--driver", "DMFDEMO", "--format", "json")
    assert [line.split(" for ")[-1] for line in run.err.splitlines()][:1] == ["dmfdemo.pdb"]
    assert [row["symbol_status"] for row in run.json()] == ["matched"]
    assert cli("lm", dump, "--driver", "nosuch", code=2).err.startswith("dmfkd: --driver nosuch: no loaded module")


def test_a_real_triage_dump(cli, cli_json):
    rows = cli_json("lm", TRIAGE_X64)
    assert len(rows) == 151 and rows[0]["name"] == "nt" and rows[0]["image_path"] == "\\SystemRoot\\system32\\ntoskrnl.exe"
    assert {row["symbol_status"] for row in rows} == {"no CodeView in dump"}
    text = cli("lm", TRIAGE_X64, quiet=True).out
    assert text.startswith("151 loaded module(s) of %s, from the triage dump's driver list" % TRIAGE_X64)
    assert max(len(line) for line in text.splitlines()) <= 120
