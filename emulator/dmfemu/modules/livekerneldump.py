"""DMF_LiveKernelDump (kernel feature module) in emulated memory (spec/dmf.md §3).

State in memory: the config copy (72/64 bytes since v1.1.85, 64/60 before), the context (layout by
DMF version and RS3 support), the DataBufferSource child DMF_RingBuffer of 256 DATA_BUFFER entries
(pack 1, 13/9 bytes, DeleteOldest), and - with IncludeDmfDataInBugCheckTriageDump - a DMF_CrashDump
child (ComponentName "DMF", 1024 triage blocks) whose triage callback adds every valid entry.

Not modelled (no layout in the spec): the internals of the BufferQueue and IoctlHandler children
(their DMF_OBJECTs exist, as children, with no config/context), the function-static counters of
the live-dump path (Q-LKD-3: they live in the driver's .data under names the spec does not give).
"""
import uuid
from typing import List, Optional, Sequence, Tuple

from dmfkd.errors import MemoryReadError
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dmf_versions
from dmfkd.layouts import dump_format
from dmfkd.layouts import windows
from dmfkd.layouts.dmf_structures import (IOCTL_LIVEKERNELDUMP_CREATE, LIVEKERNELDUMP_DATA_BUFFER_COUNT,
                                          LIVEKERNELDUMP_REPORT_TYPE_CHARS, LIVEKERNELDUMP_TRIAGE_BLOCK_OVERHEAD)
from dmfkd.layouts.engine import ZERO_GUID

from dmfemu.modules.crashdump import CrashDump, CrashDumpConfig
from dmfemu.modules.ringbuffer import RingBuffer

# the triage array of the DMF_CrashDump child that carries the DMF data into bug-check dumps (LKD.c)
CRASHDUMP_TRIAGE_BLOCKS = 1024
# live dump codes a client may pass as BugCheckCode ([DOCS] LkmdTelCreateReport, dump-format.md §7)
LIVE_SYSTEM_DUMP = 0x161
SOC_SUBSYSTEM_FAILURE_LIVEDUMP = 0x15D


class LiveKernelDumpConfig(object):
    def __init__(self, guid_device_interface: uuid.UUID = ZERO_GUID, report_type: str = "DMFDEMO",
                 guid_secondary_data: uuid.UUID = ZERO_GUID,
                 include_dmf_data_in_bugcheck_triage_dump: bool = False):
        self.guid_device_interface = guid_device_interface
        self.report_type = report_type
        self.guid_secondary_data = guid_secondary_data
        self.include_dmf_data_in_bugcheck_triage_dump = include_dmf_data_in_bugcheck_triage_dump


class LiveDumpReport(object):
    """What LkmdTelCreateReport .. LkmdTelSubmitReport were given (and the dump file written)."""

    def __init__(self, report_type: str, code: int, parameters: Tuple[int, int, int, int]):
        self.report_type = report_type
        self.code = code
        self.parameters = parameters
        self.triage_blocks = []   # type: List[Tuple[int, int]]
        self.secondary = None     # type: Optional[Tuple[uuid.UUID, bytes]]
        self.path = None          # type: Optional[str]
        self.dump_type = None     # type: Optional[str]
        self.attributes = None    # type: Optional[int]
        self.unreadable_blocks = []   # type: List[Tuple[int, int]]


class LiveKernelDump(object):
    def __init__(self, driver, config: LiveKernelDumpConfig, *, rs3: bool = True):
        self.driver = driver
        self.machine = driver.machine
        self.space = driver.space
        self.arch = driver.arch
        self.ptr = driver.ptr
        self.dmf_version = driver.dmf_version
        self.rs3 = rs3
        self.v85 = self.dmf_version >= dmf_versions.V1_1_85
        self.cfg_layout = dmf_structures.livekerneldump_config(self.arch, self.dmf_version)
        self.ctx_layout = dmf_structures.livekerneldump_context(self.arch, self.dmf_version, rs3=rs3)
        self.entry = dmf_structures.livekerneldump_data_buffer(self.arch)
        self.input_layout = dmf_structures.livekerneldump_input_buffer(self.arch)
        report = config.report_type.encode("utf-16-le")[:2 * (LIVEKERNELDUMP_REPORT_TYPE_CHARS - 1)]
        # the ReportType is always NUL-terminated at index 11 (DmfDeviceInit.c:1417-1419)
        values = {
            "GuidDeviceInterface": config.guid_device_interface,
            "ReportType": report + bytes(2 * LIVEKERNELDUMP_REPORT_TYPE_CHARS - len(report)),
            "GuidSecondaryData": config.guid_secondary_data,
        }
        if self.v85:
            values["IncludeDmfDataInBugCheckTriageDump"] = int(config.include_dmf_data_in_bugcheck_triage_dump)
        self.config = config
        self.module = driver.create_module("LiveKernelDump", self.cfg_layout.pack(values), self.ctx_layout.size)
        self.ctx = self.module.context_va
        self._pending = []   # BufferQueue entries left over by a failed insertion (Q-LKD-4)
        #: every DataBufferSource call in order: ("add" | "remove", address, size) - the callers' own
        #: log, kept apart from the ring so that tests can model the ring independently (Q-LKD-1/2)
        self.calls = []      # type: List[Tuple[str, int, int]]
        self._child_modules_add()
        self.module.set_state("Opened")

    # -- ChildModulesAdd (LKD.c:1066-1133) ----------------------------------------------------------
    def _child_modules_add(self) -> None:
        status, ring = RingBuffer.create(self.driver.dmf, LIVEKERNELDUMP_DATA_BUFFER_COUNT, self.entry.size,
                                         dmf_structures.RingBuffer_Mode_DeleteOldestIfFullOnWrite,
                                         instance_name="DataBufferSource", parent=self.module,
                                         parent_device=self.driver.device)
        if status != windows.STATUS_SUCCESS:
            raise RuntimeError("DataBufferSource ring creation failed: 0x%08X" % status)
        self.ring = ring
        self._ctx_write("DataBufferSource", ring.handle)
        if self.rs3:
            queue = self.driver.create_module("BufferQueue", b"", 0, instance_name="LiveKernelDumpBufferQueue",
                                              parent=self.module)
            self._ctx_write("BufferQueue", queue.handle)
            if self.config.guid_device_interface != ZERO_GUID:
                handler = self.driver.create_module("IoctlHandler", b"", 0, parent=self.module)
                self._ctx_write("LiveKernelDumpIoctlHandler", handler.handle)
        self.crashdump = None
        if self.v85 and self.config.include_dmf_data_in_bugcheck_triage_dump:
            def store(crashdump, code, p1, p2, p3, p4):
                self._store_triage_dump_data()
            store.routine_name = "LiveDump_CrashDumpStoreTriageDumpDataCallback"
            self.crashdump = CrashDump(self.driver, CrashDumpConfig(
                component_name="DMF", triage_dump_data_array_size=CRASHDUMP_TRIAGE_BLOCKS,
                evt_crash_dump_store_triage_dump_data=store), parent=self.module)
            if self.rs3:
                self._ctx_write("CrashDumpModule", self.crashdump.handle)

    # -- memory helpers -------------------------------------------------------------------------------
    def _ctx_write(self, name: str, value: int) -> None:
        va = self.ctx + self.ctx_layout.offsets[name]
        if self.ctx_layout.sizes[name] == 4:
            self.space.write_u32(va, value & 0xFFFFFFFF)
        else:
            self.space.write_ptr(va, value)

    def ctx_read(self) -> dict:
        return self.ctx_layout.unpack_from(self.space.read(self.ctx, self.ctx_layout.size))

    def _ctx_field(self, name: str) -> int:
        return self.ctx_read()[name]

    def entries(self) -> List[dict]:
        """DATA_BUFFER entries in ring order (oldest first), as the ring holds them."""
        out = []

        def collect(_handle, _va, view, size, _ctx):
            out.append(self.entry.unpack_from(bytes(view)))
            return True
        self.ring.enumerate(True, collect)
        return out

    # -- data-buffer source (LKD.c:132-301) ---------------------------------------------------------
    def data_buffer_source_add(self, address: int, size: int) -> int:
        self.calls.append(("add", address, size))
        status = self.ring.write(self.entry.pack({"Address": address, "Size": size, "Valid": 1}))
        # DmfDataSize grows even when the ring just dropped its oldest entry (Q-LKD-1)
        self._ctx_write("DmfDataSize", self._ctx_field("DmfDataSize") + size + LIVEKERNELDUMP_TRIAGE_BLOCK_OVERHEAD)
        return status

    def data_buffer_source_remove(self, address: int, size: int) -> None:
        self.calls.append(("remove", address, size))
        key = self.entry.pack({"Address": address, "Size": size, "Valid": 1})
        valid = self.entry.offsets["Valid"]

        def invalidate(_handle, _va, view, _size, _ctx):
            # every equal entry is invalidated and subtracted (Q-LKD-2)
            view[valid] = 0
            self._ctx_write("DmfDataSize", self._ctx_field("DmfDataSize") - size - LIVEKERNELDUMP_TRIAGE_BLOCK_OVERHEAD)
            return True
        self.ring.enumerate_to_find_item(invalidate, None, key)

    # -- DMF framework data (FLKD.c:60-209, spec/dmf.md §3.6) -----------------------------------------
    def module_collection_initialize(self, collection) -> None:
        add = self.data_buffer_source_add
        add(collection.va, dmf_structures.dmf_module_collection(self.arch).size)
        # count x sizeof(ULONG64) even on x86 (Q-LKD-5)
        add(collection.array_va, len(collection.modules) * 8)
        self._ctx_write("BugCheckParameterDmfCollection", collection.handle)
        object_size = self.driver.dmf.object_layout.size
        for top in collection.modules:
            for module in top.walk():          # children first, then the module (FLKD.c:60-131)
                add(module.object_va, object_size)
                if module.config_va:
                    add(module.config_va, module.config_size)
                if module.instance_name_va:
                    add(module.instance_name_va, len(module.instance_name) + 1)
                if module.context_va:
                    add(module.context_va, module.context_size)

    # -- bug-check triage path (LKD.c:418-489, 592-685) -------------------------------------------------
    def _store_triage_dump_data(self) -> None:
        for entry in self.entries():        # enumerated without the lock in DMF; same result here
            if entry["Valid"]:
                self.crashdump.triage_dump_data_add(entry["Address"], entry["Size"])
                self._ctx_write("TelemetryDataSize", self._ctx_field("TelemetryDataSize") + entry["Size"])

    # -- live dump (LKD.c:754-897) ------------------------------------------------------------------
    def live_kernel_memory_dump_create(self, code: int, parameter: int, exclude_dmf_data: bool = False,
                                       client_structures: Sequence[Tuple[int, int]] = (),
                                       secondary: Optional[Tuple[int, int]] = None,
                                       path: Optional[str] = None, dump_type: str = "triage",
                                       max_triage_blocks: Optional[int] = None):
        """(NTSTATUS, LiveDumpReport or None). `secondary` = (buffer VA, size); `max_triage_blocks`
        makes LkmdTelInsertTriageDataBlock fail after that many blocks (to show Q-LKD-4)."""
        if not self.rs3:
            return windows.STATUS_SUCCESS, None     # Q-LKD-7: nothing happens, success
        secondary_va, secondary_size = secondary if secondary else (0, 0)
        if secondary_size and not secondary_va:
            return windows.STATUS_INVALID_PARAMETER, None
        p2 = 0 if exclude_dmf_data else self._ctx_field("BugCheckParameterDmfCollection")
        report = LiveDumpReport(self.config.report_type, code, (parameter, p2, 0, 0))
        inserted = [0]

        def insert(address: int, size: int) -> bool:
            if max_triage_blocks is not None and inserted[0] >= max_triage_blocks:
                return False
            report.triage_blocks.append((address, size))
            inserted[0] += 1
            return True

        if not exclude_dmf_data:
            queue = list(self._pending)
            queue.extend((e["Address"], e["Size"]) for e in self.entries() if e["Valid"])
            self._pending = []
            for n, (address, size) in enumerate(queue):
                if not insert(address, size):
                    # the rest stays queued for the next live dump (Q-LKD-4)
                    self._pending = queue[n:]
                    break
        for address, size in client_structures:
            if not insert(address, size):
                break
        if secondary_size and self.config.guid_secondary_data != ZERO_GUID:
            report.secondary = (self.config.guid_secondary_data, self.space.read(secondary_va, secondary_size))
        if path is not None:
            self.write_live_dump(report, path, dump_type)
        return windows.STATUS_SUCCESS, report

    def write_live_dump(self, report: LiveDumpReport, path: str, dump_type: str = "triage") -> int:
        """The file LkmdTelSubmitReport leaves behind (spec/dump-format.md §7): BugCheckCode = the live
        dump code and P1..P4 as LkmdTelCreateReport got them, Attributes with LiveDumpGeneratedDump,
        the report's secondary data as the only blob.
        "triage" = a live minidump (type 4, x64 and ARM64) holding exactly the inserted triage data blocks;
        "bitmap-kernel" = a full live dump (bitmap type 6); x86 dumps are "full" (type 1), the only
        kind dmfemu writes for x86. Returns the file size."""
        if self.arch == "x86" and dump_type != "full":
            raise ValueError("x86 live dumps: only dump_type 'full' is supported by dmfemu.dumpwriter")
        kw = {}
        if dump_type == "triage":
            blocks = []
            for address, size in report.triage_blocks:
                try:
                    blocks.append((address, self.space.read(address, size)))
                except MemoryReadError:
                    # a block the OS cannot read is not in the file (the real copy would fault or be
                    # skipped; no source says which) - the report still lists it
                    report.unreadable_blocks.append((address, size))
            kw["triage_blocks"] = blocks
        kw["attributes"] = report.attributes = dump_format.DUMP_ATTRIBUTE_LIVE_DUMP
        size = self.machine.write_dump(path, dump_type, (report.code,) + report.parameters,
                                       blobs=[report.secondary] if report.secondary else [], **kw)
        report.path = path
        report.dump_type = dump_type
        return size

    def ioctl(self, code: int, input_bytes: bytes, output_size: int = 0, file_object: int = 0, **kw):
        """IOCTL_LIVEKERNELDUMP_CREATE with a packed LIVEKERNELDUMP_INPUT_BUFFER: (NTSTATUS, report)."""
        if code != IOCTL_LIVEKERNELDUMP_CREATE:
            return windows.STATUS_NOT_SUPPORTED, None
        if len(input_bytes) < self.input_layout.size:
            # IoctlHandler's minimum-size check; a WOW64 caller's 25-byte struct fails on x64 (Q-LKD-6)
            return windows.STATUS_BUFFER_TOO_SMALL, None
        req = self.input_layout.unpack_from(bytes(input_bytes))
        count = req["NumberOfClientStructures"]
        array = req["ArrayOfClientStructures"]
        if (count and not array) or (req["SizeOfSecondaryData"] and not req["SecondaryDataBuffer"]):
            return windows.STATUS_INVALID_PARAMETER, None
        client = dmf_structures.livekerneldump_client_structure(self.arch)
        # the embedded pointers are used without probing (Q-LKD-6); bounded by the 256-entry design
        raw = self.space.read(array, min(count, 4096) * client.size) if count else b""
        structures = [(s["Address"], s["Size"]) for s in
                      (client.unpack_from(raw, i * client.size) for i in range(min(count, 4096)))]
        return self.live_kernel_memory_dump_create(
            req["BugCheckCode"], req["BugCheckParameter"], bool(req["ExcludeDmfData"]), structures,
            (req["SecondaryDataBuffer"], req["SizeOfSecondaryData"]), **kw)
