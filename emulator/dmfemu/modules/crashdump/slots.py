"""The file-object slot table of DMF_CrashDump (CD.c FileHandleSlot*): which user-mode handle
(WDFFILEOBJECT) writes to and which reads from each client data source, kept in the
DATA_SOURCE.FileObject[Write/Read] fields in emulated memory (spec/dmf.md §2.7, §2.8).

Client slots are 1 .. DataSourceCount-1 (slot 0 is the driver's own SELF ring). A writer that
closes its handle without destroying its data source leaves FILE_OBJECT_ORPHAN behind in its
slot; a later CREATE with the same GUID takes the slot over. Every lookup here walks the slots in
index order, as DMF does, so "the first slot that matches" is DMF's choice too.
"""
import uuid

from dmfkd.layouts.dmf_structures import (DataSourceMode_Read, DataSourceMode_Write, RINGBUFFER_INDEX_CLIENT_FIRST,
                                          RINGBUFFER_INDEX_INVALID)
from dmfkd.layouts.engine import ZERO_GUID

from dmfemu.modules.crashdump.state import CrashDumpState


class FileObjectSlots(object):
    def __init__(self, state: CrashDumpState, orphan: int):
        self.state = state
        self.orphan = orphan        # FILE_OBJECT_ORPHAN of the architecture

    def _clients(self):
        return range(RINGBUFFER_INDEX_CLIENT_FIRST, self.state.data_source_count)

    def find(self, fo: int, mode: int) -> int:
        """The slot whose FileObject[mode] is `fo`, else RINGBUFFER_INDEX_INVALID."""
        for index in self._clients():
            if self.state.file_object(index, mode) == fo:
                return index
        return RINGBUFFER_INDEX_INVALID

    def find_for_destroy(self, fo: int) -> int:
        """The first slot `fo` reads from or writes to."""
        for index in self._clients():
            if fo in (self.state.file_object(index, DataSourceMode_Read),
                      self.state.file_object(index, DataSourceMode_Write)):
                return index
        return RINGBUFFER_INDEX_INVALID

    def find_by_guid(self, fo: int, mode: int, guid: uuid.UUID, reuse: bool) -> int:
        """The first slot holding data source `guid`, taken for `fo` in role `mode`. With `reuse`
        (CREATE) only a slot whose role is free or orphaned is taken; without (OPEN) any reader
        is replaced (spec/dmf.md Q-CD-5). The zero GUID matches nothing."""
        if guid == ZERO_GUID:
            return RINGBUFFER_INDEX_INVALID
        for index in self._clients():
            if self.state.data_source_guid(index) != guid:
                continue
            if reuse and self.state.file_object(index, mode) not in (0, self.orphan):
                continue
            self.state.set_file_object(index, mode, fo)
            return index
        return RINGBUFFER_INDEX_INVALID

    def allocate(self, fo: int) -> int:
        """A free writer slot for `fo`; RINGBUFFER_INDEX_INVALID if `fo` already writes somewhere or
        none is free."""
        if self.find(fo, DataSourceMode_Write) != RINGBUFFER_INDEX_INVALID:
            return RINGBUFFER_INDEX_INVALID
        for index in self._clients():
            if self.state.file_object(index, DataSourceMode_Write) == 0:
                self.state.set_file_object(index, DataSourceMode_Write, fo)
                return index
        return RINGBUFFER_INDEX_INVALID

    def free(self, fo: int) -> int:
        """Clear `fo`'s role in its first slot (the reader role is checked first, as
        FileHandleSlotFree does); returns the slot or RINGBUFFER_INDEX_INVALID."""
        index = self.find_for_destroy(fo)
        if index == RINGBUFFER_INDEX_INVALID:
            return index
        if self.state.file_object(index, DataSourceMode_Read) == fo:
            self.state.set_file_object(index, DataSourceMode_Read, 0)
        else:
            self.state.set_file_object(index, DataSourceMode_Write, 0)
        return index

    def orphan_writer(self, fo: int) -> None:
        """CrashDump_DataSourceOrphanCreate (CD.c:2376-2445, spec/dmf.md §2.8): a closing reader
        just leaves its slot; a closing writer leaves FILE_OBJECT_ORPHAN (the data source stays)."""
        index = self.find_for_destroy(fo)
        if index == RINGBUFFER_INDEX_INVALID:
            return
        if self.state.file_object(index, DataSourceMode_Read) == fo:
            self.state.set_file_object(index, DataSourceMode_Read, 0)  # readers never orphan
            return
        if self.state.file_object(index, DataSourceMode_Write) == fo:
            self.state.set_file_object(index, DataSourceMode_Write, self.orphan)
