"""`dmfkd tags` and `dmfkd info` end to end: table/json/jsonl/csv on the real fixtures, --hex, --save,
`python -m dmfkd`, and the commands on a Target that is not a dump file."""
import csv
import io
import json
import os
import subprocess
import sys
import uuid


from helpers.paths import SOURCE_PATH, TRIAGE_ARM64, TRIAGE_X64
from dmfkd.cli import main, run
from dmfkd.render import Output
from dmfkd.targets.base import BugCheck, TaggedBlob, Target

TRIAGE_GUID = "2b4ae195-a64d-4f04-8ede-7e4f981bd42a"


def raw(path, offset, size):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)



def test_tags_json_contract_x64(cli):
    rows = json.loads(cli("tags", TRIAGE_X64, "--format", "json", quiet=True).out)
    assert isinstance(rows, list) and len(rows) == 20
    assert [r["index"] for r in rows] == list(range(20))
    for r in rows:
        assert r["guid"] == r["guid"].lower() and "{" not in r["guid"]
        uuid.UUID(r["guid"])
        assert isinstance(r["size"], int) and isinstance(r["offset"], int)
    assert rows[0]["offset"] == 0x13A28C + 16 + 32
    first = rows[0]
    assert first["guid"] == "54c84888-01d1-4c1e-bed6-282c98241303"
    assert first["owner"] == "wdf01000!WdfDumpGuid"
    zero = [r for r in rows if r["guid"] == "00000000-0000-0000-0000-000000000000"]
    assert len(zero) == 1 and zero[0]["size"] == 0 and zero[0]["owner"] == ""
    etw = rows[-1]
    assert etw["size"] == 0xA51C and etw["offset"] + etw["size"] + 4 == os.path.getsize(TRIAGE_X64)


def test_tags_json_arm64_lists_duplicates(cli):
    rows = json.loads(cli("tags", TRIAGE_ARM64, "--format", "json", quiet=True).out)
    assert len(rows) == 42
    guids = [r["guid"] for r in rows]
    assert guids.count("335d5e04-563b-4e58-aa36-7ed1cfe76fd6") >= 3


def test_tags_jsonl_and_csv_match_json(cli):
    rows = json.loads(cli("tags", TRIAGE_ARM64, "--format", "json", quiet=True).out)
    lines = cli("tags", TRIAGE_ARM64, "--format", "jsonl", quiet=True).out.splitlines()
    assert [json.loads(line) for line in lines] == rows
    table = list(csv.DictReader(io.StringIO(cli("tags", TRIAGE_ARM64, "--format", "csv", quiet=True).out)))
    assert [(int(r["index"]), r["guid"], int(r["size"]), int(r["offset"])) for r in table] == \
        [(r["index"], r["guid"], r["size"], r["offset"]) for r in rows]


def test_tags_table(cli):
    out = cli("tags", TRIAGE_X64, quiet=True).out
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["#", "GUID", "size", "offset", "owner"]
    row = [line for line in lines if TRIAGE_GUID in line][0]
    assert row.split()[:5] == ["6", TRIAGE_GUID, "0x209", "0x14b55c", "nt!GUID_TRIAGEDUMP_DATA"]
    assert "20 blobs; region at 0x13a28c" in out


def test_tags_hex_like_enumtag(cli):
    out = cli("tags", TRIAGE_X64, "--hex", "{" + TRIAGE_GUID.upper() + "}", quiet=True).out
    payload = raw(TRIAGE_X64, 0x14B55C, 0x209)
    lines = out.splitlines()
    assert lines[0].startswith(TRIAGE_GUID) and "521 bytes" in lines[0]
    first = lines[1]
    assert first.startswith("00000000  ")
    assert first[10:57].replace("-", " ").split() == ["%02x" % b for b in payload[:16]]
    assert len([line for line in lines[1:] if line[:8].strip()]) == (0x209 + 15) // 16


def test_tags_hex_json(cli):
    doc = json.loads(cli("tags", TRIAGE_X64, "--hex", TRIAGE_GUID, "--format", "json", quiet=True).out)
    assert bytes.fromhex(doc["hex"]) == raw(TRIAGE_X64, 0x14B55C, 0x209)
    assert doc["guid"] == TRIAGE_GUID and doc["size"] == 0x209


def test_tags_save_writes_first_payload(tmp_path, cli):
    target = str(tmp_path / "payload.bin")
    dup = "335d5e04-563b-4e58-aa36-7ed1cfe76fd6"
    cli("tags", TRIAGE_ARM64, "--save", dup.upper(), target, quiet=True).out
    rows = json.loads(cli("tags", TRIAGE_ARM64, "--format", "json", quiet=True).out)
    first = [r for r in rows if r["guid"] == dup][0]
    with open(target, "rb") as f:
        assert f.read() == raw(TRIAGE_ARM64, first["offset"], first["size"])


def test_unknown_guid_and_bad_guid_exit_2(capsys):
    for args in (["tags", TRIAGE_X64, "--hex", "01234567-89ab-cdef-0123-456789abcdef"],
                 ["tags", TRIAGE_X64, "--hex", "not-a-guid"]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("dmfkd: ") and err.count("\n") == 1


def test_info_json(cli):
    doc = json.loads(cli("info", TRIAGE_X64, "--format", "json", quiet=True).out)
    assert doc["arch"] == "x64" and doc["dump_type"] == 4 and doc["build"] == 19041
    assert doc["bugcheck_code"] == 0x1000007E and len(doc["bugcheck_parameters"]) == 4
    assert doc["secondary_data"] is True and doc["blobs"] == 20
    assert doc["blob_region_offset"] == 0x13A28C
    doc = json.loads(cli("info", TRIAGE_ARM64, "--format", "json", quiet=True).out)
    assert (doc["arch"], doc["build"], doc["bugcheck_code"], doc["blobs"]) == ("arm64", 22000, 0x1C8, 42)


def test_info_table(cli):
    out = cli("info", TRIAGE_ARM64, quiet=True).out
    fields = {}
    for line in out.splitlines()[2:]:
        key, _, value = line.partition("  ")
        fields[key.strip()] = value.strip()
    assert fields["bug check"] == "0x1c8" and fields["secondary data"] == "yes"
    assert fields["dump type name"] == "triage" and fields["build"] == "22000"


def test_info_no_secondary_data(tmp_path, cli):
    from dmfemu.dumpwriter import write_dump

    path = str(tmp_path / "plain.dmp")
    write_dump(path, arch="x64", dump_type="bitmap", pages={1: bytes(4096)}, dtb=0x1000)
    doc = json.loads(cli("info", path, "--format", "json", quiet=True).out)
    assert doc["secondary_data"] is False and doc["blobs"] == 0 and doc["blob_region_offset"] is None
    assert doc["dump_type"] == 5 and doc["pages"] == 1
    assert json.loads(cli("tags", path, "--format", "json", quiet=True).out) == []
    assert "no secondary data" in cli("tags", path, quiet=True).out


class FakeHostTarget(Target):
    """A host that cannot tell file offsets (like pykd): only the Target protocol."""

    name = "fake host"

    def __init__(self):
        self.payloads = [b"abc", b"", b"second"]
        self.guids = [uuid.UUID(int=7), uuid.UUID(int=0), uuid.UUID(int=7)]

    def tagged(self):
        return [TaggedBlob(i, g, len(p), len(p), None) for i, (g, p) in enumerate(zip(self.guids, self.payloads))]

    def read_blob(self, blob):
        return self.payloads[blob.index]

    def bugcheck(self):
        return BugCheck(0xDEADDEAD, (1, 2, 3, 4))


def test_commands_on_a_non_file_target(tmp_path):
    buf = io.StringIO()
    run(["tags", "--format", "json"], output=Output(buf), target=FakeHostTarget())
    rows = json.loads(buf.getvalue())
    assert [(r["index"], r["size"], r["offset"]) for r in rows] == [(0, 3, None), (1, 0, None), (2, 6, None)]
    buf = io.StringIO()
    run(["tags", "--hex", str(uuid.UUID(int=7))], output=Output(buf), target=FakeHostTarget())
    assert "61 62 63" in buf.getvalue()
    buf = io.StringIO()
    run(["info", "--format", "json"], output=Output(buf), target=FakeHostTarget())
    doc = json.loads(buf.getvalue())
    assert doc["bugcheck_code"] == 0xDEADDEAD and doc["blobs"] == 3 and "dump_type" not in doc
    saved = str(tmp_path / "p.bin")
    run(["tags", "--save", str(uuid.UUID(int=7)), saved], output=Output(io.StringIO()), target=FakeHostTarget())
    with open(saved, "rb") as f:
        assert f.read() == b"abc"


def test_python_dash_m(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = SOURCE_PATH
    proc = subprocess.run([sys.executable, "-m", "dmfkd", "tags", TRIAGE_X64, "--format", "json"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and len(json.loads(proc.stdout)) == 20
    bad = str(tmp_path / "bad.dmp")
    with open(bad, "wb") as f:
        f.write(b"PAGEDU64")
    proc = subprocess.run([sys.executable, "-m", "dmfkd", "info", bad], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "header cut short" in proc.stderr


def test_info_shows_dump_attributes(tmp_path, capsys):
    """A live dump carries LiveDumpGeneratedDump (bit 4 of DUMP_FILE_ATTRIBUTES); crash dumps leave the
    field PAGE-filled, shown as '-' / null."""
    from dmfemu.scenarios.live_dump_demo import demo_live_dump

    out = str(tmp_path / "live")
    demo_live_dump(out, "x64", None, 1, False, "1.1.154")
    assert main(["info", os.path.join(out, "LIVEDUMP.DMP"), "--format", "json"]) == 0
    assert "LiveDumpGeneratedDump" in json.loads(capsys.readouterr().out)["attributes"]
    assert main(["info", TRIAGE_X64, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["attributes"] is None
