"""Offline with the driver's PDB = offline with the ISF: for each emulator dump whose driver has a real PE
image and PDB (dmfemu.pdb: clang-cl + lld-link; x64 and x86, DMF 1.0 and current, full and bitmap; and the
live kernel dump), the dump alone in a folder and the PDB alone in a symbol store, `dmfkd <command> DUMP
--symbols STORE` gives the rows `dmfkd <command> DUMP --isf driver.isf.json` gives - every command - and
nothing on stderr. The ISF and the C source the PDB is compiled from are both generated from
dmfkd.layouts, independently of the PDB reader; the real pykd with only the PDB is the other side of the
same check (tests/oracle/test_pdb_oracle.py).

The one thing the ISF knows that a PDB does not is dmfemu's DMF version (its private metadata): where a
header shows it, the PDB run shows what the memory or the types say instead, and that is asserted too.
"""
import contextlib
import io
import json
import os

import pytest

from dmfkd import cli
from dmfkd.targets.pdb import read_identity

from helpers.pdb_demos import alone, pdb_demo, pdb_live_demo, symbol_store

SELF_GUID = "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70"
# (arch, DMF version, dump type, every command): the full matrix on three, the summary and records on two
DEMOS = [("x64", "1.1.154", "full", True), ("x86", "1.1.154", "full", True), ("x64", "1.0", "full", True),
         ("x64", "1.1.154", "bitmap", False), ("x86", "1.0", "full", False)]
IDS = ["-".join(demo[:3]) for demo in DEMOS]


class Case(object):
    def __init__(self, demo, dump, store):
        self.demo, self.dump, self.store = demo, dump, store


def _case(tmp_path_factory, demo, name, two_tier=False):
    folder = tmp_path_factory.mktemp(name)
    return Case(demo, alone(demo, folder / "dump"), symbol_store(demo, folder / "store", two_tier))


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def _both(case, argv, fmt="json"):
    """(with the ISF, with the PDB from the store): each (exit status, stdout); the PDB run says nothing on
    stderr."""
    argv = list(argv) + ["--format", fmt, "--width", "120"]
    with_isf = _run(argv[:1] + [case.dump] + argv[1:] + ["--isf", case.demo.isf_path])
    with_pdb = _run(argv[:1] + [case.dump] + argv[1:] + ["--symbols", case.store])
    assert with_pdb[2] == "", (argv, with_pdb[2])
    return with_isf[:2], with_pdb[:2]


def _invocations(case, every):
    code, out, _ = _run(["datasources", case.dump, "--isf", case.demo.isf_path, "--format", "json"])
    assert code == 0
    sources = [row for row in json.loads(out) if row.get("guid")]
    calls = [["crashdump", "--all"], ["datasources"],
             ["crashdump", "--guid", SELF_GUID, "--type", "dmfdemo!DMFDEMO_EVENT"]]
    calls += [["crashdump", "--guid", row["guid"]] for row in sources]
    if every:
        calls += [["modules"], ["bugcheck"], ["livedump"], ["modules", "dmfdemo!g_DmfModuleCrashDump"],
                  # X and _X, a nested structure over a 64-byte record, pointers, a GUID's array
                  ["crashdump", "--guid", SELF_GUID, "--type", "DMF_CONTEXT_RingBuffer", "--hex",
                   "--type-size-mismatch", "decode"],
                  ["crashdump", "--guid", SELF_GUID, "--type", "dmfdemo!_GUID", "--type-size-mismatch", "decode"],
                  ["crashdump", "--merge-by", "Timestamp", "--type", "%s=dmfdemo!DMFDEMO_EVENT" % SELF_GUID],
                  ["ringbuffer", "0x%x" % sources[0]["ring_handle"], "--type", "dmfdemo!DMFDEMO_EVENT", "--last", "4"]]
        calls += [["ringbuffer", "0x%x" % row["ring_handle"]] for row in sources if row.get("ring_handle")]
    return calls


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    out = {}
    for index, (arch, version, dump_type, _) in enumerate(DEMOS):
        demo = pdb_demo(tmp_path_factory, arch, version, dump_type)
        # one of them in a two-tier store (index2.txt)
        out[IDS[index]] = _case(tmp_path_factory, demo, IDS[index], two_tier=dump_type == "bitmap")
    return out


@pytest.mark.parametrize("kind", DEMOS, ids=IDS)
def test_every_command_gives_the_isfs_rows_with_only_the_pdb(cases, kind):
    case = cases["-".join(kind[:3])]
    problems = []
    for argv in _invocations(case, kind[3]):
        with_isf, with_pdb = _both(case, argv)
        assert with_isf[0] == 0, argv
        if with_isf != with_pdb:
            problems.append("%s:\n  ISF %s\n  PDB %s" % (" ".join(argv), with_isf[1][:400], with_pdb[1][:400]))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", DEMOS, ids=IDS)
def test_the_crashdump_summary_is_the_isfs_but_for_the_dmf_version_only_the_isf_knows(cases, kind):
    case = cases["-".join(kind[:3])]
    (isf_code, isf_out), (pdb_code, pdb_out) = _both(case, ["crashdump"])
    assert isf_code == pdb_code == 0
    with_isf, with_pdb = json.loads(isf_out), json.loads(pdb_out)
    assert with_isf["crashdump"].pop("dmf_version") == ("1.0.0" if kind[1] == "1.0" else "1.1.154")
    # the PDB has no version: DMF_OBJECT's layout is detected from memory (HEAD) or read from the PDB's type
    assert with_pdb["crashdump"].pop("dmf_version") == (None if kind[1] == "1.0" else ">=1.1.135 (HEAD layout)")
    assert with_pdb == with_isf and with_pdb["data_sources"] and with_pdb["crashdump"]["context_version"]
    # the table shows no version: the same text
    assert _both(case, ["crashdump"], "table")[0] == _both(case, ["crashdump"], "table")[1]


def test_tables_are_the_same_text(cases):
    case = cases[IDS[0]]
    for argv in (["datasources"], ["modules"], ["crashdump", "--guid", SELF_GUID, "--type", "dmfdemo!DMFDEMO_EVENT"],
                 ["crashdump", "--all"]):
        with_isf, with_pdb = _both(case, argv, "table")
        assert with_isf == with_pdb and with_pdb[0] == 0, argv


def test_timeline_with_only_the_pdb(cases, tmp_path):
    pytest.importorskip("matplotlib")
    case = cases[IDS[0]]
    picture = str(tmp_path / "timeline.svg")
    argv = ["timeline", "-o", picture, "--type", "%s=dmfdemo!DMFDEMO_EVENT" % SELF_GUID]
    with_isf, with_pdb = _both(case, argv)
    assert with_isf == with_pdb and with_pdb[0] == 0 and os.path.getsize(picture) > 0


def test_the_live_kernel_dump_with_only_the_pdb(tmp_path_factory):
    demo = pdb_live_demo(tmp_path_factory)
    case = _case(tmp_path_factory, demo, "live")
    for argv in (["livedump"], ["modules"], ["livedump", "--hex", "0"], ["crashdump"]):
        (isf_code, isf_out), (pdb_code, pdb_out) = _both(case, argv)
        assert isf_code == pdb_code == 0, argv
        with_isf, with_pdb = json.loads(isf_out), json.loads(pdb_out)
        if argv == ["livedump"]:
            # how the LiveKernelDump context was recognised: the ISF's DMF version, or the config size
            assert with_isf["livekerneldump"].pop("context_evidence") == "context 56 bytes, DMF 1.1.154"
            assert with_pdb["livekerneldump"].pop("context_evidence") == "context 56 bytes, config 72 bytes"
            assert len(with_pdb["data_buffers"]) > 5 and len(with_pdb["modules"]) == 5
        if argv == ["crashdump"]:
            assert with_isf["crashdump"].pop("dmf_version") == "1.1.154"
            assert with_pdb["crashdump"].pop("dmf_version") is None
        assert with_pdb == with_isf, argv


def test_lm_lists_the_driver_with_its_pdbs_guid_and_age(cases):
    from dmfemu.native_image import NativeImage

    for kind in IDS[:3]:
        case = cases[kind]
        code, out, err = _run(["lm", case.dump, "--symbols", case.store, "--format", "json"])
        assert code == 0 and err == ""
        rows = {row["name"]: row for row in json.loads(out)}
        driver = rows["dmfdemo"]
        # the image's CodeView record as dmfemu's own PE reader reads the built .sys, and the PDB's own identity
        image = NativeImage.load(os.path.join(case.demo.symbols, "dmfdemo.sys")).codeview
        identity = read_identity(case.demo.pdb)
        assert driver["pdb_guid"].replace("-", "").upper() == image.guid == identity.guid.hex.upper()
        assert driver["pdb_age"] == image.age == identity.age
        assert driver["pdb_name"] == image.pdb_name == "dmfdemo.pdb"
        assert driver["symbol_status"] == "matched" and driver["symbol_file"].startswith(case.store + os.sep)
        assert driver["base"] == case.demo.image_base and isinstance(driver["time_date_stamp"], int)
        assert rows["nt"]["symbol_status"] == "no CodeView in dump"
        code, table, _ = _run(["lm", case.dump, "--symbols", case.store])
        line = [text for text in table.splitlines() if " dmfdemo " in text][0]
        assert "matched" in line and "%s/%d" % (str(identity.guid).upper(), identity.age) in line
        assert max(len(text) for text in table.splitlines()) <= 120
