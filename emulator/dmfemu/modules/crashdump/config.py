"""What a client hands DMF_CrashDump: its DMF_CONFIG_CrashDump (spec/dmf.md §2.2) with the client
callbacks DMF calls through it, and what a user-mode client sends with the data-source IOCTLs
(DATA_SOURCE_CREATE / DATA_SOURCE_OPEN, §2.7).

Client callbacks are Python callables bound to routine addresses in the driver image
(:class:`ClientRoutines`); the config copy in emulated memory holds the addresses, and DMF finds the
callable through them, as the real module calls through the pointers it copied.
"""
import uuid
from typing import Callable, Optional

from dmfkd.errors import DmfkdError
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import dmf_versions
from dmfkd.layouts import windows
from dmfkd.layouts.engine import ZERO_GUID


class AccessDenied(DmfkdError):
    """CreateFile on the CrashDump interface by a non-administrator (STATUS_ACCESS_DENIED)."""
    status = windows.STATUS_ACCESS_DENIED

    def __init__(self):
        # IoctlHandler_AccessModeFilterAdministratorOnly refuses the open (CD.c:3846-3906)
        super().__init__("STATUS_ACCESS_DENIED: GUID_DEVINTERFACE_CrashDump is for administrators only")


class CrashDumpConfig(object):
    """DMF_CONFIG_CrashDump as the client fills it. Callbacks are Python callables (or None).

    evt_crash_dump_query(request) / evt_crash_dump_write(request): `request` is an
    AdditionalDataRequest; the callable may set request.out_buffer / request.length, call
    request.provide(bytes), or return bytes (= provide), an int (= length only) or (va, length).
    evt_crash_dump_store_triage_dump_data(crashdump, code, p1, p2, p3, p4).
    """

    def __init__(self, component_name: Optional[str] = "DmfDemo",
                 ring_buffer_data_guid: uuid.UUID = ZERO_GUID,
                 additional_data_guid: uuid.UUID = ZERO_GUID,
                 buffer_size: int = 0, buffer_count: int = 0, ring_buffer_maximum_size: int = 0,
                 evt_crash_dump_query: Optional[Callable] = None,
                 evt_crash_dump_write: Optional[Callable] = None,
                 data_source_count: int = 0, triage_dump_data_array_size: int = 0,
                 evt_crash_dump_store_triage_dump_data: Optional[Callable] = None):
        self.component_name = component_name
        self.ring_buffer_data_guid = ring_buffer_data_guid
        self.additional_data_guid = additional_data_guid
        self.buffer_size = buffer_size
        self.buffer_count = buffer_count
        self.ring_buffer_maximum_size = ring_buffer_maximum_size
        self.evt_crash_dump_query = evt_crash_dump_query
        self.evt_crash_dump_write = evt_crash_dump_write
        self.data_source_count = data_source_count
        self.triage_dump_data_array_size = triage_dump_data_array_size
        self.evt_crash_dump_store_triage_dump_data = evt_crash_dump_store_triage_dump_data


class AdditionalDataRequest(object):
    """The (&OutBuffer, &Length) pair DMF hands EvtCrashDumpQuery / EvtCrashDumpWrite."""

    def __init__(self, crashdump, in_buffer: int, in_buffer_length: int,
                 maximum_allowed: int, out_buffer: int, length: int, is_query: bool):
        self.crashdump = crashdump
        self.in_buffer = in_buffer
        self.in_buffer_length = in_buffer_length
        self.maximum_allowed = maximum_allowed
        self.out_buffer = out_buffer
        self.length = length
        self.is_query = is_query

    def provide(self, data: bytes) -> None:
        """Point OutBuffer at a client-owned nonpaged buffer holding `data` (allocated once, reused)."""
        va = self.crashdump.driver.client_buffer("additional-data", len(data))
        if data:
            self.crashdump.space.write(va, bytes(data))
        self.out_buffer = va
        self.length = len(data)

    def apply(self, answer) -> None:
        if answer is None:
            return
        if isinstance(answer, (bytes, bytearray, memoryview)):
            self.provide(bytes(answer))
        elif isinstance(answer, int):
            self.length = answer
        else:
            self.out_buffer, self.length = int(answer[0]), int(answer[1])


class ClientRoutines(object):
    """The client's callbacks as routines of its driver image: address <-> Python callable."""

    def __init__(self, driver):
        self.driver = driver
        self._by_address = {}  # type: Dict[int, Callable]

    def address_of(self, function: Optional[Callable], suffix: str) -> int:
        """The routine address a config field gets for `function` (0 for None), named after the
        callable's `routine_name` or DmfDemo_EvtCrashDump<suffix>."""
        if function is None:
            return 0
        # the same callable used twice is the same routine (CD.c "Both Callbacks point to same function")
        for va, known in self._by_address.items():
            if known is function:
                return va
        va = self.driver.routine(getattr(function, "routine_name", None) or "DmfDemo_EvtCrashDump%s" % suffix)
        self._by_address[va] = function
        return va

    def at(self, va: int) -> Optional[Callable]:
        """The callable bound to routine address `va` (None when nothing is)."""
        return self._by_address.get(va)


def config_values(config: CrashDumpConfig, nested: bool, dmf_version, component_va: int,
                  routines: ClientRoutines) -> dict:
    """The DMF_CONFIG_CrashDump fields DMF copies from the client's struct (CORE.c:400-405), as
    flat layout names: flat up to v1.1.84, SecondaryData.* / TriageDumpData.* since v1.1.85."""
    if not nested and (config.triage_dump_data_array_size or config.evt_crash_dump_store_triage_dump_data):
        raise DmfkdError("DMF %s has the flat CrashDump config: no TriageDumpData"
                         % dmf_versions.format_dmf_version(dmf_version))
    secondary = {
        "RingBufferDataGuid": config.ring_buffer_data_guid,
        "AdditionalDataGuid": config.additional_data_guid,
        "BufferSize": config.buffer_size,
        "BufferCount": config.buffer_count,
        "RingBufferMaximumSize": config.ring_buffer_maximum_size,
        "EvtCrashDumpQuery": routines.address_of(config.evt_crash_dump_query, "Query"),
        "EvtCrashDumpWrite": routines.address_of(config.evt_crash_dump_write, "Write"),
        "DataSourceCount": config.data_source_count,
    }
    if not nested:
        values = dict(secondary)
        values["ComponentName"] = component_va
        return values
    values = {"ComponentName": component_va}
    for name, value in secondary.items():
        values["SecondaryData." + name] = value
    values["TriageDumpData.TriageDumpDataArraySize"] = config.triage_dump_data_array_size
    values["TriageDumpData.EvtCrashDumpStoreTriageDumpData"] = routines.address_of(
        config.evt_crash_dump_store_triage_dump_data, "StoreTriageDumpData")
    return values


def pack_data_source_create(entries_count: int, entry_size: int, guid: uuid.UUID) -> bytes:
    """The 24-byte pack(1) DATA_SOURCE_CREATE / DATA_SOURCE_OPEN input buffer (spec/dmf.md §2.7)."""
    return dmf_structures.data_source_create().pack({"EntriesCount": entries_count, "EntrySize": entry_size,
                                                     "Guid": guid})


def unpack_data_source_open(data: bytes) -> dict:
    return dmf_structures.data_source_open().unpack_from(data)
