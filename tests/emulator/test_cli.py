"""The `dmfemu` command line (dmfemu.cli): demo, scenario and livedump write their files, and every
error is one line with exit status 2."""
import json
import os

from dmfkd.targets.dumpfile import DumpFile
from dmfemu import cli
from dmfemu.scenarios import crashdump_demo

from helpers.emulated_drivers import check_blobs


def test_demo_x86_rejects_triage(tmp_path, capsys):
    assert cli.main(["demo", "-o", str(tmp_path / "x"), "--arch", "x86", "--dump-type", "triage"]) == 2
    assert "x86 triage" in capsys.readouterr().err


def test_scenario_command_replays_a_file(tmp_path):
    scenario = crashdump_demo.demo_scenario(seed=3)
    scenario["crash"] = {"via": "bugcheck", "code": 0x1E, "parameters": [1, 2, 3, 4]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario))
    out = str(tmp_path / "o")
    assert cli.main(["scenario", str(path), "-o", out]) == 0
    dump = DumpFile(os.path.join(out, "MEMORY.DMP"))
    assert dump.bugcheck() == (0x1E, (1, 2, 3, 4))
    with open(os.path.join(out, "expected.json")) as handle:
        expected = json.load(handle)
    check_blobs(out, expected)


def test_scenario_errors_are_one_line(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"crashdump": {"data_source_count": 1, "ring_buffer_maximum_size": 64},
                                "operations": [{"op": "open", "handle": "a"}, {"op": "create", "handle": "a"}]}))
    assert cli.main(["scenario", str(path), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.json: operations[1].guid: is required" in err and len(err.strip().splitlines()) == 1
    path.write_text("[1, 2]")
    assert cli.main(["scenario", str(path), "-o", str(tmp_path / "o")]) == 2


def test_scenario_command_says_when_a_callback_faulted_in_the_crash(tmp_path, capsys):
    g1, g2 = "cccccccc-0000-0000-0000-000000000001", "cccccccc-0000-0000-0000-000000000002"
    path = tmp_path / "leak.json"
    path.write_text(json.dumps({
        "crashdump": {"data_source_count": 2, "ring_buffer_maximum_size": 64},
        "operations": [{"op": "open", "handle": "a"}, {"op": "open", "handle": "b"},
                       {"op": "create", "handle": "a", "guid": g1, "entries": 2, "entry_size": 4},
                       {"op": "open_source", "handle": "a", "guid": g1},
                       {"op": "create", "handle": "b", "guid": g2, "entries": 2, "entry_size": 4},
                       {"op": "close", "handle": "b"},
                       {"op": "create", "handle": "a", "guid": g2, "entries": 2, "entry_size": 4},
                       {"op": "module_close"}]}))
    assert cli.main(["scenario", str(path), "-o", str(tmp_path / "o")]) == 0
    assert "0 blobs, 1 bug-check callback(s) faulted (see expected.json)" in capsys.readouterr().out


def test_livedump_subcommand_writes_a_live_dump(tmp_path, capsys):
    out = str(tmp_path / "live")
    assert cli.main(["livedump", "-o", out]) == 0
    assert "live dump" in capsys.readouterr().out
    dump = DumpFile(os.path.join(out, "LIVEDUMP.DMP"))
    assert "LiveDumpGeneratedDump" in (dump.attribute_names() or [])


def test_scenario_arch_option_overrides_the_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(crashdump_demo.demo_scenario(arch="x64", dump_type="bitmap")))
    out = str(tmp_path / "o")
    assert cli.main(["scenario", str(path), "-o", out, "--arch", "arm64", "--dump-type", "triage"]) == 0
    with open(os.path.join(out, "expected.json")) as handle:
        expected = json.load(handle)
    assert (expected["arch"], expected["dump_type"]) == ("arm64", "triage")
    dump = check_blobs(out, expected)
    assert (dump.arch, dump.dump_type, dump.header.MachineImageType) == ("arm64", 4, 0xAA64)


def test_unknown_architectures_are_one_line_errors(tmp_path, capsys):
    assert cli.main(["demo", "-o", str(tmp_path / "x"), "--arch", "arm"]) == 2
    assert "invalid choice: 'arm'" in capsys.readouterr().err
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"arch": "arm"}))
    assert cli.main(["scenario", str(path), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmfemu: ") and "'arm'" in err and len(err.strip().splitlines()) == 1


def test_livedump_on_arm64_is_a_triage_live_minidump_by_default(tmp_path, capsys):
    out = str(tmp_path / "live")
    assert cli.main(["livedump", "-o", out, "--arch", "arm64"]) == 0
    assert "arm64 triage live dump" in capsys.readouterr().out
    dump = DumpFile(os.path.join(out, "LIVEDUMP.DMP"))
    assert (dump.arch, dump.dump_type) == ("arm64", 4)
    assert "LiveDumpGeneratedDump" in (dump.attribute_names() or [])


def test_help_texts_speak_to_the_user(capsys):
    """dmfemu's help is for driver engineers: no spec sections, quirk ids or C source lines (those stay in
    code comments), and nothing wider than the 120-column window."""
    import re

    from dmfemu import cli as emulator_cli

    forbidden = re.compile(r"spec/|\u00a7|sec\. \d|Q-RB|Q-CD|Q-LKD|\.c:\d|\binv\. \d")
    parser = emulator_cli.build_parser()
    commands = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"][0].choices
    assert {"demo", "scenario", "check", "livedump"} <= set(commands)
    for argv in [["--help"]] + [[name, "--help"] for name in commands]:
        try:
            emulator_cli.main(argv)
        except SystemExit as done:
            assert done.code == 0
        text = capsys.readouterr().out
        assert "usage: dmfemu" in text, argv
        assert not forbidden.search(text), (argv, forbidden.search(text).group(0))
        assert max(len(line) for line in text.splitlines()) <= 120, argv
