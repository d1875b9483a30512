"""Property tests: random byte mutations and truncations of the real fixtures and of synthetic dumps
never make DumpFile raise anything but a DmfkdError, and the CLI answers 0 or 2 (one stderr line)."""
import atexit
import os
import shutil
import struct
import tempfile
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.paths import TRIAGE_ARM64, TRIAGE_X64
from dmfemu.dumpwriter import write_dump
from dmfkd.cli import main
from dmfkd.errors import DmfkdError
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
    return out


SOURCES = dict(_synthetic(), x64=TRIAGE_X64, arm64=TRIAGE_ARM64)
_CONTENT = {name: open(path, "rb").read() for name, path in SOURCES.items()}
VAS = (0xFFFFF80012345000, 0xFFFFF80012345FF8, 0xFFFFF80012355000)


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
