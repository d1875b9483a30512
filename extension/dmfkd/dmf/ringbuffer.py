"""Decode DMF ring buffers: a CrashDump secondary-data blob (spec/dmf.md §2.11) or a live RING_BUFFER
read from memory (§1.2-§1.5, §4.5). Pure functions over bytes: no target I/O, no printing.

Both decoders return a :class:`RingDecode` whose ``data`` holds the decoded records back to back,
oldest first, so that callers slice records out of one buffer instead of building one object per
record (a 1,000,000-record blob decodes without a per-record Python loop, see
``scripts/bench_decode.py``). Invariant checks of spec/dmf.md §6 become ``warnings`` (something is
wrong with the ring or the blob) or ``notes`` (a fact worth knowing); they never raise.
"""
import uuid
from typing import Dict, List, Optional, Tuple

from dmfkd.errors import DmfkdError, LayoutError
from dmfkd.guids import crashdump_key, guid_text

#: the bytes a decoder may keep in memory for one ring (bounded, never trust N*S from memory)
MAX_RING_BYTES = 256 * 1024 * 1024

RING_MODES = {0: "Invalid", 1: "FailIfFullOnWrite", 2: "DeleteOldestIfFullOnWrite"}


class RingState:
    """The RING_BUFFER fields (spec/dmf.md §1.2) plus the slot indexes derived from them."""

    __slots__ = ("address", "memory_ring", "item_size", "items", "read_pointer", "write_pointer",
                 "buffer_end", "total_size", "mode", "items_count", "items_present_count")

    def __init__(self, memory_ring=0, item_size=0, items=0, read_pointer=0, write_pointer=0,
                 buffer_end=0, total_size=0, mode=0, items_count=0, items_present_count=0,
                 address=None):
        self.address = address
        self.memory_ring = memory_ring
        self.item_size = item_size
        self.items = items
        self.read_pointer = read_pointer
        self.write_pointer = write_pointer
        self.buffer_end = buffer_end
        self.total_size = total_size
        self.mode = mode
        self.items_count = items_count
        self.items_present_count = items_present_count

    @classmethod
    def parse(cls, context: bytes, arch: str, address: Optional[int] = None) -> "RingState":
        from dmfkd.layouts import dmf_structures

        layout = dmf_structures.ring_buffer(arch)
        if len(context) < layout.size:
            raise LayoutError("RING_BUFFER (%s) needs %d bytes, got %d" % (arch, layout.size, len(context)))
        v = layout.unpack_from(context)
        return cls(v["MemoryRing"], v["ItemSize"], v["Items"], v["ReadPointer"], v["WritePointer"],
                   v["BufferEnd"], v["TotalSize"], v["Mode"], v["ItemsCount"], v["ItemsPresentCount"],
                   address=address)

    def _index(self, pointer: int) -> Optional[int]:
        s, n = self.item_size, self.items_count
        if s <= 0 or n <= 0 or pointer < self.items:
            return None
        off = pointer - self.items
        if off % s or off // s >= n:
            return None
        return off // s

    @property
    def read_index(self) -> Optional[int]:
        """r, or None when ReadPointer is not on a slot boundary inside [Items, BufferEnd)."""
        return self._index(self.read_pointer)

    @property
    def write_index(self) -> Optional[int]:
        return self._index(self.write_pointer)

    @property
    def storage_size(self) -> int:
        """(N+1)*S: the ring storage including Reorder's swap slot (spec/dmf.md §1.3)."""
        return (self.items_count + 1) * self.item_size

    def as_dict(self) -> Dict[str, object]:
        return {"items": self.items, "item_size": self.item_size, "items_count": self.items_count,
                "items_present_count": self.items_present_count, "read_pointer": self.read_pointer,
                "write_pointer": self.write_pointer, "buffer_end": self.buffer_end,
                "total_size": self.total_size, "mode": self.mode, "memory_ring": self.memory_ring,
                "read_index": self.read_index, "write_index": self.write_index}


class RingDecode:
    """Decoded records of one ring, oldest first.

    ``data`` holds ``count`` records of ``entry_size`` bytes back to back; the last one is shorter
    (``partial_size`` bytes) when the source was cut inside a record. ``present`` is the ring's count
    of live records: from memory when ``present_known``, else inferred from trailing all-zero records.
    ``lost`` counts records the ring held that the bytes no longer contain (truncated blob).
    """

    def __init__(self, guid: Optional[uuid.UUID], entry_size: int, capacity: Optional[int],
                 present: int, present_known: bool, truncated: bool, data: bytes, count: int,
                 partial_size: Optional[int] = None, source: str = "blob", length: int = 0,
                 warnings: Optional[List[str]] = None, notes: Optional[List[str]] = None,
                 state: Optional[RingState] = None, lost: int = 0, slot_order: Optional[List[int]] = None):
        self.guid = guid
        self.entry_size = entry_size
        self.capacity = capacity
        self.present = present
        self.present_known = present_known
        self.truncated = truncated
        self.data = data
        self.count = count
        self.partial_size = partial_size
        self.source = source
        self.length = length
        self.warnings = warnings if warnings is not None else []
        self.notes = notes if notes is not None else []
        self.state = state
        self.lost = lost
        #: for a live ring: the storage slot each record came from
        self.slot_order = slot_order

    def record(self, index: int) -> bytes:
        if not 0 <= index < self.count:
            raise IndexError(index)
        s = self.entry_size
        return self.data[index * s:(index + 1) * s]

    def records(self) -> List[bytes]:
        s = self.entry_size
        data = self.data
        return [data[i:i + s] for i in range(0, self.count * s, s)][:self.count]

    def is_partial(self, index: int) -> bool:
        return self.partial_size is not None and index == self.count - 1

    def hex_records(self) -> List[str]:
        """Hex text of every record: one bytes.hex over the whole buffer, then slices."""
        text = self.data[:self.count * self.entry_size].hex()
        step = 2 * self.entry_size
        return [text[i:i + step] for i in range(0, len(text), step)]

    def resliced(self, entry_size: int) -> "RingDecode":
        """The same bytes cut into records of another size (the user's --entry-size --force)."""
        data = self.data[:self.count * self.entry_size - (self.entry_size - self.partial_size
                                                           if self.partial_size is not None else 0)]
        count, rest = divmod(len(data), entry_size)
        notes = list(self.notes) + ["records re-cut at %d bytes (the ring's own size is %d)"
                                    % (entry_size, self.entry_size)]
        return RingDecode(self.guid, entry_size, None, count + (1 if rest else 0), False, self.truncated,
                          data, count + (1 if rest else 0), partial_size=rest or None, source=self.source,
                          length=len(data), warnings=list(self.warnings), notes=notes, state=self.state)

    def in_storage_order(self) -> "RingDecode":
        """A live ring's records in the order its storage holds them (slot 0 first), not oldest first."""
        if not self.slot_order:
            return self
        s = self.entry_size
        pairs = sorted((slot, i) for i, slot in enumerate(self.slot_order[:self.count]))
        data = b"".join(self.data[i * s:(i + 1) * s] for _, i in pairs)
        return RingDecode(self.guid, s, self.capacity, self.present, self.present_known, self.truncated, data,
                          len(pairs), source=self.source, length=len(data), warnings=list(self.warnings),
                          notes=list(self.notes), state=self.state, slot_order=[slot for slot, _ in pairs])

    def summary(self) -> Dict[str, object]:
        """The JSON contract's header fields (issue 4): guid, entry_size, capacity, present,
        present_known, truncated - plus what dmfkd adds."""
        return {"guid": guid_text(self.guid) if self.guid is not None else None,
                "entry_size": self.entry_size, "capacity": self.capacity, "present": self.present,
                "present_known": self.present_known, "truncated": self.truncated,
                "source": self.source, "length": self.length, "records_decoded": self.count,
                "lost": self.lost, "warnings": list(self.warnings), "notes": list(self.notes)}


# --------------------------------------------------------------------------------------------------
# XOR key (spec/dmf.md §2.11, Q-CD-1)
# --------------------------------------------------------------------------------------------------

def _repeat_key(key: bytes, n: int) -> bytes:
    return (key * (n // len(key) + 1))[:n]


def xor_with_key(data, key: bytes) -> bytes:
    """data XOR key[j mod len(key)], as one big-integer XOR instead of a per-byte loop."""
    n = len(data)
    if n == 0:
        return b""
    k = _repeat_key(key, n)
    return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def key_matches(first_record, key: bytes) -> int:
    """How many bytes of a record equal the key byte at their position: in an obfuscated first
    record these are exactly the plaintext zero bytes (the key's "ASCII signature")."""
    x = xor_with_key(first_record, key)
    return x.count(0)


def _nonzero_extent(data, start: int, end: int) -> int:
    """Length of data[start:end] without its trailing zero bytes."""
    return len(bytes(data[start:end]).rstrip(b"\0"))


def _zero_record_indexes(data, size: int, count: int, limit: int = 8) -> List[int]:
    """Indexes of all-zero records among the first `count`: a C-level search for `size` zero bytes,
    kept when it starts on a record boundary (no per-record Python loop). The zero pattern is sized by
    `size`, so it is only built when `count` whole records of that size lie in `data`: a hostile entry
    size never sizes an allocation beyond the bytes at hand."""
    end = count * size
    if size <= 0 or count <= 0 or end > len(data):
        return []
    zero = bytes(size)
    found = []
    pos = 0
    while len(found) < limit:
        hit = data.find(zero, pos, end)
        if hit < 0:
            break
        if hit % size == 0:
            found.append(hit // size)
            pos = hit + size
        else:
            pos = (hit // size + 1) * size
    return found


# --------------------------------------------------------------------------------------------------
# Blob decoding (spec/dmf.md §2.11)
# --------------------------------------------------------------------------------------------------

def decode_crash_blob(blob, guid, entry_size: int, capacity: Optional[int] = None,
                      present: Optional[int] = None) -> RingDecode:
    """Decode a CrashDump ring blob tagged `guid`: un-XOR its first record with the GUID key, split
    it into `entry_size`-byte records (oldest first). `capacity` (N) and `present` (P) come from the
    driver's memory when known; without P the live count is inferred from trailing zero records."""
    if isinstance(guid, str):
        from dmfkd.guids import parse_guid

        guid = parse_guid(guid)
    s = int(entry_size)
    if s <= 0:
        raise DmfkdError("entry size must be > 0 (got %d)" % s)
    raw = memoryview(blob).cast("B") if not isinstance(blob, (bytes, bytearray)) else blob
    length = len(raw)
    key = crashdump_key(guid)
    warnings = []  # type: List[str]
    notes = []  # type: List[str]

    head_len = min(s, length)
    head_raw = bytes(raw[:head_len])
    head = xor_with_key(head_raw, key)
    # one copy of the blob: the decoded first record joined to a view of the rest
    data = b"".join((head, memoryview(raw)[head_len:])) if length > head_len else head

    full, rem = divmod(length, s)
    truncated = False
    if rem:
        truncated = True
        warnings.append("blob length %d is not a multiple of the entry size %d: cut inside record %d "
                        "(cut to the bug check's MaximumAllowed, or a wrong entry size)"
                        % (length, s, full))
    if capacity is not None:
        if length < capacity * s:
            truncated = True
            # spec/dmf.md Q-CD-2
            notes.append("blob holds %d of the ring's %d*%d = %d bytes (cut to the bug check's MaximumAllowed)"
                         % (length, capacity, s, capacity * s))
        elif length > capacity * s:
            warnings.append("blob length %d exceeds the ring size N*S = %d*%d"
                            % (length, capacity, s))

    available = full + (1 if rem else 0)
    nonzero = _nonzero_extent(data, 0, length)
    inferred = -(-nonzero // s)  # records up to the last non-zero byte
    if present is not None:
        p = int(present)
        if capacity is not None and p > capacity:
            warnings.append("ItemsPresentCount %d > ItemsCount %d: a misconfigured ring mode "
                            "corrupted the count" % (p, capacity))
        count = min(p, available)
        if p == 0 and length:
            warnings.append("the ring holds no items but its blob has %d bytes"
                            % length)
        if inferred > p and p <= available:
            warnings.append("non-zero bytes after the ring's %d live records (records %d..%d): the blob "
                            "and ItemsPresentCount disagree" % (p, p, inferred - 1))
        present_value, present_known = p, True
    else:
        count = inferred
        present_value, present_known = inferred, False
        zeros = _zero_record_indexes(data, s, min(inferred, full))
        if zeros:
            warnings.append("all-zero record(s) inside the live records (index %s): genuine zero records, "
                            "so the present count is uncertain"
                            % ", ".join(str(i) for i in zeros))
    partial_size = rem if (rem and count == available) else None
    lost = max(0, present_value - count) if present_known else 0
    if lost:
        warnings.append("%d newest record(s) were cut off the blob (truncated to %d bytes)" % (lost, length))

    if head_len and count:
        raw_hits = key_matches(head_raw, key)
        decoded_hits = key_matches(head, key)
        if decoded_hits >= 4 and decoded_hits > raw_hits:
            # spec/dmf.md Q-CD-1: a second secondary-data call XORs record 0 again
            warnings.append("record 0 shows the XOR key of %s after decoding (%d key bytes) but not before "
                            "(%d): the blob was not obfuscated with this GUID's key, or was XOR-ed twice"
                            % (guid_text(guid), decoded_hits, raw_hits))
    return RingDecode(guid, s, capacity, present_value, present_known, truncated, data, count,
                      partial_size=partial_size, source="blob", length=length, warnings=warnings,
                      notes=notes, lost=lost)


# --------------------------------------------------------------------------------------------------
# Entry-size inference (issue 4 item 2)
# --------------------------------------------------------------------------------------------------

#: a key signature shorter than this is too weak to name an entry size
MIN_KEY_BYTES = 4
INFER_WINDOW = 1 << 20


def infer_entry_size(blob, guid) -> Tuple[int, str]:
    """Infer S from a ring blob alone (issue 4 item 2). The first record is XOR-ed with the GUID key,
    so wherever its plaintext is zero the blob shows the key's ASCII text at the same position
    (K[j mod 32]); the XOR span [0, S) holds no zero byte (that would need a plaintext byte equal to
    the key byte) while zeros follow it (padding of record 1, empty slots); and S divides the blob
    length. When several S fit, record 1 (same structure) must be zero where record 0's plaintext is.
    Returns (S, evidence); raises DmfkdError asking for --entry-size when no S, or more than one, fits."""
    if isinstance(guid, str):
        from dmfkd.guids import parse_guid

        guid = parse_guid(guid)
    raw = bytes(blob[:INFER_WINDOW])
    length = len(blob)
    gtext = guid_text(guid)
    if length == 0:
        raise DmfkdError("blob %s is empty: nothing to infer the entry size from" % gtext)
    key = crashdump_key(guid)
    first_zero = raw.find(b"\0")
    span_limit = first_zero if first_zero >= 0 else len(raw)
    x = xor_with_key(raw[:span_limit], key)
    hits = x.count(0)
    if hits < MIN_KEY_BYTES:
        structure = entry_size_by_structure(raw, guid, length)
        if structure is not None:
            return structure
        raise DmfkdError("blob %s does not show the XOR key signature of its GUID in its first record "
                         "(%d key byte(s)); cannot infer the entry size: give --entry-size" % (gtext, hits))
    last = x.rfind(b"\0")
    candidates = [s for s in range(last + 1, span_limit + 1) if length % s == 0]
    if len(candidates) > 1:
        plain_zeros = [j for j in range(last + 1) if x[j] == 0]
        untestable = [s for s in candidates if 2 * s > min(length, len(raw))]
        agreeing = [s for s in candidates if s not in untestable
                    and all(raw[s + j] == 0 for j in plain_zeros)]
        if len(agreeing) == 1 and not untestable:
            candidates = agreeing
    if len(candidates) == 1:
        s = candidates[0]
        evidence = ("%d byte(s) of record 0 carry the key of %s, the last at offset %d; no zero byte before "
                    "offset %s, so the XOR span ends at %d; %d divides the blob length %d (%d records)"
                    % (hits, gtext, last, first_zero if first_zero >= 0 else length, s, s, length, length // s))
        return s, evidence
    if not candidates:
        raise DmfkdError("blob %s: no entry size fits (key signature ends at offset %d, first zero byte at %d, "
                         "length %d); give --entry-size" % (gtext, last, first_zero, length))
    raise DmfkdError("blob %s: entry size is ambiguous (%s%s fit the key signature ending at offset %d and "
                     "the length %d); give --entry-size"
                     % (gtext, ", ".join(str(c) for c in candidates[:8]), ", ..." if len(candidates) > 8 else "",
                        last, length))


def looks_like_ring_blob(blob, guid) -> bool:
    """Cheap test telling DMF ring blobs from other secondary data: before its first zero byte the blob
    carries at least MIN_KEY_BYTES bytes of its own GUID key, densely (>= 1 in 16; random bytes match
    1 in 256) - or, for records without zero bytes, record 0 un-XOR-ed matches record 1
    (entry_size_by_structure)."""
    head = bytes(blob[:4096])
    first_zero = head.find(b"\0")
    span = head[:first_zero] if first_zero >= 0 else head
    hits = xor_with_key(span, crashdump_key(guid)).count(0) if span else 0
    if hits >= MIN_KEY_BYTES and hits * 16 >= len(span):
        return True
    return entry_size_by_structure(head, guid, len(blob)) is not None


#: record 0 un-XOR-ed must share at least this many bytes with record 1, and 1 in STRUCTURE_DENSITY
STRUCTURE_MIN_BYTES = 6
STRUCTURE_DENSITY = 8
STRUCTURE_MAX_ENTRY = 2048


def entry_size_by_structure(blob, guid, length: Optional[int] = None) -> Optional[Tuple[int, str]]:
    """For records with no zero bytes (no key signature): the records of one source share a structure
    (a text prefix, a constant header, a counter's high bytes), so with the right S, record 0 XOR-ed
    back with the GUID key agrees with record 1 at those offsets - while the raw bytes do not (random
    bytes agree 1 in 256). The S with the densest agreement wins if it is clearly above chance.
    Returns (S, evidence) or None."""
    if isinstance(guid, str):
        from dmfkd.guids import parse_guid

        guid = parse_guid(guid)
    raw = bytes(blob[:2 * STRUCTURE_MAX_ENTRY])
    length = len(blob) if length is None else length
    key = crashdump_key(guid)
    best = None  # (density, matches, s)
    for s in range(4, min(STRUCTURE_MAX_ENTRY, length // 2) + 1):
        if length % s or 2 * s > len(raw):
            continue
        record1 = raw[s:2 * s]
        decoded = xor_with_key(raw[:s], key)
        matches = sum(1 for a, b in zip(decoded, record1) if a == b)
        plain = sum(1 for a, b in zip(raw[:s], record1) if a == b)
        if matches < STRUCTURE_MIN_BYTES or matches * STRUCTURE_DENSITY < s or matches <= plain:
            continue
        candidate = (matches / s, matches, s)
        if best is None or candidate[0] > best[0]:
            best = candidate
    if best is None:
        return None
    density, matches, s = best
    return s, ("record 0 XOR-ed back with the key of %s shares %d of its %d bytes with record 1 (the records' "
               "common structure); %d divides the blob length %d" % (guid_text(guid), matches, s, s, length))


# --------------------------------------------------------------------------------------------------
# Live ring (spec/dmf.md §1.2-§1.5, §4.5, §6 invariants 1-8)
# --------------------------------------------------------------------------------------------------

def check_ring_state(state: RingState, pointer_size: int = 8) -> Tuple[List[str], List[str]]:
    """Invariants 1-5 of spec/dmf.md §6 on a RING_BUFFER; returns (warnings, notes)."""
    w, notes = [], []
    s, n, p = state.item_size, state.items_count, state.items_present_count
    if state.items == 0 or state.memory_ring == 0:
        if (state.items == 0) != (state.memory_ring == 0):
            w.append("MemoryRing 0x%x and Items 0x%x disagree about the ring being closed"
                     % (state.memory_ring, state.items))
        else:
            notes.append("ring closed (MemoryRing and Items NULL, the other fields are stale)")
    if s <= 0 or n <= 0:
        w.append("ItemSize %d / ItemsCount %d: not a usable ring" % (s, n))
        return w, notes
    if state.mode not in (1, 2):
        w.append("Mode %d is not FailIfFull (1) or DeleteOldest (2): the client misconfigured the ring, whose counts are then corrupt"
                 % state.mode)
    if state.total_size != (n * s) & 0xFFFFFFFF:
        w.append("TotalSize %d != N*S = %d*%d" % (state.total_size, n, s))
    mask = (1 << (8 * pointer_size)) - 1
    if state.items and state.buffer_end != (state.items + n * s) & mask:
        w.append("BufferEnd 0x%x != Items + N*S = 0x%x" % (state.buffer_end, (state.items + n * s) & mask))
    r, wi = state.read_index, state.write_index
    if state.items:
        if r is None:
            w.append("ReadPointer 0x%x is not a slot of [Items 0x%x, +N*S)" % (state.read_pointer, state.items))
        if wi is None:
            w.append("WritePointer 0x%x is not a slot of [Items 0x%x, +N*S)" % (state.write_pointer, state.items))
    if p > n:
        w.append("ItemsPresentCount %d > ItemsCount %d: a misconfigured ring mode corrupted the count" % (p, n))
    elif r is not None and wi is not None:
        if (r + p) % n != wi:
            w.append("w %d != r %d + P %d mod N %d" % (wi, r, p, n))
        if (p in (0, n)) != (r == wi):
            w.append("P = %d but ReadPointer %s WritePointer" % (p, "==" if r == wi else "!="))
    return w, notes


def ring_record_order(state: RingState, available_slots: Optional[int] = None) -> Tuple[List[int], List[str]]:
    """Storage slots of the live records, oldest first: r, r+1, ... mod N, P of them (§4.5). Only slots
    below `available_slots` (what the storage read holds) are listed, so a hostile N or P never makes
    the list longer than the bytes behind it."""
    s, n, p = state.item_size, state.items_count, state.items_present_count
    problems = []
    if s <= 0 or n <= 0 or state.items == 0:
        return [], problems
    count = min(p, n)
    avail = n if available_slots is None else max(0, min(n, available_slots))
    r, wi = state.read_index, state.write_index
    if r is None and wi is not None and p <= n:
        r = (wi - p) % n
        problems.append("record order taken from WritePointer - P (ReadPointer unusable)")
    if r is None:
        problems.append("no usable read/write pointer: records shown in storage order, oldest unknown")
        return list(range(min(count, avail))), problems
    # slots r .. N-1 then 0 .. r-1, each run cut at what the storage holds
    order = list(range(r, max(r, min(n, avail)))[:count])
    if len(order) < count and min(n, avail) >= r:
        order.extend(range(0, min(r, avail, count - len(order))))
    elif len(order) < count and r > avail:
        order.extend(range(0, min(avail, count)))
    return order, problems


def decode_live_ring(ring_context_bytes, storage_bytes, arch: str, guid=None,
                     address: Optional[int] = None, state: Optional[RingState] = None) -> RingDecode:
    """Records of a ring as they are in memory: RING_BUFFER context + ONE bulk read of the (N+1)*S
    storage starting at Items (pass None when the storage could not be read). Pre-crash state
    (spec/dmf.md Q-CD-9): oldest record at slot r."""
    from dmfkd.layouts.engine import pointer_size

    if state is None:
        state = RingState.parse(ring_context_bytes, arch, address=address)
    if isinstance(guid, str):
        from dmfkd.guids import parse_guid

        guid = parse_guid(guid)
    warnings, notes = check_ring_state(state, pointer_size(arch))
    s, n, p = state.item_size, state.items_count, state.items_present_count
    capacity = n if n > 0 else None
    if storage_bytes is None:
        if state.items and s > 0 and n > 0:
            warnings.append("ring storage at 0x%x (%d bytes) unreadable" % (state.items, state.storage_size))
        return RingDecode(guid, max(s, 0), capacity, p, True, False, b"", 0, source="memory",
                          warnings=warnings, notes=notes, state=state)
    storage = bytes(storage_bytes)
    order, problems = ring_record_order(state, -(-len(storage) // s) if s > 0 else 0)
    warnings.extend(problems)
    truncated = False
    need = n * s if s > 0 and n > 0 else 0
    if len(storage) < need:
        truncated = True
        warnings.append("ring storage holds %d of %d bytes" % (len(storage), need))
    # slots actually in the storage we have; a record cut by the end becomes partial
    chunks = []
    partial_size = None
    got = []
    for slot in order:
        start = slot * s
        if start >= len(storage):
            continue
        piece = storage[start:start + s]
        if len(piece) < s:
            partial_size = len(piece)
        chunks.append(piece)
        got.append(slot)
        if partial_size is not None:
            break
    # two contiguous runs in the common case; join once
    data = b"".join(chunks)
    count = len(got)
    if guid is not None and count:
        key = crashdump_key(guid)
        first = data[:s]
        if key_matches(first, key) >= MIN_KEY_BYTES and key_matches(xor_with_key(first, key), key) < key_matches(first, key):
            # memory captured after the crash callbacks (not the usual order, spec/dmf.md Q-CD-9, §4.5)
            data = xor_with_key(first, key) + data[s:]
            notes.append("record 0 in memory carries the XOR key: memory was captured after the crash's "
                         "secondary-data callbacks; decoded")
    _swap_and_tail_notes(state, storage, order, notes)
    lost = max(0, min(p, n) - count)
    return RingDecode(guid, s, capacity, p, True, truncated, data, count, partial_size=partial_size,
                      source="memory", length=len(storage), warnings=warnings, notes=notes, state=state,
                      lost=lost, slot_order=got)


def _swap_and_tail_notes(state: RingState, storage: bytes, order: List[int], notes: List[str]) -> None:
    """Invariants 6-8 are facts about the ring's history, not errors: report them as notes."""
    s, n, p = state.item_size, state.items_count, state.items_present_count
    if s <= 0 or n <= 0 or len(storage) < (n + 1) * s:
        return
    swap = storage[n * s:(n + 1) * s]
    if swap.count(0) != s:
        slots = {storage[i * s:(i + 1) * s] for i in range(min(n, 4096))}
        if swap not in slots:
            notes.append("swap slot holds an item no longer in the ring (left by an earlier reorder)")
    r = state.read_index
    if r == 0 and 0 < p < n and _nonzero_extent(storage, p * s, n * s) == 0:
        notes.append("slots after the live records are zero: never wrapped, or already reordered")
    elif r == 0 and 0 < p < n:
        notes.append("stale items after the live records (read or wrapped earlier)")


def cross_check(blob_decode: RingDecode, live: RingDecode) -> List[str]:
    """Invariant 17: blob record k == memory record k of the pre-crash ring (record 0 after de-XOR)."""
    out = []
    if blob_decode.entry_size != live.entry_size:
        out.append("blob entry size %d != ring ItemSize %d" % (blob_decode.entry_size, live.entry_size))
        return out
    s = blob_decode.entry_size
    n = min(blob_decode.count, live.count)
    mismatched = [k for k in range(n) if blob_decode.data[k * s:(k + 1) * s] != live.data[k * s:(k + 1) * s]]
    if mismatched:
        out.append("blob and memory disagree on record(s) %s"
                   % ", ".join(str(k) for k in mismatched[:8]))
    return out
