"""Which user-mode handle writes and reads which data source, as the clients of a replay can know it:
DMF_CrashDump's slot rules of spec/dmf.md §2.7-§2.8 applied to the handles' names and to the outcome
(NTSTATUS) each IOCTL reported - never read from the emulated memory - so expected.json says which
source is orphaned and which records each reader consumed, whatever order the handles used.

The rules, per client slot 1..DataSourceCount (the first slot that matches wins, in slot order):
* CREATE that succeeds: the first slot holding the same GUID whose writer is free or orphaned is taken
  over (its ring, N, S and records kept); else the first slot without a writer gets a new data source;
* OPEN that succeeds: the first slot holding the GUID gets the handle as its reader;
* DESTROY: the first slot the handle reads or writes (the reader role is checked first) loses that role
  and its data source; the other role keeps naming its handle;
* CloseHandle (unless surprise-removed): in the first slot the handle reads or writes, a reader just
  leaves, a writer leaves the slot orphaned (the data source stays until the crash);
* CREATE that fails after taking the first slot without a writer (a ring DMF refuses): DMF frees the
  first slot naming the handle (the reader role first) - not necessarily the one it took, which then
  keeps the handle as its writer with no ring: half-created (spec/dmf.md Q-CD-12);
* module Close: every data source goes.
"""
from typing import List, Optional

ORPHAN = "<orphan>"


class ModelSlot(object):
    def __init__(self, index: int):
        self.index = index
        self.guid = None        # the data source's GUID while it has a ring
        self.log = None         # the SourceLog of the data source in this slot
        self.writer = None      # handle name, ORPHAN or None
        self.reader = None      # handle name or None


class ClientSlots(object):
    """The slot table of one CrashDump module, from its clients' side."""

    def __init__(self, data_source_count: int):
        self.slots = [ModelSlot(index) for index in range(1, data_source_count + 1)]

    def _first(self, handle: str, roles=("reader", "writer")) -> Optional[ModelSlot]:
        for slot in self.slots:
            if any(getattr(slot, role) == handle for role in roles):
                return slot
        return None

    def created(self, handle: str, guid, make_log) -> object:
        """A CREATE that succeeded: the log of the data source `handle` now writes."""
        for slot in self.slots:
            if slot.guid == guid and slot.writer in (None, ORPHAN):
                slot.writer = handle
                slot.log.orphaned = False
                return slot.log
        for slot in self.slots:
            if slot.writer is None:
                slot.writer, slot.guid, slot.log = handle, guid, make_log()
                return slot.log
        raise AssertionError("a CREATE succeeded without a free slot")

    def create_failed(self, handle: str) -> None:
        for slot in self.slots:
            if slot.writer is None:
                slot.writer = handle
                break
        else:
            return
        freed = self._first(handle)
        if freed.reader == handle:
            freed.reader = None
        else:
            freed.writer = None

    def module_closed(self) -> None:
        self.slots = []

    def opened(self, handle: str, guid) -> Optional[object]:
        """An OPEN that succeeded: the log `handle` now reads."""
        for slot in self.slots:
            if slot.guid == guid:
                slot.reader = handle
                return slot.log
        return None

    def written_by(self, handle: str):
        """(slot, log) `handle` writes to, or (None, None)."""
        slot = self._first(handle, ("writer",))
        return (slot, slot.log if slot is not None and slot.guid is not None else None)

    def read_by(self, handle: str):
        slot = self._first(handle, ("reader",))
        return (slot, slot.log if slot is not None and slot.guid is not None else None)

    def destroyed(self, handle: str) -> Optional[object]:
        """DESTROY by `handle`: the log of the data source that went (None when it named none)."""
        slot = self._first(handle)
        if slot is None:
            return None
        if slot.reader == handle:
            slot.reader = None
        else:
            slot.writer = None
        log, slot.log, slot.guid = slot.log, None, None
        if log is not None:
            log.destroyed = True
        return log

    def closed(self, handle: str) -> None:
        slot = self._first(handle)
        if slot is None:
            return
        if slot.reader == handle:
            slot.reader = None
        elif slot.writer == handle:
            slot.writer = ORPHAN
            if slot.log is not None:
                slot.log.orphaned = True

    def live_logs(self) -> List[object]:
        return [slot.log for slot in self.slots if slot.guid is not None]
