"""Synthetic dumps for the oracle: a dmfemu Machine with a driver image, pool blocks of known bytes
and secondary-data blobs covering the cases of spec/dbgeng-oracle.md (repeated GUID, zero-size
block, odd sizes), written as each dump kind dmfemu supports."""
import hashlib
import os
import uuid
from typing import Dict, List, NamedTuple, Tuple

from dmfemu.machine import Machine

# (arch, dump_type, large_pages)
KINDS = [
    ("x64", "full", False),
    ("x64", "bitmap", False),
    ("x64", "bitmap-kernel", False),
    ("x64", "bitmap", True),
    ("x86", "full", False),
    ("x86", "bitmap", False),
    ("x86", "bitmap-kernel", False),
    ("arm64", "full", False),
    ("arm64", "bitmap", False),
    ("arm64", "bitmap-kernel", False),
    ("arm64", "bitmap", True),          # 2 MiB blocks at L2
]

BUGCHECK = (0xDEADDEAD, 0x1FFF8A3B2C38, 0x2, 0xFFFFF80012345678, 0x4)
BUGCHECK_X86 = (0xDEADDEAD, 0x8A3B2C38, 0x2, 0x82345678, 0x4)
GUID_A = uuid.UUID("5b2c1d0e-7a4f-4c3b-9e21-0a1b2c3d4e5f")
GUID_B = uuid.UUID("11111111-2222-3333-4444-555555555555")
GUID_C = uuid.UUID("d03dc06f-d88e-44c5-ba2a-fae035172d19")
DRIVER = "dmfdemo"


def pattern(label: str, size: int) -> bytes:
    """Deterministic bytes that differ per label and per offset (no two pages alike)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(("%s/%d" % (label, counter)).encode()).digest()
        counter += 1
    return bytes(out[:size])


def blobs() -> List[Tuple[uuid.UUID, bytes]]:
    return [
        (GUID_A, pattern("blob-a", 192)),
        (GUID_B, pattern("blob-b", 0x1003)),       # odd size: PostPad 5
        (GUID_A, pattern("blob-a2", 44)),          # repeated GUID: ReadTagged sees the first
        (GUID_C, b""),                             # zero-size block, listed in place
        (uuid.UUID(int=0), pattern("blob-zero", 17)),
    ]


class Synthetic(NamedTuple):
    path: str
    arch: str
    dump_type: str
    machine: Machine
    reads: List[Tuple[int, int]]        # VAs that must read the same through dbgeng and dmfkd
    unmapped: List[int]                 # VAs that must fail in both
    driver_base: int
    driver_size: int


def dump_name(arch: str, dump_type: str, large_pages: bool = False) -> str:
    return "%s-%s%s.dmp" % (arch, dump_type, "-large" if large_pages else "")


def build(directory: str, arch: str, dump_type: str, large_pages: bool = False) -> Synthetic:
    machine = Machine(arch=arch, large_pages=large_pages)
    driver_size = 0x6000
    base = machine.add_image(DRIVER, driver_size)
    machine.space.write(base, pattern("image", driver_size))
    small = machine.pool.allocate(0x180, tag=b"Dmf4")
    machine.space.write(small, pattern("small", 0x180))
    big = machine.pool.allocate(0x2100, tag=b"Dmf4")
    machine.space.write(big, pattern("big", 0x2100))
    machine.add_symbol(DRIVER, "g_DmfModuleCrashDump", base + 0x1000)
    reads = [
        (base, 0x40),
        (base + 0xFF8, 0x10),                    # crosses a page boundary inside the image
        (small - machine.pool.header_size, 0x40),  # POOL_HEADER with the tag, then data
        (big + 0xFF0, 0x1020),                   # two page boundaries
        (big + 0x20F0, 0x10),
    ]
    unmapped = [base + driver_size + 0x10, base - 0x1000]
    path = os.path.join(directory, dump_name(arch, dump_type, large_pages))
    machine.write_dump(path, dump_type, BUGCHECK_X86 if arch == "x86" else BUGCHECK, blobs=blobs())
    return Synthetic(path, arch, dump_type, machine, reads, unmapped, base, driver_size)


def build_all(directory: str) -> Dict[str, Synthetic]:
    out = {}
    for arch, dump_type, large in KINDS:
        synthetic = build(directory, arch, dump_type, large)
        out[os.path.basename(synthetic.path)] = synthetic
    return out
