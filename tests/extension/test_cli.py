import subprocess
import sys


from dmfkd.cli import main


def test_unknown_command_is_one_line_exit_2(capsys):
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmfkd: ") and err.count("\n") == 1


def test_missing_dump_without_debugger_is_one_line_exit_2(capsys):
    # no pykd in this interpreter: the user is told to give a dump file
    assert main(["tags"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give a dump file" in err


def test_no_arguments_prints_help(capsys):
    assert main([]) == 0
    assert "usage: dmfkd" in capsys.readouterr().out


def test_python_dash_m_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "dmfkd", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("dmfkd ")


def test_pykd_dump_without_pykd_exits_2_with_one_line():
    # outside Windows there is no pykd: the standalone path must say so in one line, status 2
    proc = subprocess.run([sys.executable, "-m", "dmfkd", "--pykd-dump", "x.dmp", "tags"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "pykd" in proc.stderr


def test_the_parser_is_built_once_and_parsing_leaves_it_unchanged():
    """The parser is shared between commands of one process (WinDbg's `!py -g`, batch and test harnesses);
    one command's values never reach the next (a repeatable option's list included)."""
    from dmfkd import cli as dmfkd_cli

    parser = dmfkd_cli.shared_parser()
    assert dmfkd_cli.shared_parser() is parser
    first = parser.parse_args(["crashdump", "x.dmp", "--time-field", "A", "--time-field", "B", "--symbols", "s"])
    second = parser.parse_args(["crashdump", "y.dmp"])
    assert first.time_field == ["A", "B"] and first.symbols == ["s"]
    assert second.time_field == [] and second.symbols is None and second.dump == "y.dmp"
    assert second.time_field is not first.time_field
