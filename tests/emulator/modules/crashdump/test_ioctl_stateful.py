"""Hypothesis state machine over DMF_CrashDump's user-mode surface: handles opened and closed,
CREATE (including every way it fails after taking a slot), OPEN, WRITE, READ, CAPTURE, DESTROY,
DataSourceWriteSelf, module Close and a bug check with a random MaximumAllowed - the emulated
module (its state in emulated memory) against a reference model written from spec/dmf.md's rules
(§2.7 table, §2.8, Q-CD-2/4/5/6/8/12/13, the ring's DeleteOldestIfFullOnWrite mode and Q-RB-2).

After every step: the NTSTATUS, Information and bytes each IOCTL returns, every DATA_SOURCE slot
(file objects, ring or none, GUID, the stale sizes and key size), each ring's live records and the
registered bug-check records; at the bug check, the blobs (§2.11) and the callbacks that fault.

The generator leans towards the states where roles overlap (a reader that creates, a writer that
reclaims a second slot), so failing creates that release another slot than the one they took come
up in a few percent of programs. Issue 15's two reproductions and a Close that leaves a source also
run as fixed programs through the same machine (the tests at the end).

CI runs about 4 s (CPU) of it; a long run (5000 programs, ~7-8 CPU minutes, ~1.5 GB):
    DMFEMU_STATEFUL_PROFILE=long python -m pytest tests/emulator/modules/crashdump/test_ioctl_stateful.py \
        --hypothesis-show-statistics
"""
import collections
import gc
import os
import uuid

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis.errors import InvalidArgument
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from dmfkd.layouts.dmf_structures import (IOCTL_DATA_SOURCE_CAPTURE, IOCTL_DATA_SOURCE_CREATE,
                                          IOCTL_DATA_SOURCE_DESTROY, IOCTL_DATA_SOURCE_OPEN, IOCTL_DATA_SOURCE_READ,
                                          IOCTL_DATA_SOURCE_WRITE)
from dmfemu.bugcheck import KernelFault

from helpers.emulated_drivers import crashdump_with_data_sources, source_input
from helpers.ntstatus import (BUFFER_OVERFLOW, BUFFER_TOO_SMALL, INVALID_HANDLE, INVALID_PARAMETER, NO_MORE_FILES,
                              SUCCESS, UNSUCCESSFUL)

ZERO = uuid.UUID(int=0)
GUIDS = [uuid.UUID("0badf00d-0000-4000-8000-00000000000%d" % i) for i in (1, 2)]
SELF_GUID = uuid.UUID("5e1f5e1f-0000-4000-8000-000000000000")
FAULT = "fault"     # what the model predicts when DMF hands DMF_RingBuffer a NULL module


def note(text):
    """Count `text` in --hypothesis-show-statistics (nothing outside a Hypothesis run)."""
    try:
        event(text)
    except InvalidArgument:
        pass


class ModelRing:
    """A DeleteOldestIfFullOnWrite ring as its records: full -> the oldest goes, even when the write
    then fails for its size (Q-RB-2)."""

    def __init__(self, count, size):
        self.count, self.size = count, size
        self.records = collections.deque()

    def write(self, data):
        if len(self.records) == self.count:
            self.records.popleft()
        if len(data) != self.size:
            return UNSUCCESSFUL
        self.records.append(bytes(data))
        return SUCCESS


class ModelSlot:
    def __init__(self):
        self.writer = self.reader = 0
        self.ring = None
        self.guid = ZERO
        self.entry_size = self.total_size = self.key_size = 0    # left stale by a destroy (Q-CD-8)


class Model:
    """The CrashDump module's data sources as spec/dmf.md states its rules - file objects are the
    opaque values the emulated driver handed out, ORPHAN is the architecture's all-ones value."""

    def __init__(self, count, maximum, orphan, self_ring):
        self.slots = [ModelSlot() for _ in range(count + 1)]
        self.maximum, self.orphan = maximum, orphan
        self.registered = []            # slot indexes in bug-check record registration order
        self.closed = False
        if self_ring is not None:
            self._create_source(0, self_ring[0], self_ring[1], SELF_GUID)

    def _clients(self):
        return range(1, len(self.slots))

    def _find(self, role, fo):
        return next((i for i in self._clients() if getattr(self.slots[i], role) == fo), None)

    def _release(self, fo):
        """Clear fo's role in the first slot naming it in any role, the reader role first."""
        index = next((i for i in self._clients() if fo in (self.slots[i].reader, self.slots[i].writer)), None)
        if index is not None:
            slot = self.slots[index]
            if slot.reader == fo:
                slot.reader = 0
            else:
                slot.writer = 0
        return index

    def _destroy(self, index):
        slot = self.slots[index]
        if index in self.registered:
            self.registered.remove(index)
        slot.ring, slot.guid = None, ZERO

    def _create_source(self, index, count, size, guid):
        slot = self.slots[index]
        if slot.ring is not None or count == 0 or size == 0:
            return INVALID_PARAMETER
        if index and (count * size) & 0xFFFFFFFF > self.maximum:
            return INVALID_PARAMETER
        slot.ring = ModelRing(count, size)
        slot.total_size, slot.entry_size = (count * size) & 0xFFFFFFFF, size
        slot.guid, slot.key_size = guid, 32
        self.registered.append(index)
        return SUCCESS

    # -- the IOCTLs: (status, Information, bytes back) or FAULT ------------------------------------
    def create(self, fo, count, size, guid):
        if guid != ZERO:
            for i in self._clients():
                slot = self.slots[i]
                if slot.guid == guid and slot.writer in (0, self.orphan):
                    if self._find("writer", fo) is not None:
                        note("a CREATE reclaims a slot for a handle that already writes one")
                    slot.writer = fo          # the old ring, its N and S; count/size ignored (Q-CD-4)
                    return SUCCESS, 24, b""
        if self._find("writer", fo) is not None:
            return NO_MORE_FILES, 0, b""
        index = self._find("writer", 0)
        if index is None:
            return NO_MORE_FILES, 0, b""
        self.slots[index].writer = fo
        status = self._create_source(index, count, size, guid)
        if status != SUCCESS:
            if self._release(fo) != index:    # not necessarily this slot (Q-CD-12)
                note("a failed CREATE releases another slot than the one it took")
            return status, 0, b""
        return SUCCESS, 24, b""

    def open(self, fo, guid):
        index = None if guid == ZERO else next((i for i in self._clients() if self.slots[i].guid == guid), None)
        if index is None:
            return UNSUCCESSFUL, 0, b""
        slot = self.slots[index]
        slot.reader = fo                      # replaces any reader (Q-CD-5)
        return SUCCESS, 24, source_input(slot.total_size // slot.entry_size, slot.entry_size, guid)

    def write(self, fo, data):
        if not data:
            return BUFFER_TOO_SMALL, 0, b""
        index = self._find("writer", fo)
        if index is None:
            return INVALID_HANDLE, len(data), b""
        slot = self.slots[index]
        if len(data) > slot.entry_size:
            return BUFFER_OVERFLOW, len(data), b""
        if slot.ring is None:
            return FAULT
        return slot.ring.write(data), len(data), b""

    def read(self, fo, size):
        if size == 0:
            return BUFFER_TOO_SMALL, 0, b""
        index = self._find("reader", fo)
        if index is None:
            return INVALID_HANDLE, size, b""
        slot = self.slots[index]
        if size < slot.entry_size:
            return BUFFER_OVERFLOW, size, bytes(size)      # a warning: the (empty) buffer is copied back
        if slot.ring is None:
            return FAULT
        if not slot.ring.records:
            return UNSUCCESSFUL, size, b""
        record = slot.ring.records.popleft()            # READ consumes (Q-CD-6)
        return SUCCESS, size, record + bytes(size - len(record))

    def capture(self, fo, size):
        if size == 0:
            return BUFFER_TOO_SMALL, 0, b""
        index = self._find("reader", fo)
        if index is None:
            return INVALID_HANDLE, 0, b""
        slot = self.slots[index]
        if size < slot.total_size:
            return BUFFER_OVERFLOW, 0, b""
        if slot.ring is None:
            return FAULT
        data = b"".join(slot.ring.records)
        slot.ring.records.clear()                       # CAPTURE drains
        return SUCCESS, len(data), data

    def destroy(self, fo):
        index = self._release(fo)
        if index is not None:
            self._destroy(index)              # the whole source, whoever else names it (Q-CD-5)
        return SUCCESS, 0, b""

    def file_close(self, fo):
        if self.closed:
            return                            # Close left DataSourceCount 0: no slot to search
        index = next((i for i in self._clients() if fo in (self.slots[i].reader, self.slots[i].writer)), None)
        if index is None:
            return
        slot = self.slots[index]
        if slot.reader == fo:
            slot.reader = 0                   # readers never orphan
        elif slot.writer == fo:
            slot.writer = self.orphan

    def write_self(self, data):
        return self.slots[0].ring.write(data)

    def module_close(self):
        """Close: SELF goes, then each slot's writer and reader file object is destroyed by file
        object - which can hit an earlier slot and miss this one (Q-CD-13)."""
        if 0 in self.registered:
            self._destroy(0)
        for i in self._clients():
            for role in ("writer", "reader"):
                fo = getattr(self.slots[i], role)
                if fo:
                    index = self._release(fo)
                    if index is not None:
                        self._destroy(index)
        self.closed = True

    def bugcheck(self, maximum):
        """([(guid, blob)], [faulting slot]) in registration order (spec/dmf.md §2.11)."""
        blobs, faults = [], []
        for index in self.registered:
            if self.closed:
                faults.append(index)          # its record outlived the arrays (Q-CD-13)
                continue
            slot = self.slots[index]
            records = list(slot.ring.records)
            if not records:
                continue
            key = slot.guid.hex.upper().encode()
            body = bytes(b ^ key[j % 32] for j, b in enumerate(records[0])) + b"".join(records[1:])
            body += bytes(slot.ring.count * slot.ring.size - len(body))
            blobs.append((slot.guid, body[:min(slot.ring.count * slot.ring.size, maximum)]))
        return blobs, faults


class CrashDumpIoctlMachine(RuleBasedStateMachine):
    @initialize(arch=st.sampled_from(["x64", "x86", "arm64"]), count=st.sampled_from([1, 2, 3, 3]),
                maximum=st.sampled_from([12, 24, 64]),
                self_ring=st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 4))))
    def start(self, arch, count, maximum, self_ring):
        self.config = (arch, count, maximum, self_ring)
        self._boot()

    boots = 0

    def _boot(self):
        """A fresh machine and driver of the same configuration: at the start and after each crash."""
        arch, count, maximum, self_ring = self.config
        CrashDumpIoctlMachine.boots += 1
        if CrashDumpIoctlMachine.boots % 50 == 0:
            # an emulated machine (several MB) dies in reference cycles; collect them before the
            # process grows by gigabytes in a long run
            gc.collect()
        extra = {} if self_ring is None else {"ring_buffer_data_guid": SELF_GUID, "buffer_count": self_ring[0],
                                              "buffer_size": self_ring[1]}
        self.cd = crashdump_with_data_sources(arch, count=count, maximum=maximum, **extra)
        assert self.cd.create_status == SUCCESS
        self.model = Model(count, maximum, (1 << (32 if arch == "x86" else 64)) - 1, self_ring)
        self.handles = [self.cd.file_create(), self.cd.file_create()]
        self.array = self.cd.state.context_pointer("DataSource")
        self.records = self.cd.state.context_pointer("BugCheckCallbackRecordRingBuffer")

    def _ioctl(self, code, fo, expected, input_bytes=b"", output_size=0):
        if expected == FAULT:
            note("an IOCTL hands DMF_RingBuffer a NULL module")
            with pytest.raises(KernelFault):
                self.cd.ioctl(code, input_bytes, output_size, fo)
            self._crash(0x3B, 4096)           # a fault in an IOCTL is a bug check of its own
        else:
            assert self.cd.ioctl(code, input_bytes, output_size, fo) == expected
        return expected

    def _crash(self, code, maximum):
        result = self.cd.kernel.bugcheck(code, maximum_allowed=maximum)
        blobs, faults = self.model.bugcheck(maximum)
        if faults:
            note("bug check with callbacks that fault")
        assert result.blobs == blobs
        assert [f.record for f in result.faults] == [self.records + i * self.cd.state.record_layout.size
                                                     for i in faults]
        self._boot()

    # -- one step each, shared by the rules and the fixed programs below ---------------------------
    def step_create(self, fo, count, size, guid):
        return self._ioctl(IOCTL_DATA_SOURCE_CREATE, fo, self.model.create(fo, count, size, guid),
                    source_input(count, size, guid))

    def step_open(self, fo, guid):
        self._ioctl(IOCTL_DATA_SOURCE_OPEN, fo, self.model.open(fo, guid), source_input(0, 0, guid), 24)

    def step_write(self, fo, payload):
        self._ioctl(IOCTL_DATA_SOURCE_WRITE, fo, self.model.write(fo, payload), payload)

    def step_read(self, fo, size):
        self._ioctl(IOCTL_DATA_SOURCE_READ, fo, self.model.read(fo, size), b"", size)

    def step_destroy(self, fo):
        self._ioctl(IOCTL_DATA_SOURCE_DESTROY, fo, self.model.destroy(fo))

    def step_close(self, fo):
        self.handles.remove(fo)
        self.cd.file_close(fo)
        self.model.file_close(fo)

    def step_module_close(self):
        self.cd.close()
        self.model.module_close()

    def _handle(self, data, prefer=()):
        """An open handle; half the time one of `prefer` (when any is open), to reach the states
        where roles overlap - a reader that creates, a writer that also reads."""
        prefer = [fo for fo in prefer if fo in self.handles]
        if prefer:
            return data.draw(st.one_of(st.sampled_from(prefer), st.sampled_from(self.handles)))
        return data.draw(st.sampled_from(self.handles))

    def _in_role(self, role):
        return [getattr(slot, role) for slot in self.model.slots[1:] if getattr(slot, role)]

    # -- handles --------------------------------------------------------------------------------
    @precondition(lambda self: not self.model.closed and len(self.handles) < 4)
    @rule()
    def open_handle(self):
        self.handles.append(self.cd.file_create())

    @precondition(lambda self: self.handles)
    @rule(data=st.data())
    def close_handle(self, data):
        self.step_close(self._handle(data))

    # -- the IOCTLs -----------------------------------------------------------------------------
    def _guid(self, data):
        """Mostly a GUID some slot holds (reclaims, opens that succeed), sometimes any, rarely zero."""
        held = [slot.guid for slot in self.model.slots[1:] if slot.guid != ZERO]
        return data.draw(st.sampled_from(held * 4 + GUIDS * 2 + [ZERO]))

    @precondition(lambda self: not self.model.closed and self.handles)
    @rule(data=st.data(), count=st.integers(1, 4), size=st.integers(1, 6))
    def create(self, data, count, size):
        self.step_create(self._handle(data), count, size, self._guid(data))

    @precondition(lambda self: not self.model.closed and self.handles)
    @rule(data=st.data(), bad=st.sampled_from(["count", "size", "too large"]))
    def create_that_fails(self, data, bad):
        """A CREATE whose sizes DMF refuses after it has taken a slot (a second rule, so that failing
        creates are as frequent as the others)."""
        writers = self._in_role("writer")
        fo = self._handle(data, [fo for fo in self._in_role("reader") if fo not in writers])
        count, size = {"count": (0, 4), "size": (3, 0), "too large": (self.model.maximum + 1, 1)}[bad]
        self.step_create(fo, count, size, self._guid(data))

    @precondition(lambda self: not self.model.closed and self.handles)
    @rule(data=st.data())
    def open_source(self, data):
        writers = self._in_role("writer")
        self.step_open(self._handle(data, [fo for fo in self.handles if fo not in writers]), self._guid(data))

    @precondition(lambda self: not self.model.closed and self.handles)
    @rule(data=st.data(), length=st.integers(0, 7), fill=st.integers(0, 255))
    def write(self, data, length, fill):
        self.step_write(self._handle(data), bytes((fill + i) & 0xFF for i in range(length)))

    @precondition(lambda self: not self.model.closed and self.handles)
    @rule(data=st.data(), size=st.integers(0, 8))
    def read(self, data, size):
        self.step_read(self._handle(data), size)

    @precondition(lambda self: not self.model.closed and self.handles)
    @rule(data=st.data(), size=st.integers(0, 40))
    def capture(self, data, size):
        fo = self._handle(data)
        self._ioctl(IOCTL_DATA_SOURCE_CAPTURE, fo, self.model.capture(fo, size), b"", size)

    @precondition(lambda self: not self.model.closed and self.handles)
    @rule(data=st.data())
    def destroy(self, data):
        self.step_destroy(self._handle(data))

    # -- the driver and the crash ----------------------------------------------------------------
    @precondition(lambda self: not self.model.closed and self.model.slots[0].ring is not None)
    @rule(length=st.integers(1, 5), fill=st.integers(0, 255))
    def write_self(self, length, fill):
        payload = bytes((fill + i) & 0xFF for i in range(length))
        assert self.cd.write_self(payload) == self.model.write_self(payload)

    @precondition(lambda self: not self.model.closed)
    @rule(roll=st.integers(0, 9))
    def module_close(self, roll):
        # one time in ten, so that sources pile up first; one time in two once a handle writes two
        # slots (a CREATE reclaimed an orphan), the state in which Close can leave a source behind
        writers = self._in_role("writer")
        if roll == 0 or (roll < 5 and len(writers) > len(set(writers))):
            self.step_module_close()

    @rule(code=st.sampled_from([0xE2, 0xDEADDEAD]), maximum=st.integers(0, 40), roll=st.integers(0, 9))
    def bugcheck(self, code, maximum, roll):
        if roll == 0 or self.model.closed:
            self._crash(code, maximum)

    # -- after every step -------------------------------------------------------------------------
    @invariant()
    def memory_matches_the_model(self):
        if not hasattr(self, "cd"):
            return
        state = self.cd.state
        layout = state.data_source_layout
        # read through the array address kept from Open: after Close the context no longer points at it
        for index, expected in enumerate(self.model.slots):
            ds = layout.unpack_from(self.cd.space.read(self.array + index * layout.size, layout.size))
            ring = state.rings.get(ds["DmfModuleDataSourceRingBuffer"])
            assert (ds["FileObject"][1], ds["FileObject"][2]) == (expected.writer, expected.reader), index
            assert (ds["DmfModuleDataSourceRingBuffer"] != 0) == (expected.ring is not None), index
            assert ds["RingBufferGuid"] == expected.guid
            assert (ds["RingBufferSizeOfEachEntry"], ds["RingBufferSize"], ds["RingBufferEncryptionKeySize"]) == (
                expected.entry_size, expected.total_size, expected.key_size)
            if expected.ring is not None:
                n, first = ring.item_count, ring.read_index
                live = [ring.slot((first + k) % n) for k in range(ring.items_present)]
                assert live == list(expected.ring.records), index
        registered = [self.records + i * state.record_layout.size for i in self.model.registered]
        assert self.cd.kernel.registered() == registered
        if self.model.closed:
            assert state.context_pointer("DataSource") == 0 and state.data_source_count == 0


settings.register_profile("crashdump-ioctls-ci", max_examples=120, stateful_step_count=35, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("crashdump-ioctls-long", max_examples=5000, stateful_step_count=80, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CrashDumpIoctlMachine.TestCase.settings = settings.get_profile(
    "crashdump-ioctls-" + os.environ.get("DMFEMU_STATEFUL_PROFILE", "ci"))
TestCrashDumpIoctlStateMachine = CrashDumpIoctlMachine.TestCase


def _run(program, count, maximum=64):
    """A fixed program through the same machine: the model's prediction checked at each step."""
    machine = CrashDumpIoctlMachine()
    machine.start("x64", count, maximum, None)
    handles = list(machine.handles)
    for name, *args in program:
        getattr(machine, "step_" + name)(*[handles[a] if isinstance(a, Handle) else a for a in args])
        machine.memory_matches_the_model()
    return machine


class Handle(int):
    """Handle k of a fixed program (the machine opens two at boot)."""


H0, H1 = Handle(0), Handle(1)
G1, G2 = GUIDS


def test_the_model_agrees_with_dmf_on_the_failed_create_reproduction():
    """Issue 15's first reproduction (statuses and slots after each step as DMF gave them: see
    test_failed_create.py), through the model; the crash compares the model's blob with the dump's."""
    machine = _run([("create", H1, 1, 4, G1), ("open", H0, G1), ("create", H0, 3, 0, G2), ("write", H0, b"abcd"),
                    ("write", H1, b"wxyz"), ("read", H0, 4), ("close", H0)], count=2)
    assert [(slot.writer, slot.reader, slot.ring is None) for slot in machine.model.slots[1:]] == [
        (machine.handles[0], 0, False), (machine.model.orphan, 0, True)]
    machine.bugcheck(0xE2, 64, 0)


def test_the_model_agrees_with_dmf_on_the_no_free_slot_reproduction():
    machine = _run([("create", H1, 2, 4, G1), ("open", H0, G1), ("destroy", H1), ("create", H0, 100, 4, G2)],
                   count=1)
    assert machine.step_create(machine.handles[1], 2, 4, G2)[0] == NO_MORE_FILES


def test_the_model_agrees_with_dmf_on_a_close_that_leaves_a_source():
    """Q-CD-13: the crash after Close faults in the leaked source's callback, model and emulator alike."""
    machine = _run([("create", H0, 2, 4, G1), ("open", H0, G1), ("create", H1, 2, 4, G2), ("write", H1, b"g2g2"),
                    ("close", H1)], count=2)
    handle = machine.handles[0]
    machine.step_create(handle, 2, 4, G2)
    machine.step_module_close()
    machine.memory_matches_the_model()
    assert machine.model.registered == [2]
    machine.bugcheck(0xE2, 64, 0)
