"""DMF_CrashDump's IOCTLs (dmfemu.modules.crashdump.ioctls): one test per row of spec/dmf.md §2.7's
table, unknown codes, the administrator-only interface and Q-CD-6's Information values - asserting
NTSTATUS, Information and the bytes copied back."""
import pytest

from dmfkd.layouts.dmf_structures import (IOCTL_CRASH_DRIVER, IOCTL_DATA_SOURCE_CAPTURE, IOCTL_DATA_SOURCE_CREATE,
                                          IOCTL_DATA_SOURCE_DESTROY, IOCTL_DATA_SOURCE_OPEN, IOCTL_DATA_SOURCE_READ,
                                          IOCTL_DATA_SOURCE_WRITE)
from dmfkd.layouts.engine import ZERO_GUID
from dmfemu import bugcheck
from dmfemu.driver import Driver
from dmfemu.machine import Machine
from dmfemu.modules import crashdump

from helpers.emulated_drivers import (G, G2, G3, KEY, crashdump_module, crashdump_with_data_sources, source_input,
                                      ring_storage)
from helpers.ntstatus import (SUCCESS, BUFFER_OVERFLOW, NO_MORE_FILES, UNSUCCESSFUL, INVALID_HANDLE,
                              INVALID_PARAMETER, ACCESS_DENIED, BUFFER_TOO_SMALL, NOT_SUPPORTED, INVALID_ADDRESS)


def test_ioctl_codes():
    assert (IOCTL_DATA_SOURCE_CREATE, IOCTL_DATA_SOURCE_DESTROY, IOCTL_DATA_SOURCE_WRITE,
            IOCTL_CRASH_DRIVER, IOCTL_DATA_SOURCE_READ, IOCTL_DATA_SOURCE_OPEN,
            IOCTL_DATA_SOURCE_CAPTURE) == (0x0022A000, 0x0022A004, 0x0022A008, 0x0022A00C,
                                           0x00226010, 0x00226014, 0x00226018)
    assert crashdump.pack_data_source_create(3, 4, G) == b"\x03\0\0\0\x04\0\0\0" + G.bytes_le


def test_ioctl_create():
    cd = crashdump_with_data_sources(count=2, maximum=64)
    fo = cd.file_create()
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(4, 8, G)[:23], 0, fo) == (BUFFER_TOO_SMALL, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(4, 8, G), 0, 0) == (INVALID_ADDRESS, 0, b"")
    # N*S > RingBufferMaximumSize: INVALID_PARAMETER and the slot is released
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(9, 8, G), 0, fo) == (INVALID_PARAMETER, 0, b"")
    assert cd.state.data_source(1)["FileObject"] == (0, 0, 0)
    # a longer input buffer is accepted; Information = the whole input size
    status, info, out = cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(4, 8, G) + b"\xee" * 8, 0, fo)
    assert (status, info, out) == (SUCCESS, 32, b"")
    ds = cd.state.data_source(1)
    ring = cd.state.ring_of(1)
    assert ds["FileObject"] == (0, fo, 0)
    assert ds["RingBufferGuid"] == G and ds["RingBufferEncryptionKey"] == KEY + b"\0"
    assert (ds["RingBufferSize"], ds["RingBufferSizeOfEachEntry"]) == (32, 8)
    assert ds["DmfModuleDataSourceRingBuffer"] == ring.handle
    assert (ring.item_count, ring.item_size, ring.mode) == (4, 8, 2)
    rb = cd.driver.dmf.module_from_handle(ring.handle)
    assert rb.instance_name == "DataSourceRingBuffer" and rb.field("ParentDevice") == cd.driver.device
    # a dynamic module parented to the WDFDEVICE: in no module list (spec/dmf.md §4.4)
    assert rb.field("DynamicModuleImmediate") == 1 and rb.parent is None and rb.field("DmfObjectParent") == 0
    assert rb.module_name == "RingBuffer" and cd.pool_tag(ring.items_va) == b"RBMo"
    record = cd.kernel.record_fields(cd.state.record_va(1))
    assert (record["State"], record["Reason"]) == (1, 2)
    assert record["CallbackRoutine"] == cd.driver.machine.symbol(
        "dmfdemo!CrashDump_BugCheckSecondaryDumpDataCallbackRingBuffer")
    assert record["Component"] == cd.state.config_value("ComponentName")
    # slots are exhausted: NO_MORE_FILES
    other, third = cd.file_create(), cd.file_create()
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 8, G2), 0, other)[:2] == (SUCCESS, 24)
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 8, G3), 0, third) == (NO_MORE_FILES, 0, b"")


def test_ioctl_open():
    cd = crashdump_with_data_sources(count=2)
    writer, reader = cd.file_create(), cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(5, 12, G), 0, writer)
    request = source_input(0, 0, G)
    assert cd.ioctl(IOCTL_DATA_SOURCE_OPEN, request[:20], 24, reader) == (BUFFER_TOO_SMALL, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_OPEN, request, 23, reader) == (BUFFER_TOO_SMALL, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_OPEN, request, 24, 0) == (INVALID_ADDRESS, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, ZERO_GUID), 24, reader) == (UNSUCCESSFUL, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G2), 24, reader) == (UNSUCCESSFUL, 0, b"")
    status, info, out = cd.ioctl(IOCTL_DATA_SOURCE_OPEN, request, 40, reader)
    assert (status, info) == (SUCCESS, 24)
    assert out == b"\x05\0\0\0\x0c\0\0\0" + G.bytes_le
    assert cd.state.data_source(1)["FileObject"] == (0, writer, reader)


def test_ioctl_write():
    cd = crashdump_with_data_sources(count=1)
    writer, stranger = cd.file_create(), cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G), 0, writer)
    assert cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"", 0, writer) == (BUFFER_TOO_SMALL, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, 0) == (INVALID_PARAMETER, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, stranger) == (INVALID_HANDLE, 4, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"abcde", 0, writer) == (BUFFER_OVERFLOW, 5, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"abc", 0, writer) == (UNSUCCESSFUL, 3, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, writer) == (SUCCESS, 4, b"")
    assert ring_storage(cd, 1) == b"abcd" + bytes(8)
    assert cd.state.ring_of(1).items_present == 1


def test_ioctl_read():
    cd = crashdump_with_data_sources(count=1)
    writer, reader, stranger = cd.file_create(), cd.file_create(), cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(3, 4, G), 0, writer)
    cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G), 24, reader)
    assert cd.ioctl(IOCTL_DATA_SOURCE_READ, b"", 0, reader) == (BUFFER_TOO_SMALL, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_READ, b"", 4, 0) == (INVALID_ADDRESS, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_READ, b"", 4, stranger) == (INVALID_HANDLE, 4, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_READ, b"", 3, reader) == (BUFFER_OVERFLOW, 3, bytes(3))
    assert cd.ioctl(IOCTL_DATA_SOURCE_READ, b"", 4, reader) == (UNSUCCESSFUL, 4, b"")
    cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"wxyz", 0, writer)
    # Information is the whole output buffer, not S (Q-CD-6)
    assert cd.ioctl(IOCTL_DATA_SOURCE_READ, b"", 10, reader) == (SUCCESS, 10, b"wxyz" + bytes(6))
    assert cd.state.ring_of(1).items_present == 0
    assert ring_storage(cd, 1)[:4] == b"wxyz"   # the consumed slot keeps its bytes (Q-RB-3)


def test_ioctl_capture():
    cd = crashdump_with_data_sources(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(3, 4, G), 0, writer)
    cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G), 24, reader)
    for item in (b"1111", b"2222", b"3333", b"4444"):
        cd.ioctl(IOCTL_DATA_SOURCE_WRITE, item, 0, writer)
    assert cd.ioctl(IOCTL_DATA_SOURCE_CAPTURE, b"", 4, 0) == (INVALID_ADDRESS, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_CAPTURE, b"", 11, reader) == (BUFFER_OVERFLOW, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_CAPTURE, b"", 12, writer) == (INVALID_HANDLE, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_CAPTURE, b"", 16, reader) == (SUCCESS, 12, b"222233334444")
    assert cd.ioctl(IOCTL_DATA_SOURCE_CAPTURE, b"", 16, reader) == (SUCCESS, 0, b"")   # drained


def test_ioctl_destroy():
    cd = crashdump_with_data_sources(count=1)
    writer, stranger = cd.file_create(), cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(3, 4, G), 0, writer)
    record = cd.state.record_va(1)
    assert cd.ioctl(IOCTL_DATA_SOURCE_DESTROY, b"", 0, 0) == (INVALID_ADDRESS, 0, b"")
    assert cd.ioctl(IOCTL_DATA_SOURCE_DESTROY, b"", 0, stranger) == (SUCCESS, 0, b"")
    assert cd.state.ring_of(1) is not None
    assert cd.ioctl(IOCTL_DATA_SOURCE_DESTROY, b"", 0, writer) == (SUCCESS, 0, b"")
    ds = cd.state.data_source(1)
    assert ds["DmfModuleDataSourceRingBuffer"] == 0 and ds["FileObject"] == (0, 0, 0)
    assert ds["RingBufferGuid"] == ZERO_GUID
    assert cd.kernel.record_fields(record)["State"] == 0 and record not in cd.kernel.registered()


def test_ioctl_crash_driver_debug_and_release():
    cd = crashdump_with_data_sources(count=1)
    fo = cd.file_create()
    with pytest.raises(bugcheck.SystemCrash) as crashed:
        cd.ioctl(IOCTL_CRASH_DRIVER, b"", 0, fo)
    assert (crashed.value.result.code, crashed.value.result.params) == (0xDEADDEAD, (cd.handle, 0, 0, 0))
    machine = Machine("x64")
    config = crashdump.CrashDumpConfig(data_source_count=1, ring_buffer_maximum_size=64)
    release = crashdump.CrashDump(Driver(machine), config, debug_build=False)
    assert release.ioctl(IOCTL_CRASH_DRIVER, b"", 0, release.file_create()) == (NOT_SUPPORTED, 0, b"")


def test_ioctl_unknown_code_and_non_administrator():
    cd = crashdump_with_data_sources(count=1)
    fo = cd.file_create()
    assert cd.ioctl(0x0022A010, b"", 0, fo) == (NOT_SUPPORTED, 0, b"")
    with pytest.raises(crashdump.AccessDenied) as denied:
        cd.file_create(administrator=False)
    assert denied.value.status == ACCESS_DENIED


def test_no_interface_without_data_sources():
    cd = crashdump_module(buffer_size=4, buffer_count=2)
    with pytest.raises(Exception):
        cd.file_create()


def test_q_cd_6_information_values_and_consuming_reads_empty_the_blob():
    cd = crashdump_with_data_sources(count=1)
    writer, reader = cd.file_create(), cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G), 0, writer)
    assert cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"toolong", 0, writer)[:2] == (BUFFER_OVERFLOW, 7)
    cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"abcd", 0, writer)
    cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G), 24, reader)
    assert cd.ioctl(IOCTL_DATA_SOURCE_CAPTURE, b"", 64, reader)[:2] == (SUCCESS, 4)
    result = cd.kernel.bugcheck(0xDEADDEAD, cd.handle)
    assert result.blobs == []
