"""Dumps with known contents for the tests of the pykd stand-in (tests/emulator/pykd): two mapped
pages with known bytes and a known list of secondary-data blobs, written by dmfemu as full, bitmap
and x86 dumps - so their expected answers are the inputs, never the stand-in's own output."""
import uuid

from dmfkd.targets.dumpfile import DumpFile
from dmfemu import pykd
from dmfemu.machine import Machine

VA = 0xFFFFF80012345000          # two mapped pages
UNMAPPED = 0xFFFFF80099990000
PAGE0 = (b"synthetic pfn=0x5 seed=0|" * 200)[:0x1000]
PAGE1 = (b"resynthetic page one|" * 200)[:0x1000]
G1 = uuid.UUID("11111111-2222-3333-4444-555555555555")
G2 = uuid.UUID("5b2c1d0e-7a4f-4c3b-9e21-0a1b2c3d4e5f")
G3 = uuid.UUID("65755a40-f146-43ea-8c91-36b85728fd35")
BLOB1 = bytes(range(192))
BLOB2 = b"B" * 0x200
BLOB1_DUP = b"d" * 44
# (GUID, payload) in bug-check order: a repeat of G1, a zero-size block and the all-zero GUID
BLOBS = [(G1, BLOB1), (G2, BLOB2), (uuid.UUID(int=0), b""), (G1, BLOB1_DUP), (G3, b"")]
BUGCHECK = (0xDEADDEAD, 0x1FFF8A3B2C38, 0, 0, 0)


def make_machine(arch="x64"):
    """A machine with PAGE0 and PAGE1 mapped at VA (x86: at 0x90001000): (machine, va, pa)."""
    machine = Machine(arch)
    pa = machine.phys.allocate_pages(2)
    va = VA if arch == "x64" else 0x90001000
    machine.space.map(va, pa, 0x2000)
    machine.space.write(va, PAGE0)
    machine.space.write(va + 0x1000, PAGE1)
    return machine, va, pa


def write_dumps(folder):
    """{"full", "bitmap", "x86": path, "pa": the pages' physical address} of the known dumps."""
    machine, _, pa = make_machine()
    paths = {}
    for kind in ("full", "bitmap"):
        path = str(folder / ("%s.dmp" % kind))
        machine.write_dump(path, kind, BUGCHECK, blobs=BLOBS)
        paths[kind] = path
    x86, _, _ = make_machine("x86")
    path = str(folder / "x86.dmp")
    x86.write_dump(path, "full", (0xDEADDEAD, 0x8A3B2C38, 0, 0, 0), blobs=BLOBS)
    paths["x86"] = path
    paths["pa"] = pa
    return paths


def attach_dump(path, symbols=None):
    """The stand-in attached to the dump at `path` (as WinDbg after opening it); the DumpFile."""
    target = DumpFile(path)
    pykd.attach(target, symbols)
    return target


def message(excinfo):
    return str(excinfo.value)


def isf_machine():
    """A machine with memory at tests/data/isf/small.isf.json's g_DemoRecord (image base
    0xfffff80000000000 + 0x3040): (machine, record VA, record bytes)."""
    machine = Machine("x64")
    pa = machine.phys.allocate_pages(1)
    base = 0xFFFFF80000003000
    machine.space.map(base, pa, 0x1000)
    record = (0x4C524D44).to_bytes(4, "little") + (1).to_bytes(4, "little") + G2.bytes_le
    record += (base + 0x40).to_bytes(8, "little") + (0).to_bytes(8, "little")
    record += (0b10101 << 0).to_bytes(4, "little") + (-5).to_bytes(4, "little", signed=True)
    machine.space.write(base + 0x40, record)
    return machine, base + 0x40, record


def raised(call, *args):
    """(exact class name, message) of what call(*args) raises."""
    try:
        call(*args)
    except Exception as exc:  # noqa: the point is to see which class
        return type(exc).__name__, str(exc)
    raise AssertionError("%s%r did not raise" % (getattr(call, "__name__", call), args))
