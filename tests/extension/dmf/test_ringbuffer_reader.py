"""dmfkd.dmf.ringbuffer: crash blobs (spec/dmf.md §2.11), entry-size inference, live rings (§1.2-§1.6, §6)."""
import uuid

import pytest

from dmfkd.dmf.ringbuffer import (RingState, cross_check, decode_crash_blob, decode_live_ring,
                                  infer_entry_size, looks_like_ring_blob, xor_with_key)
from dmfkd.errors import DmfkdError
from dmfkd.layouts import dmf_structures

G = uuid.UUID("F4A58486-FD91-4BF9-96BC-DDA5CF571EDF")
KEY = b"F4A58486FD914BF996BCDDA5CF571EDF"


# -- golden bytes of spec/dmf.md §2.11 ------------------------------------------------------------

def test_worked_example_full_ring():
    blob = bytes.fromhex("77067201" "41424344" "51525354")
    d = decode_crash_blob(blob, G, 4, capacity=3)
    assert d.records() == [bytes.fromhex("31323334"), bytes.fromhex("41424344"), bytes.fromhex("51525354")]
    assert (d.present, d.present_known, d.truncated, d.warnings) == (3, False, False, [])


def test_worked_example_partial_ring():
    blob = bytes.fromhex("f685f386" "c0c1c2c3" "00000000" "00000000")
    d = decode_crash_blob(blob, str(G), 4, capacity=4)
    assert d.hex_records() == ["b0b1b2b3", "c0c1c2c3"]
    assert d.present == 2 and not d.present_known and not d.truncated


def test_worked_example_present_from_memory():
    blob = bytes.fromhex("f685f386" "c0c1c2c3" "00000000" "00000000")
    d = decode_crash_blob(blob, G, 4, capacity=4, present=2)
    assert d.present_known and d.present == 2 and d.count == 2 and d.warnings == []


def test_key_is_canonical_text():
    assert xor_with_key(bytes(40), KEY) == KEY + KEY[:8]


# -- blobs built by the §2.11 rules ---------------------------------------------------------------

def make_blob(items, s, n, guid=G, maximum=None):
    """The blob DMF writes: oldest item XOR key, later items plain, zero tail, cut to MaximumAllowed."""
    key = guid.hex.upper().encode()
    body = b"".join(items) + bytes((n - len(items)) * s)
    first = bytes(b ^ key[j % 32] for j, b in enumerate(body[:s]))
    blob = first + body[s:]
    return blob[:maximum] if maximum is not None else blob


def item(i, s):
    # a record with a non-zero head and zero padding at the end, like a C struct with a short string
    head = (0x1000 + i).to_bytes(4, "little").replace(b"\0", b"\x7f") + b"evt%03d" % (i % 1000)
    return (head + bytes(s))[:s]


def test_truncated_inside_a_record_reports_partial():
    s, n = 16, 8
    items = [item(i, s) for i in range(6)]
    blob = make_blob(items, s, n, maximum=5 * s + 7)
    d = decode_crash_blob(blob, G, s, capacity=n, present=6)
    assert d.truncated and d.count == 6 and d.partial_size == 7
    assert d.record(5) == items[5][:7] and d.is_partial(5)
    assert d.records()[:5] == items[:5]
    assert any("not a multiple" in w for w in d.warnings)


def test_truncated_drops_newest_counted_as_lost():
    s, n = 16, 8
    items = [item(i, s) for i in range(8)]
    blob = make_blob(items, s, n, maximum=3 * s)
    d = decode_crash_blob(blob, G, s, capacity=n, present=8)
    assert d.truncated and d.count == 3 and d.lost == 5 and d.records() == items[:3]


def test_truncated_only_zero_tail_loses_nothing():
    s, n = 16, 8
    items = [item(i, s) for i in range(2)]
    d = decode_crash_blob(make_blob(items, s, n, maximum=4 * s), G, s, capacity=n)
    assert d.truncated and d.lost == 0 and d.records() == items


def test_genuine_zero_record_is_flagged():
    s = 8
    items = [item(1, s), bytes(s), item(3, s)]
    d = decode_crash_blob(make_blob(items, s, 5), G, s)
    assert d.present == 3 and d.records() == items
    assert any("present count is uncertain" in w for w in d.warnings)


def test_present_greater_than_capacity_warns():
    s = 8
    d = decode_crash_blob(make_blob([item(1, s)], s, 2), G, s, capacity=2, present=5)
    assert any("misconfigured ring mode" in w for w in d.warnings) and d.count == 2


def test_wrong_key_is_flagged_not_raised():
    s, n = 32, 4
    items = [item(i, s) for i in range(3)]
    blob = make_blob(items, s, n, guid=G)
    other = uuid.UUID("11111111-2222-3333-4444-555555555555")
    # already plaintext (XOR applied twice): decoding shows G's key where plaintext was zero
    plain = b"".join(items) + bytes(s)
    d = decode_crash_blob(plain, G, s)
    assert any("XOR-ed twice" in w for w in d.warnings)
    d2 = decode_crash_blob(blob, other, s)
    assert d2.count == 3  # still decoded, records 1.. are right
    assert d2.records()[1:] == items[1:]


def test_empty_blob():
    d = decode_crash_blob(b"", G, 16, capacity=4)
    assert d.count == 0 and d.present == 0 and d.truncated


def test_bad_entry_size_refused():
    with pytest.raises(DmfkdError):
        decode_crash_blob(b"abcd", G, 0)


# -- entry-size inference -------------------------------------------------------------------------

@pytest.mark.parametrize("s,n,p", [(16, 8, 3), (24, 10, 10), (64, 100, 1), (33, 7, 4), (200, 3, 2)])
def test_infer_entry_size(s, n, p):
    blob = make_blob([item(i, s) for i in range(p)], s, n)
    got, evidence = infer_entry_size(blob, G)
    assert got == s
    assert "divides the blob length" in evidence


def test_infer_refuses_without_signature():
    # §2.11 worked example: the first record has no zero byte, so the key leaves no trace
    with pytest.raises(DmfkdError, match="--entry-size"):
        infer_entry_size(bytes.fromhex("77067201414243445152535 4".replace(" ", "")), G)


def test_infer_refuses_when_ambiguous():
    # record 0 ends with non-zero bytes after its zero run: 20, 40 (and more) all fit
    s = 40
    first = b"\x01" * 8 + bytes(8) + b"\x02" * 24
    rest = [b"\x03" * s for _ in range(9)]
    blob = make_blob([first] + rest, s, 10)
    with pytest.raises(DmfkdError, match="ambiguous|no entry size"):
        infer_entry_size(blob, G)


def test_infer_refuses_empty_and_foreign():
    with pytest.raises(DmfkdError):
        infer_entry_size(b"", G)
    with pytest.raises(DmfkdError):
        infer_entry_size(bytes(range(256)) * 4, G)


def test_looks_like_ring_blob():
    assert looks_like_ring_blob(make_blob([item(1, 32)], 32, 4), G)
    assert not looks_like_ring_blob(bytes(range(1, 256)) * 4, G)
    assert not looks_like_ring_blob(b"", G)


# -- live rings -----------------------------------------------------------------------------------

ITEMS_VA = 0xFFFFC00012340000


def ring_bytes(arch, s, n, r, w, p, mode=2, items=ITEMS_VA, **over):
    values = {"MemoryRing": 0xFFFF1234 if items else 0, "ItemSize": s, "Items": items,
              "ReadPointer": items + r * s, "WritePointer": items + w * s, "BufferEnd": items + n * s,
              "TotalSize": n * s, "Mode": mode, "ItemsCount": n, "ItemsPresentCount": p}
    values.update(over)
    return dmf_structures.ring_buffer(arch).pack(values)


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_live_ring_wrapped_order(arch):
    items = 0x81234000 if arch == "x86" else ITEMS_VA
    # §1.6: after 5 writes into N=3: slots 41 51 31, r=w=2, P=3
    storage = bytes.fromhex("41424344" "51525354" "31323334" "00000000")
    d = decode_live_ring(ring_bytes(arch, 4, 3, 2, 2, 3, items=items), storage, arch)
    assert d.hex_records() == ["31323334", "41424344", "51525354"]
    assert d.present_known and d.present == 3 and d.capacity == 3 and d.warnings == []
    assert d.slot_order == [2, 0, 1]


def test_live_ring_partly_read():
    # §1.6 partial: a, b, c written, one read: r=1 w=3 P=2
    storage = bytes.fromhex("a0a1a2a3" "b0b1b2b3" "c0c1c2c3" "00000000" "00000000")
    d = decode_live_ring(ring_bytes("x64", 4, 4, 1, 3, 2), storage, "x64")
    assert d.hex_records() == ["b0b1b2b3", "c0c1c2c3"] and d.warnings == []


def test_live_ring_empty_and_closed():
    storage = bytes(16)
    d = decode_live_ring(ring_bytes("x64", 4, 3, 1, 1, 0), storage, "x64")
    assert d.count == 0 and d.warnings == []
    closed = decode_live_ring(ring_bytes("x64", 4, 3, 1, 1, 0, items=0), None, "x64")
    assert closed.count == 0 and any("closed" in n for n in closed.notes)


def test_live_ring_matches_blob_of_same_state():
    s, n = 16, 5
    its = [item(i, s) for i in range(7)]  # 7 writes into 5 slots: r = w = 2, P = 5
    slots = [its[5], its[6], its[2], its[3], its[4]]
    storage = b"".join(slots) + bytes(s)
    live = decode_live_ring(ring_bytes("x64", s, n, 2, 2, 5), storage, "x64", guid=G)
    blob = decode_crash_blob(make_blob(its[2:], s, n), G, s, capacity=n, present=5)
    assert live.records() == its[2:] == blob.records()
    assert cross_check(blob, live) == []


def test_corrupt_pointers_and_counts_warn():
    storage = bytes.fromhex("41424344" "51525354" "31323334" "00000000")
    # ReadPointer off-slot: order recovered from WritePointer - P
    bad_r = ring_bytes("x64", 4, 3, 0, 2, 3, ReadPointer=ITEMS_VA + 5)
    d = decode_live_ring(bad_r, storage, "x64")
    assert d.hex_records() == ["31323334", "41424344", "51525354"]
    assert any("ReadPointer" in w for w in d.warnings)
    # both pointers wild: storage order, still records, never a traceback
    wild = ring_bytes("x64", 4, 3, 0, 0, 3, ReadPointer=1, WritePointer=2)
    d = decode_live_ring(wild, storage, "x64")
    assert d.count == 3 and any("storage order" in w for w in d.warnings)
    # P > N (mode 0, Q-RB-1)
    over = ring_bytes("x64", 4, 3, 0, 1, 4, mode=0)
    d = decode_live_ring(over, storage, "x64")
    assert d.count == 3 and any("misconfigured" in w for w in d.warnings)
    # storage shorter than N*S: partial record
    d = decode_live_ring(ring_bytes("x64", 4, 3, 0, 0, 3), storage[:6], "x64")
    assert d.truncated and d.partial_size == 2 and d.count == 2
    # inconsistent BufferEnd / TotalSize
    d = decode_live_ring(ring_bytes("x64", 4, 3, 0, 0, 3, TotalSize=99, BufferEnd=7), storage, "x64")
    assert any("TotalSize" in w for w in d.warnings) and any("BufferEnd" in w for w in d.warnings)
    # storage unreadable
    d = decode_live_ring(ring_bytes("x64", 4, 3, 0, 0, 3), None, "x64")
    assert d.count == 0 and any("unreadable" in w for w in d.warnings)


def test_memory_captured_after_callbacks_is_decoded():
    s, n = 16, 4
    its = [item(i, s) for i in range(2)]
    storage = make_blob(its, s, n) + bytes(s)  # reordered + XOR-ed in place
    d = decode_live_ring(ring_bytes("x64", s, n, 0, 2, 2), storage, "x64", guid=G)
    assert d.records() == its and any("captured after the crash" in x for x in d.notes)


def test_ring_state_parse_short():
    with pytest.raises(DmfkdError):
        RingState.parse(b"\0" * 10, "x64")


# -- hostile input: never a traceback ------------------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.integers(1, 80), st.one_of(st.none(), st.integers(0, 50)),
       st.one_of(st.none(), st.integers(0, 60)))
def test_blob_decoder_total(blob, s, n, p):
    d = decode_crash_blob(blob, G, s, capacity=n, present=p)
    assert 0 <= d.count and len(d.data) >= sum(len(r) for r in d.records())
    assert all(len(r) == s for r in d.records()[:-1])
    try:
        got, _ = infer_entry_size(blob, G)
        assert len(blob) % got == 0
    except DmfkdError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=64, max_size=64), st.binary(max_size=300), st.sampled_from(["x64", "x86"]))
def test_live_decoder_total(context, storage, arch):
    d = decode_live_ring(context, storage, arch, guid=G)
    assert d.count >= 0 and isinstance(d.warnings, list)
