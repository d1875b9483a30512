"""Emulated DMF live kernel dumps and dmfkd run on them (CLI and the pykd stand-in), shared by the
livedump tests and the dbgeng oracle."""
import io
import json

from dmfkd import cli
from dmfkd.render import Output

from dmfemu.isf import write_isf
from dmfemu.scenarios.live_dump_demo import LiveDumpRun

from helpers.standin import run_in_windbg


def run_cli(argv, target=None):
    buf = io.StringIO()
    assert cli.run(argv, output=Output(buf), target=target) == 0
    return buf.getvalue()


def run_pykd(argv, pykd_target, symbols=None):
    """`!py -g -m dmfkd ...` inside a WinDbg session, through the pykd stand-in."""
    return run_in_windbg(argv, pykd_target, symbols)


def doc_of(argv, **kw):
    return json.loads(run_cli(argv + ["--format", "json"], **kw))


def triples(doc):
    return [(r["address"], r["size"], r["valid"]) for r in doc["data_buffers"]]


def pairs(doc):
    return [(r["address"], r["size"]) for r in doc["data_buffers"]]


def model_triples(expected):
    return [(e["address"], e["size"], e["valid"]) for e in expected["data_buffers"]]


def contains_run(haystack, needle):
    n = len(needle)
    return any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def category(label):
    """The kind of structure a label names (the emulator's and dmfkd's name formats differ in triage dumps,
    where the ModuleName literal is not recorded)."""
    return label.split(" ", 1)[0] if label else label


def build(tmp_path, arch="x64", dump_type=None, buffers=3, remove=(1,), exclude=False, structures=1,
          duplicates=False, extra_adds=0, secondary=b"DMFDEMO SECONDARY DATA 0123456789"):
    run = LiveDumpRun(arch)
    added = [run.add_client_buffer("buffer%d" % n, b"DMFDEMO CLIENT BUFFER %02d " % n + bytes(range(20)))
             for n in range(buffers)]
    if duplicates:                      # the same buffer twice: one Remove invalidates both (Q-LKD-2)
        run.add(*added[0])
    for n in range(extra_adds):         # more than 256 entries: the oldest are dropped (Q-LKD-1)
        run.add_client_buffer("extra%d" % n, b"EXTRA %04d" % n)
    for i in remove:
        run.remove(*added[i])
    for n in range(structures):
        run.client_structure("state%d" % n, b"CLIENT STRUCTURE %d\0" % n)
    path = str(tmp_path / "LIVEDUMP.DMP")
    report = run.live_dump(path, exclude_dmf_data=exclude, secondary=secondary, dump_type=dump_type)
    isf = str(tmp_path / "driver.isf.json")
    write_isf(isf, run.driver)
    return run, run.expected(report), path, isf
