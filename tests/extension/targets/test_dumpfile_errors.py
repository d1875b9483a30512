"""Bad dump files: each defect of issue 2 item 7 gives one FormatError naming the file, what is wrong
and the offset; the CLI turns it into one stderr line and exit status 2."""
import os
import shutil
import struct
import uuid

import pytest

from helpers.paths import TRIAGE_X64
from dmfemu.dumpwriter import write_dump
from dmfkd.cli import main
from dmfkd.errors import FormatError
from dmfkd.targets.dumpfile import DumpFile

P = 0x1000
REGION_X64 = 0x13A28C


def patched(tmp_path, source, patches=(), truncate=None, name="bad.dmp"):
    path = str(tmp_path / name)
    with open(source, "rb") as f:
        data = bytearray(f.read())
    for offset, value in patches:
        data[offset:offset + len(value)] = value
    if truncate is not None:
        del data[truncate:]
    with open(path, "wb") as f:
        f.write(data)
    return path


def small_full(tmp_path, blobs=((uuid.UUID(int=1), b"abcdef"),), dump_type="full"):
    path = str(tmp_path / ("%s.dmp" % dump_type))
    pages = {pfn: bytes([pfn]) * P for pfn in (1, 2, 3, 9)}
    write_dump(path, arch="x64", dump_type=dump_type, pages=pages, dtb=P, blobs=list(blobs))
    return path


def expect(path, what, offset=None, on="open"):
    with pytest.raises(FormatError) as info:
        dump = DumpFile(path)
        if on == "tagged":
            dump.tagged()
        elif on == "read":
            dump.read_physical(P, 1)
    message = str(info.value)
    assert message.startswith(path + ": ")
    assert what in message
    if offset is not None:
        assert info.value.offset == offset and message.endswith("at offset 0x%x" % offset)
    return info.value


def one_line_exit_2(capsys, args):
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("dmfkd: ") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err
    return captured.err


def test_empty_file(tmp_path, capsys):
    path = str(tmp_path / "empty.dmp")
    open(path, "wb").close()
    expect(path, "empty file", 0)
    assert "empty file" in one_line_exit_2(capsys, ["tags", path])


def test_wrong_signature(tmp_path, capsys):
    path = patched(tmp_path, TRIAGE_X64, [(0, b"MDMP")])
    expect(path, "not a Windows kernel dump", 0)
    one_line_exit_2(capsys, ["info", path])


def test_unknown_valid_dump(tmp_path):
    expect(patched(tmp_path, TRIAGE_X64, [(4, b"XXXX")]), "unknown dump header kind", 4)


@pytest.mark.parametrize("cut", [3, 0x100, 0x1FFF])
def test_header_cut_short(tmp_path, capsys, cut):
    path = patched(tmp_path, TRIAGE_X64, truncate=cut)
    expect(path, "header cut short", cut)
    one_line_exit_2(capsys, ["tags", path])


def test_unknown_machine_and_type(tmp_path):
    expect(patched(tmp_path, TRIAGE_X64, [(0x30, b"\x01\x02\x00\x00")]), "MachineImageType", 0x30)
    expect(patched(tmp_path, TRIAGE_X64, [(0xF98, b"\x02\x00\x00\x00")]), "unsupported dump type 2", 0xF98)


def test_triage_region_past_eof(tmp_path, capsys):
    path = patched(tmp_path, TRIAGE_X64, [(0x2004, struct.pack("<I", 0x7FFFFFFF))])
    expect(path, "SizeOfDump 0x7fffffff lies past the end of the file", 0x2004)
    one_line_exit_2(capsys, ["tags", path])


def test_triage_marker_missing(tmp_path):
    expect(patched(tmp_path, TRIAGE_X64, [(REGION_X64 - 4, b"XXXX")]), "no TRGD", 0x2008)


def test_region_signature_damaged_means_no_secondary_data(tmp_path):
    path = patched(tmp_path, TRIAGE_X64, [(REGION_X64, b"Dumpblob")])
    with DumpFile(path) as dump:
        assert dump.blob_region_offset is None and dump.tagged() == []


def test_blob_header_cut_short(tmp_path, capsys):
    # cut inside the 32-byte header of blob 1 (the first blob's payload is 4096 bytes)
    cut = REGION_X64 + 16 + 32 + 4096 + 20
    path = patched(tmp_path, TRIAGE_X64, truncate=cut)
    expect(path, "blob header cut short (20 of 32 bytes)", cut - 20, on="tagged")
    one_line_exit_2(capsys, ["tags", path])


def test_data_size_larger_than_file(tmp_path):
    offset = REGION_X64 + 16 + 0x14
    path = patched(tmp_path, TRIAGE_X64, [(offset, struct.pack("<I", 0xFFFFFF00))])
    expect(path, "DataSize 0xffffff00 is larger than the file", offset, on="tagged")


def test_last_blob_past_eof_is_listed_truncated(tmp_path, capsys):
    size = os.path.getsize(TRIAGE_X64)
    path = patched(tmp_path, TRIAGE_X64, truncate=size - 1000)
    with DumpFile(path) as dump:
        blobs = dump.tagged()
        assert len(blobs) == 20 and blobs[-1].truncated
        assert blobs[-1].declared_size == 0xA51C and blobs[-1].size == 0xA51C + 4 - 1000
        assert len(dump.read_blob(blobs[-1])) == blobs[-1].size
    assert main(["tags", path]) == 0
    out = capsys.readouterr()
    assert "truncated" in out.out


@pytest.mark.parametrize("field,value,what", [
    (0x18, 0x7FFFFFFF, "absurd blob PrePad 0x7fffffff"),
    (0x1C, 0x7FFFFFFF, "absurd blob PostPad 0x7fffffff"),
])
def test_absurd_padding(tmp_path, field, value, what):
    offset = REGION_X64 + 16 + field
    path = patched(tmp_path, TRIAGE_X64, [(offset, struct.pack("<I", value))])
    expect(path, what, offset, on="tagged")


def test_blob_header_size_below_32_ends_the_walk(tmp_path):
    second = REGION_X64 + 16 + 32 + 4096
    path = patched(tmp_path, TRIAGE_X64, [(second, struct.pack("<I", 16))])
    with DumpFile(path) as dump:
        assert len(dump.tagged()) == 1


def test_full_dump_number_of_pages_file_cannot_hold(tmp_path, capsys):
    source = small_full(tmp_path)
    path = patched(tmp_path, source, [(0x90, struct.pack("<Q", 1 << 40))])
    expect(path, "NumberOfPages 1099511627776", 0x90)
    one_line_exit_2(capsys, ["info", path])
    path = patched(tmp_path, source, truncate=0x2000 + 2 * P, name="short.dmp")
    expect(path, "NumberOfPages 4", 0x90)


def test_full_dump_run_list_problems(tmp_path):
    source = small_full(tmp_path)
    expect(patched(tmp_path, source, [(0x88, struct.pack("<I", 43))]), "NumberOfRuns 43 exceeds", 0x88)
    expect(patched(tmp_path, source, [(0x88, b"PAGE")]), "without a physical memory run list", 0x88)
    # first run claims more pages than NumberOfPages
    expect(patched(tmp_path, source, [(0x98 + 8, struct.pack("<Q", 1 << 50))]), "runs past NumberOfPages", 0x98)


def test_bitmap_sizes_file_cannot_hold(tmp_path, capsys):
    source = small_full(tmp_path, dump_type="bitmap")
    path = patched(tmp_path, source, [(0x2030, struct.pack("<Q", 1 << 60))])
    expect(path, "bitmap of 1152921504606846976 bits runs past the end", 0x2030)
    one_line_exit_2(capsys, ["tags", path])
    expect(patched(tmp_path, source, [(0x2028, struct.pack("<Q", 60))], name="b2.dmp"),
           "TotalPresentPages 60 needs", 0x2028)
    expect(patched(tmp_path, source, [(0x2028, struct.pack("<Q", 1 << 40))], name="b3.dmp"),
           "exceeds the 64 bits", 0x2028)
    expect(patched(tmp_path, source, [(0x2000, b"XDMP")], name="b4.dmp"), "bad bitmap dump signature", 0x2000)
    expect(patched(tmp_path, source, [(0x2020, struct.pack("<Q", 0x100))], name="b5.dmp"),
           "FirstPage 0x100 overlaps", 0x2020)
    expect(patched(tmp_path, source, truncate=0x2010, name="b6.dmp"), "bitmap dump header cut short", 0x2010)


def test_bitmap_popcount_mismatch_found_when_memory_is_read(tmp_path):
    source = small_full(tmp_path, dump_type="bitmap")
    # clear the bit of PFN 9: three bits set, TotalPresentPages still 4
    with open(source, "rb") as f:
        byte = f.read()[0x2038 + 1]
    path = patched(tmp_path, source, [(0x2038 + 1, bytes([byte & ~0x02]))])
    with DumpFile(path) as dump:
        assert len(dump.tagged()) == 1             # listing does not read the bitmap
    expect(path, "bitmap has 3 pages set but TotalPresentPages says 4", 0x2028, on="read")


def test_save_refuses_to_overwrite_the_dump(tmp_path, capsys):
    path = str(tmp_path / "copy.dmp")
    shutil.copyfile(TRIAGE_X64, path)
    before = os.path.getsize(path)
    err = one_line_exit_2(capsys, ["tags", path, "--save", "2b4ae195-a64d-4f04-8ede-7e4f981bd42a", path])
    assert "refusing to overwrite" in err and os.path.getsize(path) == before


def test_nonexistent_file(tmp_path, capsys):
    err = one_line_exit_2(capsys, ["tags", str(tmp_path / "nope.dmp")])
    assert "cannot open" in err


def test_bytes_after_pages_without_dumpblob_are_reported(tmp_path, capsys):
    source = small_full(tmp_path)
    region = 0x2000 + 4 * P
    path = patched(tmp_path, source, [(region, b"DumpBlub")])
    with DumpFile(path) as dump:
        assert dump.tagged() == [] and dump.blob_region_offset is None
        assert "do not start with the DumpBlob signature" in dump.region_problem
    assert main(["tags", path]) == 0
    assert "no secondary data: 0x" in capsys.readouterr().out
    assert main(["info", path]) == 0
    assert "DumpBlob" in capsys.readouterr().out
    with DumpFile(source) as dump:
        assert dump.region_problem is None
