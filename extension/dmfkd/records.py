"""The rows dmfkd's readers produce (ARCHITECTURE.md: readers return plain records, renderers format).

Every row is a dataclass with ``as_row()`` giving the dict a render.Report shows. A value that could
not be read from the target is the string ``UNREADABLE`` ("unreadable") in its field, never an
exception (volatility3's convention).
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

UNREADABLE = "unreadable"


def hex_or(value) -> Optional[str]:
    """0x-hex text of an int; other values (None, "unreadable", text) unchanged."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return "0x%x" % value


@dataclass
class BlobInfo:
    """One secondary-data blob and what dmfkd makes of it."""

    index: int
    guid: str
    size: int
    kind: str                        # "ring" | "additional" | "ring?" | "other"
    source_index: Optional[int] = None   # the data source it belongs to, when known
    entry_size: Optional[int] = None
    records: Optional[int] = None
    evidence: str = ""
    truncated: bool = False

    def as_row(self) -> Dict[str, Any]:
        return {"blob": self.index, "guid": self.guid, "size": self.size, "kind": self.kind,
                "source": self.source_index, "entry_size": self.entry_size, "records": self.records,
                "truncated": self.truncated, "evidence": self.evidence}


@dataclass
class DataSourceRow:
    """One DATA_SOURCE slot of the CrashDump context (spec/dmf.md §2.3, §2.5)."""

    index: int
    role: str                        # "SELF" | "aux"
    guid: Optional[str]
    writer: str                      # "free" | "handle 0x..." | "orphan" | "unreadable"
    reader: str                      # "none" | "handle 0x..." | "unreadable"
    ring_handle: Any = None
    ring_object: Any = None
    capacity: Any = None             # N
    entry_size: Any = None           # S
    present: Any = None              # P
    read_index: Any = None
    write_index: Any = None
    items: Any = None
    read_pointer: Any = None
    write_pointer: Any = None
    ring_buffer_size: Any = None     # DATA_SOURCE.RingBufferSize
    ring_buffer_data: Any = None
    component_name: Any = None
    blob: Optional[BlobInfo] = None
    state: str = ""                  # "active" | "empty slot" | "destroyed (stale FO)" ...
    warnings: List[str] = field(default_factory=list)

    def as_row(self) -> Dict[str, Any]:
        return {"index": self.index, "role": self.role, "guid": self.guid, "writer": self.writer,
                "reader": self.reader, "capacity": self.capacity, "entry_size": self.entry_size,
                "present": self.present, "read_index": self.read_index, "write_index": self.write_index,
                "items": hex_or(self.items), "read_pointer": hex_or(self.read_pointer),
                "write_pointer": hex_or(self.write_pointer), "ring_handle": hex_or(self.ring_handle),
                "ring_object": hex_or(self.ring_object), "ring_buffer_size": self.ring_buffer_size,
                "ring_buffer_data": hex_or(self.ring_buffer_data), "component": self.component_name,
                "blob": None if self.blob is None else self.blob.index,
                "blob_size": None if self.blob is None else self.blob.size,
                "state": self.state, "warnings": list(self.warnings)}


@dataclass
class RecordRow:
    """One decoded ring record."""

    index: int
    data: bytes
    partial: bool = False
    fields: Dict[str, Any] = field(default_factory=dict)
    guid: Optional[str] = None       # set when rows of several sources are merged

    def as_row(self) -> Dict[str, Any]:
        row = {"index": self.index}
        if self.guid is not None:
            row["guid"] = self.guid
        row["hex"] = self.data.hex()
        if self.partial:
            row["partial"] = True
        row.update(self.fields)
        return row


@dataclass
class ModuleRow:
    """One DMF_OBJECT of a module tree (spec/dmf.md §4.3)."""

    depth: int
    handle: Any
    object_address: Any
    module_name: Any
    instance_name: Any
    state: Any
    context: Any = None
    config: Any = None
    config_size: Any = None
    parent: Any = None
    children: Any = None
    warnings: List[str] = field(default_factory=list)

    def as_row(self) -> Dict[str, Any]:
        return {"depth": self.depth, "handle": hex_or(self.handle), "object": hex_or(self.object_address),
                "module": self.module_name, "instance": self.instance_name, "state": self.state,
                "context": hex_or(self.context), "config": hex_or(self.config), "config_size": self.config_size,
                "parent": hex_or(self.parent), "children": self.children, "warnings": list(self.warnings)}


@dataclass
class CrashDumpInfo:
    """The CrashDump module itself: where it is, which layouts were chosen and why."""

    symbol: Optional[str] = None
    handle: Any = None
    object_address: Any = None
    module_name: Any = None
    dmf_version: Optional[str] = None
    context_address: Any = None
    context_version: Optional[str] = None
    context_evidence: str = ""
    config_address: Any = None
    config_variant: Optional[str] = None
    component_name: Any = None
    data_source_count: Any = None
    self_guid: Optional[str] = None
    additional_guid: Optional[str] = None
    data_sources: List[DataSourceRow] = field(default_factory=list)
    blobs: List[BlobInfo] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def header(self) -> Dict[str, Any]:
        return {"symbol": self.symbol, "handle": hex_or(self.handle), "object": hex_or(self.object_address),
                "module": self.module_name, "dmf_version": self.dmf_version,
                "context": hex_or(self.context_address), "context_version": self.context_version,
                "context_evidence": self.context_evidence, "config": hex_or(self.config_address),
                "config_variant": self.config_variant, "component": self.component_name,
                "data_source_count": self.data_source_count, "self_guid": self.self_guid,
                "additional_guid": self.additional_guid}
