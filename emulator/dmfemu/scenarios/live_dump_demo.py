"""A DMF driver whose DMF_LiveKernelDump records buffers, and the live kernel dump it asks for
(spec/dmf.md §3, spec/dump-format.md §7).

The driver has two top-level modules in its DMFCOLLECTION: the LiveKernelDump feature module (with
its DataBufferSource ring, BufferQueue and IoctlHandler children) and a client RingBuffer
"DmfDemoEvents". Collection set-up stores the framework data (§3.6); the client then adds (and may
remove) its own buffers; `live_dump` issues IOCTL_LIVEKERNELDUMP_CREATE, which runs
LkmdTelCreateReport / LkmdTelInsertTriageDataBlock / LkmdTelSetSecondaryData / LkmdTelSubmitReport
as §3.5 describes and writes the dump file (a triage live minidump, type 4, or a full live dump,
bitmap type 6; x86: type 1).

`expected()` is built from the DataBufferSource callers' own log (`LiveKernelDump.calls`) by the
rules of §3.3 (a 256-entry ring that drops its oldest entry, Remove invalidates every equal valid
entry: Q-LKD-1, Q-LKD-2) and from what the IOCTL caller passed - never from the ring in emulated
memory - so a reader of the dump can be checked against it. Labels ("what" each buffer is) come from
the emulator's own module objects.

``demo_live_dump(DIR, ...)`` (`dmfemu livedump -o DIR`) writes DIR/LIVEDUMP.DMP, DIR/driver.isf.json
and DIR/expected.json.
"""
import collections
import json
import os
import uuid
from typing import Dict, List, Optional, Sequence, Tuple

from dmfkd.errors import DmfkdError, UsageError
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dmf_versions
from dmfkd.layouts import windows
from dmfkd.layouts.dmf_structures import LIVEKERNELDUMP_DATA_BUFFER_COUNT, LIVEKERNELDUMP_TRIAGE_BLOCK_OVERHEAD
from dmfkd.layouts.engine import ZERO_GUID

from dmfemu.driver import Driver, pack_event
from dmfemu.isf import write_isf
from dmfemu.machine import Machine
from dmfemu.modules.livekerneldump import (SOC_SUBSYSTEM_FAILURE_LIVEDUMP, LiveKernelDump, LiveKernelDumpConfig)
from dmfemu.modules.ringbuffer import RingBuffer
from dmfemu.native_image import NativeImage

SECONDARY_GUID = uuid.UUID("5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f7a")
INTERFACE_GUID = uuid.UUID("5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f7b")
REPORT_TYPE = "DMFDEMO"
EVENTS_COUNT = 8
DUMP_NAME = "LIVEDUMP.DMP"


def model_data_buffers(calls: Sequence[Tuple[str, int, int]],
                       capacity: int = LIVEKERNELDUMP_DATA_BUFFER_COUNT) -> Tuple[List[dict], int]:
    """The DataBufferSource list after `calls`, oldest first, by spec/dmf.md §3.3 ({address, size,
    valid}), and DmfDataSize: + (Size + 8) per Add even when the ring drops an entry (Q-LKD-1),
    - (Size + 8) per entry a Remove invalidates (Q-LKD-2). Written from the spec, not the emulated ring."""
    ring = collections.deque()
    dmf_data_size = 0
    for kind, address, size in calls:
        if kind == "add":
            if len(ring) == capacity:
                ring.popleft()
            ring.append([address, size, True])
            dmf_data_size += size + LIVEKERNELDUMP_TRIAGE_BLOCK_OVERHEAD
        elif kind == "remove":
            for entry in ring:
                if entry[0] == address and entry[1] == size and entry[2]:
                    entry[2] = False
                    dmf_data_size -= size + LIVEKERNELDUMP_TRIAGE_BLOCK_OVERHEAD
        else:
            raise ValueError("unknown DataBufferSource call %r" % (kind,))
    return [{"address": a, "size": s, "valid": v} for a, s, v in ring], dmf_data_size & 0xFFFFFFFF


class LiveDumpRun(object):
    def __init__(self, arch: str = "x64", dmf_version="1.1.154", report_type: str = REPORT_TYPE,
                 secondary_guid: uuid.UUID = SECONDARY_GUID,
                 include_dmf_data_in_bugcheck_triage_dump: bool = False, driver_name: str = "dmfdemo",
                 native_image: Optional[NativeImage] = None):
        self.arch = arch
        self.machine = Machine(arch)
        # native_image: a real PE + PDB for the driver (dmfemu.native_build), so its symbols come from a PDB
        self.driver = Driver(self.machine, driver_name, dmf_version=dmf_version, native_image=native_image)
        self.live_kernel_dump = LiveKernelDump(self.driver, LiveKernelDumpConfig(
            guid_device_interface=INTERFACE_GUID, report_type=report_type, guid_secondary_data=secondary_guid,
            include_dmf_data_in_bugcheck_triage_dump=include_dmf_data_in_bugcheck_triage_dump))
        status, self.events = RingBuffer.create(self.driver.dmf, EVENTS_COUNT, 64,
                                                dmf_structures.RingBuffer_Mode_DeleteOldestIfFullOnWrite,
                                                instance_name="DmfDemoEvents", parent_device=self.driver.device)
        if status != windows.STATUS_SUCCESS:
            raise DmfkdError("DmfDemoEvents ring creation failed: 0x%08X" % status)
        for n in range(EVENTS_COUNT + 3):
            self.events.write(pack_event(132500000000000000 + n, n, 7, 2, "live dump demo event %d" % n))
        # the feature module is a top-level module of the collection (COLL.c), found by its name
        self.collection = self.driver.dmf.create_collection([self.live_kernel_dump.module, self.events.module],
                                                            client_device=self.driver.device)
        self.driver.collection = self.collection
        self.live_kernel_dump.module_collection_initialize(self.collection)
        self.labels = self._framework_labels()    # type: Dict[Tuple[int, int], str]
        self.client_buffers = []  # type: List[dict]
        self.client_structures = []  # type: List[Tuple[int, int]]

    # -- what each framework buffer is, from the emulator's own objects (§3.6) ------------------------
    def _framework_labels(self) -> Dict[Tuple[int, int], str]:
        labels = {}
        c = self.collection
        labels[(c.va, dmf_structures.dmf_module_collection(self.arch).size)] = "DMF_MODULE_COLLECTION"
        labels[(c.array_va, len(c.modules) * 8)] = "ClientDriverDmfModules"
        object_size = self.driver.dmf.object_layout.size
        for top in c.modules:
            for m in top.walk():
                name = m.module_name if m.instance_name in ("", m.module_name) else "%s/%s" % (
                    m.module_name, m.instance_name)
                labels[(m.object_va, object_size)] = "DMF_OBJECT " + name
                if m.config_va:
                    labels[(m.config_va, m.config_size)] = "config " + name
                if m.instance_name_va:
                    labels[(m.instance_name_va, len(m.instance_name) + 1)] = "instance name " + name
                if m.context_va:
                    labels[(m.context_va, m.context_size)] = "context " + name
        return labels

    # -- the client ---------------------------------------------------------------------------------
    def add_client_buffer(self, name: str, data: bytes) -> Tuple[int, int]:
        """A client buffer in nonpaged pool, recorded with DMF_LiveKernelDump_DataBufferSourceAdd."""
        va = self.driver.allocate(len(data))
        self.machine.space.write(va, data)
        self.live_kernel_dump.data_buffer_source_add(va, len(data))
        self.client_buffers.append({"name": name, "address": va, "size": len(data)})
        self.labels.setdefault((va, len(data)), "client " + name)
        return va, len(data)

    def add(self, address: int, size: int) -> int:
        return self.live_kernel_dump.data_buffer_source_add(address, size)

    def remove(self, address: int, size: int) -> None:
        self.live_kernel_dump.data_buffer_source_remove(address, size)

    def client_structure(self, name: str, data: bytes) -> Tuple[int, int]:
        """A LIVEKERNELDUMP_CLIENT_STRUCTURE the IOCTL caller will pass (not in the ring)."""
        va = self.driver.allocate(len(data))
        self.machine.space.write(va, data)
        self.client_structures.append((va, len(data)))
        self.labels.setdefault((va, len(data)), "client structure " + name)
        return va, len(data)

    # -- the live dump ------------------------------------------------------------------------------
    def live_dump(self, path: str, code: int = SOC_SUBSYSTEM_FAILURE_LIVEDUMP, parameter: int = 0x1234,
                  exclude_dmf_data: bool = False, secondary: Optional[bytes] = None,
                  dump_type: Optional[str] = None):
        """IOCTL_LIVEKERNELDUMP_CREATE with a packed LIVEKERNELDUMP_INPUT_BUFFER (§3.4); the report."""
        if dump_type is None:
            dump_type = "full" if self.arch == "x86" else "triage"
        space = self.machine.space
        client = dmf_structures.livekerneldump_client_structure(self.arch)
        array = 0
        if self.client_structures:
            raw = b"".join(client.pack({"Address": a, "Size": s}) for a, s in self.client_structures)
            array = self.driver.allocate(len(raw))
            space.write(array, raw)
        buffer_va = 0
        if secondary:
            buffer_va = self.driver.allocate(len(secondary))
            space.write(buffer_va, secondary)
        request = dmf_structures.livekerneldump_input_buffer(self.arch).pack({
            "BugCheckCode": code, "BugCheckParameter": parameter, "ExcludeDmfData": int(exclude_dmf_data),
            "NumberOfClientStructures": len(self.client_structures), "ArrayOfClientStructures": array,
            "SizeOfSecondaryData": len(secondary or b""), "SecondaryDataBuffer": buffer_va})
        self._request = {"code": code, "parameter": parameter, "exclude_dmf_data": exclude_dmf_data,
                         "secondary": secondary}
        status, report = self.live_kernel_dump.ioctl(dmf_structures.IOCTL_LIVEKERNELDUMP_CREATE, request, path=path,
                                                     dump_type=dump_type)
        if status != windows.STATUS_SUCCESS or report is None:
            raise DmfkdError("IOCTL_LIVEKERNELDUMP_CREATE failed: 0x%08X" % status)
        return report

    def expected(self, report=None) -> dict:
        """What a reader of the dump should find, from the callers' logs (module docstring)."""
        entries, dmf_data_size = model_data_buffers(self.live_kernel_dump.calls)
        for e in entries:
            e["what"] = self.labels.get((e["address"], e["size"]))
        request = getattr(self, "_request", None)
        doc = {"arch": self.arch, "dmf_version": dmf_versions.format_dmf_version(self.driver.dmf_version),
               "report_type": self.live_kernel_dump.config.report_type,
               "collection": self.collection.handle,
               "collection_address": self.collection.va,
               "livekerneldump_handle": self.live_kernel_dump.module.handle,
               "data_buffer_source_handle": self.live_kernel_dump.ring.handle,
               "data_buffers": entries,
               "dmf_data_size": dmf_data_size,
               "client_buffers": list(self.client_buffers),
               "client_structures": [{"address": a, "size": s} for a, s in self.client_structures]}
        config = self.live_kernel_dump.config
        if request is not None:
            dmf = [] if request["exclude_dmf_data"] else [
                {"address": e["address"], "size": e["size"]} for e in entries if e["valid"]]
            doc.update({
                "bugcheck": {"code": request["code"], "parameters": [
                    request["parameter"], 0 if request["exclude_dmf_data"] else self.collection.handle, 0, 0]},
                "exclude_dmf_data": request["exclude_dmf_data"],
                "triage_blocks": dmf + doc["client_structures"],
                "secondary": None if not request["secondary"] or config.guid_secondary_data == ZERO_GUID
                else {"guid": str(config.guid_secondary_data), "hex": request["secondary"].hex()}})
        if report is not None:
            doc["dump_type"] = report.dump_type
            doc["path"] = report.path
        return doc


def demo_live_dump(out_dir: str, arch: str = "x64", dump_type: Optional[str] = None, client_buffers: int = 3,
                   exclude_dmf_data: bool = False, dmf_version: str = "1.1.154",
                   native_image: Optional[NativeImage] = None) -> dict:
    """The reference live dump: framework data, `client_buffers` client buffers (the second one
    removed again), one client structure, secondary data. Writes DIR/LIVEDUMP.DMP,
    DIR/driver.isf.json and DIR/expected.json; returns the expected document."""
    if arch == "x86" and dump_type not in (None, "full"):
        raise UsageError("x86 live dumps are full dumps only (--dump-type full)")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise UsageError("cannot create %s: %s" % (out_dir, exc.strerror or exc))
    run = LiveDumpRun(arch, dmf_version, native_image=native_image)
    added = []
    for n in range(client_buffers):
        text = ("DMFDEMO CLIENT BUFFER %d " % n).encode("ascii")
        added.append(run.add_client_buffer("buffer%d" % n, text + bytes(range(n % 7, n % 7 + 24))))
    if len(added) > 1:
        run.remove(*added[1])
    run.client_structure("state", b"DMFDEMO CLIENT STRUCTURE\0")
    path = os.path.join(out_dir, DUMP_NAME)
    report = run.live_dump(path, exclude_dmf_data=exclude_dmf_data,
                           secondary=b"DMFDEMO SECONDARY DATA " + bytes(range(16)), dump_type=dump_type)
    write_isf(os.path.join(out_dir, "driver.isf.json"), run.driver)
    expected = run.expected(report)
    with open(os.path.join(out_dir, "expected.json"), "w", encoding="utf-8") as handle:
        json.dump(expected, handle, indent=1)
        handle.write("\n")
    return expected
