"""Hypothesis state machine: the emulated DMF_RingBuffer (state in emulated memory) against a plain
index-based reference model written from spec/dmf.md §1.4, checking the invariants of §1.5 and
§6 items 1-8 after every step. Modes 1 and 2 only (Mode 0 / >= 3 is Q-RB-1, tested separately)."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from dmfkd.layouts import dmf_structures

from dmfkd.layouts import windows
from dmfemu.machine import Machine
from dmfemu.modules.dmfobject import Dmf
from dmfemu.modules.ringbuffer import RingBuffer, RingBufferCorruption

SUCCESS = windows.STATUS_SUCCESS
UNSUCCESSFUL = windows.STATUS_UNSUCCESSFUL


class Model:
    """The spec's state (bytes, r, w, P) with whole-slot indexes; no pointers, no memory."""

    def __init__(self, count, size, mode):
        self.n, self.s, self.mode = count, size, mode
        self.slots = [bytes(size)] * (count + 1)   # last = swap slot
        self.r = self.w = self.p = 0

    def _full_handling(self):
        if self.p == self.n:
            if self.mode == 1:
                return False
            if self.mode == 2:
                self.r = (self.r + 1) % self.n
                self.p -= 1
            # other modes: written anyway, P grows past N (Q-RB-1)
        return True

    def write(self, data):
        if not self._full_handling():
            return UNSUCCESSFUL
        if len(data) != self.s:
            return UNSUCCESSFUL
        self.slots[self.w] = bytes(data)
        self.w = (self.w + 1) % self.n
        self.p += 1
        return SUCCESS

    def segments_write(self, segments):
        if not self._full_handling():
            return UNSUCCESSFUL
        slot = bytearray(self.slots[self.w])
        for data, offset in segments:
            slot[offset:offset + len(data)] = data
        self.slots[self.w] = bytes(slot)
        self.w = (self.w + 1) % self.n
        self.p += 1
        return SUCCESS

    def read(self):
        if self.p == 0:
            return UNSUCCESSFUL, None
        data = self.slots[self.r]
        self.r = (self.r + 1) % self.n
        self.p -= 1
        return SUCCESS, data

    def enumerate(self, stop_after):
        if self.p == 0:
            return []
        out = []
        pos = self.r
        while True:
            out.append(pos)
            pos = (pos + 1) % self.n
            if len(out) >= stop_after or pos == self.w:
                return out

    def reorder(self):
        if self.p:
            old = list(self.slots)
            r = self.r
            for i in range(self.n):
                self.slots[i] = old[(r + i) % self.n]
            if r:
                self.slots[self.n] = old[r - 1]
            self.r = 0
            self.w = 0 if self.p == self.n else self.p   # past the end when P > N (Q-RB-1)
        if self.p > self.n:
            raise OverflowError("Q-RB-1")
        for i in range(self.p, self.n):
            self.slots[i] = bytes(self.s)


class RingBufferMachine(RuleBasedStateMachine):
    @initialize(arch=st.sampled_from(["x64", "x86"]), count=st.integers(1, 6), size=st.integers(1, 9),
                mode=st.sampled_from([1, 2]))
    def create(self, arch, count, size, mode):
        self.machine = Machine(arch)
        self.ring = RingBuffer(Dmf(self.machine), count, size, mode)
        self.model = Model(count, size, mode)
        self.layout = dmf_structures.ring_buffer(arch)
        self.seen_items = {bytes(size)}
        self.pristine = True          # no read, never full: slots >= w must be zero (§6 item 8)
        self.just_reordered = False

    def _memory(self):
        c = self.layout.parse(self.machine.space.read(self.ring.context_va, self.layout.size))
        raw = self.machine.space.read(self.ring.items_va, (self.model.n + 1) * self.model.s)
        return c, raw

    @rule(data=st.data(), fast=st.booleans())
    def write(self, data, fast):
        s = self.model.s
        payload = data.draw(st.one_of(st.binary(min_size=s, max_size=s),
                                      st.binary(min_size=s, max_size=s),
                                      st.binary(max_size=s + 2)))
        write = self.ring.write if fast else self.ring._make_write_struct()
        assert write(payload) == self.model.write(payload)
        self.seen_items.add(self.model.slots[(self.model.w - 1) % self.model.n])
        if self.model.p == self.model.n:
            self.pristine = False
        self.just_reordered = False

    @rule(k=st.integers(1, 8), seed=st.integers(0, 255), fast=st.booleans())
    def write_many(self, k, seed, fast):
        """Bursts of valid writes, so rings fill and wrap within a short program."""
        s = self.model.s
        write = self.ring.write if fast else self.ring._make_write_struct()
        for j in range(k):
            payload = bytes((seed + j * 31 + i) & 0xFF for i in range(s))
            assert write(payload) == self.model.write(payload)
            self.seen_items.add(payload)
            if self.model.p == self.model.n:
                self.pristine = False
        self.just_reordered = False

    @rule(data=st.data())
    def segments_write(self, data):
        s = self.model.s
        segments = data.draw(st.lists(
            st.integers(0, s - 1).flatmap(lambda off: st.tuples(st.binary(min_size=0, max_size=s - off),
                                                                st.just(off))), max_size=3))
        assert self.ring.segments_write(segments) == self.model.segments_write(segments)
        self.seen_items.add(self.model.slots[(self.model.w - 1) % self.model.n])
        if self.model.p == self.model.n:
            self.pristine = False
        self.just_reordered = False

    @rule()
    def read(self):
        assert self.ring.read() == self.model.read()
        self.pristine = False
        self.just_reordered = False

    @rule(data=st.data())
    def segments_read(self, data):
        s = self.model.s
        segments = data.draw(st.lists(st.integers(0, s - 1).flatmap(
            lambda off: st.tuples(st.just(off), st.integers(0, s - off))), max_size=3))
        status, pieces = self.ring.segments_read(segments)
        expected_status, item = self.model.read()
        assert status == expected_status
        if status == SUCCESS:
            assert pieces == [item[off:off + n] for off, n in segments]
        self.pristine = False
        self.just_reordered = False

    @rule()
    def read_all(self):
        expected = []
        while True:
            status, item = self.model.read()
            if status != SUCCESS:
                break
            expected.append(item)
        assert self.ring.read_all(target_size=0) == (SUCCESS, b"".join(expected))
        self.pristine = False
        self.just_reordered = False

    @rule(stop_after=st.integers(1, 8), lock=st.booleans())
    def enumerate(self, stop_after, lock):
        visited = []

        def callback(handle, item_va, view, item_size, context):
            assert handle == self.ring.handle and item_size == self.model.s and context == "ctx"
            visited.append(((item_va - self.ring.items_va) // item_size, bytes(view)))
            return len(visited) < stop_after

        self.ring.enumerate(lock, callback, "ctx")
        expected = self.model.enumerate(stop_after)
        assert visited == [(i, self.model.slots[i]) for i in expected]

    @precondition(lambda self: self.model.p > 0)
    @rule(data=st.data())
    def enumerate_to_find_item(self, data):
        s = self.model.s
        present = [self.model.slots[(self.model.r + k) % self.model.n] for k in range(self.model.p)]
        key_len = data.draw(st.integers(0, s))
        key = data.draw(st.sampled_from(present))[:key_len]
        found = []
        self.ring.enumerate_to_find_item(lambda h, va, view, size, cx: found.append(bytes(view)), None, key, key_len)
        order = self.model.enumerate(self.model.n + 1)
        assert found == [self.model.slots[i] for i in order if self.model.slots[i][:key_len] == key]

    @rule(lock=st.booleans())
    def reorder(self, lock):
        self.ring.reorder(lock)
        self.model.reorder()
        self.just_reordered = True

    @invariant()
    def matches_model_and_spec_invariants(self):
        if not hasattr(self, "ring"):
            return
        c, raw = self._memory()
        n, s, model = self.model.n, self.model.s, self.model
        # state equals the reference model
        assert [raw[i * s:(i + 1) * s] for i in range(n + 1)] == model.slots
        r, w = (c.ReadPointer - c.Items) // s, (c.WritePointer - c.Items) // s
        assert (r, w, c.ItemsPresentCount) == (model.r, model.w, model.p)
        # §6 item 1
        assert c.ItemSize == s > 0 and c.ItemsCount == n > 0 and c.Mode in (1, 2)
        # item 2
        assert c.TotalSize == (n * s) & 0xFFFFFFFF and c.BufferEnd == c.Items + n * s
        assert self.machine.pool.block_of(c.Items).size >= (n + 1) * s
        # item 3
        for pointer in (c.ReadPointer, c.WritePointer):
            assert c.Items <= pointer < c.BufferEnd and (pointer - c.Items) % s == 0
        # item 4 / §1.5
        assert 0 <= c.ItemsPresentCount <= n
        assert w % n == (r + c.ItemsPresentCount) % n
        assert (c.ItemsPresentCount in (0, n)) == (c.ReadPointer == c.WritePointer)
        # item 5
        assert c.MemoryRing != 0 and c.Items != 0
        # item 6: swap slot zero or a copy of an item value seen earlier
        assert raw[n * s:] in self.seen_items
        # item 7
        if self.just_reordered:
            if c.ItemsPresentCount > 0:
                assert r == 0
            assert raw[c.ItemsPresentCount * s:n * s] == bytes((n - c.ItemsPresentCount) * s)
        # item 8
        if self.pristine:
            assert raw[w * s:n * s] == bytes((n - w) * s)


RingBufferMachine.TestCase.settings = settings(
    max_examples=75, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TestRingBufferStateMachine = RingBufferMachine.TestCase


@settings(max_examples=60, deadline=None)
@given(mode=st.sampled_from([0, 3, 0xFFFFFFFF]), count=st.integers(1, 4), size=st.integers(1, 5),
       program=st.lists(st.sampled_from(["write", "write", "write", "read", "enumerate", "reorder"]),
                        max_size=25))
def test_q_rb_1_unvalidated_modes_follow_the_model(mode, count, size, program):
    """Modes 0 / >= 3: writes never fail on a full ring, P counts past N, Enumerate follows the
    pointers; the first Reorder with P > N is refused after leaving r = 0, w = P (spec/dmf.md Q-RB-1)."""
    machine = Machine("x64")
    ring = RingBuffer(Dmf(machine), count, size, mode)
    model = Model(count, size, mode)
    layout = dmf_structures.ring_buffer("x64")
    for k, op in enumerate(program):
        if op == "write":
            payload = bytes([k + 1]) * size
            assert ring.write(payload) == model.write(payload)
        elif op == "read":
            assert ring.read() == model.read()
        elif op == "enumerate":
            seen = []
            ring.enumerate(True, lambda h, va, view, sz, cx: seen.append((va - ring.items_va) // sz) or True)
            assert seen == model.enumerate(count + 1)
        else:
            try:
                model.reorder()
                refused = False
            except OverflowError:
                refused = True
            if refused:
                with pytest.raises(RingBufferCorruption):
                    ring.reorder(True)
            else:
                ring.reorder(True)
        c = layout.parse(machine.space.read(ring.context_va, layout.size))
        assert ((c.ReadPointer - c.Items) // size, (c.WritePointer - c.Items) // size,
                c.ItemsPresentCount) == (model.r, model.w, model.p)
        raw = machine.space.read(ring.items_va, (count + 1) * size)
        assert [raw[i * size:(i + 1) * size] for i in range(count + 1)] == model.slots
        if op == "reorder" and refused:
            break
