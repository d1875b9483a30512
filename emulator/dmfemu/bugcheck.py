"""The kernel side of a bug check: KeRegisterBugCheckReasonCallback records and the crash flow that
turns registered callbacks into a dump file (spec/dmf.md §2.10, §2.13, §2.14; spec/dump-format.md §3).

Emulated driver routines are Python callables bound to routine addresses; the record in emulated
memory (CallbackRoutine) is what selects the routine at crash time, exactly like nt does.

Crash order (Q-CD-9): triage-data callbacks (they only name ranges for the primary image) ->
snapshot of physical memory = the primary image -> every KbCallbackSecondaryDumpData record in
registration order, twice: size query (OutBuffer NULL) then data call (OutBuffer == InBuffer) ->
blobs in that order -> dump file written from the snapshot plus the blobs.

Kernel faults: emulated code that would fault on real hardware (a NULL or freed pointer, an
unmapped address) raises KernelFault. Outside a bug check that ends the emulated call. Inside the
bug-check flow a callback that faults is recorded in BugCheckResult.faults and gives no data (no
blob, no triage ranges); the crash goes on with the next callback and the dump is written. The
emulator models each callback call as guarded, so a broken callback costs its own data, not the
dump (issue 15's convention for spec/dmf.md Q-CD-13; Q-CD-7's NULL global is the same kind of fault).
"""
import uuid
from typing import Callable, List, NamedTuple, Optional, Tuple

from dmfkd.errors import MemoryReadError
from dmfkd.layouts import windows
from dmfkd.layouts.windows import PAGE_SIZE

# Per-callback MaximumAllowed when the caller does not choose one: the limits nt documented for
# full/kernel dumps and for triage dumps (spec/dump-format.md §3.5 [HIST]).
DEFAULT_MAXIMUM_ALLOWED = {"full": 64 << 20, "bitmap": 64 << 20, "bitmap-kernel": 64 << 20,
                           "triage": 8 << 10}

_EMULATOR_TAG = b"KeBc"  # pool tag of nt's transient bug-check buffers (emulator-private)


class SecondaryCall(NamedTuple):
    """What one KbCallbackSecondaryDumpData record answered (for tests and reports)."""
    record: int
    query_out_buffer: int
    query_length: int
    guid: uuid.UUID
    out_buffer: int
    length: int


class BugCheckFault(NamedTuple):
    """A callback that faulted during the bug check (its data is not in the dump)."""
    record: int
    routine: int
    reason: int
    call: str       # "triage", "size query" or "data"
    message: str


class BugCheckResult(object):
    def __init__(self, code: int, params: Tuple[int, int, int, int], dump_type: str):
        self.code = code
        self.params = params
        self.dump_type = dump_type
        self.blobs = []            # type: List[Tuple[uuid.UUID, bytes]]
        self.calls = []            # type: List[SecondaryCall]
        self.faults = []           # type: List[BugCheckFault]
        self.triage_ranges = []    # type: List[Tuple[int, int]]
        self.snapshot = None
        self.path = None           # type: Optional[str]
        self.file_size = None      # type: Optional[int]


class SystemCrash(Exception):
    """KeBugCheckEx never returns: the emulated machine is dead, here is what it wrote."""

    def __init__(self, result: BugCheckResult):
        self.result = result
        super().__init__("bug check 0x%08X (%s)" % (result.code, ", ".join("0x%x" % p for p in result.params)))


class KernelFault(Exception):
    """Emulated code did something that faults on real hardware (NULL dereference, use after free)."""


class BugCheckSystem(object):
    """nt's KeRegisterBugCheckReasonCallback list and bug-check flow for one emulated machine."""

    def __init__(self, machine):
        self.machine = machine
        self.space = machine.space
        self.arch = machine.arch
        self.ptr = machine.pointer_size
        self.record = windows.bugcheck_reason_callback_record(self.arch)
        self.secondary = windows.bugcheck_secondary_dump_data(self.arch)
        self.triage_array = windows.ktriage_dump_data_array(self.arch)
        self.triage_data = windows.kbugcheck_triage_dump_data(self.arch)
        self._records = []      # type: List[int]
        self._routines = {}     # type: Dict[int, Callable]
        # where IOCTL_CRASH_DRIVER-style crashes (ke_bugcheck_ex) write their dump
        self.crash_path = None  # type: Optional[str]
        self.crash_dump_type = "full"
        self.crash_maximum_allowed = None  # type: Optional[int]
        self.crashed = None     # type: Optional[BugCheckResult]
        # nt!KeBugCheckReasonCallbackListHead: records are linked through their Entry in registration
        # order, so a debugger can walk them (spec/dmf.md §4.5 entry point 2)
        self.list_head = machine.pool.allocate(2 * self.ptr, tag=_EMULATOR_TAG)
        machine.space.write_ptr(self.list_head, self.list_head)
        machine.space.write_ptr(self.list_head + self.ptr, self.list_head)
        machine.add_symbol("nt", "KeBugCheckReasonCallbackListHead", self.list_head)

    @classmethod
    def of(cls, machine) -> "BugCheckSystem":
        # kept on the machine (as dmfemu.kernel keeps its KernelState): a module-level map from
        # machine to system would keep every machine alive through the system's own reference
        system = machine.bugcheck_system
        if system is None:
            system = machine.bugcheck_system = cls(machine)
        return system

    # -- routines ---------------------------------------------------------------------------------
    def bind_routine(self, routine_va: int, implementation: Callable) -> None:
        """implementation(reason, record_va, reason_specific_data_va, reason_specific_data_length)."""
        self._routines[routine_va] = implementation

    # -- KeInitializeCallbackRecord / KeRegister... / KeDeregister... -----------------------------
    def initialize_record(self, record_va: int) -> None:
        self.space.write_u8(record_va + self.record.offsets["State"], windows.BufferEmpty)

    def register(self, record_va: int, routine_va: int, reason: int, component_va: int) -> bool:
        """KeRegisterBugCheckReasonCallback: FALSE if the record is already inserted. Writes
        CallbackRoutine/Component/Reason/State into the record and links Entry at the tail of the
        list; Checksum is nt's own and is left as it was (spec/dmf.md §5 byte-exactness checklist)."""
        rec = self.record
        if self.space.read_u8(record_va + rec.offsets["State"]) != windows.BufferEmpty:
            return False
        if routine_va not in self._routines:
            raise KernelFault("bug-check routine 0x%x has no emulated implementation" % routine_va)
        self.space.write_ptr(record_va + rec.offsets["CallbackRoutine"], routine_va)
        self.space.write_ptr(record_va + rec.offsets["Component"], component_va)
        self.space.write_u32(record_va + rec.offsets["Reason"], reason)
        self.space.write_u8(record_va + rec.offsets["State"], windows.BufferInserted)
        if record_va in self._records:
            self._records.remove(record_va)
        self._records.append(record_va)
        self._link_tail(record_va + rec.offsets["Entry"])
        return True

    def _link_tail(self, entry: int) -> None:
        head, ptr, space = self.list_head, self.ptr, self.space
        tail = space.read_ptr(head + ptr)
        space.write_ptr(entry, head)
        space.write_ptr(entry + ptr, tail)
        space.write_ptr(tail, entry)
        space.write_ptr(head + ptr, entry)

    def _unlink(self, entry: int) -> None:
        ptr, space = self.ptr, self.space
        flink, blink = space.read_ptr(entry), space.read_ptr(entry + ptr)
        space.write_ptr(blink, flink)
        space.write_ptr(flink + ptr, blink)

    def walk_list(self) -> List[int]:
        """Record addresses found by walking the list head in memory (bounded)."""
        out = []
        entry = self.space.read_ptr(self.list_head)
        while entry != self.list_head and len(out) < 4096:
            out.append(entry - self.record.offsets["Entry"])
            entry = self.space.read_ptr(entry)
        return out

    def deregister(self, record_va: int) -> bool:
        """KeDeregisterBugCheckReasonCallback: FALSE unless inserted; State back to BufferEmpty,
        Reason/Routine/Component keep their values (DMF tests Reason afterwards, CD.c Close)."""
        state_va = record_va + self.record.offsets["State"]
        if record_va not in self._records or self.space.read_u8(state_va) != windows.BufferInserted:
            return False
        self.space.write_u8(state_va, windows.BufferEmpty)
        self._records.remove(record_va)
        self._unlink(record_va + self.record.offsets["Entry"])
        return True

    def registered(self) -> List[int]:
        """Record addresses in registration order."""
        return list(self._records)

    def record_fields(self, record_va: int) -> dict:
        rec = self.record
        return {
            "CallbackRoutine": self.space.read_ptr(record_va + rec.offsets["CallbackRoutine"]),
            "Component": self.space.read_ptr(record_va + rec.offsets["Component"]),
            "Reason": self.space.read_u32(record_va + rec.offsets["Reason"]),
            "State": self.space.read_u8(record_va + rec.offsets["State"]),
        }

    # -- KTRIAGE_DUMP_DATA_ARRAY (nt internals modelled minimally; spec/dmf.md §2.13) ------------
    def initialize_triage_dump_data_array(self, array_va: int, size: int) -> int:
        """KeInitializeTriageDumpDataArray: header zeroed, List self-linked, NumBlocksTotal = how many
        KADDRESS_RANGEs fit after the header."""
        arr = self.triage_array
        blocks = arr.size  # Blocks[] follow the header
        if size < blocks:
            return windows.STATUS_INVALID_PARAMETER
        self.space.write(array_va, bytes(blocks))
        list_va = array_va + arr.offsets["List"]
        self.space.write_ptr(list_va, list_va)
        self.space.write_ptr(list_va + self.ptr, list_va)
        self.space.write_u32(array_va + arr.offsets["NumBlocksTotal"], (size - blocks) // (2 * self.ptr))
        return windows.STATUS_SUCCESS

    def add_triage_dump_data_block(self, array_va: int, address: int, size: int) -> int:
        """KeAddTriageDumpDataBlock: record {Address, Size} - nothing is copied. A full array answers
        STATUS_INSUFFICIENT_RESOURCES (the documented "appropriate NTSTATUS" is unspecified)."""
        arr = self.triage_array
        used = self.space.read_u32(array_va + arr.offsets["NumBlocksUsed"])
        total = self.space.read_u32(array_va + arr.offsets["NumBlocksTotal"])
        if used >= total:
            return windows.STATUS_INSUFFICIENT_RESOURCES
        entry = array_va + arr.size + used * 2 * self.ptr
        self.space.write_ptr(entry, address)
        self.space.write_ptr(entry + self.ptr, size)
        self.space.write_u32(array_va + arr.offsets["NumBlocksUsed"], used + 1)
        data_size = self.space.read_u32(array_va + arr.offsets["DataSize"])
        self.space.write_u32(array_va + arr.offsets["DataSize"], (data_size + size) & 0xFFFFFFFF)
        return windows.STATUS_SUCCESS

    def triage_ranges_of(self, array_va: int) -> List[Tuple[int, int]]:
        arr = self.triage_array
        used = self.space.read_u32(array_va + arr.offsets["NumBlocksUsed"])
        total = self.space.read_u32(array_va + arr.offsets["NumBlocksTotal"])
        used = min(used, total)  # never trust a count beyond the array's own capacity
        raw = self.space.read(array_va + arr.size, used * 2 * self.ptr) if used else b""
        read = (lambda o: int.from_bytes(raw[o:o + self.ptr], "little"))
        return [(read(i * 2 * self.ptr), read(i * 2 * self.ptr + self.ptr)) for i in range(used)]

    # -- the crash --------------------------------------------------------------------------------
    def invoke(self, record_va: int, reason: int, data_va: int, data_len: int) -> None:
        """Call the routine a record names, as nt does (for a test that drives one call alone)."""
        self._call(record_va, reason, data_va, data_len)

    def _call(self, record_va: int, reason: int, data_va: int, data_len: int) -> None:
        routine = self.space.read_ptr(record_va + self.record.offsets["CallbackRoutine"])
        implementation = self._routines.get(routine)
        if implementation is None:
            raise KernelFault("bug-check record 0x%x calls 0x%x, which is no emulated routine" % (record_va, routine))
        try:
            implementation(reason, record_va, data_va, data_len)
        except MemoryReadError as exc:
            # emulated kernel code touched an address nothing maps: a page fault on real hardware
            raise KernelFault("bug-check routine 0x%x (record 0x%x) read unmapped memory: %s"
                              % (routine, record_va, str(exc).splitlines()[0])) from None

    def _guarded_call(self, result: BugCheckResult, record_va: int, reason: int, call: str,
                      data_va: int, data_len: int) -> bool:
        """One callback call during the crash; a fault is recorded and the crash goes on (module
        docstring). False when the callback faulted."""
        try:
            self._call(record_va, reason, data_va, data_len)
        except KernelFault as fault:
            routine = self.space.read_ptr(record_va + self.record.offsets["CallbackRoutine"])
            result.faults.append(BugCheckFault(record_va, routine, reason, call, str(fault)))
            return False
        return True

    def bugcheck(self, code: int, p1: int = 0, p2: int = 0, p3: int = 0, p4: int = 0, *,
                 dump_type: str = "full", path: Optional[str] = None,
                 maximum_allowed: Optional[int] = None, in_buffer_length: int = PAGE_SIZE,
                 **dump_kw) -> BugCheckResult:
        """Run the bug-check flow; write the dump to `path` when given. Returns what happened."""
        if maximum_allowed is None:
            maximum_allowed = DEFAULT_MAXIMUM_ALLOWED.get(dump_type, 64 << 20)
        mask = (1 << (8 * self.ptr)) - 1
        params = (p1 & mask, p2 & mask, p3 & mask, p4 & mask)
        result = BugCheckResult(code & 0xFFFFFFFF, params, dump_type)
        space = self.space

        # 1. triage-data callbacks name the ranges the primary image must keep
        records = list(self._records)
        for record_va in records:
            fields = self.record_fields(record_va)
            if fields["State"] != windows.BufferInserted or fields["Reason"] != windows.KbCallbackTriageDumpData:
                continue
            tdd = self.triage_data
            data_va = self.machine.pool.allocate(tdd.size, tag=_EMULATOR_TAG)
            space.write(data_va, tdd.build({
                "DataArray": 0, "Flags": windows.KB_TRIAGE_DUMP_DATA_FLAG_BUGCHECK_ACTIVE,
                "MaxVirtMemSize": 0, "BugCheckCode": result.code,
                "BugCheckParameter1": params[0], "BugCheckParameter2": params[1],
                "BugCheckParameter3": params[2], "BugCheckParameter4": params[3]}))
            if not self._guarded_call(result, record_va, windows.KbCallbackTriageDumpData, "triage",
                                      data_va, tdd.size):
                continue
            array_va = space.read_ptr(data_va + tdd.offsets["DataArray"])
            if array_va:
                result.triage_ranges.extend(self.triage_ranges_of(array_va))

        # 2. the primary image: memory as it is before any secondary-data callback ran (Q-CD-9)
        snapshot = self.machine.snapshot()
        result.snapshot = snapshot

        # 3. secondary data, two calls per record, registration order, duplicates kept
        sec = self.secondary
        in_buffer = self.machine.pool.allocate(in_buffer_length, tag=_EMULATOR_TAG, align=PAGE_SIZE)
        data_va = self.machine.pool.allocate(sec.size, tag=_EMULATOR_TAG)
        for record_va in records:
            fields = self.record_fields(record_va)
            if fields["State"] != windows.BufferInserted or fields["Reason"] != windows.KbCallbackSecondaryDumpData:
                continue
            space.write(in_buffer, bytes(in_buffer_length))
            space.write(data_va, bytes(sec.size))
            space.write_ptr(data_va + sec.offsets["InBuffer"], in_buffer)
            space.write_u32(data_va + sec.offsets["InBufferLength"], in_buffer_length)
            space.write_u32(data_va + sec.offsets["MaximumAllowed"], maximum_allowed)
            if not self._guarded_call(result, record_va, windows.KbCallbackSecondaryDumpData, "size query",
                                      data_va, sec.size):
                continue    # a callback that faulted is not asked for its data
            query_out = space.read_ptr(data_va + sec.offsets["OutBuffer"])
            query_len = space.read_u32(data_va + sec.offsets["OutBufferLength"])

            space.write(data_va + sec.offsets["Guid"], bytes(16))
            space.write_ptr(data_va + sec.offsets["OutBuffer"], in_buffer)
            space.write_u32(data_va + sec.offsets["OutBufferLength"], 0)
            if not self._guarded_call(result, record_va, windows.KbCallbackSecondaryDumpData, "data",
                                      data_va, sec.size):
                continue
            guid = uuid.UUID(bytes_le=space.read(data_va + sec.offsets["Guid"], 16))
            out_buffer = space.read_ptr(data_va + sec.offsets["OutBuffer"])
            length = space.read_u32(data_va + sec.offsets["OutBufferLength"])
            result.calls.append(SecondaryCall(record_va, query_out, query_len, guid, out_buffer, length))
            if not out_buffer:
                # a NULL buffer gives nt nothing to copy: no blob (DMF's empty ring, spec/dmf.md §2.11)
                continue
            length = min(length, maximum_allowed)
            result.blobs.append((guid, space.read(out_buffer, length) if length else b""))

        if path is not None:
            result.path = path
            result.file_size = self.machine.write_dump(
                path, dump_type, (result.code,) + params, blobs=result.blobs, snapshot=snapshot,
                **self._triage_kw(dump_type, result, snapshot, dump_kw))
        return result

    def _triage_kw(self, dump_type: str, result: BugCheckResult, snapshot, dump_kw: dict) -> dict:
        kw = dict(dump_kw)
        if dump_type == "triage" and result.triage_ranges and "triage_blocks" not in kw:
            blocks = []
            for address, size in result.triage_ranges:
                data = _read_snapshot_va(self.space, snapshot, address, size)
                if data is not None:
                    blocks.append((address, data))
            kw["triage_blocks"] = blocks
        return kw

    def ke_bugcheck_ex(self, code: int, p1: int = 0, p2: int = 0, p3: int = 0, p4: int = 0):
        """KeBugCheckEx: runs the flow with the machine's crash settings and never returns."""
        result = self.bugcheck(code, p1, p2, p3, p4, dump_type=self.crash_dump_type, path=self.crash_path,
                               maximum_allowed=self.crash_maximum_allowed)
        self.crashed = result
        raise SystemCrash(result)


def _read_snapshot_va(space, snapshot, va: int, size: int) -> Optional[bytes]:
    """Read `size` bytes at kernel VA `va` as the primary image holds them (None if unmapped)."""
    out = bytearray()
    try:
        while size > 0:
            chunk = min(size, PAGE_SIZE - (va & (PAGE_SIZE - 1)))
            out += snapshot.read(space.translate(va), chunk)
            va += chunk
            size -= chunk
    except Exception:  # an unmapped triage range is simply not in the dump (nt skips it too)
        return None
    return bytes(out)


def system_of(machine) -> BugCheckSystem:
    return BugCheckSystem.of(machine)
