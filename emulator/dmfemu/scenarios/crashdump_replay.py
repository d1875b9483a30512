"""Replay a crash-dump scenario (format v1, dmfemu.scenarios.scenario_format; documented in
docs/scenarios.md) - a DMF_CrashDump driver's configuration, what it and its user-mode clients do, and
how the machine crashes - and write MEMORY.DMP, driver.isf.json and expected.json.

expected.json is built from the *clients' own logs* (what each writer wrote, what each reader
consumed, the capacity each creator asked for) plus the blob formula of spec/dmf.md §2.11 - never
from the ring state in emulated memory - so a reader that decodes the dump can be checked against it.
A record of a typed data source is listed both as hex and as the writer's field values.

An operation that returns a failure NTSTATUS stops the replay (ReplayFailure, one line naming the
operation and the status) unless the operation says ``"expect": "STATUS_..."``; so does an operation
that faults in the emulated kernel (the machine would crash there). A bug-check callback that faults
during the crash (a data source left registered by module Close, spec/dmf.md Q-CD-13) gives no blob;
the dump is still written and expected.json's transcript ends with one {"op": "bugcheck_fault", ...}
entry per fault.
"""
import collections
import json
import os
import struct
import uuid
from typing import List, Optional

from dmfkd.errors import DmfkdError
from dmfkd.guids import crashdump_key, parse_guid
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dmf_versions
from dmfkd.layouts import windows
from dmfkd.layouts.engine import ZERO_GUID
from dmfkd.layouts.windows import nt_success

from dmfemu.bugcheck import DEFAULT_MAXIMUM_ALLOWED, BugCheckResult, BugCheckSystem, KernelFault, SystemCrash
from dmfemu.driver import Driver
from dmfemu.isf import write_isf
from dmfemu.machine import Machine
from dmfemu.modules.crashdump import AccessDenied, CrashDump, CrashDumpConfig, pack_data_source_create
from dmfemu.native_image import NativeImage
from dmfemu.scenarios.client_model import ClientSlots
from dmfemu.scenarios.record_types import RecordType
from dmfemu.scenarios.scenario_format import Operation, ReplayFailure, ScenarioError, as_scenario, status_name


class SourceLog(object):
    """What the clients of one data source (by GUID) know: entry size, capacity, live records."""

    def __init__(self, name: str, guid: uuid.UUID, entry_size: int, capacity: int, writer: str,
                 record_type: Optional[RecordType] = None):
        self.name = name
        self.guid = guid
        self.entry_size = entry_size
        self.capacity = capacity
        self.writer = writer
        self.record_type = record_type
        # records written and not consumed, oldest first; a full ring drops its oldest on a write
        # (DeleteOldestIfFullOnWrite: the creator's documented mode, §2.7)
        self.live = collections.deque(maxlen=capacity)
        self.orphaned = False
        self.destroyed = False

    def wrote(self, record: bytes) -> None:
        self.live.append(bytes(record))

    def failed_write(self, record: bytes) -> None:
        """A write of the wrong size to a full ring still drops the oldest record (spec/dmf.md Q-RB-2)."""
        if len(record) != self.entry_size and len(self.live) == self.capacity:
            self.live.popleft()


def _hex(data: bytes) -> str:
    return bytes(data).hex()


def expected_ring_blob(records, entry_size: int, capacity: int, guid: uuid.UUID,
                       maximum_allowed: int) -> Optional[bytes]:
    """spec/dmf.md §2.11 from the client's view: oldest-first live records, zero tail, first record
    XOR-ed with the ASCII key, truncated to min(N*S, MaximumAllowed); None when nothing is live."""
    if not records:
        return None
    key = crashdump_key(guid)
    first = bytes(b ^ key[j % 32] for j, b in enumerate(records[0]))
    body = first + b"".join(records[1:])
    body += bytes(capacity * entry_size - len(body))
    return body[:min(capacity * entry_size, maximum_allowed)]


def make_machine(arch: str) -> Machine:
    try:
        return Machine(arch)
    except ValueError:
        raise ScenarioError("arch: this emulator cannot build %s machines yet" % arch)


class ScenarioRun(object):
    """One crash-dump scenario being replayed: the emulated machine and driver, and the clients' logs.
    `scenario` is a Scenario, a document or a file; `native_image` (dmfemu.native_image.NativeImage)
    gives the driver a real PE image and PDB."""

    def __init__(self, scenario, native_image: Optional[NativeImage] = None):
        self.spec = as_scenario(scenario)      # type: Scenario
        if self.spec.live:
            raise ScenarioError("a live-dump scenario: replay it with dmfemu.scenarios.replay")
        self.scenario = self.spec.document
        self.arch = self.spec.arch
        self.dmf_version = self.spec.dmf_version
        self.dump_type = self.spec.dump_type
        self.machine = make_machine(self.arch)
        self.driver = Driver(self.machine, self.spec.driver, dmf_version=self.dmf_version, native_image=native_image)
        self.kernel = BugCheckSystem.of(self.machine)
        self.handles = {}     # type: Dict[str, int]  client handle name -> WDFFILEOBJECT
        self.clients = ClientSlots(self.spec.crashdump["data_source_count"])  # who writes / reads what
        # every data source created, in the order they registered their bug-check records (blob order);
        # two live ones may share a GUID (a CREATE while the first one's writer is still open)
        self.registered = []  # type: List[SourceLog]
        # the latest data source of each GUID, in registration order (what callers looked up by GUID)
        self.sources = collections.OrderedDict()  # type: Dict[uuid.UUID, SourceLog]
        self.self_log = None  # type: Optional[SourceLog]
        self.additional = None  # type: Optional[bytes]
        self.triage_ranges = []  # type: List[dict]
        self.transcript = []  # type: List[dict]
        self.operations = 0   # operations done (a repeat counts each repetition)
        self.surprise_removed = False
        self.module_closed = False
        self._setup_crashdump(self.spec.crashdump)

    # -- driver ----------------------------------------------------------------------------------
    def _setup_crashdump(self, spec: dict) -> None:
        guid = spec["ring_buffer_data_guid"] or ZERO_GUID
        query = write = None
        if spec["additional_data"] is not None:
            self.additional = spec["additional_data"]
            payload = self.additional

            def additional_data(request):
                return payload
            additional_data.routine_name = "DmfDemo_EvtCrashDumpAdditionalData"
            query = write = additional_data
        triage_size = spec["triage_dump_data_array_size"]
        store = None
        if triage_size:
            def store_triage(crashdump, code, p1, p2, p3, p4):
                # the client adds its SELF ring storage at bug-check time (as LiveKernelDump does, §3.7)
                ring = crashdump.state.ring_of(dmf_structures.RINGBUFFER_INDEX_SELF)
                if ring is not None:
                    size = (ring.item_count + 1) * ring.item_size
                    if nt_success(crashdump.triage_dump_data_add(ring.items_va, size)):
                        self.triage_ranges.append({"address": ring.items_va, "size": size, "when": "bugcheck"})
            store_triage.routine_name = "DmfDemo_EvtCrashDumpStoreTriageDumpData"
            store = store_triage
        config = CrashDumpConfig(
            component_name=spec["component_name"], ring_buffer_data_guid=guid,
            additional_data_guid=spec["additional_data_guid"] or ZERO_GUID,
            buffer_size=spec["buffer_size"], buffer_count=spec["buffer_count"],
            ring_buffer_maximum_size=spec["ring_buffer_maximum_size"],
            evt_crash_dump_query=query, evt_crash_dump_write=write,
            data_source_count=spec["data_source_count"],
            triage_dump_data_array_size=triage_size, evt_crash_dump_store_triage_dump_data=store)
        self.config = config
        self.crashdump = CrashDump(self.driver, config, dynamic=spec["dynamic"])
        if not nt_success(self.crashdump.create_status):
            raise ReplayFailure("DMF_CrashDump_Create failed: %s%s" % (
                status_name(self.crashdump.create_status), _create_hint(spec)))
        self.driver.create_collection()
        if config.buffer_count and config.buffer_size:
            self.self_log = SourceLog("self", guid, config.buffer_size, config.buffer_count, "driver",
                                      self.spec.self_type)

    # -- operations --------------------------------------------------------------------------------
    def _handle(self, op: Operation) -> int:
        if op.handle not in self.handles:
            raise ScenarioError("%s.handle: handle %r is not open (open it first)" % (op.path, op.handle))
        return self.handles[op.handle]

    def run(self, op) -> dict:
        """Do one operation (an Operation, or an operation document appended to this replay)."""
        if not isinstance(op, Operation):
            op = Operation(len(self.transcript), op)
        entry = {"op": op.kind}
        if self.module_closed and op.kind != "close":
            raise ScenarioError("%s.op: %s after module_close (only close is accepted then)" % (op.path, op.kind))
        handler = getattr(self, "_op_" + op.kind)
        try:
            handler(op, entry)
        except KernelFault as fault:
            raise ReplayFailure("%s: faults in the emulated kernel (the machine would crash here): %s"
                                % (op.describe(), str(fault).splitlines()[0]))
        if op.repeat > 1:
            entry["repeat"] = op.repeat
        else:
            self.operations += 1
            self._check(op, entry.get("status"))
        self.transcript.append(entry)
        return entry

    def _check(self, op: Operation, status: Optional[int], repetition: int = 0, hint: str = "") -> None:
        where = op.describe() + (" (repetition %d of %d)" % (repetition + 1, op.repeat) if op.repeat > 1 else "")
        if op.expect is not None:
            got = windows.STATUS_SUCCESS if status is None else status
            if got != op.expect:
                raise ReplayFailure("%s: returned %s, the scenario expects %s" % (
                    where, status_name(got), status_name(op.expect)), got)
        elif status is not None and not nt_success(status):
            raise ReplayFailure("%s: %s%s" % (where, status_name(status), hint or self._hint(op, status)), status)

    def _hint(self, op: Operation, status: int) -> str:
        """Why a DMF call usually returns `status` here, in the scenario's terms."""
        spec = self.spec.crashdump
        if op.kind == "create" and status == windows.STATUS_INVALID_PARAMETER:
            size = op.raw["entry_size"] if "entry_size" in op.raw else self.spec.types.get(op.raw["record_type"]).size
            if op.raw["entries"] * size > spec["ring_buffer_maximum_size"]:
                return " (entries x entry_size = %d > crashdump.ring_buffer_maximum_size %d)" % (
                    op.raw["entries"] * size, spec["ring_buffer_maximum_size"])
        if op.kind == "create" and status == windows.STATUS_NO_MORE_FILES:
            return " (every one of the crashdump.data_source_count = %d data sources is taken, or the handle " \
                   "already writes one)" % spec["data_source_count"]
        if op.kind in ("write", "read", "capture", "destroy") and status == windows.STATUS_INVALID_HANDLE:
            return " (handle %s %s no data source)" % (op.handle, "writes" if op.kind == "write" else "reads")
        if op.kind in ("read",) and status == windows.STATUS_UNSUCCESSFUL:
            return " (the data source is empty)"
        if op.kind in ("write", "write_self") and status in (windows.STATUS_UNSUCCESSFUL,
                                                             windows.STATUS_BUFFER_OVERFLOW):
            return " (a record must be exactly the data source's entry size)"
        if op.kind == "triage_add" and status == windows.STATUS_INVALID_PARAMETER:
            return " (crashdump.triage_dump_data_array_size is 0)"
        return ""

    def _records(self, op: Operation, log: Optional[SourceLog], entry_size: Optional[int]):
        """The record(s) the operation writes: one bytes object, or a function of the repetition."""
        record_type = log.record_type if log is not None else None
        base = op.payload.make(entry_size, record_type)
        steps = op.payload.steps(record_type, op.repeat) if op.payload.vary else []
        if not steps:
            return lambda repetition: base
        buffer = bytearray(base)
        pack_into = struct.pack_into

        def record(repetition):
            for offset, fmt, first, step in steps:
                pack_into(fmt, buffer, offset, first + step * repetition)
            return bytes(buffer)
        return record

    def _op_write_self(self, op: Operation, entry: dict) -> None:
        log = self.self_log
        if not self.crashdump.state.ring_handle(dmf_structures.RINGBUFFER_INDEX_SELF):
            raise ScenarioError("%s: the driver has no SELF ring to write (give crashdump.buffer_count and "
                                "buffer_size or self_record_type)" % op.describe())
        record = self._records(op, log, log.entry_size if log is not None else None)
        cd = self.crashdump
        # DMF_CrashDump_DataSourceWriteSelf resolves the SELF ring's DMFMODULE on every call; it does
        # not change during one operation, so a repeat resolves it once
        state = cd.state
        write = state.ring_for_call(state.ring_handle(dmf_structures.RINGBUFFER_INDEX_SELF),
                                    "DataSourceWriteSelf").write if op.repeat > 1 else cd.write_self
        status = windows.STATUS_SUCCESS
        settled = windows.STATUS_SUCCESS if op.expect is None else op.expect   # what needs no second look
        for repetition in range(op.repeat):
            data = record(repetition)
            status = write(data)
            if log is not None:
                if nt_success(status):
                    log.live.append(data)
                else:
                    log.failed_write(data)
            if op.repeat > 1 and status != settled:
                self._check(op, status, repetition)
        self.operations += op.repeat if op.repeat > 1 else 0
        entry["status"] = status

    def _op_open(self, op: Operation, entry: dict) -> None:
        if op.handle in self.handles:
            raise ScenarioError("%s.handle: handle %r is open already" % (op.path, op.handle))
        try:
            self.handles[op.handle] = self.crashdump.file_create(op.raw.get("administrator", True))
        except AccessDenied:
            entry["status"] = windows.STATUS_ACCESS_DENIED

    def _op_close(self, op: Operation, entry: dict) -> None:
        fo = self._handle(op)
        self.crashdump.file_close(fo)
        if not self.surprise_removed:
            self.clients.closed(op.handle)
        del self.handles[op.handle]

    def _op_create(self, op: Operation, entry: dict) -> None:
        fo = self._handle(op)
        guid = parse_guid(op.raw["guid"])
        record_type = self.spec.types.get(op.raw["record_type"], op.path + ".record_type") \
            if "record_type" in op.raw else None
        entry_size = op.raw["entry_size"] if "entry_size" in op.raw else record_type.size
        if record_type is not None and entry_size != record_type.size:
            raise ScenarioError("%s.entry_size: %d, but %s is %d bytes" % (op.path, entry_size, record_type.name,
                                                                            record_type.size))
        status, info, _ = self.crashdump.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, pack_data_source_create(
            op.raw["entries"], entry_size, guid), 0, fo)
        entry.update(status=status, information=info)
        if nt_success(status):
            def new_log():
                log = SourceLog(op.raw.get("source", op.handle), guid, entry_size, op.raw["entries"], op.handle,
                                record_type)
                # a new data source registers its bug-check record last (blob order)
                self.registered.append(log)
                self.sources.pop(guid, None)
                self.sources[guid] = log
                return log
            self.clients.created(op.handle, guid, new_log)
        elif status != windows.STATUS_NO_MORE_FILES:
            # the CREATE took a slot and failed after it: DMF frees the first slot naming the handle
            self.clients.create_failed(op.handle)

    def _op_write(self, op: Operation, entry: dict) -> None:
        fo = self._handle(op)
        slot, log = self.clients.written_by(op.handle)
        self._ring_gone(op, slot, log)
        record = self._records(op, log, log.entry_size if log is not None else None)
        ioctl = self.crashdump.ioctl
        status = info = 0
        settled = windows.STATUS_SUCCESS if op.expect is None else op.expect
        for repetition in range(op.repeat):
            data = record(repetition)
            status, info, _ = ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, data, 0, fo)
            if log is not None:
                if nt_success(status):
                    log.live.append(data)
                elif status == windows.STATUS_UNSUCCESSFUL:   # reached the ring (shorter than S)
                    log.failed_write(data)
            if op.repeat > 1 and status != settled:
                self._check(op, status, repetition)
        self.operations += op.repeat if op.repeat > 1 else 0
        entry.update(status=status, information=info)

    def _op_open_source(self, op: Operation, entry: dict) -> None:
        fo = self._handle(op)
        guid = parse_guid(op.raw["guid"])
        status, info, _ = self.crashdump.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN,
                                               pack_data_source_create(0, 0, guid), 24, fo)
        entry.update(status=status, information=info)
        if nt_success(status):
            self.clients.opened(op.handle, guid)

    def _op_read(self, op: Operation, entry: dict) -> None:
        fo = self._handle(op)
        slot, log = self.clients.read_by(op.handle)
        self._ring_gone(op, slot, log)
        code = dmf_structures.IOCTL_DATA_SOURCE_READ if op.kind == "read" else dmf_structures.IOCTL_DATA_SOURCE_CAPTURE
        # a handle that reads nothing still asks (DMF answers STATUS_INVALID_HANDLE): with a 1-byte buffer
        size = 1 if log is None else log.entry_size if op.kind == "read" else log.entry_size * log.capacity
        status = info = 0
        settled = windows.STATUS_SUCCESS if op.expect is None else op.expect
        for repetition in range(op.repeat):
            status, info, out = self.crashdump.ioctl(code, b"", size, fo)
            if nt_success(status) and log is not None:
                count = 1 if op.kind == "read" else len(out) // log.entry_size
                consumed = [log.live.popleft() for _ in range(min(count, len(log.live)))]
                # the client checks what it got against its own log
                if b"".join(consumed) != out[:len(consumed) * log.entry_size]:
                    raise DmfkdError("%s: %s returned records the writer never wrote" % (op.path, op.kind))
            if op.repeat > 1 and status != settled:
                self._check(op, status, repetition)
        self.operations += op.repeat if op.repeat > 1 else 0
        entry.update(status=status, information=info)

    _op_capture = _op_read

    def _op_destroy(self, op: Operation, entry: dict) -> None:
        fo = self._handle(op)
        status, info, _ = self.crashdump.ioctl(dmf_structures.IOCTL_DATA_SOURCE_DESTROY, b"", 0, fo)
        entry.update(status=status, information=info)
        self.clients.destroyed(op.handle)

    def _op_triage_add(self, op: Operation, entry: dict) -> None:
        data = op.payload.make(None, None)
        va = self.driver.allocate(len(data))
        self.machine.space.write(va, data)
        status = self.crashdump.triage_dump_data_add(va, len(data))
        entry["status"] = status
        if nt_success(status):
            self.triage_ranges.append({"address": va, "size": len(data), "when": "setup", "hex": _hex(data)})

    def _op_module_close(self, op: Operation, entry: dict) -> None:
        """DMF_CrashDump_Close (the device stopped or removed). As its clients know it, every data source,
        the SELF ring, the additional data and the triage ranges go with it; what DMF really leaves
        registered (Q-CD-13) shows up as a fault in the crash, not in the clients' logs."""
        self.crashdump.close()
        self.module_closed = True
        for log in self.registered:
            log.destroyed = True
        self.clients.module_closed()
        self.self_log = None
        self.additional = None
        self.triage_ranges = []

    def _op_surprise_removal(self, op: Operation, entry: dict) -> None:
        self.crashdump.surprise_removal()
        self.surprise_removed = True

    def _ring_gone(self, op: Operation, slot, log) -> None:
        """The handle still names a slot whose data source the other role destroyed: DMF calls
        DMF_RingBuffer with a NULL DMFMODULE there and the machine bug-checks (spec/dmf.md Q-CD-5)."""
        if slot is not None and log is None:
            raise ReplayFailure("%s: the data source handle %s %s was destroyed by its %s; DMF would use its "
                                "NULL ring here and crash the machine" % (
                                    op.describe(), op.handle, "writes" if op.kind == "write" else "reads",
                                    "reader" if op.kind == "write" else "writer"))

    # -- crash ---------------------------------------------------------------------------------------
    def crash(self, out_dir: str) -> BugCheckResult:
        crash = self.spec.crash
        path = os.path.join(out_dir, "MEMORY.DMP")
        maximum = self.spec.maximum_allowed
        self.kernel.crash_path = path
        self.kernel.crash_dump_type = self.dump_type
        self.kernel.crash_maximum_allowed = maximum
        if crash["via"] == "ioctl":
            if crash["handle"] not in self.handles:
                raise ScenarioError("crash.handle: handle %r is not open when the machine crashes" % crash["handle"])
            try:
                self.crashdump.ioctl(dmf_structures.IOCTL_CRASH_DRIVER, b"", 0, self.handles[crash["handle"]])
            except SystemCrash as crashed:
                return crashed.result
            raise DmfkdError("IOCTL_CRASH_DRIVER did not crash the driver (not a DEBUG build?)")
        params = list(crash.get("parameters", [])) + [0, 0, 0, 0]
        return self.kernel.bugcheck(int(crash.get("code", dmf_structures.BUG_CHECK_PRIVATE)), *params[:4],
                                    dump_type=self.dump_type, path=path, maximum_allowed=maximum)

    def record_faults(self, result: BugCheckResult) -> None:
        """The callbacks that faulted during the crash, at the end of the transcript."""
        names = {va: name for name, va in self.driver.routines().items()}
        for fault in result.faults:
            self.transcript.append({"op": "bugcheck_fault", "call": fault.call, "record": fault.record,
                                    "routine": names.get(fault.routine, "0x%x" % fault.routine),
                                    "message": fault.message})

    def _records_of(self, log: SourceLog, records: List[bytes]) -> List[dict]:
        out = []
        for index, record in enumerate(records):
            item = {"index": index, "hex": _hex(record)}
            if log.record_type is not None and len(record) == log.record_type.size:
                item["fields"] = log.record_type.unpack(record)
                names = log.record_type.enum_names(record)
                if names:
                    item["enum_names"] = names
            out.append(item)
        return out

    def expected(self, result: BugCheckResult) -> dict:
        maximum = self.spec.maximum_allowed
        if maximum is None:
            maximum = DEFAULT_MAXIMUM_ALLOWED.get(self.dump_type, 64 << 20)
        sources = []
        blobs = []
        logs = ([self.self_log] if self.self_log is not None else []) + \
            [log for log in self.registered if not log.destroyed]
        for log in logs:
            records = list(log.live)
            length = min(log.capacity * log.entry_size, maximum)
            whole = min(len(records), length // log.entry_size)
            item = {
                "name": log.name, "guid": str(log.guid), "entry_size": log.entry_size,
                "capacity": log.capacity, "present": len(records), "orphaned": log.orphaned,
                "truncated": whole < len(records),
                "blob_length": length if records else 0,
                "records": self._records_of(log, records[:whole]),
            }
            if log.record_type is not None:
                item["record_type"] = log.record_type.name
            sources.append(item)
        # blob order = registration order (nt calls records in that order, spec/dump-format.md §3.7):
        # SELF at Open, then Additional at Open, then each data source at its CREATE
        if self.self_log is not None:
            blob = expected_ring_blob(list(self.self_log.live), self.self_log.entry_size, self.self_log.capacity,
                                      self.self_log.guid, maximum)
            if blob is not None:
                blobs.append({"guid": str(self.self_log.guid), "length": len(blob), "hex": _hex(blob)})
        if self.additional is not None:
            data = self.additional[:maximum]
            guid = self.crashdump.state.config_guid("AdditionalDataGuid")
            blobs.append({"guid": str(guid), "length": len(data), "hex": _hex(data)})
        for log in self.registered:
            if log.destroyed:
                continue
            blob = expected_ring_blob(list(log.live), log.entry_size, log.capacity, log.guid, maximum)
            if blob is not None:
                blobs.append({"guid": str(log.guid), "length": len(blob), "hex": _hex(blob)})
        document = {
            "arch": self.arch,
            "dmf_version": dmf_versions.format_dmf_version(self.dmf_version),
            "dump_type": self.dump_type,
            "module": self.driver.name,
            "image_base": self.driver.base,
            "crashdump_handle": self.crashdump.handle,
            "context_version": self.crashdump.context_label,
            "maximum_allowed": maximum,
            "bugcheck": {"code": result.code, "parameters": list(result.params)},
            "sources": sources,
            "blobs": blobs,
            "triage_ranges": self.triage_ranges,
            "transcript": self.transcript,
        }
        if self.spec.types.types:
            document["record_types"] = self.spec.types.described()
        return document

    def write_symbols(self, out_dir: str) -> None:
        write_isf(os.path.join(out_dir, "driver.isf.json"), self.driver, user_types=self.spec.types.isf_user_types(),
                  enums=self.spec.types.isf_enums())


def _create_hint(spec: dict) -> str:
    if not spec["data_source_count"] and not (spec["buffer_count"] and spec["buffer_size"]) and \
            spec["additional_data"] is None and not spec["triage_dump_data_array_size"]:
        return " (the config asks for nothing: give crashdump.buffer_count and buffer_size for a SELF ring, " \
               "data sources, additional data or triage data)"
    return ""


def make_output_directory(out_dir: str) -> None:
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise ScenarioError("cannot create output directory %s: %s" % (out_dir, exc.strerror or exc))


def write_expected(out_dir: str, expected: dict) -> None:
    with open(os.path.join(out_dir, "expected.json"), "w", encoding="utf-8") as handle:
        json.dump(expected, handle, indent=1)
        handle.write("\n")


def run_scenario(scenario, out_dir: str, native_image: Optional[NativeImage] = None) -> dict:
    """Replay a crash-dump `scenario` (a document, a file or a Scenario), write DIR/MEMORY.DMP,
    DIR/driver.isf.json, DIR/expected.json; return the expected document. `native_image`: see ScenarioRun."""
    spec = as_scenario(scenario)
    make_output_directory(out_dir)
    run = ScenarioRun(spec, native_image)
    for op in spec.operations:
        run.run(op)
    run.write_symbols(out_dir)
    result = run.crash(out_dir)
    run.record_faults(result)
    expected = run.expected(result)
    write_expected(out_dir, expected)
    return expected


def load_scenario(path: str) -> dict:
    """The checked document in `path` (format v1)."""
    return as_scenario(path).document
