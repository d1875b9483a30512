"""Fixtures every test folder shares: the real Windows dumps, the CLI run in-process, and the pykd
stand-in put in place of `pykd` for the duration of a test.

tests/ is put on sys.path so tests import shared code as `helpers.*` and the oracle runners as
`oracle.*`, whatever directory pytest was started from.
"""
import io
import json
import os
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from helpers.paths import TRIAGE_ARM64, TRIAGE_X64  # noqa: E402


@pytest.fixture(scope="session")
def _session_cache_home(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache-home"))


@pytest.fixture(autouse=True)
def no_symbol_path_from_the_environment(monkeypatch, _session_cache_home):
    """A developer's _NT_SYMBOL_PATH (a WinDbg habit) must not send a test to their symbol server, and
    a download into the default symbol cache must not land in their home: tests that want a symbol
    path set it themselves."""
    monkeypatch.delenv("_NT_SYMBOL_PATH", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", _session_cache_home)


@pytest.fixture
def triage_x64():
    return TRIAGE_X64


@pytest.fixture
def triage_arm64():
    return TRIAGE_ARM64


class CliRun:
    """`dmfkd ARGS` run in-process: .out, .err, .code; .json() parses .out."""

    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """cli(*args, code=0, quiet=False) runs `dmfkd args` through cli.main and checks its exit status
    (and, with quiet, that nothing was written to stderr)."""
    from dmfkd.cli import main

    def run(*args, code=0, quiet=False):
        rc = main([str(a) for a in args])
        captured = capsys.readouterr()
        assert rc == code, captured.err
        if quiet:
            assert captured.err == ""
        return CliRun(rc, captured.out, captured.err)
    return run


@pytest.fixture
def cli_json(cli):
    """cli_json(*args) runs `dmfkd args --format json` and returns the parsed document."""
    def run(*args):
        return cli(*(list(args) + ["--format", "json"])).json()
    return run


@pytest.fixture
def run_text():
    """run_text(argv, target=None) runs one command through cli.run into a buffer and returns the text."""
    from dmfkd import cli as cli_module
    from dmfkd.render import Output

    def run(argv, target=None):
        buf = io.StringIO()
        assert cli_module.run([str(a) for a in argv], output=Output(buf), target=target) == 0
        return buf.getvalue()
    return run


@pytest.fixture
def pykd_standin(monkeypatch):
    """dmfemu's stand-in pykd installed as `pykd` for this test (detached afterwards)."""
    from dmfemu import pykd as standin

    monkeypatch.setitem(sys.modules, "pykd", standin)
    yield standin
    standin.detach()
