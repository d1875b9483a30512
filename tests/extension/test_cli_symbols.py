"""The symbol options on the command line (--symbols, _NT_SYMBOL_PATH, --pdb, --allow-mismatched-pdb): every
command takes them; symbols are loaded only by commands that need them (tags and info never touch a
PDB, a symbol path or a server); what loading has to say is one line on stderr, problems the user must
fix are one `dmfkd:` line and exit status 2."""
import os

import pytest

from dmfkd.cli import build_parser
from dmfkd.commands import load_all

from helpers.paths import DATA, SAMPLE_DUMP
from helpers.pdb_demos import alone, pdb_demo
from helpers.symbol_servers import SymbolHttpServer, closed_port_url, store_pdb

OTHER_PDB = os.path.join(DATA, "msvc-pdb", "x64", "xcpt4.pdb")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    demo = pdb_demo(tmp_path_factory, "x64", "1.1.154")
    return demo, alone(demo, tmp_path_factory.mktemp("alone"))


def test_every_command_takes_the_symbol_options():
    parser = build_parser()
    for command in load_all():
        args = parser.parse_args([command.name] + (["DUMP"] if command.takes_dump else []) +
                                 ["--symbols", "a", "--symbols", "srv*c*http://x", "--pdb", "p.pdb",
                                  "--allow-mismatched-pdb"] + {"timeline": ["-o", "t.svg"]}.get(command.name, []))
        assert (args.symbols, args.pdb, args.allow_mismatched_pdb) == (["a", "srv*c*http://x"], "p.pdb", True)


@pytest.mark.parametrize("options", [["--pdb", "/nonexistent/dmfdemo.pdb"], ["--symbols", "ftp://nowhere/x"],
                                     ["--symbols", "srv*%s" % closed_port_url()]])
def test_tags_and_info_never_touch_symbols(cli, demo, options):
    _, dump = demo
    for command in ("tags", "info"):
        assert cli(command, dump, *options, quiet=True).out
        # beside an ISF too: nothing to say about which source wins when none is loaded
        assert cli(command, SAMPLE_DUMP, *options, quiet=True).out


def test_a_bad_symbol_option_is_one_line_for_the_commands_that_need_symbols(cli, demo, tmp_path):
    _, dump = demo
    run = cli("crashdump", dump, "--pdb", str(tmp_path / "missing.pdb"), code=2)
    assert run.err == "dmfkd: %s: cannot open (No such file or directory)\n" % (tmp_path / "missing.pdb")
    run = cli("datasources", dump, "--symbols", "ftp://nowhere/x", code=2)
    assert run.err == ("dmfkd: symbol path element 'ftp://nowhere/x': a server needs srv* in front "
                       "(srv*ftp://nowhere/x)\n")
    run = cli("crashdump", dump, "--pdb", OTHER_PDB, code=2)
    assert run.err.startswith("dmfkd: --pdb %s: no loaded module of %s names this PDB" % (OTHER_PDB, dump))
    run = cli("crashdump", dump, "--pdb", OTHER_PDB, "--isf", os.path.join(DATA, "dmfdemo", "driver.isf.json"), code=2)
    assert run.err == "dmfkd: give --isf FILE or --pdb FILE, not both\n"


def test_nt_symbol_path_is_honoured_and_symbols_come_first(cli, cli_json, demo, monkeypatch, tmp_path):
    demo_build, dump = demo
    monkeypatch.setenv("_NT_SYMBOL_PATH", demo_build.symbols)
    rows = cli_json("datasources", dump)
    assert rows[0]["role"] == "SELF" and len(rows) == 3
    # --symbols elements come before _NT_SYMBOL_PATH's: a mismatching PDB there is found first, and skipped
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    store_pdb(str(wrong), OTHER_PDB, name="dmfdemo.pdb")
    assert cli_json("datasources", dump, "--symbols", str(wrong)) == rows


def test_a_server_download_shows_progress_on_stderr_and_then_works_offline(cli, demo, tmp_path):
    demo_build, dump = demo
    served, cache = tmp_path / "served", tmp_path / "cache"
    store_pdb(str(served), demo_build.pdb)
    with SymbolHttpServer(str(served)) as server:
        run = cli("crashdump", dump, "--symbols", "srv*%s*%s" % (cache, server.url))
    assert run.err.splitlines() == ["dmfkd: symbols: asking %s for dmfdemo.pdb" % server.url,
                                    "dmfkd: symbols: dmfdemo.pdb: %.1f MiB downloaded"
                                    % (os.path.getsize(demo_build.pdb) / 2 ** 20)]
    assert "DMF CrashDump dmfdemo!g_DmfModuleCrashDump" in run.out
    # the server is gone: the cache answers, silently
    again = cli("crashdump", dump, "--symbols", "srv*%s*%s" % (cache, server.url), quiet=True)
    assert again.out == run.out


def test_a_dead_server_is_one_line_and_the_command_goes_on(cli, demo, tmp_path):
    _, dump = demo
    run = cli("crashdump", dump, "--symbols", "srv*%s*%s" % (tmp_path / "cache", closed_port_url()))
    lines = run.err.splitlines()
    assert lines[0].startswith("dmfkd: symbols: asking http://127.0.0.1:")
    assert lines[-1].startswith("dmfkd: symbols: no driver symbols: no PDB of dmfdemo in the folders and caches of srv*")
    assert "no CrashDump symbol: blobs recognised by their GUID's XOR key signature only" in run.out
