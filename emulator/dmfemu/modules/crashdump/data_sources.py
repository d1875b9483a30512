"""DMF_CrashDump's data sources (CD.c:1227-1589, 2376-2445; spec/dmf.md §2.6-§2.8): the SELF ring
and the client data sources a user-mode handle creates, writes, opens, reads, captures and
destroys. Each one is a DATA_SOURCE slot with a real DMF_RingBuffer module, its GUID, its XOR key
and a bug-check record; who owns a client slot is the slot table's business (slots.py).
"""
import uuid
from typing import Tuple

from dmfkd.guids import crashdump_key
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import windows
from dmfkd.layouts.dmf_structures import (DataSourceMode_Read, DataSourceMode_Write, RINGBUFFER_INDEX_INVALID,
                                          RINGBUFFER_INDEX_SELF)
from dmfkd.layouts.windows import nt_success

from dmfemu.modules.crashdump.slots import FileObjectSlots


class DataSources(object):
    """The data-source operations of one CrashDump module (dmfemu.modules.crashdump.module.CrashDump)."""

    def __init__(self, crashdump):
        self.crashdump = crashdump
        self.driver = crashdump.driver
        self.kernel = crashdump.kernel
        self.space = crashdump.space
        self.state = crashdump.state
        self.callbacks = crashdump.callbacks
        self.slots = FileObjectSlots(crashdump.state, crashdump.orphan)

    # -- one data source (CrashDump_DataSourceCreateInternal / DestroyInternal) -----------------------
    def create_internal(self, index: int, count: int, size: int, guid: uuid.UUID) -> int:
        state = self.state
        if state.ring_handle(index) != 0:
            return windows.STATUS_INVALID_PARAMETER
        status = self._create_ring(index, count, size)
        if not nt_success(status):
            return status
        self.space.write(state.data_source_field_va(index, "RingBufferGuid"), guid.bytes_le)
        self.space.write_u32(state.data_source_field_va(index, "RingBufferEncryptionKeySize"),
                             dmf_structures.ENCRYPTION_KEY_STRING_SIZE)
        # sprintf_s of the GUID's fields into a 33-byte buffer: the 32 hex digits and a NUL (§2.7)
        self.space.write(state.data_source_field_va(index, "RingBufferEncryptionKey"), crashdump_key(guid) + b"\0")
        record = state.record_va(index)
        self.kernel.initialize_record(record)
        if not self.callbacks.register_ring_buffer(record):
            self._destroy_ring(index)
            return windows.STATUS_INVALID_PARAMETER
        return windows.STATUS_SUCCESS

    def destroy_internal(self, index: int) -> int:
        """CrashDump_DataSourceDestroyInternal (CD.c:1537-1589)."""
        self.kernel.deregister(self.state.record_va(index))
        self._destroy_ring(index)
        return windows.STATUS_SUCCESS

    def _create_ring(self, index: int, count: int, size: int) -> int:
        """CrashDump_DmfCreate_RingBuffer (CD.c:1227-1349)."""
        if count == 0 or size == 0:
            return windows.STATUS_INVALID_PARAMETER
        if index != RINGBUFFER_INDEX_SELF:
            # 32-bit product, as DMF computes it (Q-RB-9)
            if (count * size) & 0xFFFFFFFF > self.state.config_value("RingBufferMaximumSize"):
                return windows.STATUS_INVALID_PARAMETER
        status, ring = self.driver.create_ring_buffer(count, size,
                                                      dmf_structures.RingBuffer_Mode_DeleteOldestIfFullOnWrite,
                                                      instance_name="DataSourceRingBuffer")
        if not nt_success(status):
            return status
        state = self.state
        state.rings[ring.handle] = ring
        self.space.write_ptr(state.data_source_field_va(index, "DmfModuleDataSourceRingBuffer"), ring.handle)
        self.space.write_u32(state.data_source_field_va(index, "RingBufferSize"), ring.total_size_get())
        self.space.write_u32(state.data_source_field_va(index, "RingBufferSizeOfEachEntry"), size)
        return windows.STATUS_SUCCESS

    def _destroy_ring(self, index: int) -> None:
        """CrashDump_DmfDestroy_RingBuffer: delete the ring, NULL the handle, zero only the GUID -
        key, sizes and RingBufferData stay stale (Q-CD-8)."""
        state = self.state
        handle = state.ring_handle(index)
        if handle:
            ring = state.rings.pop(handle, None)
            if ring is not None:
                self.driver.delete_ring_buffer(ring)
            self.space.write_ptr(state.data_source_field_va(index, "DmfModuleDataSourceRingBuffer"), 0)
        self.space.write(state.data_source_field_va(index, "RingBufferGuid"), bytes(16))

    # -- what the IOCTLs do (the *Auxiliary functions) -----------------------------------------------
    def _entry_size(self, index: int) -> int:
        return self.space.read_u32(self.state.data_source_field_va(index, "RingBufferSizeOfEachEntry"))

    def create_auxiliary(self, fo: int, count: int, size: int, guid: uuid.UUID) -> int:
        index = self.slots.find_by_guid(fo, DataSourceMode_Write, guid, reuse=True)
        if index != RINGBUFFER_INDEX_INVALID:
            # Q-CD-4: the old ring (its N, S and contents) is reused; count/size are ignored
            return windows.STATUS_SUCCESS
        index = self.slots.allocate(fo)
        if index == RINGBUFFER_INDEX_INVALID:
            return windows.STATUS_NO_MORE_FILES
        status = self.create_internal(index, count, size, guid)
        if not nt_success(status):
            self.state.set_file_object(index, DataSourceMode_Write, 0)
        return status

    def open_auxiliary(self, fo: int, guid: uuid.UUID) -> Tuple[int, int]:
        # Q-CD-5: OPEN overwrites any previous reader
        index = self.slots.find_by_guid(fo, DataSourceMode_Read, guid, reuse=False)
        if index == RINGBUFFER_INDEX_INVALID:
            return windows.STATUS_UNSUCCESSFUL, index
        return windows.STATUS_SUCCESS, index

    def destroy_auxiliary(self, fo: int) -> int:
        index = self.slots.free(fo)
        if index == RINGBUFFER_INDEX_INVALID:
            return windows.STATUS_INVALID_HANDLE
        # Q-CD-5: the whole data source goes, even if the other role still points at the slot
        return self.destroy_internal(index)

    def write_auxiliary(self, fo: int, data: bytes) -> int:
        index = self.slots.find(fo, DataSourceMode_Write)
        if index == RINGBUFFER_INDEX_INVALID:
            return windows.STATUS_INVALID_HANDLE
        if len(data) > self._entry_size(index):
            return windows.STATUS_BUFFER_OVERFLOW
        return self.state.ring_for_call(self.state.ring_handle(index), "IOCTL_DATA_SOURCE_WRITE").write(data)

    def read_auxiliary(self, fo: int, length: int) -> Tuple[int, bytes]:
        index = self.slots.find(fo, DataSourceMode_Read)
        if index == RINGBUFFER_INDEX_INVALID:
            return windows.STATUS_INVALID_HANDLE, b""
        if length < self._entry_size(index):
            return windows.STATUS_BUFFER_OVERFLOW, b""
        status, data = self.state.ring_for_call(self.state.ring_handle(index), "IOCTL_DATA_SOURCE_READ").read(length)
        return status, (data or b"")

    def capture_auxiliary(self, fo: int, length: int) -> Tuple[int, bytes]:
        index = self.slots.find(fo, DataSourceMode_Read)
        if index == RINGBUFFER_INDEX_INVALID:
            return windows.STATUS_INVALID_HANDLE, b""
        if length < self.space.read_u32(self.state.data_source_field_va(index, "RingBufferSize")):
            return windows.STATUS_BUFFER_OVERFLOW, b""
        ring = self.state.ring_for_call(self.state.ring_handle(index), "IOCTL_DATA_SOURCE_CAPTURE")
        return ring.read_all(length)

    def orphan_create(self, fo: int) -> None:
        """CrashDump_DataSourceOrphanCreate (CD.c:2376-2445, spec/dmf.md §2.8)."""
        self.slots.orphan_writer(fo)
