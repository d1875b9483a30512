"""Scenario format v1: reading a scenario document, checking it against the shipped JSON Schema
(scenario-v1.schema.json) and against what the schema cannot say (record types that exist, a
payload a record type can take, a dump type the crash can write), and filling in the defaults a DMF
driver would plausibly use. The format itself is documented in docs/scenarios.md.

Everything a user gets wrong is one line naming the JSON path: ``operations[3].entries: must be >= 1``.
"""
import os
import struct
from typing import Any, List, Optional, Tuple

from dmfkd import bounded_input
from dmfkd.errors import DmfkdError, UsageError
from dmfkd.guids import parse_guid
from dmfkd.layouts import dmf_versions
from dmfkd.layouts import windows

from dmfemu.scenarios.record_types import RecordType, RecordTypes
from dmfemu.scenarios.schema_validation import first_violation

FORMAT = "dmfemu-scenario/1"
#: a scenario file larger than this is refused before it is parsed (`repeat` keeps big scenarios small)
MAX_SCENARIO_BYTES = 64 << 20
#: what a driver's RingBufferMaximumSize is when the scenario does not say: room for the data sources
#: user-mode clients typically create (64 KiB of records)
DEFAULT_RING_BUFFER_MAXIMUM_SIZE = 0x10000
DEFAULT_DMF_VERSION = "1.1.154"
#: the largest ring (N*S bytes) and triage array a scenario may ask the emulator for: what a scenario
#: says is allocated in emulated memory, so it is bounded before anything is
MAX_RING_BYTES = 64 << 20
MAX_TRIAGE_BLOCKS = 65536
STATUS_BY_NAME = {name: value for value, name in windows.NTSTATUS_NAMES.items()}
LIVE_OPERATIONS = ("write_self", "buffer_add", "buffer_remove", "client_structure")
CRASHDUMP_OPERATIONS = ("write_self", "open", "close", "create", "write", "open_source", "read", "capture", "destroy",
                        "triage_add", "surprise_removal", "module_close")


class ScenarioError(UsageError):
    """The scenario document is not a valid scenario (exit status 2)."""


class ReplayFailure(DmfkdError):
    """An operation returned a failure NTSTATUS the scenario did not expect (exit status 1); `status` is
    what it returned (None when the failure is not a status)."""
    exit_status = 1

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


def status_name(status: int) -> str:
    return windows.NTSTATUS_NAMES.get(status & 0xFFFFFFFF, "0x%08X" % (status & 0xFFFFFFFF))


class Payload(object):
    """The bytes an operation writes, made when the record size is known (hex as given, text padded to
    the record size, fields through the record type); with `repeat` and `vary`, one record per
    repetition with the varied integer fields stepped."""

    def __init__(self, op: dict, path: str):
        self.path = path
        self.hex = op.get("hex")
        self.text = op.get("text")
        self.fields = op.get("fields")
        self.vary = op.get("vary") or {}
        if self.vary and (self.fields is None or op.get("repeat", 1) < 2):
            raise ScenarioError("%s.vary: needs fields and a repeat of at least 2" % path)

    @property
    def kind(self) -> str:
        return "hex" if self.hex is not None else ("text" if self.text is not None else "fields")

    def make(self, entry_size: Optional[int], record_type: Optional[RecordType]) -> bytes:
        if self.hex is not None:
            return bytes.fromhex(self.hex)
        if self.text is not None:
            raw = self.text.encode("ascii", "strict") if self.text.isascii() else None
            if raw is None:
                raise ScenarioError("%s.text: must be ASCII (give hex for other bytes)" % self.path)
            if entry_size is not None:
                if len(raw) > entry_size:
                    raise ScenarioError("%s.text: %d characters do not fit in a %d-byte record" % (
                        self.path, len(raw), entry_size))
                raw += bytes(entry_size - len(raw))
            return raw
        if record_type is None:
            raise ScenarioError("%s.fields: the record has no record type (give the data source a record_type, "
                                "or the SELF ring crashdump.self_record_type)" % self.path)
        return record_type.pack(self.fields, self.path + ".fields")

    def steps(self, record_type: Optional[RecordType], repeat: int) -> List[Tuple[int, str, int, int]]:
        """(offset, struct format, first value, step) of each varied field, range-checked up front."""
        out = []
        for name, step in self.vary.items():
            field = record_type.integer_field(name, "%s.vary.%s" % (self.path, name))
            first = record_type.unpack(self.make(None, record_type))[name]
            signed = field.signed and field.kind == "int"
            fmt = "<" + {1: "b", 2: "h", 4: "i", 8: "q"}[field.size] if signed else \
                "<" + {1: "B", 2: "H", 4: "I", 8: "Q"}[field.size]
            last = first + step * (repeat - 1)
            try:
                struct.pack(fmt, last)
            except struct.error:
                raise ScenarioError("%s.vary.%s: the value after %d repetitions (%d) does not fit the field"
                                    % (self.path, name, repeat, last))
            out.append((field.offset, fmt, first, step))
        return out


class Operation(object):
    """One entry of `operations`, checked: its index, kind, handle, payload, repeat and expected status."""

    def __init__(self, index: int, op: dict):
        self.index = index
        self.path = "operations[%d]" % index
        self.raw = op
        self.kind = op["op"]
        self.handle = op.get("handle")
        self.name = op.get("name")
        self.repeat = op.get("repeat", 1)
        self.expect = None  # type: Optional[int]
        if "expect" in op:
            if op["expect"] not in STATUS_BY_NAME:
                raise ScenarioError("%s.expect: unknown NTSTATUS name %s (known: %s)" % (
                    self.path, op["expect"], ", ".join(sorted(STATUS_BY_NAME))))
            self.expect = STATUS_BY_NAME[op["expect"]]
        has_payload = any(key in op for key in ("hex", "text", "fields"))
        self.payload = Payload(op, self.path) if has_payload else None

    def describe(self) -> str:
        return "%s %s" % (self.path, self.kind)


def read_document(path: str) -> dict:
    """The JSON object in `path`: a regular file (a FIFO would block the open) read and parsed within the
    bounds every input dmfkd reads has (size, nesting, value count, integer digits); one-line errors."""
    try:
        size = os.stat(path).st_size
    except (OSError, ValueError):
        size = 0                            # bounded_input says why in its own words
    if size > MAX_SCENARIO_BYTES:
        raise ScenarioError("scenario %s: %d bytes, more than the %d a scenario may have (use repeat)"
                            % (path, size, MAX_SCENARIO_BYTES))
    try:
        data = bounded_input.read_json(path, MAX_SCENARIO_BYTES, "scenario JSON")
    except DmfkdError as exc:
        raise ScenarioError("cannot read scenario %s" % str(exc).splitlines()[0])
    if not isinstance(data, dict):
        raise ScenarioError("scenario %s: the top level must be a JSON object" % path)
    return data


class Scenario(object):
    """A checked scenario with its defaults filled in. `source` names it in messages (a file or
    "scenario"); `base_dir` is where record-type schema files are looked for."""

    def __init__(self, document: dict, source: str = "scenario", base_dir: str = "."):
        if not isinstance(document, dict):
            raise ScenarioError("%s: the top level must be a JSON object" % source)
        violation = first_violation(document)
        if violation is not None:
            raise ScenarioError("%s: %s" % (source, violation))
        self.document = document
        self.source = source
        try:
            self._read(document, base_dir)
        except UsageError as exc:
            if source == "scenario":
                raise ScenarioError(str(exc))
            raise ScenarioError("%s: %s" % (source, exc))

    def _read(self, doc: dict, base_dir: str) -> None:
        self.description = doc.get("description", "")
        self.arch = doc.get("arch", "x64")
        try:
            self.dmf_version = dmf_versions.parse_dmf_version(doc.get("dmf_version", DEFAULT_DMF_VERSION))
        except DmfkdError as exc:
            raise ScenarioError("dmf_version: %s" % exc)
        self.driver = doc.get("driver", "dmfdemo")
        self.nested = self.dmf_version >= dmf_versions.V1_1_85
        self.types = RecordTypes(doc.get("enums", {}), doc.get("record_types", {}), base_dir)
        crash = doc.get("crash", {"via": "bugcheck"})
        self.crash = crash
        self.live = crash["via"] == "live_dump" or "livekerneldump" in doc
        if self.live and crash["via"] != "live_dump":
            raise ScenarioError("crash.via: a scenario with livekerneldump ends with a live dump (\"via\": "
                                "\"live_dump\")")
        if self.live and "crashdump" in doc:
            raise ScenarioError("crashdump: a live-dump scenario has livekerneldump instead")
        self.maximum_allowed = doc.get("maximum_allowed")
        self.operations = [Operation(index, op) for index, op in enumerate(doc.get("operations", []))]
        allowed = LIVE_OPERATIONS if self.live else CRASHDUMP_OPERATIONS
        for op in self.operations:
            if op.kind not in allowed:
                raise ScenarioError("%s.op: %s is not an operation of a %s scenario (%s are)" % (
                    op.path, op.kind, "live-dump" if self.live else "crash-dump", ", ".join(allowed)))
        if self.live:
            self._read_live(doc)
        else:
            self._read_crashdump(doc.get("crashdump", {}))

    def _type_of(self, name: Optional[str], path: str) -> Optional[RecordType]:
        return None if name is None else self.types.get(name, path)

    def _sized(self, spec: dict, type_key: str, size_key: str, path: str,
               default: int) -> Tuple[int, Optional[RecordType]]:
        record_type = self._type_of(spec.get(type_key), "%s.%s" % (path, type_key))
        size = spec.get(size_key)
        if record_type is not None and size is not None and size != record_type.size:
            raise ScenarioError("%s.%s: %d, but %s is %d bytes" % (path, size_key, size, record_type.name,
                                                                    record_type.size))
        if size is None:
            size = record_type.size if record_type is not None else default
        return size, record_type

    def _read_crashdump(self, spec: dict) -> None:
        self.dump_type = self.document.get("dump_type", "full")
        if self.dump_type == "bitmap-kernel":
            raise ScenarioError("dump_type: bitmap-kernel is a live dump type (crash dumps: full, bitmap, triage)")
        if self.arch == "x86" and self.dump_type == "triage":
            raise ScenarioError("dump_type: x86 triage dumps are not written (x86: full or bitmap)")
        buffer_size, self.self_type = self._sized(spec, "self_record_type", "buffer_size", "crashdump", 0)
        guids = []
        opens = any(op.kind == "open" for op in self.operations) or self.crash["via"] == "ioctl"
        for op in self.operations:
            if op.kind == "create":
                guid = parse_guid(op.raw["guid"])
                if guid not in guids:
                    guids.append(guid)
        if not self.nested and spec.get("triage_dump_data_array_size"):
            raise ScenarioError("crashdump.triage_dump_data_array_size: DMF %s has the flat CrashDump config, "
                                "without triage data (1.1.85 and later have it)"
                                % dmf_versions.format_dmf_version(self.dmf_version))
        additional = spec.get("additional_data")
        additional_bytes = None
        if additional is not None:
            additional_bytes = Payload(additional, "crashdump.additional_data").make(None, None)
        elif spec.get("additional_data_hex") is not None:
            additional_bytes = bytes.fromhex(spec["additional_data_hex"])
        _bounded(buffer_size * spec.get("buffer_count", 0), "crashdump.buffer_count x buffer_size")
        maximum = spec.get("ring_buffer_maximum_size", DEFAULT_RING_BUFFER_MAXIMUM_SIZE)
        for op in self.operations:
            if op.kind == "create":
                size = (op.raw["entry_size"] if "entry_size" in op.raw
                        else self.types.get(op.raw["record_type"], op.path + ".record_type").size)
                # DMF refuses a ring whose 32-bit N*S is over RingBufferMaximumSize without allocating it
                if (op.raw["entries"] * size) & 0xFFFFFFFF <= maximum:
                    _bounded(op.raw["entries"] * size, op.path + ": entries x entry_size")
        if spec.get("triage_dump_data_array_size", 0) > MAX_TRIAGE_BLOCKS:
            raise ScenarioError("crashdump.triage_dump_data_array_size: more than the %d blocks dmfemu emulates"
                                % MAX_TRIAGE_BLOCKS)
        self.crashdump = {
            "component_name": spec.get("component_name", "DmfDemo"),
            "ring_buffer_data_guid": parse_guid(spec["ring_buffer_data_guid"]) if spec.get("ring_buffer_data_guid")
            else None,
            "additional_data_guid": parse_guid(spec["additional_data_guid"]) if spec.get("additional_data_guid")
            else None,
            "buffer_size": buffer_size,
            "buffer_count": spec.get("buffer_count", 0),
            "ring_buffer_maximum_size": spec.get("ring_buffer_maximum_size", DEFAULT_RING_BUFFER_MAXIMUM_SIZE),
            # a client that opens the interface needs it: at least one data source then
            "data_source_count": spec.get("data_source_count", min(max(len(guids), int(opens)), 8)),
            "triage_dump_data_array_size": spec.get("triage_dump_data_array_size", 0),
            "additional_data": additional_bytes,
            "dynamic": bool(spec.get("dynamic", False)),
        }
        if self.crash["via"] == "ioctl" and not self.crashdump["data_source_count"]:
            raise ScenarioError("crash: IOCTL_CRASH_DRIVER needs the CrashDump interface: give "
                                "crashdump.data_source_count (at least 1)")

    def _read_live(self, doc: dict) -> None:
        spec = doc.get("livekerneldump", {})
        self.dump_type = doc.get("dump_type", "triage" if self.arch == "x64" else "full")
        if self.dump_type not in ("triage", "bitmap-kernel", "full"):
            raise ScenarioError("dump_type: a live dump is triage, bitmap-kernel or full, not %s" % self.dump_type)
        if self.arch == "x86" and self.dump_type != "full":
            raise ScenarioError("dump_type: x86 live dumps are full dumps only")
        if self.maximum_allowed is not None:
            raise ScenarioError("maximum_allowed: a live dump has no secondary-data callbacks to limit")
        size, self.self_type = self._sized(spec, "ring_record_type", "buffer_size", "livekerneldump", 64)
        _bounded(size * spec.get("buffer_count", 8), "livekerneldump.buffer_count x buffer_size")
        self.livekerneldump = {
            "report_type": spec.get("report_type", "DMFDEMO"),
            "secondary_data_guid": parse_guid(spec["secondary_data_guid"]) if spec.get("secondary_data_guid")
            else None,
            "interface_guid": parse_guid(spec["interface_guid"]) if spec.get("interface_guid") else None,
            "include_dmf_data_in_bugcheck_triage_dump": bool(spec.get("include_dmf_data_in_bugcheck_triage_dump")),
            "ring_instance_name": spec.get("ring_instance_name", "DmfDemoEvents"),
            "buffer_size": size,
            "buffer_count": spec.get("buffer_count", 8),
        }
        names = set()
        for op in self.operations:
            if op.kind == "buffer_add":
                if op.name in names:
                    raise ScenarioError("%s.name: a buffer named %s was added before" % (op.path, op.name))
                names.add(op.name)
            elif op.kind == "buffer_remove" and op.name not in names:
                raise ScenarioError("%s.name: no buffer named %s was added before" % (op.path, op.name))
        secondary = self.crash.get("secondary_data")
        self.secondary = None if secondary is None else Payload(secondary, "crash.secondary_data").make(None, None)


def _bounded(size: int, what: str) -> None:
    if size > MAX_RING_BYTES:
        raise ScenarioError("%s = %d bytes: more than the %d MiB a ring may have in dmfemu" % (
            what, size, MAX_RING_BYTES >> 20))


def load_scenario_file(path: str) -> Scenario:
    """Read, check and fill in the scenario in `path` (one-line ScenarioError otherwise)."""
    return Scenario(read_document(path), source=path, base_dir=os.path.dirname(os.path.abspath(path)))


def as_scenario(scenario: Any, base_dir: str = ".") -> Scenario:
    """A Scenario from a Scenario, a document (dict) or a file path."""
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, (str, os.PathLike)):
        return load_scenario_file(os.fspath(scenario))
    return Scenario(scenario, base_dir=base_dir)


__all__ = ["FORMAT", "Operation", "Payload", "ReplayFailure", "Scenario", "ScenarioError", "as_scenario",
           "load_scenario_file", "read_document", "status_name"]
