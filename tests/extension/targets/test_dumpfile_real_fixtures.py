"""DumpFile on the two real Windows kernel minidumps (spec/dump-format.md §3.6 ground truth)."""
import struct
import uuid

import pytest

from helpers.paths import TRIAGE_ARM64, TRIAGE_X64
from dmfkd.errors import MemoryReadError, TagNotFoundError
from dmfkd.targets.dumpfile import DumpFile

ZERO = uuid.UUID(int=0)


@pytest.fixture(scope="module")
def x64():
    with DumpFile(TRIAGE_X64) as dump:
        yield dump


@pytest.fixture(scope="module")
def arm64():
    with DumpFile(TRIAGE_ARM64) as dump:
        yield dump


def raw(path, offset, size):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def test_x64_header_facts(x64):
    assert (x64.arch, x64.pointer_size, x64.dump_type, x64.build) == ("x64", 8, 4, 19041)
    check = x64.bugcheck()
    assert check.code == 0x1000007E and len(check.parameters) == 4
    assert x64.header.NumberProcessors == 16 and x64.header.MiniDumpFields == 0xCFF
    assert x64.header.RequiredDumpSpace == 0x197915
    assert x64.dtb == 0x1AD000 and x64.system_time == 0x1D707F23DBB3399


def test_arm64_header_facts(arm64):
    assert (arm64.arch, arm64.pointer_size, arm64.dump_type, arm64.build) == ("arm64", 8, 4, 22000)
    assert arm64.bugcheck().code == 0x1C8


@pytest.mark.parametrize("path,region,count,size", [
    (TRIAGE_X64, 0x13A28C, 20, 1444532),
    (TRIAGE_ARM64, 0xAC46C, 42, 1216428),
])
def test_region_at_size_of_dump_and_ends_at_eof(path, region, count, size):
    with DumpFile(path) as dump:
        assert dump.triage.SizeOfDump == region
        assert dump.blob_region_offset == region
        assert raw(path, region, 8) == b"DumpBlob"
        blobs = dump.tagged()
        assert len(blobs) == count
        assert [b.index for b in blobs] == list(range(count))
        assert not any(b.truncated for b in blobs)
        # the first payload follows the 16-byte file header and one 32-byte blob header
        assert blobs[0].offset == region + 16 + 32
        last = blobs[-1]
        assert last.offset + last.size + (-last.size % 8) == size == dump.file_size
        # blobs are back to back: header (32) + payload + PostPad to 8 (§3.6: PrePad 0)
        for a, b in zip(blobs, blobs[1:]):
            assert b.offset == a.offset + a.size + (-a.size % 8) + 32


def test_x64_known_blob_sizes_and_zero_guid_in_place(x64):
    blobs = x64.tagged()
    by_guid = {b.guid_text: b for b in blobs}
    assert by_guid["2b4ae195-a64d-4f04-8ede-7e4f981bd42a"].size == 0x209
    assert by_guid["9276c055-eb87-425c-b8b5-04e4d247f6cd"].size == 0x2800
    assert by_guid["2b88b710-1c93-4f7c-b06c-655ecc50decc"].size == 0xA51C
    assert by_guid["65755a40-f146-43ea-8c91-36b85728fd35"].size == 0
    zero = [b for b in blobs if b.guid == ZERO]
    assert len(zero) == 1 and zero[0].size == 0
    assert 0 < zero[0].index < len(blobs) - 1          # in the middle, not an end marker
    assert x64.read_tagged(ZERO) == b""


def test_arm64_duplicates_listed_and_first_wins(arm64):
    blobs = arm64.tagged()
    assert blobs[-1].guid_text.startswith("2b88b710") and blobs[-1].size == 0x6DF80
    assert [b for b in blobs if b.guid_text.startswith("2b4ae195")][0].size == 0x303
    dup = uuid.UUID("335d5e04-563b-4e58-aa36-7ed1cfe76fd6")
    copies = [b for b in blobs if b.guid == dup]
    assert len(copies) >= 3
    first = copies[0]
    assert arm64.read_tagged(dup) == raw(TRIAGE_ARM64, first.offset, first.size)
    assert [b for b in blobs if b.guid == ZERO and b.size == 0]
    counts = {}
    for b in blobs:
        counts[b.guid] = counts.get(b.guid, 0) + 1
    assert sum(counts.values()) == 42 and len(counts) < 42


@pytest.mark.parametrize("text", ["{2B4AE195-A64D-4F04-8EDE-7E4F981BD42A}", "2b4ae195-a64d-4f04-8ede-7e4f981bd42a",
                                  "{2b4ae195-a64d-4f04-8ede-7e4f981bd42a}"])
def test_read_tagged_accepts_any_guid_form(x64, text):
    data = x64.read_tagged(text)
    blob = [b for b in x64.tagged() if b.guid_text == "2b4ae195-a64d-4f04-8ede-7e4f981bd42a"][0]
    assert data == raw(TRIAGE_X64, blob.offset, 0x209)


def test_read_tagged_unknown_guid(x64):
    with pytest.raises(TagNotFoundError):
        x64.read_tagged("01234567-89ab-cdef-0123-456789abcdef")


@pytest.mark.parametrize("path", [TRIAGE_X64, TRIAGE_ARM64])
def test_triage_kdbg_copy_readable_by_va(path):
    with DumpFile(path) as dump:
        kdbg = dump.read(dump.kdbg_va, 0x20)
        assert kdbg[0x10:0x14] == b"KDBG"
        assert struct.unpack_from("<I", kdbg, 0x14)[0] == 0x380      # §1.6 [SAMPLE]
        # the whole copy reads, the byte after it does not (unless another block maps it)
        assert len(dump.read(dump.kdbg_va, 0x380)) == 0x380


def test_triage_data_blocks_readable_by_va(x64):
    tri = x64.triage
    block = raw(TRIAGE_X64, tri.DataBlocksOffset + 16 * 3, 16)
    va, offset, size = struct.unpack("<QII", block)
    assert x64.read(va, size) == raw(TRIAGE_X64, offset, size)
    assert x64.read(va + 8, 16) == raw(TRIAGE_X64, offset + 8, 16)


def test_triage_call_stack_mapped_upward_from_top_of_stack(x64):
    tri = x64.triage
    data = x64.read(tri.TopOfStack, tri.SizeOfCallStack)
    assert data == raw(TRIAGE_X64, tri.CallStackOffset, tri.SizeOfCallStack)
    # the saved Rsp lies inside the stored stack
    rsp = struct.unpack_from("<Q", raw(TRIAGE_X64, 0x348 + 0x98, 8))[0]
    assert tri.TopOfStack <= rsp < tri.TopOfStack + tri.SizeOfCallStack


def test_unreadable_va_names_the_address(x64):
    with pytest.raises(MemoryReadError) as info:
        x64.read(0xFFFF_F000_0000_1000, 8)
    assert "0xfffff00000001000" in str(info.value)


def test_triage_has_no_physical_memory(x64):
    with pytest.raises(MemoryReadError):
        x64.read_physical(0x1000, 8)


# spec/dump-format.md §3.6: the known Windows tag prefixes
SPEC_PREFIXES = ("f57308df 00afe9c4 b7631941 80cc79cf 4ee76bd8 9276c055 2b4ae195 2b88b710 b0692a5e 5bc8704a "
                 "54c84888 f87e4a4c c939c73b da82441d 270a33fd 65755a40 00dae7ca bc5c008f 6c7ac389 d03dc06f "
                 "e83b40d2 9282756a 0f1f53f3").split()


def test_known_tag_owners(x64, arm64):
    from dmfkd.known_tags import owner_of

    assert len(SPEC_PREFIXES) == 23
    seen = 0
    for dump in (x64, arm64):
        for blob in dump.tagged():
            owner = owner_of(blob.guid)
            if blob.guid_text[:8] in SPEC_PREFIXES:
                assert owner and not owner.endswith("?"), blob.guid_text
                seen += 1
            else:
                assert owner is None, blob.guid_text
    assert seen >= 19
    assert owner_of("2B4AE195-A64D-4F04-8EDE-7E4F981BD42A") == "nt!GUID_TRIAGEDUMP_DATA"
    # prefix-only entries (not seen in a real dump) say they are unconfirmed
    assert owner_of("5bc8704a-0000-0000-0000-000000000000").endswith("?")
    # a full GUID is known: same prefix, other tail is not Windows' tag
    assert owner_of("54c84888-0000-0000-0000-000000000000") is None
