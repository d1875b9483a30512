"""Replay a live-dump scenario (format v1 with a ``livekerneldump`` section, docs/scenarios.md): a DMF
driver with DMF_LiveKernelDump and a client ring, what the driver records, and the live kernel dump
its IOCTL_LIVEKERNELDUMP_CREATE asks for. Writes DIR/LIVEDUMP.DMP, DIR/driver.isf.json and
DIR/expected.json (dmfemu.scenarios.live_dump_demo.LiveDumpRun.expected, from the callers' own
log, plus the client ring's records from its writer's log).
"""
import collections
import os
import struct
from typing import Optional

from dmfkd.layouts import dmf_versions
from dmfkd.layouts.windows import nt_success

from dmfemu.isf import write_isf
from dmfemu.modules.livekerneldump import SOC_SUBSYSTEM_FAILURE_LIVEDUMP
from dmfemu.native_image import NativeImage
from dmfemu.scenarios.crashdump_replay import make_machine, make_output_directory, write_expected
from dmfemu.scenarios.live_dump_demo import DUMP_NAME, INTERFACE_GUID, SECONDARY_GUID, LiveDumpRun
from dmfemu.scenarios.scenario_format import Operation, ReplayFailure, ScenarioError, as_scenario, status_name


class LiveScenarioRun(object):
    """One live-dump scenario being replayed (see the module docstring)."""

    def __init__(self, scenario, native_image: Optional[NativeImage] = None):
        self.spec = as_scenario(scenario)      # type: Scenario
        if not self.spec.live:
            raise ScenarioError("a crash-dump scenario: replay it with dmfemu.scenarios.replay")
        spec = self.spec.livekerneldump
        make_machine(self.spec.arch)           # the one-line refusal of an architecture not built yet
        self.run = LiveDumpRun(self.spec.arch, dmf_versions.format_dmf_version(self.spec.dmf_version),
                               report_type=spec["report_type"],
                               secondary_guid=spec["secondary_data_guid"] or SECONDARY_GUID,
                               include_dmf_data_in_bugcheck_triage_dump=spec[
                                   "include_dmf_data_in_bugcheck_triage_dump"],
                               driver_name=self.spec.driver, interface_guid=spec["interface_guid"] or INTERFACE_GUID,
                               ring_instance_name=spec["ring_instance_name"], ring_count=spec["buffer_count"],
                               ring_size=spec["buffer_size"], demo_events=False, native_image=native_image)
        self.driver = self.run.driver
        self.ring_records = collections.deque(maxlen=spec["buffer_count"])
        self.buffers = {}   # type: Dict[str, Tuple[int, int]]
        self.transcript = []  # type: List[dict]
        self.operations = 0

    def run_operation(self, op: Operation) -> dict:
        entry = {"op": op.kind}
        if op.kind == "write_self":
            self._write_ring(op, entry)
        elif op.kind == "buffer_add":
            record_type = self.spec.types.get(op.raw["record_type"], op.path + ".record_type") \
                if "record_type" in op.raw else None
            data = op.payload.make(None, record_type)
            if not data:
                raise ScenarioError("%s: a buffer of 0 bytes" % op.path)
            self.buffers[op.name] = self.run.add_client_buffer(op.name, data)
            entry["size"] = len(data)
        elif op.kind == "buffer_remove":
            self.run.remove(*self.buffers[op.name])
        else:
            data = op.payload.make(None, None)
            if not data:
                raise ScenarioError("%s: a structure of 0 bytes" % op.path)
            self.run.client_structure(op.name, data)
            entry["size"] = len(data)
        self.operations += op.repeat
        self.transcript.append(entry)
        return entry

    def _write_ring(self, op: Operation, entry: dict) -> None:
        record_type = self.spec.self_type
        size = self.spec.livekerneldump["buffer_size"]
        base = op.payload.make(size, record_type)
        steps = op.payload.steps(record_type, op.repeat) if op.payload.vary else []
        record = bytearray(base)
        status = 0
        for repetition in range(op.repeat):
            for offset, fmt, first, step in steps:
                struct.pack_into(fmt, record, offset, first + step * repetition)
            data = bytes(record)
            status = self.run.events.write(data)
            if nt_success(status):
                self.ring_records.append(data)
            where = op.describe() + (" (repetition %d of %d)" % (repetition + 1, op.repeat) if op.repeat > 1 else "")
            if op.expect is not None and status != op.expect:
                raise ReplayFailure("%s: returned %s, the scenario expects %s" % (where, status_name(status),
                                                                                  status_name(op.expect)))
            if op.expect is None and not nt_success(status):
                raise ReplayFailure("%s: %s (a record must be exactly the ring's %d-byte record size)"
                                    % (where, status_name(status), size))
        entry["status"] = status
        if op.repeat > 1:
            entry["repeat"] = op.repeat

    def live_dump(self, out_dir: str) -> dict:
        crash = self.spec.crash
        path = os.path.join(out_dir, DUMP_NAME)
        report = self.run.live_dump(path, code=crash.get("code", SOC_SUBSYSTEM_FAILURE_LIVEDUMP),
                                    parameter=crash.get("parameter", 0),
                                    exclude_dmf_data=crash.get("exclude_dmf_data", False),
                                    secondary=self.spec.secondary, dump_type=self.spec.dump_type)
        expected = self.run.expected(report)
        record_type = self.spec.self_type
        records = []
        for index, data in enumerate(self.ring_records):
            item = {"index": index, "hex": data.hex()}
            if record_type is not None:
                item["fields"] = record_type.unpack(data)
                names = record_type.enum_names(data)
                if names:
                    item["enum_names"] = names
            records.append(item)
        expected["ring"] = {"instance_name": self.spec.livekerneldump["ring_instance_name"],
                            "handle": self.run.events.handle, "entry_size": self.spec.livekerneldump["buffer_size"],
                            "capacity": self.spec.livekerneldump["buffer_count"], "records": records}
        if record_type is not None:
            expected["ring"]["record_type"] = record_type.name
        expected["module"] = self.driver.name
        if self.spec.types.types:
            expected["record_types"] = self.spec.types.described()
        expected["transcript"] = self.transcript
        return expected

    def write_symbols(self, out_dir: str) -> None:
        write_isf(os.path.join(out_dir, "driver.isf.json"), self.driver, user_types=self.spec.types.isf_user_types(),
                  enums=self.spec.types.isf_enums())


def run_live_scenario(scenario, out_dir: str, native_image: Optional[NativeImage] = None) -> dict:
    """Replay a live-dump scenario into `out_dir`; returns the expected document."""
    spec = as_scenario(scenario)
    make_output_directory(out_dir)
    run = LiveScenarioRun(spec, native_image)
    for op in spec.operations:
        run.run_operation(op)
    run.write_symbols(out_dir)
    expected = run.live_dump(out_dir)
    write_expected(out_dir, expected)
    return expected
