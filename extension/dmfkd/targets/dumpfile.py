"""A Windows kernel dump file read directly, on any OS (ARCHITECTURE.md "targets/").

Opening reads the file header (and the bitmap/triage sub-header) only. The secondary-data region is
located from the header (spec/dump-format.md §3.2) and walked on demand (§3.3); listing tags reads
the blob headers and nothing else, so it costs the same for a 1 GiB and a 64 GiB dump. Page indexes
(bitmap rank table, triage VA map) are built the first time memory is read.

Every size or count taken from the file is checked against the file size before it drives a read,
a loop or an allocation; a violation is a FormatError naming the file, what is wrong and where.
"""
import bisect
import os
from typing import List, Optional, Tuple

from dmfkd import bounded_input
from dmfkd.errors import FormatError, MemoryReadError
from dmfkd.guids import guid_from_le
from dmfkd.layouts import dump_format
from dmfkd.targets.base import BugCheck, DumpHeader, TaggedBlob, Target
from dmfkd.targets.dumpfile_triage import TriageDumpReader
# the walks live in paging.py (where dmfemu.dumpwriter takes them from too)
from dmfkd.targets.paging import translate_arm64, translate_pae, translate_x64, translate_x86  # noqa: F401

PAGE_SIZE = dump_format.PAGE_SIZE
SUPPORTED_TYPES = (dump_format.DumpType.FULL, dump_format.DumpType.TRIAGE, dump_format.DumpType.BITMAP_FULL, dump_format.DumpType.BITMAP_KERNEL)
MAX_PAD = 0x100000                     # PrePad/PostPad beyond this are "absurd" (real writers pad < 1 page)
RANK_BLOCK_BITS = 512                  # bitmap rank table granularity


def _popcount(data: bytes) -> int:
    return bin(int.from_bytes(data, "little")).count("1")


class DumpFile(TriageDumpReader, Target):
    """MEMORY.DMP / minidump of type 1, 4, 5 or 6; x64 and ARM64 (full, bitmap, triage), x86 (full, bitmap)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.name = self.path
        self.symbols = None
        # a regular file only, opened without blocking: a FIFO, a device or a directory named as the
        # dump is one line, never a read that waits forever (dmfkd.bounded_input)
        self._file = bounded_input.open_regular(self.path)
        try:
            self.file_size = os.fstat(self._file.fileno()).st_size
            self._parse_header()
        except BaseException:
            self._file.close()
            raise
        self._blobs: Optional[List[TaggedBlob]] = None
        self._triage_blocks: Optional[List[Tuple[int, int]]] = None
        self._index_ready = False
        self._translations = {}

    # -- plumbing -----------------------------------------------------------------------------
    def _error(self, what: str, offset: Optional[int] = None) -> FormatError:
        return FormatError(self.path, what, offset)

    def _read_at(self, offset: int, size: int) -> bytes:
        """Bytes at a file offset; the caller has checked the range lies inside the file."""
        try:
            self._file.seek(offset)
            return self._file.read(size)
        except OSError as exc:
            raise self._error("read failed (%s)" % (exc.strerror or exc), offset)

    def close(self) -> None:
        self._file.close()
        # a PDB the symbols were read from keeps its file open (symbols never loaded stay unloaded)
        close_symbols = getattr(self._symbols, "close", None)
        if close_symbols is not None:
            close_symbols()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- header -------------------------------------------------------------------------------
    def _parse_header(self) -> None:
        size = self.file_size
        if size == 0:
            raise self._error("empty file", 0)
        head = self._read_at(0, dump_format.HEADER64_SIZE)
        if len(head) < 8:
            raise self._error("header cut short (%d of at least 8 bytes)" % len(head), len(head))
        if head[:4] != dump_format.PAGE:
            raise self._error("not a Windows kernel dump (signature %r, expected b'PAGE')" % head[:4], 0)
        if head[4:8] == dump_format.VALID_DUMP64:
            self.header_size = dump_format.HEADER64_SIZE
            layout = dump_format.DUMP_HEADER64
        elif head[4:8] == dump_format.VALID_DUMP32:
            self.header_size = dump_format.HEADER32_SIZE
            layout = dump_format.DUMP_HEADER32
        else:
            raise self._error("unknown dump header kind %r (expected b'DU64' or b'DUMP')" % head[4:8], 4)
        if len(head) < self.header_size:
            raise self._error("header cut short (%d of 0x%x bytes)" % (len(head), self.header_size),
                              len(head))
        self.header = layout.parse(head[:self.header_size])
        h = self.header
        machine = h.MachineImageType
        if self.header_size == dump_format.HEADER64_SIZE:
            arches = {dump_format.MACHINE_AMD64: "x64", dump_format.MACHINE_ARM64: "arm64"}
            type_offset, machine_offset = 0xF98, 0x30
        else:
            arches = {dump_format.MACHINE_I386: "x86"}
            type_offset, machine_offset = 0xF88, 0x20
        if machine not in arches:
            raise self._error("unknown MachineImageType 0x%x" % machine, machine_offset)
        self.arch = arches[machine]
        self.pointer_size = 4 if self.arch == "x86" else 8
        self.dump_type = h.DumpType
        if self.dump_type not in SUPPORTED_TYPES:
            raise self._error("unsupported dump type %d (dmfkd reads 1 full, 4 triage, 5/6 bitmap)"
                              % self.dump_type, type_offset)
        self.build = h.MinorVersion
        self.dtb = h.DirectoryTableBase
        self.system_time = h.SystemTime
        self.system_uptime = h.SystemUpTime
        self.kdbg_va = h.KdDebuggerDataBlock
        self.bitmap_header = None
        self.triage = None
        self.number_of_pages = None
        if self.dump_type == dump_format.DumpType.FULL:
            data_end = self._parse_runs()
        elif self.dump_type == dump_format.DumpType.TRIAGE:
            data_end = self._parse_triage()
        else:
            data_end = self._parse_bitmap_header()
        self.data_end = data_end
        self.region_problem: Optional[str] = None
        self.blob_region_offset = self._locate_region(data_end)

    def _parse_runs(self) -> int:
        pmb = self.header.PhysicalMemoryBlock
        x86 = self.header_size == dump_format.HEADER32_SIZE
        pmb_offset = 0x64 if x86 else 0x88
        limit = dump_format.MAX_RUNS32 if x86 else dump_format.MAX_RUNS64
        if pmb.NumberOfRuns == dump_format.PAGE_U32:
            raise self._error("full dump without a physical memory run list (PhysicalMemoryBlock is "
                              "PAGE-filled)", pmb_offset)
        if pmb.NumberOfRuns > limit:
            raise self._error("NumberOfRuns %d exceeds the %d run slots" % (pmb.NumberOfRuns, limit),
                              pmb_offset)
        pages = pmb.NumberOfPages
        pages_offset = pmb_offset + (4 if x86 else 8)
        room = max(self.file_size - self.header_size, 0) // PAGE_SIZE
        if pages > room:
            raise self._error("NumberOfPages %d needs 0x%x bytes of page data; the file holds %d pages"
                              % (pages, pages * PAGE_SIZE, room), pages_offset)
        runs = []
        position = 0
        for i in range(pmb.NumberOfRuns):
            run = pmb.Run[i]
            if run.PageCount > pages - position:
                raise self._error("physical memory run %d (%d pages) runs past NumberOfPages %d"
                                  % (i, run.PageCount, pages), pmb_offset + (8 + 8 * i if x86 else 0x10 + 0x10 * i))
            runs.append((run.BasePage, run.PageCount, self.header_size + PAGE_SIZE * position))
            position += run.PageCount
        runs.sort(key=lambda r: r[0])
        self._runs = runs
        self._run_starts = [r[0] for r in runs]
        self.number_of_pages = pages
        return self.header_size + PAGE_SIZE * pages

    def _parse_bitmap_header(self) -> int:
        # the sub-header follows the header, 0x2000 (x64/ARM64) or 0x1000 (x86; dbgeng reads x86
        # bitmap dumps so, checked with the oracle)
        start = self.header_size
        raw = self._read_at(start, dump_format.BITMAP_HEADER_SIZE)
        if len(raw) < dump_format.BITMAP_HEADER_SIZE:
            raise self._error("bitmap dump header cut short (%d of 0x%x bytes)"
                              % (len(raw), dump_format.BITMAP_HEADER_SIZE), start + len(raw))
        bh = dump_format.BITMAP_DUMP_HEADER.parse(raw)
        if bh.Signature not in dump_format.BITMAP_SIGNATURES or bh.ValidDump != dump_format.BITMAP_VALID:
            raise self._error("bad bitmap dump signature %r (expected SDMPDUMP or FDMPDUMP)"
                              % (bh.Signature + bh.ValidDump), start)
        bitmap_offset = start + dump_format.BITMAP_HEADER_SIZE
        bitmap_bytes = (bh.Pages + 7) // 8
        if bitmap_bytes > self.file_size - bitmap_offset:
            raise self._error("bitmap of %d bits runs past the end of the file" % bh.Pages, start + 0x30)
        if bh.TotalPresentPages > bh.Pages:
            raise self._error("TotalPresentPages %d exceeds the %d bits of the bitmap"
                              % (bh.TotalPresentPages, bh.Pages), start + 0x28)
        if bh.FirstPage < bitmap_offset + bitmap_bytes:
            raise self._error("FirstPage 0x%x overlaps the headers and bitmap" % bh.FirstPage, start + 0x20)
        room = max(self.file_size - bh.FirstPage, 0) // PAGE_SIZE
        if bh.TotalPresentPages > room:
            raise self._error("TotalPresentPages %d needs 0x%x bytes from FirstPage 0x%x; the file holds %d pages"
                              % (bh.TotalPresentPages, bh.TotalPresentPages * PAGE_SIZE, bh.FirstPage, room),
                              start + 0x28)
        self.bitmap_header = bh
        self.number_of_pages = bh.TotalPresentPages
        self._bitmap_offset = bitmap_offset
        self._bitmap_bytes = bitmap_bytes
        return bh.FirstPage + PAGE_SIZE * bh.TotalPresentPages

    def _parse_triage(self) -> int:
        x86 = self.header_size == dump_format.HEADER32_SIZE
        layout = dump_format.TRIAGE_DUMP32 if x86 else dump_format.TRIAGE_DUMP64
        start = self.header_size
        raw = self._read_at(start, layout.sizeof())
        if len(raw) < layout.sizeof():
            raise self._error("triage dump header cut short (%d of 0x%x bytes)" % (len(raw), layout.sizeof()),
                              start + len(raw))
        tri = layout.parse(raw)
        if tri.SizeOfDump > self.file_size:
            raise self._error("SizeOfDump 0x%x lies past the end of the file (0x%x bytes)"
                              % (tri.SizeOfDump, self.file_size), start + 4)
        if tri.SizeOfDump < start + layout.sizeof():
            raise self._error("SizeOfDump 0x%x is smaller than the headers" % tri.SizeOfDump, start + 4)
        if tri.ValidOffset > tri.SizeOfDump - 4 or self._read_at(tri.ValidOffset, 4) != dump_format.TRIAGE_VALID:
            raise self._error("triage dump not marked valid (no TRGD at ValidOffset 0x%x)" % tri.ValidOffset,
                              start + 8)
        self.triage = tri
        return tri.SizeOfDump

    def _locate_region(self, offset: int) -> Optional[int]:
        # §3.2: the region is not referenced by any field; it starts where the primary data ends
        if offset > self.file_size:
            raise self._error("secondary-data region at 0x%x lies past the end of the file" % offset, offset)
        head = self._read_at(offset, 8)
        if head != dump_format.BLOB_SIGNATURE:
            # "no secondary data" is not an error; but bytes there that are not a region are worth
            # telling (dbgeng is silent about them too)
            if head:
                self.region_problem = ("0x%x bytes follow the primary data at 0x%x but do not start with "
                                       "the DumpBlob signature (found %r)"
                                       % (self.file_size - offset, offset, head))
            return None
        return offset

    # -- facts ----------------------------------------------------------------------------------
    def bugcheck(self) -> BugCheck:
        h = self.header
        return BugCheck(h.BugCheckCode, (h.BugCheckParameter1, h.BugCheckParameter2,
                                         h.BugCheckParameter3, h.BugCheckParameter4))

    def context(self):
        """The processor context saved with the bug check (header ContextRecord), parsed as
        CONTEXT_AMD64 (Rip, Rsp ...), CONTEXT_X86 (Eip, Esp ...) or ARM64_NT_CONTEXT (X[0..28], Fp,
        Lr, Sp, Pc, Cpsr ...) by the dump's architecture."""
        layout = {"x64": dump_format.CONTEXT_AMD64, "x86": dump_format.CONTEXT_X86,
                  "arm64": dump_format.CONTEXT_ARM64}[self.arch]
        return layout.parse(bytes(self.header.ContextRecord[:layout.sizeof()]))

    @property
    def attributes(self) -> int:
        """DUMP_FILE_ATTRIBUTES as stored (0x45474150, the `PAGE` fill, when the writer left it
        unset, as Windows' crash writer does; §1.1)."""
        return self.header.Attributes

    def attribute_names(self) -> Optional[List[str]]:
        """Names of the attribute bits set (e.g. ["LiveDumpGeneratedDump"]); None when the field
        is the `PAGE` fill, i.e. not written."""
        return dump_format.attribute_names(self.header.Attributes)

    @property
    def dump_type_name(self) -> str:
        return dump_format.DumpType(self.dump_type).name.lower().replace("_", "-")

    def dump_header(self) -> DumpHeader:
        h = self.header
        attributes = None if h.Attributes == dump_format.PAGE_U32 else int(h.Attributes)
        return DumpHeader(
            path=self.path, dump_type=int(self.dump_type), dump_type_name=self.dump_type_name, arch=self.arch,
            build=int(self.build), major_version=int(h.MajorVersion), processors=int(h.NumberProcessors),
            system_time=int(self.system_time), system_uptime=int(self.system_uptime),
            directory_table_base=int(self.dtb), kd_debugger_data_block=int(self.kdbg_va),
            ps_loaded_module_list=int(h.PsLoadedModuleList), ps_active_process_head=int(h.PsActiveProcessHead),
            pages=self.number_of_pages, file_size=self.file_size, required_dump_space=int(h.RequiredDumpSpace),
            attributes=attributes, attribute_names=self.attribute_names(),
            blob_region_offset=self.blob_region_offset, region_problem=self.region_problem)

    # -- secondary data (§3.3) ------------------------------------------------------------------
    def tagged(self) -> List[TaggedBlob]:
        if self._blobs is None:
            self._blobs = self._walk_blobs()
        return list(self._blobs)

    def _walk_blobs(self) -> List[TaggedBlob]:
        region = self.blob_region_offset
        if region is None:
            return []
        size = self.file_size
        raw = self._read_at(region, dump_format.BLOB_FILE_HEADER_SIZE)
        if len(raw) < dump_format.BLOB_FILE_HEADER_SIZE:
            raise self._error("DumpBlob header cut short (%d of 16 bytes)" % len(raw), region + len(raw))
        file_header = dump_format.DUMP_BLOB_FILE_HEADER.parse(raw)
        header_size = max(file_header.HeaderSize, dump_format.BLOB_FILE_HEADER_SIZE)
        if header_size > size - region:
            raise self._error("DumpBlob HeaderSize 0x%x runs past the end of the file" % file_header.HeaderSize,
                              region + 8)
        blobs: List[TaggedBlob] = []
        pos = region + header_size
        while pos < size:
            remaining = size - pos
            raw = self._read_at(pos, min(remaining, dump_format.BLOB_HEADER_SIZE))
            if len(raw) >= 4 and int.from_bytes(raw[:4], "little") < dump_format.BLOB_HEADER_SIZE:
                break           # HeaderSize < 32 ends the walk (ntoseye; WinDbg stops at a non-header)
            if len(raw) < dump_format.BLOB_HEADER_SIZE:
                raise self._error("blob header cut short (%d of 32 bytes)" % len(raw), pos)
            bh = dump_format.DUMP_BLOB_HEADER.parse(raw)
            if bh.HeaderSize > remaining:
                raise self._error("blob HeaderSize 0x%x runs past the end of the file" % bh.HeaderSize, pos)
            if bh.PrePad > MAX_PAD or bh.PrePad > remaining - bh.HeaderSize:
                raise self._error("absurd blob PrePad 0x%x" % bh.PrePad, pos + 0x18)
            if bh.PostPad > MAX_PAD:
                raise self._error("absurd blob PostPad 0x%x" % bh.PostPad, pos + 0x1C)
            if bh.DataSize > size:
                raise self._error("blob DataSize 0x%x is larger than the file (0x%x bytes)"
                                  % (bh.DataSize, size), pos + 0x14)
            payload = pos + bh.HeaderSize + bh.PrePad
            present = min(bh.DataSize, size - payload)
            blobs.append(TaggedBlob(index=len(blobs), guid=guid_from_le(bh.Tag), size=present,
                                    declared_size=bh.DataSize, offset=payload,
                                    truncated=present < bh.DataSize))
            if present < bh.DataSize:
                break           # a last blob running past EOF is listed with the bytes present
            pos = payload + bh.DataSize + bh.PostPad
        return blobs

    def read_blob(self, blob: TaggedBlob) -> bytes:
        if blob.offset is None or blob.offset < 0 or blob.size < 0 or blob.offset + blob.size > self.file_size:
            raise self._error("blob %d (%s) lies outside the file" % (blob.index, blob.guid_text), blob.offset)
        return self._read_at(blob.offset, blob.size)

    # -- physical memory ------------------------------------------------------------------------
    def _build_index(self) -> None:
        if self._index_ready:
            return
        if self.bitmap_header is not None:
            raw = self._read_at(self._bitmap_offset, self._bitmap_bytes)
            bits = self.bitmap_header.Pages
            extra = len(raw) * 8 - bits
            if extra:               # bits past the declared count are not pages
                raw = raw[:-1] + bytes([raw[-1] & ((1 << (8 - extra)) - 1)])
            self._bitmap = raw
            block_bytes = RANK_BLOCK_BITS // 8
            ranks = [0]
            total = 0
            for start in range(0, len(raw), block_bytes):
                total += _popcount(raw[start:start + block_bytes])
                ranks.append(total)
            if total != self.bitmap_header.TotalPresentPages:
                raise self._error("bitmap has %d pages set but TotalPresentPages says %d"
                                  % (total, self.bitmap_header.TotalPresentPages), self.header_size + 0x28)
            self._ranks = ranks
        elif self.triage is not None:
            self._build_triage_map()
        self._index_ready = True

    def page_offset(self, pfn: int) -> Optional[int]:
        """File offset of physical page `pfn`, or None when the dump does not hold it."""
        self._build_index()
        if self.dump_type == dump_format.DumpType.FULL:
            i = bisect.bisect_right(self._run_starts, pfn) - 1
            if i < 0:
                return None
            base, count, offset = self._runs[i]
            if pfn >= base + count:
                return None
            return offset + PAGE_SIZE * (pfn - base)
        if self.bitmap_header is not None:
            if pfn < 0 or pfn >= self.bitmap_header.Pages:
                return None
            byte = pfn >> 3
            if not self._bitmap[byte] >> (pfn & 7) & 1:
                return None
            block_bytes = RANK_BLOCK_BITS // 8
            block = byte // block_bytes
            rank = self._ranks[block] + _popcount(self._bitmap[block * block_bytes:byte])
            rank += bin(self._bitmap[byte] & ((1 << (pfn & 7)) - 1)).count("1")
            return self.bitmap_header.FirstPage + PAGE_SIZE * rank
        return None

    def read_physical(self, address: int, size: int) -> bytes:
        if size < 0 or address < 0:
            raise MemoryReadError(address, size, physical=True, reason="negative address or size")
        if self.triage is not None:
            raise MemoryReadError(address, size, physical=True, reason="a triage dump holds no physical pages")
        out = []
        pa, left = address, size
        while left > 0:
            offset = self.page_offset(pa // PAGE_SIZE)
            if offset is None:
                raise MemoryReadError(address, size, physical=True,
                                      reason="page 0x%x not in the dump" % (pa & ~0xFFF))
            take = min(left, PAGE_SIZE - pa % PAGE_SIZE)
            # extend over pages that are consecutive both physically and in the file
            while take < left:
                nxt = self.page_offset((pa + take) // PAGE_SIZE)
                if nxt != offset + (pa % PAGE_SIZE) + take - ((pa + take) % PAGE_SIZE):
                    break
                take = min(left, take + PAGE_SIZE)
            out.append(self._read_at(offset + pa % PAGE_SIZE, take))
            pa += take
            left -= take
        return b"".join(out)

    def _phys_u64(self, pa: int) -> Optional[int]:
        offset = self.page_offset(pa // PAGE_SIZE)
        if offset is None or pa % PAGE_SIZE > PAGE_SIZE - 8:
            return None
        return int.from_bytes(self._read_at(offset + pa % PAGE_SIZE, 8), "little")

    def _phys_u32(self, pa: int) -> Optional[int]:
        offset = self.page_offset(pa // PAGE_SIZE)
        if offset is None or pa % PAGE_SIZE > PAGE_SIZE - 4:
            return None
        return int.from_bytes(self._read_at(offset + pa % PAGE_SIZE, 4), "little")

    # -- virtual memory -------------------------------------------------------------------------
    def translate(self, va: int) -> int:
        """Physical address of kernel VA `va` through the dump's page tables (full/bitmap dumps)."""
        page = va & ~0xFFF
        cached = self._translations.get(page)
        if cached is None:
            if self.arch == "x64":
                pa = translate_x64(self._phys_u64, self.dtb, page)
            elif self.arch == "x86":
                if self.header.PaeEnabled == 1:
                    pa = translate_pae(self._phys_u64, self.dtb, page)
                else:
                    pa = translate_x86(self._phys_u32, self.dtb, page)
            else:
                pa = translate_arm64(self._phys_u64, self.dtb, page)
            if pa is None:
                raise MemoryReadError(va, 0, reason="not mapped by the dump's page tables")
            if len(self._translations) > 65536:
                self._translations.clear()
            self._translations[page] = cached = pa
        return cached | (va & 0xFFF)

    def read(self, address: int, size: int) -> bytes:
        if size < 0 or address < 0:
            raise MemoryReadError(address, size, reason="negative address or size")
        if self.triage is not None:
            return self._read_triage(address, size)
        out = []
        va, left = address, size
        while left > 0:
            take = min(left, PAGE_SIZE - va % PAGE_SIZE)
            try:
                pa = self.translate(va)
                out.append(self.read_physical(pa, take))
            except MemoryReadError as exc:
                # one level of detail: where it stopped and why, not the inner error's whole sentence
                where = "" if va == address else "at 0x%x: " % va
                raise MemoryReadError(address, size, reason=where + (exc.reason or "not in the dump"))
            va += take
            left -= take
        return b"".join(out)
