"""Replay a scenario - an emulated DMF driver's configuration, what its clients do, and how it
crashes - and write MEMORY.DMP, driver.isf.json and expected.json.

expected.json is built from the *clients' own logs* (what each writer wrote, what each reader
consumed, the capacity each creator asked for) plus the blob formula of spec/dmf.md §2.11 - never
from the ring state in emulated memory - so a reader that decodes the dump can be checked against it.

Scenario (JSON object; every key optional unless noted):

    {"arch": "x64", "dmf_version": "1.1.154", "driver": "dmfdemo",
     "crashdump": {"component_name": "DmfDemo", "ring_buffer_data_guid": G, "additional_data_guid": G,
                   "buffer_size": 64, "buffer_count": 16, "ring_buffer_maximum_size": 4096,
                   "data_source_count": 2, "triage_dump_data_array_size": 4,
                   "additional_data_hex": "..."},            # EvtCrashDumpQuery/Write provide these bytes
     "operations": [                                         # in order
        {"op": "write_self", "hex": "..."},                  # DMF_CrashDump_DataSourceWriteSelf
        {"op": "open", "handle": "A"},                       # CreateFile on GUID_DEVINTERFACE_CrashDump
        {"op": "create", "handle": "A", "guid": G, "entries": 8, "entry_size": 32},
        {"op": "write", "handle": "A", "hex": "..."},
        {"op": "open_source", "handle": "C", "guid": G},     # IOCTL_DATA_SOURCE_OPEN (reader)
        {"op": "read", "handle": "C"}, {"op": "capture", "handle": "C"},
        {"op": "destroy", "handle": "A"}, {"op": "close", "handle": "A"},
        {"op": "triage_add", "hex": "..."},                  # a client buffer -> TriageDumpDataAdd
        {"op": "surprise_removal"}],
     "crash": {"via": "ioctl", "handle": "B"} | {"via": "bugcheck", "code": 0x..., "parameters": [..]},
     "dump_type": "full", "maximum_allowed": null}
"""
import collections
import json
import os
import struct
import uuid
from typing import Dict, List, Optional

from dmfkd import bounded_input
from dmfkd.errors import DmfkdError, UsageError
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
from dmfemu.modules.crashdump import CrashDump, CrashDumpConfig, pack_data_source_create
from dmfemu.native_image import NativeImage


class SourceLog(object):
    """What the clients of one data source (by GUID) know: entry size, capacity, live records."""

    def __init__(self, name: str, guid: uuid.UUID, entry_size: int, capacity: int, writer: str):
        self.name = name
        self.guid = guid
        self.entry_size = entry_size
        self.capacity = capacity
        self.writer = writer
        self.live = collections.deque()  # records written and not consumed, oldest first
        self.orphaned = False
        self.destroyed = False

    def wrote(self, record: bytes) -> None:
        if len(self.live) == self.capacity:
            self.live.popleft()  # DeleteOldestIfFullOnWrite: the creator's documented mode (§2.7)
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


class ScenarioRun(object):
    """One scenario being replayed: the emulated machine and driver, and the clients' logs.
    `native_image` (dmfemu.native_image.NativeImage) gives the driver a real PE image and PDB."""

    def __init__(self, scenario: dict, native_image: Optional[NativeImage] = None):
        self.scenario = scenario
        self.arch = scenario.get("arch", "x64")
        self.dmf_version = dmf_versions.parse_dmf_version(scenario.get("dmf_version", "1.1.154"))
        self.dump_type = scenario.get("dump_type", "full")
        if self.arch == "x86" and self.dump_type == "triage":
            raise UsageError("x86 triage dumps are not written (x86: dump_type full or bitmap)")
        self.machine = Machine(self.arch)
        self.driver = Driver(self.machine, scenario.get("driver", "dmfdemo"), dmf_version=self.dmf_version,
                             native_image=native_image)
        self.kernel = BugCheckSystem.of(self.machine)
        self.handles = {}     # type: Dict[str, int]  client handle name -> WDFFILEOBJECT
        self.writers = {}     # type: Dict[str, SourceLog]  handle name -> source it writes
        self.readers = {}     # type: Dict[str, SourceLog]
        self.sources = collections.OrderedDict()  # type: Dict[uuid.UUID, SourceLog]
        self.self_log = None  # type: Optional[SourceLog]
        self.additional = None  # type: Optional[bytes]
        self.triage_ranges = []  # type: List[dict]
        self.transcript = []  # type: List[dict]
        self._setup_crashdump(scenario.get("crashdump", {}))

    # -- driver ----------------------------------------------------------------------------------
    def _setup_crashdump(self, spec: dict) -> None:
        guid = parse_guid(spec["ring_buffer_data_guid"]) if spec.get("ring_buffer_data_guid") else ZERO_GUID
        additional = spec.get("additional_data_hex")
        query = write = None
        if additional is not None:
            self.additional = bytes.fromhex(additional)
            payload = self.additional

            def additional_data(request):
                return payload
            additional_data.routine_name = "DmfDemo_EvtCrashDumpAdditionalData"
            query = write = additional_data
        nested = self.dmf_version >= dmf_versions.V1_1_85
        triage_size = spec.get("triage_dump_data_array_size", 0) if nested else 0
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
            component_name=spec.get("component_name", "DmfDemo"),
            ring_buffer_data_guid=guid,
            additional_data_guid=parse_guid(spec["additional_data_guid"]) if spec.get("additional_data_guid")
            else ZERO_GUID,
            buffer_size=spec.get("buffer_size", 0), buffer_count=spec.get("buffer_count", 0),
            ring_buffer_maximum_size=spec.get("ring_buffer_maximum_size", 0),
            evt_crash_dump_query=query, evt_crash_dump_write=write,
            data_source_count=spec.get("data_source_count", 0),
            triage_dump_data_array_size=triage_size, evt_crash_dump_store_triage_dump_data=store)
        self.crashdump = CrashDump(self.driver, config, dynamic=bool(spec.get("dynamic", False)))
        if not nt_success(self.crashdump.create_status):
            raise DmfkdError("DMF_CrashDump_Create failed with 0x%08X" % self.crashdump.create_status)
        self.driver.create_collection()
        if config.buffer_count and config.buffer_size:
            self.self_log = SourceLog("self", guid, config.buffer_size, config.buffer_count, "driver")

    # -- operations --------------------------------------------------------------------------------
    def _handle(self, op: dict) -> int:
        name = op.get("handle")
        if name not in self.handles:
            raise UsageError("scenario operation %r uses handle %r that is not open" % (op.get("op"), name))
        return self.handles[name]

    def run(self, op: dict) -> dict:
        kind = op.get("op")
        cd = self.crashdump
        entry = {"op": kind}
        if kind == "write_self":
            data = bytes.fromhex(op["hex"])
            status = cd.write_self(data)
            if self.self_log is not None:
                if nt_success(status):
                    self.self_log.wrote(data)
                else:
                    self.self_log.failed_write(data)
            entry["status"] = status
        elif kind == "open":
            self.handles[op["handle"]] = cd.file_create()
        elif kind == "close":
            fo = self._handle(op)
            cd.file_close(fo)
            log = self.writers.pop(op["handle"], None)
            if log is not None and not log.destroyed:
                log.orphaned = True
            self.readers.pop(op["handle"], None)
            del self.handles[op["handle"]]
        elif kind == "create":
            fo = self._handle(op)
            guid = parse_guid(op["guid"])
            status, info, _ = cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE, pack_data_source_create(
                op["entries"], op["entry_size"], guid), 0, fo)
            entry.update(status=status, information=info)
            if nt_success(status):
                log = self.sources.get(guid)
                if log is None or log.destroyed:
                    log = SourceLog(op.get("source", op["handle"]), guid, op["entry_size"], op["entries"],
                                    op["handle"])
                    # a new data source registers its bug-check record last (blob order)
                    self.sources.pop(guid, None)
                    self.sources[guid] = log
                log.orphaned = False
                self.writers[op["handle"]] = log
        elif kind == "write":
            fo = self._handle(op)
            data = bytes.fromhex(op["hex"])
            status, info, _ = cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_WRITE, data, 0, fo)
            entry.update(status=status, information=info)
            log = self.writers.get(op["handle"])
            if log is not None:
                if nt_success(status):
                    log.wrote(data)
                elif status == windows.STATUS_UNSUCCESSFUL:   # reached the ring (shorter than S)
                    log.failed_write(data)
        elif kind == "open_source":
            fo = self._handle(op)
            guid = parse_guid(op["guid"])
            status, info, out = cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_OPEN, pack_data_source_create(0, 0, guid),
                                         24, fo)
            entry.update(status=status, information=info)
            if nt_success(status) and guid in self.sources:
                self.readers[op["handle"]] = self.sources[guid]
        elif kind in ("read", "capture"):
            fo = self._handle(op)
            log = self.readers.get(op["handle"])
            if log is None:
                raise UsageError("scenario %s on handle %r that opened no data source" % (kind, op["handle"]))
            code = dmf_structures.IOCTL_DATA_SOURCE_READ if kind == "read" else dmf_structures.IOCTL_DATA_SOURCE_CAPTURE
            size = log.entry_size if kind == "read" else log.entry_size * log.capacity
            status, info, out = cd.ioctl(code, b"", size, fo)
            entry.update(status=status, information=info)
            if nt_success(status):
                count = 1 if kind == "read" else len(out) // log.entry_size
                consumed = [log.live.popleft() for _ in range(min(count, len(log.live)))]
                # the client checks what it got against its own log
                if b"".join(consumed) != out[:len(consumed) * log.entry_size]:
                    raise DmfkdError("scenario: %s returned records the writer never wrote" % kind)
        elif kind == "destroy":
            fo = self._handle(op)
            status, info, _ = cd.ioctl(dmf_structures.IOCTL_DATA_SOURCE_DESTROY, b"", 0, fo)
            entry.update(status=status, information=info)
            log = self.writers.pop(op["handle"], None) or self.readers.pop(op["handle"], None)
            if log is not None:
                log.destroyed = True
        elif kind == "triage_add":
            data = bytes.fromhex(op["hex"])
            va = self.driver.allocate(len(data))
            self.machine.space.write(va, data)
            status = cd.triage_dump_data_add(va, len(data))
            entry["status"] = status
            if nt_success(status):
                self.triage_ranges.append({"address": va, "size": len(data), "when": "setup", "hex": _hex(data)})
        elif kind == "surprise_removal":
            cd.surprise_removal()
        else:
            raise UsageError("scenario: unknown operation %r" % (kind,))
        self.transcript.append(entry)
        return entry

    # -- crash ---------------------------------------------------------------------------------------
    def crash(self, out_dir: str) -> BugCheckResult:
        crash = self.scenario.get("crash", {"via": "bugcheck"})
        path = os.path.join(out_dir, "MEMORY.DMP")
        maximum = self.scenario.get("maximum_allowed")
        self.kernel.crash_path = path
        self.kernel.crash_dump_type = self.dump_type
        self.kernel.crash_maximum_allowed = maximum
        if crash.get("via") == "ioctl":
            try:
                self.crashdump.ioctl(dmf_structures.IOCTL_CRASH_DRIVER, b"", 0, self.handles[crash["handle"]])
            except SystemCrash as crashed:
                return crashed.result
            raise DmfkdError("IOCTL_CRASH_DRIVER did not crash the driver (not a DEBUG build?)")
        params = list(crash.get("parameters", [])) + [0, 0, 0, 0]
        return self.kernel.bugcheck(int(crash.get("code", dmf_structures.BUG_CHECK_PRIVATE)), *params[:4],
                                    dump_type=self.dump_type, path=path, maximum_allowed=maximum)

    def expected(self, result: BugCheckResult) -> dict:
        maximum = self.scenario.get("maximum_allowed")
        if maximum is None:
            maximum = DEFAULT_MAXIMUM_ALLOWED.get(self.dump_type, 64 << 20)
        sources = []
        blobs = []
        logs = ([self.self_log] if self.self_log is not None else []) + \
            [log for log in self.sources.values() if not log.destroyed]
        for log in logs:
            records = list(log.live)
            length = min(log.capacity * log.entry_size, maximum)
            whole = min(len(records), length // log.entry_size)
            item = {
                "name": log.name, "guid": str(log.guid), "entry_size": log.entry_size,
                "capacity": log.capacity, "present": len(records), "orphaned": log.orphaned,
                "truncated": whole < len(records),
                "blob_length": length if records else 0,
                "records": [{"index": i, "hex": _hex(r)} for i, r in enumerate(records[:whole])],
            }
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
        for log in self.sources.values():
            if log.destroyed:
                continue
            blob = expected_ring_blob(list(log.live), log.entry_size, log.capacity, log.guid, maximum)
            if blob is not None:
                blobs.append({"guid": str(log.guid), "length": len(blob), "hex": _hex(blob)})
        return {
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


#: what a scenario value of the wrong type or range raises on its way into the emulated driver (a field too
#: small for it is a struct.error); each is one line naming the step, not a traceback
_BAD_VALUE = (KeyError, ValueError, TypeError, AttributeError, struct.error)


def run_scenario(scenario: dict, out_dir: str, native_image: Optional[NativeImage] = None) -> dict:
    """Replay `scenario`, write DIR/MEMORY.DMP, DIR/driver.isf.json, DIR/expected.json; return the
    expected document. `native_image`: see ScenarioRun."""
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise UsageError("cannot create output directory %s: %s" % (out_dir, exc.strerror or exc))
    # the shape first (a scenario file is user input: fuzz_inputs "scenario" class); a value of the wrong
    # type deeper down is an AttributeError as often as a TypeError
    operations = scenario.get("operations", [])
    if not isinstance(operations, list):
        raise UsageError("scenario: operations is a %s, not a list" % type(operations).__name__)
    for section in ("crashdump",):
        if section in scenario and not isinstance(scenario[section], dict):
            raise UsageError("scenario: %s is a %s, not an object" % (section, type(scenario[section]).__name__))
    try:
        run = ScenarioRun(scenario, native_image)
    except _BAD_VALUE as exc:
        raise UsageError("scenario: bad driver configuration (%s: %s)" % (type(exc).__name__, exc))
    for number, op in enumerate(operations):
        if not isinstance(op, dict):
            raise UsageError("scenario operation #%d is not an object" % number)
        try:
            run.run(op)
        except _BAD_VALUE as exc:
            raise UsageError("scenario operation #%d (%s): %s: %s" % (number, op.get("op"), type(exc).__name__, exc))
        except KernelFault as fault:  # what the scenario made the emulated driver do crashes it
            raise UsageError("scenario operation #%d (%s): the emulated driver faults: %s"
                             % (number, op.get("op"), fault))
    write_isf(os.path.join(out_dir, "driver.isf.json"), run.driver)
    try:
        result = run.crash(out_dir)
    except _BAD_VALUE as exc:
        raise UsageError("scenario crash: %s: %s" % (type(exc).__name__, exc))
    except KernelFault as fault:
        raise UsageError("scenario crash: the emulated driver faults: %s" % fault)
    expected = run.expected(result)
    with open(os.path.join(out_dir, "expected.json"), "w", encoding="utf-8") as handle:
        json.dump(expected, handle, indent=1)
        handle.write("\n")
    return expected


#: the largest scenario file read (the shipped ones are a few KB)
MAX_SCENARIO_BYTES = 16 * 1024 * 1024


def load_scenario(path: str) -> dict:
    # a regular file only, bounded like every input dmfkd reads (a FIFO would block the open; a deep or
    # huge JSON would recurse or fill memory in json.load)
    try:
        data = bounded_input.read_json(path, MAX_SCENARIO_BYTES, "scenario JSON")
    except DmfkdError as exc:
        raise UsageError("cannot read scenario %s" % str(exc).splitlines()[0])
    if not isinstance(data, dict):
        raise UsageError("scenario %s: the top level must be a JSON object" % path)
    return data
