"""DMF_CrashDump's data sources and their slots (dmfemu.modules.crashdump.data_sources, slots): the
XOR key, what closing a handle leaves (§2.8 orphans) and quirks Q-CD-4, Q-CD-5, Q-CD-8."""
import pytest

from dmfkd.layouts.dmf_structures import (IOCTL_DATA_SOURCE_CREATE, IOCTL_DATA_SOURCE_DESTROY, IOCTL_DATA_SOURCE_OPEN,
                                          IOCTL_DATA_SOURCE_READ, IOCTL_DATA_SOURCE_WRITE)
from dmfkd.layouts.engine import ZERO_GUID
from dmfemu import bugcheck

from helpers.emulated_drivers import (G, G2, G3, KEY, crashdump_module, crashdump_with_data_sources, source_input,
                                      ring_storage)
from helpers.ntstatus import SUCCESS, BUFFER_OVERFLOW, NO_MORE_FILES, UNSUCCESSFUL, INVALID_HANDLE


def test_key_is_upper_case_hex_of_numeric_fields_with_nul_and_zero_pad():
    cd = crashdump_module(ring_buffer_data_guid=G, buffer_size=4, buffer_count=3)
    raw = cd.space.read(cd.state.data_source_va(0), cd.state.data_source_layout.size)
    off = cd.state.data_source_layout.offsets["RingBufferEncryptionKey"]
    assert raw[off:off + 36] == KEY + b"\0" + b"\0\0\0"
    assert cd.state.data_source(0)["RingBufferEncryptionKeySize"] == 32
    assert raw[cd.state.data_source_layout.offsets["RingBufferGuid"]:][:16] == G.bytes_le


def test_file_close_orphans_writer_and_clears_reader():
    cd = crashdump_with_data_sources(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(3, 4, G), 0, writer)
    cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G), 24, reader)
    cd.file_close(reader)
    assert cd.state.data_source(1)["FileObject"] == (0, writer, 0)
    cd.file_close(writer)
    orphan = (1 << 64) - 1
    assert cd.state.data_source(1)["FileObject"] == (0, orphan, 0)
    assert cd.state.ring_of(1) is not None and cd.state.record_va(1) in cd.kernel.registered()


def test_file_close_x86_orphan_is_all_ones_32():
    cd = crashdump_with_data_sources("x86", count=1)
    writer = cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(3, 4, G), 0, writer)
    cd.file_close(writer)
    assert cd.state.data_source(1)["FileObject"] == (0, 0xFFFFFFFF, 0)


def test_file_close_after_surprise_removal_changes_nothing():
    cd = crashdump_with_data_sources(count=1)
    writer = cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(3, 4, G), 0, writer)
    cd.surprise_removal()
    assert cd.space.read_u8(cd.state.context_field_va("SurpriseRemoved")) == 1
    cd.file_close(writer)
    assert cd.state.data_source(1)["FileObject"] == (0, writer, 0)


def test_orphan_slots_limit_distinct_guids():
    cd = crashdump_with_data_sources(count=2)
    for guid in (G, G2):
        fo = cd.file_create()
        assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, guid), 0, fo)[0] == SUCCESS
        cd.file_close(fo)
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G3), 0, cd.file_create())[0] == NO_MORE_FILES


def test_q_cd_4_create_reuses_orphaned_ring_ignoring_sizes():
    cd = crashdump_with_data_sources(count=2)
    first = cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(3, 4, G), 0, first)
    cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"keep", 0, first)
    ring = cd.state.ring_of(1)
    cd.file_close(first)
    second = cd.file_create()
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(10, 16, G), 0, second)[:2] == (SUCCESS, 24)
    ds = cd.state.data_source(1)
    assert ds["FileObject"] == (0, second, 0) and cd.state.ring_of(1) is ring
    assert (ds["RingBufferSize"], ds["RingBufferSizeOfEachEntry"]) == (12, 4)
    assert ring_storage(cd, 1)[:4] == b"keep" and cd.state.data_source(2)["DmfModuleDataSourceRingBuffer"] == 0
    # a 16-byte write now overflows the reused 4-byte entries
    assert cd.ioctl(IOCTL_DATA_SOURCE_WRITE, bytes(16), 0, second)[0] == BUFFER_OVERFLOW


def test_q_cd_4_zero_guid_create_accepted_but_never_opened():
    cd = crashdump_with_data_sources(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, ZERO_GUID), 0, writer)[0] == SUCCESS
    assert cd.state.data_source(1)["RingBufferEncryptionKey"] == b"0" * 32 + b"\0"
    assert cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, ZERO_GUID), 24, reader)[0] == UNSUCCESSFUL


def test_q_cd_4_writer_handle_cannot_create_twice():
    cd = crashdump_with_data_sources(count=2)
    fo = cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G), 0, fo)
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G2), 0, fo) == (NO_MORE_FILES, 0, b"")
    assert cd.state.data_source(2)["FileObject"] == (0, 0, 0)


def test_q_cd_5_open_replaces_reader():
    cd = crashdump_with_data_sources(count=1)
    writer, reader1, reader2 = cd.file_create(), cd.file_create(), cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G), 0, writer)
    cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G), 24, reader1)
    cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G), 24, reader2)
    assert cd.state.data_source(1)["FileObject"] == (0, writer, reader2)
    assert cd.ioctl(IOCTL_DATA_SOURCE_READ, b"", 4, reader1)[0] == INVALID_HANDLE


def test_q_cd_5_reader_destroy_kills_writer_source_and_leaks_slot():
    cd = crashdump_with_data_sources(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G), 0, writer)
    cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G), 24, reader)
    assert cd.ioctl(IOCTL_DATA_SOURCE_DESTROY, b"", 0, reader) == (SUCCESS, 0, b"")
    ds = cd.state.data_source(1)
    assert ds["FileObject"] == (0, writer, 0) and ds["DmfModuleDataSourceRingBuffer"] == 0
    assert ds["RingBufferGuid"] == ZERO_GUID
    # the writer still maps to the slot: its next write hands DMF_RingBuffer a NULL module
    with pytest.raises(bugcheck.KernelFault):
        cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, writer)
    # and the slot can never be allocated again (writer FO still set)
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G2), 0, cd.file_create())[0] == NO_MORE_FILES


def test_q_cd_5_stale_reader_reads_a_new_source_in_the_same_slot():
    cd = crashdump_with_data_sources(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G), 0, writer)
    cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G), 24, reader)
    assert cd.ioctl(IOCTL_DATA_SOURCE_DESTROY, b"", 0, writer)[0] == SUCCESS
    assert cd.state.data_source(1)["FileObject"] == (0, 0, reader)
    with pytest.raises(bugcheck.KernelFault):
        cd.ioctl(IOCTL_DATA_SOURCE_READ, b"", 4, reader)
    newcomer = cd.file_create()
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G2), 0, newcomer)[0] == SUCCESS
    cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"NEW!", 0, newcomer)
    assert cd.ioctl(IOCTL_DATA_SOURCE_READ, b"", 4, reader) == (SUCCESS, 4, b"NEW!")


def test_q_cd_8_destroy_leaves_key_sizes_and_ring_data_stale():
    cd = crashdump_with_data_sources(count=1)
    writer = cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G), 0, writer)
    cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, writer)
    cd.kernel.bugcheck(0xDEADDEAD, cd.handle)    # sets RingBufferData
    items = cd.state.data_source(1)["RingBufferData"]
    assert items != 0
    cd.ioctl(IOCTL_DATA_SOURCE_DESTROY, b"", 0, writer)
    ds = cd.state.data_source(1)
    assert ds["RingBufferGuid"] == ZERO_GUID and ds["DmfModuleDataSourceRingBuffer"] == 0
    assert ds["RingBufferEncryptionKey"] == KEY + b"\0" and ds["RingBufferEncryptionKeySize"] == 32
    assert (ds["RingBufferSize"], ds["RingBufferSizeOfEachEntry"], ds["RingBufferData"]) == (8, 4, items)
