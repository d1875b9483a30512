"""The eight reproductions of issue 9 (inputs around the dump: ISF, options, special files, output
streams, user schemas, in-process callers), each with its minimal input: one `dmfkd:` line and exit
status 2 (or the conventional quiet exit for a closed pipe, or a return from cli.main) - never a
traceback, a hang, or memory sized by the input."""
import gzip
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from dmfkd import cli, user_code
from dmfkd.targets import isf

from helpers.paths import REPO

DEMO = os.path.join(REPO, "tests", "data", "dmfdemo")
DUMP = os.path.join(DEMO, "MEMORY.DMP")
SELF_GUID = "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70"
#: a hang guard for the subprocesses (not a timing assertion: a healthy run takes well under a second)
GUARD_SECONDS = 120


def one_line(result, code=2):
    assert result.code == code, result.err
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dmfkd: ") and "Traceback" not in result.err, result.err
    return lines[0]


def dump_with_isf(tmp_path, isf_bytes: bytes, name="driver.isf.json") -> str:
    shutil.copyfile(DUMP, str(tmp_path / "MEMORY.DMP"))
    (tmp_path / name).write_bytes(isf_bytes)
    return str(tmp_path / "MEMORY.DMP")


def run_process(argv, stdout=subprocess.PIPE, **kwargs):
    path = os.pathsep.join([os.path.join(REPO, "extension"), os.path.join(REPO, "emulator")])
    env = dict(os.environ, PYTHONPATH=path)
    return subprocess.run([sys.executable, "-m", "dmfkd"] + argv, stdout=stdout, stderr=subprocess.PIPE, env=env,
                          timeout=GUARD_SECONDS, **kwargs)


# -- 1. a deeply nested driver.isf.json: RecursionError in every command, tags and info included -----------

def test_1_deeply_nested_isf_is_one_line_and_only_for_commands_that_need_symbols(tmp_path, cli):
    dump = dump_with_isf(tmp_path, b"[" * 1000 + b"]" * 1000)
    for command in ("info", "tags"):
        cli(command, dump, quiet=True)  # never read the ISF
    for command in ("crashdump", "datasources", "modules", "bugcheck", "livedump"):
        line = one_line(cli(command, dump, code=2))
        assert "driver.isf.json: ISF JSON nests deeper than 100 levels: refused" in line


# -- 2. an ISF integer of more than 4,300 digits: ValueError -----------------------------------------------

def test_2_isf_integer_of_4301_digits(tmp_path, cli):
    dump = dump_with_isf(tmp_path, b'{"metadata": {"format": "6.2.0"}, "base_types": {}, "user_types": {}, '
                                   b'"symbols": {"g": {"address": ' + b"9" * 4301 + b'}}}')
    line = one_line(cli("crashdump", dump, code=2))
    assert "an integer of 4301 digits (at most 40): refused" in line


# -- 3. a gzip ISF inflating to 1.5 GiB: read whole, MemoryError -------------------------------------------

def test_3_gzip_bomb_isf_stops_at_the_cap(tmp_path, cli):
    member = gzip.compress(bytes(16 << 20), 9)    # 16 MiB of zeros in ~16 KB
    bomb = str(tmp_path / "bomb.isf.json.gz")
    with open(bomb, "wb") as handle:
        for _ in range(96):                       # 96 members: 1.5 GiB inflated, 1.5 MB on disk
            handle.write(member)
    line = one_line(cli("crashdump", DUMP, "--isf", bomb, code=2))
    assert line == "dmfkd: %s: ISF JSON (decompressed) larger than %d MiB: refused" % (bomb, isf.MAX_ISF_BYTES >> 20)


# -- 4. --entry-size beyond any ring, or beyond the blob: OverflowError / MemoryError ------------------------

@pytest.mark.parametrize("size,message", [
    ("9223372036854775808", "--entry-size must be between 1 and 268435456 (got 9223372036854775808)"),
    ("4294967296", "--entry-size must be between 1 and 268435456 (got 4294967296)"),
    ("1025", "--entry-size 1025 is larger than the blob tagged %s (1024 bytes)" % SELF_GUID)])
def test_4_entry_size_larger_than_the_blob(cli, size, message):
    line = one_line(cli("crashdump", DUMP, "--guid", SELF_GUID, "--entry-size", size, "--force", code=2))
    assert line == "dmfkd: " + message


def test_4_zero_record_search_never_allocates_from_the_size():
    from dmfkd.dmf.ringbuffer import _zero_record_indexes

    assert _zero_record_indexes(bytes(64), 1 << 62, 1) == []     # no bytes(2^62)
    assert _zero_record_indexes(bytes(64), 16, 4) == [0, 1, 2, 3]


# -- 5. a named pipe as the dump: hangs in open() ----------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_5_fifo_as_the_dump_does_not_block(tmp_path):
    fifo = str(tmp_path / "x.dmp")
    os.mkfifo(fifo)
    result = run_process(["info", fifo])     # nobody ever writes to the FIFO
    assert result.returncode == 2
    assert result.stderr.decode() == "dmfkd: %s: is a FIFO (named pipe), not a regular file\n" % fifo


@pytest.mark.parametrize("path,kind", [("/dev/zero", "a character device"), ("/", "a directory")])
def test_5_devices_and_directories_as_the_dump(cli, path, kind):
    if not os.path.exists(path):
        pytest.skip("no %s here" % path)
    assert one_line(cli("info", path, code=2)) == "dmfkd: %s: is %s, not a regular file" % (path, kind)


# -- 6. standard output on a full device: OSError traceback ------------------------------------------------

@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_6_full_output_device_is_one_line():
    with open("/dev/full", "w") as full:
        result = run_process(["info", DUMP], stdout=full)
    assert result.returncode == 2
    assert result.stderr.decode() == "dmfkd: cannot write the output: No space left on device\n"


def test_6_closed_pipe_is_the_quiet_exit():
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "extension"))
    # `dmfkd crashdump ... | head -c1`: the reader leaves after one byte, the writer has KBs to go
    writer = subprocess.Popen([sys.executable, "-m", "dmfkd", "crashdump", DUMP, "--all"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env)
    assert writer.stdout.read(1)
    writer.stdout.close()
    _, err = writer.communicate(timeout=GUARD_SECONDS)
    assert writer.returncode == 0 and err == b""


# -- 7. --schema files: exit codes of their own, RecursionError, hangs -------------------------------------

def write_schema(tmp_path, body: str) -> str:
    path = tmp_path / "schema.py"
    path.write_text("import sys, construct as c\n" + body)
    return str(path)


ADAPTER = """
class Hostile(c.Adapter):
    def _decode(self, obj, context, path):
{body}
REC = c.Struct("first" / Hostile(c.Int8ul), "rest" / c.Bytes(63))
"""


def test_7_sys_exit_at_import(tmp_path, cli):
    path = write_schema(tmp_path, "sys.exit(7)\n")
    line = one_line(cli("crashdump", DUMP, "--guid", SELF_GUID, "--schema", path + ":REC", code=2))
    assert line == "dmfkd: --schema %s:REC: loading %s raised SystemExit: 7" % (path, path)


def test_7_system_exit_in_an_adapter_names_the_record(tmp_path, cli):
    path = write_schema(tmp_path, ADAPTER.format(body="        sys.exit(9)"))
    line = one_line(cli("crashdump", DUMP, "--guid", SELF_GUID, "--last", "1", "--schema", path + ":REC", code=2))
    assert line == "dmfkd: --schema %s:REC: record 15: decoding raised SystemExit: 9" % path


def test_7_an_allocation_the_machine_refuses_is_one_line(tmp_path, cli):
    # MemoryError is the resource limit speaking, not the schema's bug (a batch makes it that dump's memory row)
    path = write_schema(tmp_path, ADAPTER.format(body="        return bytearray(1 << 62)"))
    line = one_line(cli("crashdump", DUMP, "--guid", SELF_GUID, "--last", "1", "--schema", path + ":REC", code=2))
    assert line == "dmfkd: --schema %s:REC: record 15: decoding ran out of memory (MemoryError)" % path


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "jsonl"])
def test_7_self_referencing_dict_renders(tmp_path, cli, fmt):
    path = write_schema(tmp_path, ADAPTER.format(body="        d = {'a': obj}\n        d['me'] = d\n        return d"))
    result = cli("crashdump", DUMP, "--guid", SELF_GUID, "--last", "1", "--schema", path + ":REC", "--format", fmt,
                 quiet=True)
    assert "<cycle>" in result.out


def test_7_loop_at_import_is_cut(tmp_path, cli, monkeypatch):
    monkeypatch.setattr(user_code, "IMPORT_SECONDS", 0.5)
    path = write_schema(tmp_path, "while True:\n    pass\n")
    line = one_line(cli("crashdump", DUMP, "--guid", SELF_GUID, "--schema", path + ":REC", code=2))
    assert line == ("dmfkd: --schema %s:REC: %s did not finish loading within 0.5 s (a loop or a wait at import?)"
                    % (path, path))


def test_7_loop_in_an_adapter_is_cut(tmp_path, cli, monkeypatch):
    monkeypatch.setattr(user_code, "RECORD_SECONDS", 0.5)
    path = write_schema(tmp_path, ADAPTER.format(body="        while True:\n            pass"))
    line = one_line(cli("crashdump", DUMP, "--guid", SELF_GUID, "--last", "2", "--schema", path + ":REC", code=2))
    assert line == "dmfkd: --schema %s:REC: record 14: decoding took longer than 0.5 s (a loop in the schema?)" % path


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("where", ["import", "decode"])
def test_7_ctrl_c_stays_130(tmp_path, where):
    if where == "import":
        path = write_schema(tmp_path, "print('ready', flush=True)\nwhile True:\n    pass\n")
    else:
        path = write_schema(tmp_path, ADAPTER.format(body="        print('ready', flush=True)\n        while True:\n"
                                                          "            pass"))
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "extension"))
    proc = subprocess.Popen([sys.executable, "-m", "dmfkd", "crashdump", DUMP, "--guid", SELF_GUID, "--schema",
                             path + ":REC"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=GUARD_SECONDS)
    finally:
        proc.kill()
    assert proc.returncode == 130 and err == b"dmfkd: interrupted\n"


# -- 8. cli.main calls os._exit() whenever --pykd-dump is present ------------------------------------------

def test_8_main_returns_with_pykd_dump(pykd_standin):
    """In-process callers (batch runners, test harnesses) get the status back; a process exit here would
    end this very test run."""
    assert cli.main(["--pykd-dump", DUMP, "tags", "--format", "json"]) == 0
    assert cli.main(["--pykd-dump", os.path.join(DEMO, "nope.dmp"), "tags"]) == 2


def test_8_the_console_entry_point_still_exits_with_the_status():
    result = run_process(["--pykd-dump", DUMP, "info"])
    assert result.returncode == 2 and result.stderr.decode().startswith("dmfkd: --pykd-dump needs the pykd module")


@pytest.mark.parametrize("fmt,marker", [("table", "{...}"), ("json", "<cycle>"), ("csv", "<cycle>"),
                                        ("jsonl", "<cycle>")])
def test_7_a_self_referencing_cell_renders_in_every_format(fmt, marker):
    """The renderers themselves (not only the schema decoder's bounded copy) survive a cycle in a cell."""
    import io

    from dmfkd.render import Column, Output, Report, render

    loop = {"a": 1}
    loop["me"] = loop
    out = io.StringIO()
    render(Report(rows=[{"v": loop}], columns=[Column("v", "v")], document={"v": loop}), fmt, Output(out, width=120))
    assert marker in out.getvalue()


def test_7_a_timeout_dropped_in_a_finaliser_is_sent_again(tmp_path, monkeypatch, capsys):
    """Found by the campaign: the watchdog's exception landed in a weakref callback, where Python can
    only print "Exception ignored" and drop it - a second stderr line, and had the loop gone on, a hang.
    Now that report is filtered and the exception sent again after each further limit. The loop here
    spends 90% of its time in a finaliser; it runs in a thread, so a regression fails instead of hanging."""
    import threading

    monkeypatch.setattr(user_code, "RECORD_SECONDS", 0.2)
    path = write_schema(tmp_path, """import time
class Slow:
    def __del__(self):
        end = time.time() + 0.018
        while time.time() < end:
            pass
""" + ADAPTER.format(body="""        while True:
            Slow()
            end = __import__('time').time() + 0.002
            while __import__('time').time() < end:
                pass"""))
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("code", cli.main(
        ["crashdump", DUMP, "--guid", SELF_GUID, "--last", "1", "--schema", path + ":REC"])), daemon=True)
    worker.start()
    worker.join(GUARD_SECONDS)
    assert not worker.is_alive(), "the loop was never stopped"
    err = capsys.readouterr().err
    assert box["code"] == 2 and err == ("dmfkd: --schema %s:REC: record 15: decoding took longer than 0.2 s (a loop "
                                        "in the schema?)\n" % path)
