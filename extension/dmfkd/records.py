"""The rows dmfkd's readers produce (ARCHITECTURE.md: readers return plain records, renderers format).

Every row is a dataclass with ``as_row()`` giving a dict of typed cells (render.cells): addresses and
handles as Hex, so a table shows 0x... and JSON keeps the integer. A value that could not be read from
the target is ``UNREADABLE`` in its field, never an exception (volatility3's convention).
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from dmfkd.render.cells import UNREADABLE, Hex  # noqa: F401  (UNREADABLE: the readers' sentinel)


def hex_or(value):
    """An int as a Hex cell; other values (None, unreadable, text) unchanged."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return Hex(value)


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
    writer: str                      # "free" | "handle" | "orphan" | "-" (SELF) | unreadable
    reader: str                      # "none" | "handle" | "-" (SELF) | unreadable
    writer_handle: Optional[int] = None
    reader_handle: Optional[int] = None
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
    state: str = ""                  # active | orphaned | destroyed | empty | half-created
    state_detail: str = ""           # the state in words
    warnings: List[str] = field(default_factory=list)

    def as_row(self) -> Dict[str, Any]:
        return {"index": self.index, "role": self.role, "guid": self.guid, "writer": self.writer,
                "writer_handle": hex_or(self.writer_handle), "reader": self.reader,
                "reader_handle": hex_or(self.reader_handle), "capacity": self.capacity,
                "entry_size": self.entry_size, "present": self.present, "read_index": self.read_index,
                "write_index": self.write_index, "items": hex_or(self.items),
                "read_pointer": hex_or(self.read_pointer), "write_pointer": hex_or(self.write_pointer),
                "ring_handle": hex_or(self.ring_handle), "ring_object": hex_or(self.ring_object),
                "ring_buffer_size": self.ring_buffer_size, "ring_buffer_data": hex_or(self.ring_buffer_data),
                "component": self.component_name, "blob": None if self.blob is None else self.blob.index,
                "blob_size": None if self.blob is None else self.blob.size,
                "state": self.state, "state_detail": self.state_detail, "warnings": list(self.warnings)}

    def file_object_cell(self, which: str):
        """The writer or reader as a table shows it: the handle, or free/none/orphan/-."""
        handle = self.writer_handle if which == "writer" else self.reader_handle
        return hex_or(handle) if handle is not None else getattr(self, which)


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
