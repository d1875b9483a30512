"""Property tests: random byte mutations and truncations of the real fixtures and of synthetic dumps
(x64, x86, ARM64) never make DumpFile raise anything but a DmfkdError, and the CLI answers 0 or 2 (one
stderr line); hostile ARM64 translation tables give a read failure, never a hang or a traceback."""
import atexit
import os
import shutil
import struct
import tempfile
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import arm64_dumps
from helpers.page_walks import hand_walk_arm64
from helpers.paths import TRIAGE_ARM64, TRIAGE_X64
from dmfemu.dumpwriter import write_dump
from dmfkd.cli import main
from dmfkd.errors import DmfkdError, MemoryReadError
from dmfkd.targets.dumpfile import DumpFile

P = 0x1000
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_WORKDIR = tempfile.mkdtemp(prefix="dmfkd-fuzz-")
atexit.register(shutil.rmtree, _WORKDIR, True)      # also when the module is only collected


def _synthetic():
    pages = {}

    def entry(pfn, index, value):
        table = pages.setdefault(pfn, bytearray(P))
        struct.pack_into("<Q", table, index * 8, value)

    va = 0xFFFFF80012345000
    entry(1, (va >> 39) & 0x1FF, 2 * P | 3)
    entry(2, (va >> 30) & 0x1FF, 3 * P | 3)
    entry(3, (va >> 21) & 0x1FF, 4 * P | 3)
    entry(4, (va >> 12) & 0x1FF, 7 * P | 3)
    pages[7] = bytearray(b"synthetic page ".ljust(P, b"."))
    pages = {k: bytes(v) for k, v in pages.items()}
    blobs = [(uuid.UUID(int=5), b"hello"), (uuid.UUID(int=0), b""), (uuid.UUID(int=5), b"dup" * 30)]
    out = {}
    for kind in ("full", "bitmap", "triage"):
        path = os.path.join(_WORKDIR, "src-%s.dmp" % kind)
        write_dump(path, arch="x64", dump_type=kind, pages=pages, dtb=P, blobs=blobs,
                   context=dict(Rip=va, Rsp=va + 0x100), triage_blocks=[(va + 0x10000, b"block")])
        out[kind] = path
    path = os.path.join(_WORKDIR, "src-x86.dmp")
    write_dump(path, arch="x86", dump_type="full", pages=pages, dtb=P, blobs=blobs)
    out["x86"] = path
    for kind in ("full", "bitmap"):
        path = os.path.join(_WORKDIR, "src-arm64-%s.dmp" % kind)
        arm64_dumps.write_arm64_dump(path, kind, arm64_dumps.arm64_pages(), blobs=blobs)
        out["arm64-" + kind] = path
    # and as dmfemu's own writer writes ARM64 dumps (its triage kind too)
    for kind in ("full", "bitmap", "triage"):
        path = os.path.join(_WORKDIR, "src-emulator-arm64-%s.dmp" % kind)
        write_dump(path, arch="arm64", dump_type=kind, pages=arm64_dumps.arm64_pages(), dtb=arm64_dumps.ROOT_PFN * P,
                   blobs=blobs, context=arm64_dumps.CONTEXT, triage_blocks=[(arm64_dumps.VA_4K + 0x10000, b"block")])
        out["emulator-arm64-" + kind] = path
    return out


SOURCES = dict(_synthetic(), x64=TRIAGE_X64, arm64=TRIAGE_ARM64)
_CONTENT = {name: open(path, "rb").read() for name, path in SOURCES.items()}
VAS = (0xFFFFF80012345000, 0xFFFFF80012345FF8, 0xFFFFF80012355000, arm64_dumps.VA_4K + 0xFF8, arm64_dumps.VA_2M,
       arm64_dumps.VA_1G + 0x5000, arm64_dumps.VA_TRANSITION, arm64_dumps.VA_USER)


def _hot_offsets(data: bytes):
    """Ranges where a mutation reaches a parser decision: header, sub-header, bitmap, region."""
    hot = [(8, 0x100), (0xF00, 0x1060), (0x2000, 0x2080), (0x80, 0x100)]
    region = data.find(b"DumpBlob", 0x2000)
    if region > 0:
        hot.append((region, min(len(data), region + 0x400)))
        hot.append((max(region - 8, 0), region + 8))
    hot.append((max(len(data) - 0x40, 0), len(data)))
    return [(a, b) for a, b in hot if a < min(b, len(data))]


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(SOURCES)))
    data = bytearray(_CONTENT[name])
    hot = _hot_offsets(bytes(data))
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            start, end = draw(st.sampled_from(hot))
            offset = draw(st.integers(start, end - 1))
        else:
            offset = draw(st.integers(0, len(data) - 1))
        width = draw(st.sampled_from([1, 4, 8]))
        value = draw(st.sampled_from([0, 0xFF, 0x7F, 0x20, 0x10])) if width == 1 else None
        if value is not None:
            data[offset] = value
        else:
            raw = draw(st.sampled_from([b"\x00" * width, b"\xff" * width, b"PAGE" * (width // 4),
                                        struct.pack("<Q", draw(st.integers(0, 1 << 64 - 1)))[:width]]))
            data[offset:offset + width] = raw
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))):]
    return name, bytes(data)


def _write(data: bytes) -> str:
    fd, path = tempfile.mkstemp(dir=_WORKDIR, suffix=".dmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def exercise(path: str) -> None:
    try:
        dump = DumpFile(path)
    except DmfkdError:
        return
    with dump:
        for step in (dump.tagged, dump.bugcheck):
            try:
                step()
            except DmfkdError:
                pass
        try:
            blobs = dump.tagged()
        except DmfkdError:
            blobs = []
        for blob in blobs[:50]:
            try:
                dump.read_blob(blob)
                dump.read_tagged(blob.guid)
            except DmfkdError:
                pass
        for va in VAS + (dump.kdbg_va, dump.header.Exception.ExceptionAddress):
            try:
                dump.read(va, 64)
            except DmfkdError:
                pass
        for pa in (0, P, 7 * P + 0xFF0, 1 << 40):
            try:
                dump.read_physical(pa, 32)
            except DmfkdError:
                pass


@SETTINGS
@given(mutated())
def test_mutations_raise_only_dmfkd_errors(case):
    _, data = case
    path = _write(data)
    try:
        exercise(path)
    finally:
        os.unlink(path)


@SETTINGS
@given(st.sampled_from(sorted(SOURCES)), st.integers(0, 1 << 21))
def test_truncations_raise_only_dmfkd_errors(name, cut):
    data = _CONTENT[name]
    path = _write(data[:cut % (len(data) + 1)])
    try:
        exercise(path)
    finally:
        os.unlink(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated(), st.sampled_from(["tags", "info"]), st.sampled_from(["table", "json"]))
def test_cli_exit_0_or_2_with_one_line(case, cmd, fmt):
    _, data = case
    path = _write(data)
    import io
    import sys

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = main([cmd, path, "--format", fmt])
    finally:
        sys.stdout, sys.stderr = saved
        os.unlink(path)
    assert code in (0, 2)
    if code == 2:
        assert err.getvalue().startswith("dmfkd: ") and err.getvalue().count("\n") == 1
    else:
        assert err.getvalue() == ""


# -- hostile ARM64 translation tables ---------------------------------------------------------------
ROOT = arm64_dumps.ROOT_PFN
TABLE_PFNS = (2, 3, 4)                    # L1, L2, L3 of the walk below; data pages follow
DATA_PFNS = (8, 9)
HOSTILE_VA = 0xFFFF000000000000 | (0x1A5 << 39) | (0x37 << 30) | (0x1C2 << 21) | (0x0F0 << 12)


@st.composite
def hostile_descriptor(draw):
    """A descriptor a broken or malicious dump might hold at any level."""
    low = draw(st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x401, 0x403, 0x800, 0xC00, 0x802]))
    target = draw(st.one_of(
        st.sampled_from([ROOT, *TABLE_PFNS, *DATA_PFNS]),      # itself, an ancestor, a sibling, data
        st.integers(0, (1 << 36) - 1),                         # a wild output address (bits 47:12)
        st.just((1 << 36) - 1)))                               # the top of the 48-bit space
    high = draw(st.sampled_from([0, 0xF << 48, 1 << 52, 0xFF << 55, (1 << 64) - (1 << 48)]))
    return (target << 12) | low | high


class _Physical:
    """phys.read(pa, n) over {pfn: page} for the hand walk; a page not in the dump raises."""

    def __init__(self, pages):
        self.pages = pages

    def read(self, pa, size):
        return self.pages[pa >> 12][pa & 0xFFF:(pa & 0xFFF) + size]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3), st.one_of(st.none(), st.integers(0, 511)), hostile_descriptor()),
                min_size=1, max_size=12),
       st.sampled_from(["full", "bitmap"]))
def test_hostile_arm64_descriptors_fail_reads_cleanly(entries, kind):
    """Loops (a table pointing at itself or an ancestor), wild output addresses, blocks at every level
    and reserved descriptor types, on the path of the address read (index None) or anywhere: a read
    either returns the bytes of the page an independent hand walk ends in, or raises MemoryReadError;
    each translation reads at most four descriptors."""
    tables = arm64_dumps.Tables()
    chain = (ROOT,) + TABLE_PFNS
    for level, pfn in enumerate(chain[:-1]):     # a sane walk for HOSTILE_VA, then the hostile entries
        tables.entry(pfn, (HOSTILE_VA >> (39 - 9 * level)) & 0x1FF, chain[level + 1] << 12 | 0x403)
    tables.entry(TABLE_PFNS[-1], (HOSTILE_VA >> 12) & 0x1FF, DATA_PFNS[0] << 12 | 0x403)
    for level, index, value in entries:
        tables.entry(chain[level], (HOSTILE_VA >> (39 - 9 * level)) & 0x1FF if index is None else index, value)
    pages = {pfn: bytes(tables.get(pfn, b"data %d " % pfn * 400)[:P].ljust(P, b"-")) for pfn in chain + DATA_PFNS}
    path = _write(b"")
    try:
        arm64_dumps.write_arm64_dump(path, kind, pages)
        with DumpFile(path) as dump:
            walk_reads = []
            read_entry = dump._phys_u64

            def counting(pa):
                walk_reads.append(pa)
                return read_entry(pa)

            dump._phys_u64 = counting
            for va in (HOSTILE_VA, HOSTILE_VA + 0xFF8, HOSTILE_VA ^ (1 << 30), 0xFFFFF6FB7DBED000,
                       arm64_dumps.VA_USER):
                walk_reads.clear()
                try:
                    dump.read(va, 0x20)
                except MemoryReadError:
                    pass
                assert len(walk_reads) <= 4 * 2          # at most two pages, four levels each
                try:
                    expected_pa, _ = hand_walk_arm64(_Physical(pages), ROOT * P, va)
                except (AssertionError, KeyError):
                    continue                             # invalid for the hand walk (it has no transition PTEs)
                if expected_pa >> 12 in pages:
                    assert dump.read(va, 8) == pages[expected_pa >> 12][expected_pa & 0xFFF:(expected_pa & 0xFFF) + 8]
    finally:
        os.unlink(path)
