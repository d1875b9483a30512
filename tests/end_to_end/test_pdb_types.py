"""`--type DRIVER!TYPE` with a PDB type made of everything a record type may hold: a nested structure,
bitfields, an enum shown by name (in a bitfield), a character array, an integer array, a pointer, and the `X` <-> `_X`
typedef spellings. The type is compiled here with clang-cl/lld-link into a PDB given with --pdb for the
emulator's driver; each record the CLI decodes must read as the C declaration below says, field by
field, computed here from the record's bytes with struct (not by dmfkd). Skips without clang/lld."""
import json
import os
import struct
import subprocess

import pytest

from dmfkd import cli

from helpers.pdb_demos import alone, pdb_demo

SELF_GUID = "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70"
SOURCE = r"""
typedef enum _DEMO_LEVEL { DemoLevelNone, DemoLevelCritical, DemoLevelError, DemoLevelWarning, DemoLevelInfo,
                           DemoLevelVerbose } DEMO_LEVEL;
typedef struct _DEMO_TIME { unsigned long long Ticks; } DEMO_TIME;
typedef struct _DEMO_RECORD {
    DEMO_TIME Time;                     /* 0: a nested structure */
    unsigned long SequenceLow : 8;      /* 8: bits 0-7 */
    unsigned long SequenceHigh : 24;    /* 8: bits 8-31 */
    unsigned int EventId : 16;          /* 12: bits 0-15 */
    DEMO_LEVEL Level : 16;              /* 12: bits 16-31, an enum */
    unsigned char Tag[4];               /* 16: an integer array (unsigned short would read as UTF-16) */
    char Message[32];                   /* 20: text */
    struct _DEMO_RECORD *Next;          /* 56: a pointer */
} DEMO_RECORD;
_Static_assert(sizeof(DEMO_RECORD) == 64, "one record of the demo's SELF source");
DEMO_RECORD g_Record;
"""
LEVELS = ["DemoLevelNone", "DemoLevelCritical", "DemoLevelError", "DemoLevelWarning", "DemoLevelInfo",
          "DemoLevelVerbose"]


@pytest.fixture(scope="module")
def record_pdb(tmp_path_factory):
    from dmfemu import native_build as native

    try:
        clang, lld = native.find_tools()
    except native.ToolsMissing as exc:
        pytest.skip(str(exc))
    folder = str(tmp_path_factory.mktemp("record-type"))
    with open(os.path.join(folder, "record.c"), "w") as handle:
        handle.write(SOURCE)
    subprocess.run([clang, "--driver-mode=cl", "--target=x86_64-pc-windows-msvc", "/nologo", "/c", "/Z7", "/GS-",
                    "/Zl", "/clang:-fno-eliminate-unused-debug-types", "record.c", "/Forecord.obj"],
                   cwd=folder, check=True, timeout=120)
    # named as the driver's CodeView record names its PDB: --pdb finds the module it is for by that name
    subprocess.run([lld, "/nologo", "/DLL", "/NODEFAULTLIB", "/NOENTRY", "/DEBUG", "/MACHINE:X64", "/PDB:dmfdemo.pdb",
                    "/OUT:record.dll", "record.obj"], cwd=folder, check=True, timeout=120)
    return os.path.join(folder, "dmfdemo.pdb")


def _expected(record: bytes) -> dict:
    ticks, sequence, unit = struct.unpack_from("<QII", record)
    return {"Time": {"Ticks": ticks}, "SequenceLow": sequence & 0xFF, "SequenceHigh": sequence >> 8,
            "EventId": unit & 0xFFFF, "Level": unit >> 16, "Level_name": LEVELS[unit >> 16], "Tag": list(record[16:20]),
            "Message": record[20:52].split(b"\0", 1)[0].decode("latin-1"),
            "Next": struct.unpack_from("<Q", record, 56)[0]}


@pytest.mark.parametrize("spelling", ["dmfdemo!DEMO_RECORD", "dmfdemo!_DEMO_RECORD", "DEMO_RECORD"])
def test_records_decode_as_the_c_declaration_says(tmp_path_factory, capsys, record_pdb, spelling):
    demo = pdb_demo(tmp_path_factory, "x64", "1.1.154")
    dump = alone(demo, tmp_path_factory.mktemp("dump"))
    options = ["--pdb", record_pdb, "--allow-mismatched-pdb"]
    assert cli.main(["crashdump", dump, "--guid", SELF_GUID, "--type", spelling, "--format", "json"] + options) == 0
    captured = capsys.readouterr()
    # not the driver's own PDB: loaded for dmfdemo as asked, with one warning line
    assert captured.err.count("\n") == 1 and "loaded anyway, types and addresses may be wrong" in captured.err
    document = json.loads(captured.out)
    assert document["decoder"] == spelling and len(document["records"]) == 16
    for row in document["records"]:
        record = bytes.fromhex(row["hex"])
        decoded = {key: value for key, value in row.items() if key not in ("index", "hex")}
        assert decoded == _expected(record)
    assert len({row["Level_name"] for row in document["records"]}) > 2     # several levels, each by its name
    # the table shows the enum by its name
    assert cli.main(["crashdump", dump, "--guid", SELF_GUID, "--type", spelling, "--last", "3", "--width", "200"]
                    + options) == 0
    table = capsys.readouterr().out
    for row in document["records"][-3:]:
        assert LEVELS[row["Level"]] in table
