"""The WinDbg path for real: every dmfkd command run through the REAL pykd 0.3.4.15 (standalone,
`python -m dmfkd --pykd-dump DUMP ...` inside Windows CPython 3.9 under Wine) gives the same rows
(`--format json`) as the CLI reading the same file directly.

Fields only a file reader can know (file offsets and sizes, header fields pykd does not expose)
may be missing or null through pykd: FILE_ONLY lists them; every other field must be equal.
"""
import contextlib
import io
import json
import os
import subprocess
import sys

import pytest

from dmfkd import cli
from dmfkd.commands import load_all

pytestmark = pytest.mark.oracle

HERE = os.path.dirname(os.path.abspath(__file__))
from helpers.paths import REPO, TRIAGE_DUMPS as TRIAGE
DEMOS = [("x64", "full"), ("x64", "bitmap"), ("x86", "full"), ("arm64", "full"), ("arm64", "bitmap"),
         ("arm64", "triage")]
# timeline draws with matplotlib, which the Windows embeddable Python the real pykd runs in does not
# carry; the records it draws come from the code `crashdump --merge-by` runs, compared below
NOT_COMPARED = {"timeline"}
COMMANDS = sorted(c.name for c in load_all() if c.name not in NOT_COMPARED)

# the file reader's knowledge: where a blob sits in the file, header-only facts
FILE_ONLY = {"offset", "file_size", "required_dump_space", "pages", "blob_region_offset", "dump_type",
             "dump_type_name", "build", "major_version", "processors", "system_time",
             "system_uptime_seconds", "directory_table_base", "kd_debugger_data_block", "truncated_blobs",
             "attributes"}


def _run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def _demo(directory, arch, dump_type):
    out = os.path.join(directory, "demo-%s-%s" % (arch, dump_type))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(REPO, "extension"), os.path.join(REPO, "emulator")]
                                        + [p for p in [env.get("PYTHONPATH")] if p])
    subprocess.run([sys.executable, "-m", "dmfemu", "demo", "-o", out, "--arch", arch, "--dump-type", dump_type],
                   check=True, env=env, stdout=subprocess.DEVNULL, timeout=300)
    return os.path.join(out, "MEMORY.DMP"), os.path.join(out, "driver.isf.json")


def _invocations(path, isf):
    """(label, argv after the target) for every registered command, with drill-downs on DMF dumps."""
    extra = ["--isf", isf] if isf else []
    names = [name for name in COMMANDS if name != "ringbuffer"]
    if path.endswith("triage_arm64.dmp"):
        # the DMF commands' symbol lookups make dbgeng try every module's symbols (1-3 s each);
        # triage_x64 covers that path, arm64 adds its 42 blobs to tags/info
        names = [name for name in names if name in ("tags", "info")]
    calls = [(name, [name, "--format", "json"] + extra) for name in names]
    if isf:
        with open(os.path.join(os.path.dirname(path), "expected.json")) as handle:
            expected = json.load(handle)
        for source in expected["sources"]:
            calls.append(("crashdump --guid", ["crashdump", "--guid", source["guid"], "--format", "json"] + extra))
        calls.append(("crashdump --all", ["crashdump", "--all", "--format", "json"] + extra))
        calls.append(("crashdump --merge-by", ["crashdump", "--merge-by", "Timestamp", "--type", "%s=dmfdemo!DMFDEMO_EVENT"
                                               % expected["sources"][0]["guid"], "--format", "json"] + extra))
        code, out, _ = _run_cli(["datasources", path, "--format", "json"] + extra)
        assert code == 0
        for source in json.loads(out):
            if source.get("ring_handle") and "ringbuffer" in COMMANDS:
                calls.append(("ringbuffer", ["ringbuffer", "0x%x" % source["ring_handle"], "--format", "json"] + extra))
        if "ringbuffer" in COMMANDS:
            # unmapped: pykd.MemoryException must become the same one-line error, exit status 2
            calls.append(("ringbuffer unmapped", ["ringbuffer", "0xfffff80099990000", "--format", "json"] + extra))
    return calls


@pytest.fixture(scope="module")
def runs(oracle_tmp, real_pykd):
    targets = [(p, None) for p in TRIAGE]
    for arch, dump_type in DEMOS:
        targets.append(_demo(str(oracle_tmp), arch, dump_type))
    cases = []
    for path, isf in targets:
        for label, argv in _invocations(path, isf):
            # the CLI takes DUMP right after the command name; pykd opens it itself
            cli_argv = argv[:1] + [path] + argv[1:]
            if argv[0] == "ringbuffer":
                cli_argv = ["ringbuffer", path] + argv[1:]
            cases.append((path, label, cli_argv, ["--pykd-dump", path] + argv))
    results = real_pykd.run_dmfkd_batch([c[3] for c in cases])
    return [(path, label, cli_argv, result) for (path, label, cli_argv, _), result in zip(cases, results)]


def _compare(cli_value, pykd_value, where, problems):
    if isinstance(cli_value, dict) and isinstance(pykd_value, dict):
        if not set(pykd_value) <= set(cli_value):
            problems.append("%s: fields only pykd has: %s" % (where, sorted(set(pykd_value) - set(cli_value))))
        for key, value in cli_value.items():
            if key not in pykd_value or (pykd_value[key] is None and value is not None):
                if key not in FILE_ONLY:
                    problems.append("%s.%s: %r through the file, %r through pykd"
                                    % (where, key, value, pykd_value.get(key)))
                continue
            _compare(value, pykd_value[key], "%s.%s" % (where, key), problems)
    elif isinstance(cli_value, list) and isinstance(pykd_value, list):
        if len(cli_value) != len(pykd_value):
            problems.append("%s: %d rows vs %d" % (where, len(cli_value), len(pykd_value)))
        for index, (a, b) in enumerate(zip(cli_value, pykd_value)):
            _compare(a, b, "%s[%d]" % (where, index), problems)
    elif where.endswith(".message") and isinstance(cli_value, str) and isinstance(pykd_value, str):
        # "no DMF data present in DUMP: <why>": the reason names the host's symbol source (none for
        # a bare file, dbgeng's for pykd); the verdict before it must agree
        if cli_value.split(": ")[0] != pykd_value.split(": ")[0]:
            problems.append("%s: %r through the file, %r through pykd" % (where, cli_value, pykd_value))
    elif cli_value != pykd_value:
        problems.append("%s: %r through the file, %r through pykd" % (where, cli_value, pykd_value))


def test_every_command_through_real_pykd_matches_the_cli(runs):
    seen_commands = set()
    problems = []
    for path, label, cli_argv, pykd in runs:
        code, out, err = _run_cli(cli_argv)
        where = "%s %s" % (os.path.basename(os.path.dirname(path)) or path, label)
        if pykd.returncode != code or "Traceback" in pykd.stderr:
            problems.append("%s: exit %d through pykd (%s) vs %d (%s)" % (
                where, pykd.returncode, pykd.stderr.strip()[-300:], code, err.strip()))
            continue
        if code != 0:
            if not (pykd.stderr.startswith("dmfkd: ") and pykd.stderr.count("\n") == 1):
                problems.append("%s: not one line: %r" % (where, pykd.stderr))
            continue
        seen_commands.add(cli_argv[0])
        _compare(json.loads(out), json.loads(pykd.stdout), where, problems)
    assert not problems, "\n".join(problems)
    # the DMF commands really ran (not only failed alike) on the emulator dumps
    assert seen_commands == set(COMMANDS)


def test_python_m_dmfkd_exit_status_through_real_pykd(real_pykd, triage_x64):
    """The real entry point (os._exit after --pykd-dump): status 0 and the rows, not pykd's 3."""
    ok = real_pykd.run_module("dmfkd", ["--pykd-dump", triage_x64, "tags", "--format", "json"])
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads(ok.stdout)) == 20
    missing = real_pykd.run_module("dmfkd", ["--pykd-dump", triage_x64 + ".missing", "tags"])
    assert missing.returncode == 2
    assert missing.stderr.startswith("dmfkd: ") and "0x80070002" in missing.stderr
