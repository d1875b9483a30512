"""A CREATE that fails after taking a slot (spec/dmf.md Q-CD-12): DMF's clean-up frees the first slot
that names the caller in any role, so a caller that already reads an earlier data source loses that
reader role, and the slot the CREATE took keeps the caller as its writer with no ring.

Both minimal reproductions of issue 15 (found by driving DMF's own Dmf_CrashDump.c and
Dmf_RingBuffer.c, compiled unmodified, with random IOCTL sequences), step by step: the status and
Information of each IOCTL, every slot after each step, and the blobs of the dump the crash writes.
"""
import pytest

from dmfkd.layouts.dmf_structures import (IOCTL_DATA_SOURCE_CREATE, IOCTL_DATA_SOURCE_DESTROY, IOCTL_DATA_SOURCE_OPEN,
                                          IOCTL_DATA_SOURCE_READ, IOCTL_DATA_SOURCE_WRITE)
from dmfkd.targets.dumpfile import DumpFile

from helpers.emulated_drivers import G, G2, KEY, crashdump_with_data_sources, source_input
from helpers.ntstatus import (BUFFER_OVERFLOW, INVALID_HANDLE, INVALID_PARAMETER, NO_MORE_FILES, SUCCESS)

ORPHAN = {"x64": (1 << 64) - 1, "x86": (1 << 32) - 1, "arm64": (1 << 64) - 1}


def slot(cd, index):
    """(writer FO, reader FO, has a ring, GUID) of DATA_SOURCE[index] as memory holds it."""
    ds = cd.state.data_source(index)
    return ds["FileObject"][1], ds["FileObject"][2], ds["DmfModuleDataSourceRingBuffer"] != 0, ds["RingBufferGuid"]


@pytest.mark.parametrize("arch", ["x64", "x86", "arm64"])
def test_failed_create_clears_the_callers_reader_role_and_half_creates_its_slot(tmp_path, arch):
    cd = crashdump_with_data_sources(arch, count=2, maximum=64)
    zero = type(G)(int=0)
    h0, h1 = cd.file_create(), cd.file_create()

    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(1, 4, G), 0, h1) == (SUCCESS, 24, b"")
    assert slot(cd, 1) == (h1, 0, True, G) and slot(cd, 2) == (0, 0, False, zero)

    assert cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G), 24, h0) == (SUCCESS, 24, source_input(1, 4, G))
    assert slot(cd, 1) == (h1, h0, True, G)

    # S = 0: the CREATE fails after taking slot 2; the clean-up frees h0's first slot - its reader
    # role in slot 1 - and slot 2 keeps h0 as writer, with no ring
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(3, 0, G2), 0, h0) == (INVALID_PARAMETER, 0, b"")
    assert slot(cd, 1) == (h1, 0, True, G)
    assert slot(cd, 2) == (h0, 0, False, zero)
    assert cd.state.record_va(2) not in cd.kernel.registered()

    # h0 now writes to slot 2, whose entry size is 0: too long, not "no such writer"
    assert cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, h0) == (BUFFER_OVERFLOW, 4, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"wxyz", 0, h1) == (SUCCESS, 4, b"")
    # h0 no longer reads slot 1: the record stays in the ring
    assert cd.ioctl(IOCTL_DATA_SOURCE_READ, b"", 4, h0) == (INVALID_HANDLE, 4, b"")
    assert cd.state.ring_of(1).items_present == 1

    cd.file_close(h0)
    assert slot(cd, 2) == (ORPHAN[arch], 0, False, zero)    # an orphan with no ring
    assert slot(cd, 1) == (h1, 0, True, G)

    path = str(tmp_path / "MEMORY.DMP")
    result = cd.kernel.bugcheck(0xE2, dump_type="full", path=path)
    assert result.faults == []
    # spec/dmf.md §2.11: one record, XOR-ed with the key (N*S = 4, nothing to pad)
    blob = bytes(b ^ k for b, k in zip(b"wxyz", KEY))
    dump = DumpFile(path)
    assert [(tagged.guid, dump.read_blob(tagged)) for tagged in dump.tagged()] == [(G, blob)]


def test_a_slot_held_by_a_failed_create_leaves_no_slot_for_the_next_create():
    """The DataSourceCount 1 variant: the writer's DESTROY empties the only slot but leaves the
    reader's file object in it (Q-CD-5); that reader's CREATE is too large, takes the slot and fails;
    the clean-up clears the caller's reader role in that same slot and leaves it the writer, so the
    next CREATE finds no free slot."""
    cd = crashdump_with_data_sources(count=1, maximum=64)
    zero = type(G)(int=0)
    h0, h1 = cd.file_create(), cd.file_create()
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G), 0, h1) == (SUCCESS, 24, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G), 24, h0)[:2] == (SUCCESS, 24)
    assert slot(cd, 1) == (h1, h0, True, G)
    assert cd.ioctl(IOCTL_DATA_SOURCE_DESTROY, b"", 0, h1) == (SUCCESS, 0, b"")
    assert slot(cd, 1) == (0, h0, False, zero)
    # 100 * 4 > RingBufferMaximumSize 64
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(100, 4, G2), 0, h0) == (INVALID_PARAMETER, 0, b"")
    assert slot(cd, 1) == (h0, 0, False, zero)
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G2), 0, h1) == (NO_MORE_FILES, 0, b"")
    assert slot(cd, 1) == (h0, 0, False, zero)
    # the holder can give the slot back with a DESTROY (nothing to destroy but the slot itself)
    assert cd.ioctl(IOCTL_DATA_SOURCE_DESTROY, b"", 0, h0) == (SUCCESS, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G2), 0, h1) == (SUCCESS, 24, b"")
    assert slot(cd, 1) == (h1, 0, True, G2)


def test_a_failed_create_by_a_caller_with_no_other_role_frees_its_own_slot():
    """The common case is unchanged: the first slot naming the caller is the one just taken."""
    cd = crashdump_with_data_sources(count=2, maximum=64)
    h0 = cd.file_create()
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(0, 4, G), 0, h0) == (INVALID_PARAMETER, 0, b"")
    assert slot(cd, 1)[:3] == (0, 0, False) and slot(cd, 2)[:3] == (0, 0, False)
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G), 0, h0) == (SUCCESS, 24, b"")
    assert slot(cd, 1) == (h0, 0, True, G)
