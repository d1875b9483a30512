"""The triage (type 4) part of reading a dump file: the VA-mapped regions (data blocks, KDBG copy, call
stack, thread, process, data page), the triage data block table and the driver list (spec/dump-format.md
§2.5). A mixin of DumpFile: it uses the file's header (self.triage, self.header_size, self.kdbg_va) and its
bounded reads (self._read_at, self._error)."""
import bisect
from typing import List, Optional, Tuple

from dmfkd.errors import MemoryReadError
from dmfkd.layouts import dump_format
from dmfkd.targets.base import TriageDriver

TRIAGE_LOOKBACK = 64                   # overlapping triage regions searched per lookup
TRIAGE_MAX_DRIVERS = 4096              # a driver list longer than this is not a kernel's
TRIAGE_MAX_NAME = 1024                 # characters of a driver list name (DUMP_STRING)


class TriageDumpReader:
    """Triage dump reading for DumpFile (see the module docstring)."""

    def triage_data_blocks(self) -> Optional[List[Tuple[int, int]]]:
        """(VA, size) of the triage data blocks in file order; None unless this is a triage dump.
        The count was checked against the file when the triage map was built (no allocation from it)."""
        if self.triage is None:
            return None
        if self._triage_blocks is None:
            tri = self.triage
            x86 = self.header_size == dump_format.HEADER32_SIZE
            layout = dump_format.TRIAGE_DATA_BLOCK32 if x86 else dump_format.TRIAGE_DATA_BLOCK64
            entry = layout.sizeof()
            count = int(tri.DataBlocksCount or 0)
            if count > (tri.SizeOfDump - min(tri.DataBlocksOffset, tri.SizeOfDump)) // entry:
                raise self._error("%d triage data blocks do not fit in the dump" % count,
                                  self.header_size + (0x64 if x86 else 0x7C))
            raw = self._read_at(tri.DataBlocksOffset, entry * count) if count else b""
            blocks = []
            for i in range(count):
                block = layout.parse(raw[i * entry:(i + 1) * entry])
                blocks.append((int(block.Address), int(block.Size)))
            self._triage_blocks = blocks
        return list(self._triage_blocks)

    # -- triage (§2.5): virtual memory = the VA-mapped regions ---------------------------------
    def _build_triage_map(self) -> None:
        tri = self.triage
        x86 = self.header_size == dump_format.HEADER32_SIZE
        block_layout = dump_format.TRIAGE_DATA_BLOCK32 if x86 else dump_format.TRIAGE_DATA_BLOCK64
        entry = block_layout.sizeof()
        limit = tri.SizeOfDump
        regions: List[Tuple[int, int, int]] = []

        def add(va, offset, size, where):
            if size == 0:
                return
            if offset + size > limit:
                raise self._error("triage region at 0x%x (%d bytes) runs past SizeOfDump" % (offset, size), where)
            regions.append((va, va + size, offset))

        if tri.DataBlocksCount:
            if tri.DataBlocksCount > (limit - min(tri.DataBlocksOffset, limit)) // entry:
                raise self._error("%d triage data blocks do not fit in the dump" % tri.DataBlocksCount,
                                  self.header_size + (0x64 if x86 else 0x7C))
            raw = self._read_at(tri.DataBlocksOffset, entry * tri.DataBlocksCount)
            for i in range(tri.DataBlocksCount):
                block = block_layout.parse(raw[i * entry:(i + 1) * entry])
                add(block.Address, block.Offset, block.Size, tri.DataBlocksOffset + i * entry)
        if tri.DebuggerDataOffset and self.kdbg_va:
            add(self.kdbg_va, tri.DebuggerDataOffset, tri.DebuggerDataSize, self.header_size + (0x58 if x86 else 0x70))
        if tri.CallStackOffset and tri.TopOfStack:
            # the stored stack runs upward from TopOfStack ([SAMPLE]: TopOfStack + SizeOfCallStack
            # ends on a page boundary above the saved Rsp)
            add(tri.TopOfStack, tri.CallStackOffset, tri.SizeOfCallStack, self.header_size + 0x28)
        for va, offset, size, where in self._triage_thread_process(limit):
            # sizes come from the KDBG copy, not from the triage header: a copy that disagrees
            # with the stored object loses the part past SizeOfDump rather than the whole map
            if offset < limit:
                add(va, offset, min(size, limit - offset), where)
        if tri.DataPageOffset and tri.DataPageAddress:
            add(tri.DataPageAddress, tri.DataPageOffset, tri.DataPageSize, self.header_size + (0x50 if x86 else 0x68))
        regions.sort()
        self._triage_regions = regions
        self._triage_starts = [r[0] for r in regions]

    def _triage_thread_process(self, limit: int) -> List[Tuple[int, int, int, int]]:
        """(va, file offset, size, field offset) of the current thread and its process, which
        dbgeng maps at their VAs (checked with the oracle; the PRCB itself it does not map): the
        thread VA is PRCB.CurrentThread, the process VA KTHREAD.ApcState.Process, offsets and
        sizes from the dump's own KDBG copy (§1.6, §2.5)."""
        tri = self.triage
        ps = self.pointer_size
        if not (tri.DebuggerDataOffset and tri.PrcbOffset and tri.ThreadOffset) \
                or tri.DebuggerDataSize < dump_format.KDBG_MIN_SIZE or tri.DebuggerDataOffset + dump_format.KDBG_MIN_SIZE > limit:
            return []
        kdbg = self._read_at(tri.DebuggerDataOffset, dump_format.KDBG_MIN_SIZE)

        def u16(offset):
            return int.from_bytes(kdbg[offset:offset + 2], "little")

        def pointer_at(offset):
            if offset + ps > limit:
                return None
            return int.from_bytes(self._read_at(offset, ps), "little")

        out = []
        thread_field = u16(dump_format.KDBG_OFFSET_PRCB_CURRENT_THREAD)
        if thread_field + ps > u16(dump_format.KDBG_SIZE_PRCB):
            return out
        thread_va = pointer_at(tri.PrcbOffset + thread_field)
        thread_size = u16(dump_format.KDBG_SIZE_ETHREAD)
        if not thread_va:
            return out
        out.append((thread_va, tri.ThreadOffset, thread_size, self.header_size + 0x24))
        process_field = u16(dump_format.KDBG_OFFSET_KTHREAD_APC_PROCESS)
        if tri.ProcessOffset and process_field + ps <= thread_size:
            process_va = pointer_at(tri.ThreadOffset + process_field)
            if process_va:
                out.append((process_va, tri.ProcessOffset, u16(dump_format.KDBG_SIZE_EPROCESS), self.header_size + 0x20))
        return out

    def triage_regions(self) -> List[Tuple[int, int, int]]:
        """(va_start, va_end, file_offset) of every VA-mapped region of a triage dump."""
        self._build_index()
        return list(self._triage_regions)

    def _read_triage(self, address: int, size: int) -> bytes:
        self._build_index()
        out = []
        va, left = address, size
        while left > 0:
            i = bisect.bisect_right(self._triage_starts, va) - 1
            found = None
            # regions may overlap: look back over a few that start at or before va
            for j in range(i, max(i - TRIAGE_LOOKBACK, -1), -1):
                start, end, offset = self._triage_regions[j]
                if start <= va < end:
                    found = (start, end, offset)
                    break
            if found is None:
                raise MemoryReadError(address, size, reason="0x%x is not in the triage dump" % va)
            start, end, offset = found
            take = min(left, end - va)
            out.append(self._read_at(offset + (va - start), take))
            va += take
            left -= take
        return b"".join(out)

    # -- triage driver list (§2.5; nt/loaded_modules.py reads it through Target.triage_drivers) --
    def triage_drivers(self) -> Optional[List[TriageDriver]]:
        """The driver list of a 64-bit triage dump (DUMP_DRIVER_ENTRY64: a DUMP_STRING name offset
        and the loader entry's copy), in list order; None for other dumps and for x86 triage dumps,
        whose entry layout no sample shows. A list running past SizeOfDump is a FormatError; a name
        that lies outside the dump or is too long reads as ""."""
        tri = self.triage
        if tri is None or self.header_size != dump_format.HEADER64_SIZE:
            return None
        entry_size = dump_format.DUMP_DRIVER_ENTRY64.sizeof()
        limit = tri.SizeOfDump
        count, start = tri.DriverCount, tri.DriverListOffset
        if not count:
            return []
        if count > TRIAGE_MAX_DRIVERS or start > limit or count > (limit - start) // entry_size:
            raise self._error("triage driver list of %d entries at 0x%x runs past SizeOfDump 0x%x"
                              % (count, start, limit), self.header_size + 0x34)
        raw = self._read_at(start, entry_size * count)
        drivers = []
        for index in range(count):
            entry = dump_format.DUMP_DRIVER_ENTRY64.parse(raw[index * entry_size:(index + 1) * entry_size])
            drivers.append(TriageDriver(self._dump_string(entry.DriverNameOffset, limit), entry.DllBase,
                                        entry.SizeOfImage & 0xFFFFFFFF, entry.TimeDateStamp & 0xFFFFFFFF,
                                        entry.CheckSum & 0xFFFFFFFF))
        return drivers

    def _dump_string(self, offset: int, limit: int) -> str:
        """A DUMP_STRING (u32 length in WCHARs, the characters, a NUL) inside [0, limit), or ""."""
        if offset < self.header_size or offset > limit - 4:
            return ""
        length = int.from_bytes(self._read_at(offset, 4), "little")
        if length > TRIAGE_MAX_NAME or offset + 4 + 2 * length > limit:
            return ""
        text = self._read_at(offset + 4, 2 * length).decode("utf-16-le", "replace")
        return "".join(char if char.isprintable() else "?" for char in text)
