"""Emulated drivers with one DMF module, as the emulator's module tests build them (one builder per
module instead of a copy per test file), the GUIDs and key of spec/dmf.md's worked examples, and
the check that a written dump holds what expected.json says."""
import os
import uuid

from dmfkd.targets.dumpfile import DumpFile
from dmfemu.driver import Driver
from dmfemu.machine import Machine
from dmfemu.modules import crashdump
from dmfemu.modules import livekerneldump

#: spec/dmf.md §2.11's example GUID and the XOR key DMF derives from it (32 ASCII hex digits)
G = uuid.UUID("F4A58486-FD91-4BF9-96BC-DDA5CF571EDF")
KEY = b"F4A58486FD914BF996BCDDA5CF571EDF"
#: two more data-source GUIDs
G2 = uuid.UUID("11111111-2222-3333-4444-555555555555")
G3 = uuid.UUID("99999999-8888-7777-6666-555555555555")


def crashdump_module(arch="x64", version="1.1.154", **config):
    """A DMF_CrashDump module (config: CrashDumpConfig's keywords) of a fresh driver on a fresh machine."""
    driver = Driver(Machine(arch), dmf_version=version)
    return crashdump.CrashDump(driver, crashdump.CrashDumpConfig(**config))


def crashdump_with_data_sources(arch="x64", version="1.1.154", count=2, maximum=4096, **config):
    """A CrashDump hosting `count` user-mode data sources of at most `maximum` bytes and no SELF ring."""
    return crashdump_module(arch, version, data_source_count=count, ring_buffer_maximum_size=maximum, **config)


def source_input(entries, size, guid):
    """The IOCTL_DATA_SOURCE_CREATE / _OPEN input buffer."""
    return crashdump.pack_data_source_create(entries, size, guid)


def ring_storage(module, index=0):
    """The (N+1)*S storage bytes of a CrashDump's data source `index`'s ring, swap slot included."""
    ring = module.state.ring_of(index)
    return module.space.read(ring.items_va, (ring.item_count + 1) * ring.item_size)


#: the SELF blob of spec/dmf.md §2.11's worked example (N=3, S=4, five writes, G's key)
WORKED_EXAMPLE_BLOB = bytes.fromhex("77 06 72 01 41 42 43 44 51 52 53 54")


def worked_example(arch="x64", **extra):
    """spec/dmf.md §2.11's worked example: a SELF ring of 3 items of 4 bytes written five times."""
    module = crashdump_module(arch, ring_buffer_data_guid=G, buffer_size=4, buffer_count=3, **extra)
    for first in (0x11, 0x21, 0x31, 0x41, 0x51):
        assert module.write_self(bytes([first, first + 1, first + 2, first + 3])) == 0
    return module


def live_kernel_dump_module(arch="x64", version="1.1.154", rs3=True, **config):
    """A DMF_LiveKernelDump module (config: LiveKernelDumpConfig's keywords) of a fresh driver."""
    driver = Driver(Machine(arch), dmf_version=version)
    return livekerneldump.LiveKernelDump(driver, livekerneldump.LiveKernelDumpConfig(**config), rs3=rs3)


def check_blobs(out, expected):
    """The dump in `out` holds exactly expected.json's blobs, in order; returns the DumpFile."""
    dump = DumpFile(os.path.join(out, "MEMORY.DMP"))
    blobs = [(str(blob.guid), dump.read_blob(blob).hex()) for blob in dump.tagged()]
    assert blobs == [(blob["guid"], blob["hex"]) for blob in expected["blobs"]]
    return dump
