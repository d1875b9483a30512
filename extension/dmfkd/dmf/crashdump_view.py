"""Everything `crashdump`, `datasources` and friends show about a driver's DMF_CrashDump, read once.

read_crashdump(target) walks the CrashDump module (dmf/crashdump.py) when symbols allow, classifies
the dump's secondary-data blobs, and answers for any data source the records it holds:

* on a live target (WinDbg attached to a kernel, the emulator) straight from the ring in memory;
* on a dump from its tagged blob, with N, S and P from memory when the walk found the source, the
  record size inferred from the XOR key signature only when nothing else gives it; a source whose
  blob is missing (an empty ring writes none) or unreadable falls back to the ring in memory.

Commands only select and present what the view holds; nothing here prints.
"""
import uuid
from typing import List, Optional, Tuple, Union

from dmfkd.dmf.crashdump import CrashDumpWalk, classify_blobs, walk_crashdump
from dmfkd.dmf.ringbuffer import RingDecode, cross_check, decode_crash_blob, infer_entry_size
from dmfkd.errors import DmfkdError, TagNotFoundError, UsageError
from dmfkd.guids import guid_text, parse_guid
from dmfkd.records import BlobInfo, DataSourceRow

TRIAGE_DUMP = 4


class CrashDumpView:
    """The CrashDump module (when symbols find it), its data sources and the dump's DMF blobs."""

    def __init__(self, target, walk: Optional[CrashDumpWalk], blobs: List[BlobInfo], region_error: Optional[str]):
        self.target = target
        self.walk = walk
        #: every secondary-data blob, classified (empty on a live target)
        self.blobs = blobs
        #: why the secondary-data region could not be read, when it could not
        self.region_error = region_error

    # -- what there is -------------------------------------------------------------------------
    @property
    def info(self):
        return self.walk.info if self.walk is not None else None

    @property
    def data_sources(self) -> List[DataSourceRow]:
        return self.walk.info.data_sources if self.walk is not None else []

    @property
    def dmf_blobs(self) -> List[BlobInfo]:
        return [b for b in self.blobs if b.kind != "other"]

    @property
    def other_blob_count(self) -> int:
        return len(self.blobs) - len(self.dmf_blobs)

    @property
    def dmf_present(self) -> bool:
        return self.walk is not None or bool(self.dmf_blobs)

    def has_ring(self, source: DataSourceRow) -> bool:
        return self.walk is not None and source.index in self.walk.rings

    def blob_shown_on_its_source(self, blob: BlobInfo) -> bool:
        return blob.kind == "ring" and any(ds.blob is blob for ds in self.data_sources)

    def no_dmf_message(self) -> str:
        reason = "no g_DmfModuleCrashDump symbol" if self.target.symbols is not None else "no driver symbols"
        line = ("no DMF data present in %s: %s, and none of its %d secondary-data blob(s) carries a DMF "
                "ring-buffer signature" % (self.target.name, reason, len(self.blobs)))
        if self.region_error:
            line += " (%s)" % self.region_error
        return line

    # -- records -------------------------------------------------------------------------------
    def resolve_guid(self, text: str) -> uuid.UUID:
        """A full GUID, or a unique prefix of at least 4 hex digits of a data source's or ring blob's GUID."""
        try:
            return parse_guid(text)
        except DmfkdError:
            pass
        prefix = text.strip().strip("{}").lower()
        if len(prefix.replace("-", "")) < 4 or any(c not in "0123456789abcdef-" for c in prefix):
            return parse_guid(text)  # the parser's own one-line error
        known = {ds.guid for ds in self.data_sources if ds.guid} | \
            {b.guid for b in self.blobs if b.kind in ("ring", "ring?")}
        matches = sorted(g for g in known if g.startswith(prefix))
        if len(matches) == 1:
            return uuid.UUID(matches[0])
        if not matches:
            raise UsageError("no data source or blob GUID starts with %s" % prefix)
        raise UsageError("GUID prefix %s is ambiguous: %s" % (prefix, ", ".join(matches)))

    def ring(self, guid: uuid.UUID, entry_size: Optional[int] = None, force: bool = False) -> RingDecode:
        """The records of one data source, oldest first (see the module docstring)."""
        walk = self.walk
        target = self.target
        row = walk.source_for_guid(guid) if walk is not None else None
        known_s = row.entry_size if row is not None and isinstance(row.entry_size, int) and row.entry_size > 0 else None
        if entry_size is not None and known_s is not None and entry_size != known_s and not force:
            raise UsageError("--entry-size %d contradicts the data source's entry size %d in memory "
                             "(--force decodes with %d anyway)" % (entry_size, known_s, entry_size))
        if target.is_live:
            if row is None or row.index not in walk.rings:
                raise DmfkdError("no data source with GUID %s in the driver's memory%s"
                                 % (guid_text(guid), "" if walk is not None else " (no CrashDump symbol)"))
            return walk.live_decode(row.index)
        try:
            blob = target.read_tagged(guid)
        except DmfkdError as exc:
            memory = self._from_memory(row, guid, exc)
            if memory is not None:
                return memory
            raise
        if entry_size is not None and entry_size > len(blob):
            # a record cannot be larger than the bytes it is cut from: said before anything is sized by it
            raise UsageError("--entry-size %d is larger than the blob tagged %s (%d bytes)"
                             % (entry_size, guid_text(guid), len(blob)))
        notes = []
        s = entry_size
        if s is not None and known_s is not None and s != known_s:
            notes.append("--entry-size %d overrides the data source's entry size %d" % (s, known_s))
        if s is None:
            s = known_s
        if s is None:
            if not blob:
                s = 1
            else:
                s, evidence = infer_entry_size(blob, guid)
                notes.append("entry size %d inferred: %s" % (s, evidence))
        capacity = row.capacity if row is not None and isinstance(row.capacity, int) and s == known_s else None
        present = row.present if row is not None and isinstance(row.present, int) and s == known_s else None
        ring = decode_crash_blob(blob, guid, s, capacity=capacity, present=present)
        ring.notes[:0] = notes
        if row is not None and s == known_s and row.index in walk.rings:
            memory = walk.live_decode(row.index)
            if memory is not None and memory.count:
                ring.warnings.extend(cross_check(ring, memory))
        return ring

    def _from_memory(self, row: Optional[DataSourceRow], guid: uuid.UUID, exc: DmfkdError) -> Optional[RingDecode]:
        """No blob (an empty ring writes none) or a broken blob region: the ring in memory still is one."""
        walk = self.walk
        if row is None or row.index not in walk.rings:
            return None
        ring = walk.live_decode(row.index)
        if ring is None:
            return None
        if isinstance(exc, TagNotFoundError):
            # an empty ring writes no blob (spec/dmf.md Q-CD-2)
            ring.notes.insert(0, "no blob tagged %s: records read from the ring in memory%s"
                              % (guid_text(guid), " (the ring was empty, so the crash wrote none)"
                                 if ring.present == 0 else ""))
        else:
            ring.warnings.insert(0, "blob tagged %s unreadable (%s): records read from the ring in memory"
                                 % (guid_text(guid), str(exc).splitlines()[0]))
        return ring

    def source_guids(self) -> List[uuid.UUID]:
        """Every data source with a ring, else (no symbols) every blob that is a DMF ring, once each."""
        guids = []
        for row in self.data_sources:
            if row.guid is not None and self.has_ring(row):
                guids.append(parse_guid(row.guid))
        if not guids and not self.target.is_live:
            guids = [parse_guid(b.guid) for b in self.blobs if b.kind in ("ring", "ring?")]
        seen, out = set(), []
        for guid in guids:
            if guid not in seen:
                seen.add(guid)
                out.append(guid)
        return out

    def all_rings(self, entry_size: Optional[int] = None, force: bool = False) -> List[Tuple[str, Union[RingDecode, str]]]:
        """(GUID text, RingDecode or the one-line reason it could not be read) for every source."""
        out = []
        for guid in self.source_guids():
            try:
                out.append((guid_text(guid), self.ring(guid, entry_size, force)))
            except UsageError:
                raise
            except DmfkdError as exc:
                out.append((guid_text(guid), str(exc).splitlines()[0]))
        return out


def read_crashdump(target, driver: Optional[str] = None, dmf_version=None, blobs: bool = True) -> CrashDumpView:
    """Walk the driver's CrashDump module (when symbols have it) and classify the blobs (unless
    `blobs` is False: memory only)."""
    walk = walk_crashdump(target, driver, dmf_version)
    if walk is None and driver:
        raise DmfkdError("--driver %s: no symbol %s!g_DmfModuleCrashDump" % (driver, driver))
    header = target.dump_header()
    if walk is not None and header is not None and header.dump_type == TRIAGE_DUMP and \
            not isinstance(walk.info.handle, int):
        # a triage dump holds no data pages of the driver: the global's unreadability is expected
        walk.info.warnings = [w for w in walk.info.warnings if not w.startswith(walk.info.symbol + " at ")]
        walk.info.notes.append("%s is not in this triage dump (it holds no driver data pages): the rings are "
                               "recognised from their blobs" % walk.info.symbol)
    if not blobs:
        return CrashDumpView(target, walk, [], None)
    blobs = classify_blobs(target, walk)
    region_error = None
    if not blobs and not target.is_live:
        try:
            target.tagged()
        except DmfkdError as exc:  # classify_blobs saw no blobs because the region is broken: say so
            region_error = "secondary data unreadable: %s" % str(exc).splitlines()[0]
    return CrashDumpView(target, walk, blobs, region_error)
