"""Emulated kernel memory: sparse physical RAM and real page tables stored in that RAM (the kernel
pool that hands it out is dmfemu.pool).

Everything DMF keeps lives here as bytes, reachable the way a debugger reaches it: a kernel VA is
translated by walking page-table entries that sit in emulated physical pages (spec/dump-format.md
§4), so a dump of the physical pages plus the DTB is enough for an independent parser (kdmp-parser)
to find every structure again.

Design notes (why, not what):
- Physical RAM is a few large contiguous ``bytearray`` arenas laid end to end from PFN 1 (Windows'
  first physical run usually starts at BasePage 1). Every page from PFN 1 to the highest page
  handed out is "present", like RAM in a real machine, so a full dump needs a single run
  (spec/dump-format.md §1.4 allows at most 42). An allocation never straddles two arenas, so
  ``view()`` over one allocation is one writable memoryview slice - no per-byte loops.
- AddressSpace keeps a per-page translation cache (a software TLB) filled only from real walks of
  the table bytes and flushed whenever a mapping changes; the tables in memory stay the truth.
"""
import bisect
import struct
from typing import List, Optional, Tuple

from dmfkd.errors import MemoryReadError
from dmfkd.layouts.engine import align_up
from dmfkd.layouts.windows import PAGE_SIZE

PAGE_SHIFT = 12
LARGE_PAGE_SIZE = 0x200000
_FIRST_PFN = 1                  # Windows' MmPhysicalMemoryBlock normally starts at BasePage 1
_DEFAULT_ARENA_PAGES = 1024     # 4 MiB: small machines stay small, big requests get their own arena

# Page-table entry bits (Intel SDM vol. 3 §4.5; spec/dump-format.md §4)
PTE_PRESENT = 0x1
PTE_WRITE = 0x2
PTE_ACCESSED = 0x20
PTE_DIRTY = 0x40
PTE_LARGE = 0x80                # PS bit in a PDE (2 MiB) / PDPTE (1 GiB)
PTE_NX = 1 << 63
PTE_PFN_MASK = 0x000FFFFFFFFFF000   # bits 51..12 (spec/dump-format.md §4)
_KERNEL_RW = PTE_PRESENT | PTE_WRITE | PTE_ACCESSED | PTE_DIRTY     # 0x63, what kernel tables carry

# Windows' classic PML4 self-map slot (0xFFFFF6FB7DBED000 maps the PML4 itself; PTE_BASE
# 0xFFFFF68000000000). Since 1607 the slot is randomised; any fixed slot keeps the table
# self-consistent, which is what readers that walk the self-map expect.
X64_SELF_MAP_INDEX = 0x1ED
X64_PTE_BASE = 0xFFFF000000000000 | (X64_SELF_MAP_INDEX << 39)
# x86 PAE: the four page directories are mapped at 0xC0600000 so PTEs appear at 0xC0000000.
X86_PTE_BASE = 0xC0000000

# ARM64 descriptors: VMSAv8-64, 4 KiB granule, 48-bit VA, four levels (Arm ARM; what Windows does and
# the sources are in dmfkd/targets/paging.py). Windows' nt!_MMPTE_HARDWARE names in brackets.
ARM64_VALID = 0x1
ARM64_TABLE_OR_PAGE = 0x2               # [NotLargePage] bits 1:0 = 0b11 table / page, 0b01 block
ARM64_INNER_SHAREABLE = 0x300           # SH = 0b11 [Sharability]
ARM64_ACCESS_FLAG = 0x400               # AF [Accessed]: an entry without it faults on first use
ARM64_PXN = 1 << 53                     # [PrivilegedNoExecute]
ARM64_UXN = 1 << 54                     # [UserNoExecute]
ARM64_WINDOWS_WRITABLE = 1 << 55        # software bit Windows keeps on writable pages [Writable]
ARM64_OUTPUT_MASK = 0x0000FFFFFFFFF000  # output address bits 47..12
# AP[2:1] = 0b00 (bits 7:6): read/write at EL1, no EL0 access. AttrIndx (bits 4:2) stays 0: which MAIR
# slot Windows gives normal memory is not in a dump, and no reader looks at it. Table descriptors
# ignore bits 11:2, but through the self-map every table entry is also read as a page entry, so
# they carry AF and SH like the pages.
_ARM64_TABLE = ARM64_VALID | ARM64_TABLE_OR_PAGE | ARM64_INNER_SHAREABLE | ARM64_ACCESS_FLAG
_ARM64_KERNEL_PAGE = _ARM64_TABLE | ARM64_UXN | ARM64_WINDOWS_WRITABLE
_ARM64_KERNEL_BLOCK = _ARM64_KERNEL_PAGE & ~ARM64_TABLE_OR_PAGE
# Windows on ARM64 self-maps its one root table like x64's PML4 (MemProcFS looks for that entry, with
# PXN and UXN set). The slot is randomised per boot; 0x151 is the one of the real Windows 11 22000 ARM64
# triage dump in tests/data, whose KDBG says PteBase = 0xffffa88000000000.
ARM64_SELF_MAP_INDEX = 0x151
ARM64_PTE_BASE = 0xFFFF000000000000 | (ARM64_SELF_MAP_INDEX << 39)

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class _PageFault(MemoryReadError):
    """Raised by the page lookup; the public method re-raises it naming the caller's range."""

    def __init__(self, va: int, reason: str):
        super().__init__(va, PAGE_SIZE, reason=reason)
        self.reason = reason


def _fault(va: int, size: int, error: "_PageFault") -> MemoryReadError:
    if error.address == va & ~0xFFF:
        return MemoryReadError(va, size, reason=error.reason)
    return MemoryReadError(va, size, reason="0x%x: %s" % (error.address, error.reason))


class _Arena:
    """One contiguous stretch of emulated RAM: PFNs [start_pfn, end_pfn)."""

    __slots__ = ("start_pfn", "end_pfn", "next_pfn", "buf", "mv")

    def __init__(self, start_pfn: int, npages: int):
        self.start_pfn = start_pfn
        self.end_pfn = start_pfn + npages
        self.next_pfn = start_pfn      # bump pointer for allocations
        self.buf = bytearray(npages * PAGE_SIZE)
        self.mv = memoryview(self.buf)


class _FrozenArena:
    __slots__ = ("start_pfn", "end_pfn", "mv")

    def __init__(self, start_pfn: int, end_pfn: int, data: bytes):
        self.start_pfn = start_pfn
        self.end_pfn = end_pfn
        self.mv = memoryview(data)


class _PhysicalReader:
    """Read side shared by live and frozen physical memory."""

    _arenas = ()           # sorted by start_pfn, laid end to end
    _arena_starts = ()     # start_pfn of each arena, for bisect
    _top_pfn = _FIRST_PFN  # one past the highest present page
    _page_arena = None     # arena of the last page() call

    def _check_present(self, pa: int, size: int) -> None:
        if pa < 0 or pa >> PAGE_SHIFT < _FIRST_PFN or pa + size > self._top_pfn << PAGE_SHIFT:
            raise MemoryReadError(pa, size, physical=True, reason="not present")

    def _locate(self, pa: int, size: int = 1):
        """(arena, offset in arena) for a physical range that must lie inside one arena."""
        pfn = pa >> PAGE_SHIFT
        if pa < 0 or pfn < _FIRST_PFN or pa + size > self._top_pfn << PAGE_SHIFT:
            raise MemoryReadError(pa, size, physical=True, reason="not present")
        arena = self._arenas[bisect.bisect_right(self._arena_starts, pfn) - 1]
        offset = pa - (arena.start_pfn << PAGE_SHIFT)
        if offset + size > len(arena.mv):
            raise MemoryReadError(pa, size, physical=True,
                                  reason="range crosses an allocation arena boundary")
        return arena, offset

    def read(self, pa: int, size: int) -> bytes:
        if size <= 0:
            return b""
        self._check_present(pa, size)
        parts = []
        cursor, end = pa, pa + size
        while cursor < end:
            # RAM is contiguous across arenas, so a read may concatenate pieces of several
            arena, offset = self._locate(cursor)
            take = min(end - cursor, len(arena.mv) - offset)
            if take == size:
                return bytes(arena.mv[offset:offset + take])
            parts.append(arena.mv[offset:offset + take])
            cursor += take
        return b"".join(parts)

    def read_u64(self, pa: int) -> int:
        arena, offset = self._locate(pa, 8)
        return _U64.unpack_from(arena.mv, offset)[0]

    def page(self, pfn: int) -> bytes:
        return bytes(self.page_view(pfn))

    def page_view(self, pfn: int) -> memoryview:
        """Read-only zero-copy view of one present page (valid while memory is not rewritten)."""
        # dump writers call this once per page in ascending order: try the last arena first
        arena = self._page_arena
        if arena is None or not arena.start_pfn <= pfn < arena.end_pfn or pfn >= self._top_pfn:
            arena = self._locate(pfn << PAGE_SHIFT, PAGE_SIZE)[0]
            self._page_arena = arena
        offset = (pfn - arena.start_pfn) << PAGE_SHIFT
        return arena.mv[offset:offset + PAGE_SIZE].toreadonly()

    def present_pfns(self) -> List[int]:
        return list(range(_FIRST_PFN, self._top_pfn))

    def present_runs(self) -> List[Tuple[int, int]]:
        """[(base_pfn, page_count)] - the machine's MmPhysicalMemoryBlock (one run)."""
        count = self._top_pfn - _FIRST_PFN
        return [(_FIRST_PFN, count)] if count else []

    def chunks(self):
        """Yield (first_pfn, memoryview) covering every present page once, ascending PFN.

        Each memoryview is a whole-page multiple and lies in one arena, so a dump writer can write
        megabytes per call instead of a page at a time."""
        for arena in self._arenas:
            end = min(arena.end_pfn, self._top_pfn)
            if end > arena.start_pfn:
                yield arena.start_pfn, arena.mv[:(end - arena.start_pfn) << PAGE_SHIFT]

    @property
    def top_pfn(self) -> int:
        return self._top_pfn


class PhysicalMemory(_PhysicalReader):
    """Sparse emulated physical RAM in 4 KiB pages, allocated zeroed and physically contiguous."""

    def __init__(self, arena_pages: int = _DEFAULT_ARENA_PAGES):
        self._arena_pages = arena_pages
        self._arenas = []          # type: List[_Arena]
        self._arena_starts = []    # type: List[int]
        self._top_pfn = _FIRST_PFN

    def allocate_pages(self, count: int, align_pages: int = 1) -> int:
        """Return the PA of `count` zeroed, physically contiguous pages (PA aligned to
        `align_pages` pages, a power of two; 512 for a 2 MiB page)."""
        if count <= 0:
            raise ValueError("allocate_pages: count must be positive, got %r" % (count,))
        if align_pages <= 0 or align_pages & (align_pages - 1):
            raise ValueError("allocate_pages: align_pages must be a power of two")
        for arena in self._arenas:
            start = align_up(arena.next_pfn, align_pages)
            if start + count <= arena.end_pfn:
                return self._take(arena, start, count)
        base = self._arenas[-1].end_pfn if self._arenas else _FIRST_PFN
        start = align_up(base, align_pages)
        npages = max(self._arena_pages, start - base + count)
        npages = align_up(base + npages, 512) - base   # keep later arenas 2 MiB aligned
        arena = _Arena(base, npages)
        self._arenas.append(arena)
        self._arena_starts.append(base)
        return self._take(arena, start, count)

    def _take(self, arena: _Arena, start: int, count: int) -> int:
        arena.next_pfn = start + count
        if start + count > self._top_pfn:
            self._top_pfn = start + count
        return start << PAGE_SHIFT

    def write(self, pa: int, data) -> None:
        size = len(data)
        if size == 0:
            return
        arena, offset = self._locate(pa, size)
        arena.mv[offset:offset + size] = data

    def write_u64(self, pa: int, value: int) -> None:
        arena, offset = self._locate(pa, 8)
        _U64.pack_into(arena.mv, offset, value)

    def view(self, pa: int, size: int) -> memoryview:
        """A writable memoryview of [pa, pa+size); the range must lie in one allocation arena."""
        arena, offset = self._locate(pa, size)
        return arena.mv[offset:offset + size]

    def snapshot(self) -> "PhysicalSnapshot":
        """A frozen copy of every present page: the primary dump image (spec/dmf.md Q-CD-9)."""
        return PhysicalSnapshot(self)


class PhysicalSnapshot(_PhysicalReader):
    """Immutable copy of PhysicalMemory at one instant; same read/page/present_pfns API."""

    def __init__(self, source: PhysicalMemory):
        self._top_pfn = source._top_pfn
        self._arenas = []
        for arena in source._arenas:
            end = min(arena.end_pfn, self._top_pfn)
            if end <= arena.start_pfn:
                break
            data = bytes(arena.mv[:(end - arena.start_pfn) << PAGE_SHIFT])
            self._arenas.append(_FrozenArena(arena.start_pfn, end, data))
        self._arena_starts = [a.start_pfn for a in self._arenas]

    def view(self, pa: int, size: int) -> memoryview:
        """A read-only memoryview (the snapshot cannot change)."""
        arena, offset = self._locate(pa, size)
        return arena.mv[offset:offset + size]


class AddressSpace:
    """Kernel virtual address space backed by real page tables in `phys`.

    x64: 4-level paging, DTB = PML4 PA, PML4 self-map entry, canonical VAs, optional 2 MiB pages.
    x86: PAE 3-level paging, DTB (CR3) = PDPT PA, the 4 page directories preallocated (as Windows
    does) and self-mapped at 0xC0600000.
    arm64: 4 KiB granule, 48-bit VA, L0..L3 like x64's four levels; DTB = the one root table both
    halves share on Windows, L0 self-map entry, 2 MiB blocks at L2 for `large` mappings.
    """

    def __init__(self, phys: PhysicalMemory, arch: str = "x64"):
        if arch not in ("x64", "x86", "arm64"):
            raise ValueError("AddressSpace: arch must be 'x64', 'x86' or 'arm64', got %r" % (arch,))
        self.phys = phys
        self.arch = arch
        self.pointer_size = 4 if arch == "x86" else 8
        # software TLB: vpn -> (arena view, offset of the page in it, page PA)
        self._tlb = {}   # type: Dict[int, Tuple[memoryview, int, int]]
        # entry encodings: (table, 4 KiB page, large page / block) bits, output-address mask
        if arch == "arm64":
            self._bits = (_ARM64_TABLE, _ARM64_KERNEL_PAGE, _ARM64_KERNEL_BLOCK)
            self._address_mask = ARM64_OUTPUT_MASK
        else:
            self._bits = (_KERNEL_RW, _KERNEL_RW, _KERNEL_RW | PTE_LARGE)
            self._address_mask = PTE_PFN_MASK
        if arch != "x86":
            self.dtb = phys.allocate_pages(1)
            if arch == "x64":
                # PML4 self-map, NX like Windows' own self-map entry
                phys.write_u64(self.dtb + X64_SELF_MAP_INDEX * 8, self.dtb | _KERNEL_RW | PTE_NX)
            else:
                phys.write_u64(self.dtb + ARM64_SELF_MAP_INDEX * 8, self.dtb | _ARM64_TABLE | ARM64_PXN | ARM64_UXN)
            self.read_ptr, self.write_ptr = self.read_u64, self.write_u64
            self.va_limit = 1 << 64
        else:
            self.dtb = phys.allocate_pages(1)      # PDPT: first 32 bytes of this page
            self._pds = [phys.allocate_pages(1) for _ in range(4)]
            for index, pd in enumerate(self._pds):
                # PAE PDPTEs allow only P/PWT/PCD: RW/US/A are reserved there (Intel SDM §4.4.1)
                phys.write_u64(self.dtb + index * 8, pd | PTE_PRESENT)
                # self-map: PD[3] (0xC0000000-) entries 0..3 -> the four page directories
                phys.write_u64(self._pds[3] + index * 8, pd | _KERNEL_RW)
            self.read_ptr, self.write_ptr = self.read_u32, self.write_u32
            self.va_limit = 1 << 32

    # -- mapping ------------------------------------------------------------------------------
    def _va_problem(self, va: int, size: int = 1) -> Optional[str]:
        if va < 0 or va + size > self.va_limit:
            return "address outside the %s address space" % self.arch
        if self.arch != "x86":
            top = va >> 47
            if top not in (0, 0x1FFFF) or (va + size - 1) >> 47 != top:
                return "non-canonical address"
        return None

    def _is_large(self, entry: int) -> bool:
        """A valid entry that maps memory itself instead of pointing at a table: x64/x86 PS bit
        (meaningful at PDPTE/PDE), ARM64 descriptor type 0b01 (a block at L1/L2, reserved at L0/L3)."""
        if self.arch == "arm64":
            return entry & 3 == ARM64_VALID
        return bool(entry & PTE_LARGE)

    def _check_va(self, va: int, size: int = 1) -> None:
        problem = self._va_problem(va, size)
        if problem:
            raise MemoryReadError(va, size, reason=problem)

    def _table_for(self, va: int, stop_shift: int) -> int:
        """PA of the table whose entries have index shift `stop_shift` (21: PD, 12: PT) for `va`,
        creating missing intermediate tables."""
        if self.arch != "x86":
            table = self.dtb
            shifts = (39, 30, 21)
        else:
            table = self._pds[(va >> 30) & 3]
            shifts = (21,)
        for shift in shifts:
            if shift < stop_shift + 9:
                break
            entry_pa = table + ((va >> shift) & 0x1FF) * 8
            entry = self.phys.read_u64(entry_pa)
            if entry & PTE_PRESENT:
                if self._is_large(entry):
                    raise ValueError("map: 0x%x lies in a large page already mapped" % va)
                table = entry & self._address_mask
            else:
                child = self.phys.allocate_pages(1)
                self.phys.write_u64(entry_pa, child | self._bits[0])
                table = child
        return table

    def map(self, va: int, pa: int, size: int, large: bool = False) -> None:
        """Map [va, va+size) to [pa, pa+size). `large` uses 2 MiB PDEs (va, pa, size 2 MiB aligned)."""
        granule = LARGE_PAGE_SIZE if large else PAGE_SIZE
        if va % granule or pa % granule or size <= 0 or size % granule:
            raise ValueError("map(0x%x, 0x%x, 0x%x, large=%s): not %s aligned"
                             % (va, pa, size, large, "2 MiB" if large else "page"))
        self._check_va(va, size)
        self._tlb.clear()
        end = va + size
        if large:
            while va < end:
                pd = self._table_for(va, 21)
                entry_pa = pd + ((va >> 21) & 0x1FF) * 8
                old = self.phys.read_u64(entry_pa)
                if old & PTE_PRESENT and not self._is_large(old):
                    raise ValueError("map: 0x%x already has a page table of 4 KiB pages" % va)
                self.phys.write_u64(entry_pa, pa | self._bits[2])
                va += LARGE_PAGE_SIZE
                pa += LARGE_PAGE_SIZE
            return
        while va < end:
            pt = self._table_for(va, 12)
            first = (va >> 12) & 0x1FF
            count = min(512 - first, (end - va) >> 12)
            bits = self._bits[1]
            entries = [(pa + i * PAGE_SIZE) | bits for i in range(count)]
            self.phys.write(pt + first * 8, struct.pack("<%dQ" % count, *entries))
            va += count * PAGE_SIZE
            pa += count * PAGE_SIZE

    # -- translation --------------------------------------------------------------------------
    def walk(self, va: int) -> Optional[int]:
        """Walk the page tables in physical memory (no cache); PA or None when not present."""
        read = self.phys.read_u64
        if self.arch != "x86":
            if (va >> 47) not in (0, 0x1FFFF) or va < 0 or va >= 1 << 64:
                return None
            table = self.dtb
            levels = ((39, False), (30, True), (21, True), (12, False))
        else:
            if va < 0 or va >= 1 << 32:
                return None
            entry = read(self.dtb + ((va >> 30) & 3) * 8)
            if not entry & PTE_PRESENT:
                return None
            table = entry & PTE_PFN_MASK
            levels = ((21, True), (12, False))
        mask = self._address_mask
        for shift, may_be_large in levels:
            entry = read(table + ((va >> shift) & 0x1FF) * 8)
            if not entry & PTE_PRESENT:
                return None
            if may_be_large and self._is_large(entry):
                span = 1 << shift
                return (entry & mask & ~(span - 1)) + (va & (span - 1))
            if self.arch == "arm64" and self._is_large(entry):
                return None         # 0b01 at L0 / L3 is reserved: the MMU faults
            table = entry & mask
        return table + (va & 0xFFF)

    def _page(self, vpn: int) -> Tuple[memoryview, int, int]:
        """(arena memoryview, offset of the page in it, page PA) for a virtual page."""
        hit = self._tlb.get(vpn)
        if hit is not None:
            return hit
        va = vpn << PAGE_SHIFT
        pa = self.walk(va)
        if pa is None:
            raise _PageFault(va, self._va_problem(va) or "not mapped")
        try:
            arena, offset = self.phys._locate(pa, PAGE_SIZE)
        except MemoryReadError:
            raise _PageFault(va, "maps physical 0x%x, which is not present" % pa)
        hit = (arena.mv, offset, pa & ~0xFFF)
        self._tlb[vpn] = hit
        return hit

    def _miss(self, va: int, size: int) -> Tuple[memoryview, int, int]:
        """TLB miss on the hot paths: walk, or raise MemoryReadError naming the caller's range."""
        try:
            return self._page(va >> PAGE_SHIFT)
        except _PageFault as error:
            raise _fault(va, size, error) from None

    def translate(self, va: int) -> int:
        """PA of `va`; MemoryReadError naming `va` when it is not mapped."""
        hit = self._tlb.get(va >> PAGE_SHIFT) or self._miss(va, 1)
        return hit[2] + (va & 0xFFF)

    def _span(self, va: int, size: int):
        """[(memoryview, start, stop)] pieces covering [va, va+size), merged where contiguous.
        Raises MemoryReadError naming the first unmapped page before anything is touched."""
        pieces = []
        cursor, end = va, va + size
        while cursor < end:
            try:
                mv, offset, _ = self._page(cursor >> PAGE_SHIFT)
            except _PageFault as error:
                self._check_va(va, size)
                raise _fault(va, size, error) from None
            start = offset + (cursor & 0xFFF)
            take = min(end - cursor, PAGE_SIZE - (cursor & 0xFFF))
            if pieces and pieces[-1][0] is mv and pieces[-1][2] == start:
                pieces[-1][2] = start + take
            else:
                pieces.append([mv, start, start + take])
            cursor += take
        return pieces

    # -- bulk access --------------------------------------------------------------------------
    def read(self, va: int, size: int) -> bytes:
        if size <= 0:
            return b""
        offset = va & 0xFFF
        if offset + size <= PAGE_SIZE:
            hit = self._tlb.get(va >> PAGE_SHIFT) or self._miss(va, size)
            mv, base = hit[0], hit[1]
            return bytes(mv[base + offset:base + offset + size])
        pieces = self._span(va, size)
        if len(pieces) == 1:
            mv, start, stop = pieces[0]
            return bytes(mv[start:stop])
        return b"".join(mv[start:stop] for mv, start, stop in pieces)

    def write(self, va: int, data) -> None:
        """Write all of `data` at `va`, or nothing (MemoryReadError) when any page is unmapped."""
        if type(data) is not bytes and type(data) is not bytearray:
            data = memoryview(data).cast("B")
        size = len(data)
        if size == 0:
            return
        offset = va & 0xFFF
        if offset + size <= PAGE_SIZE:
            hit = self._tlb.get(va >> PAGE_SHIFT) or self._miss(va, size)
            mv, base = hit[0], hit[1]
            mv[base + offset:base + offset + size] = data
            return
        pieces = self._span(va, size)
        if len(pieces) == 1:
            mv, start, stop = pieces[0]
            mv[start:stop] = data
            return
        source = memoryview(data)
        done = 0
        for mv, start, stop in pieces:
            mv[start:stop] = source[done:done + stop - start]
            done += stop - start

    def view(self, va: int, size: int) -> memoryview:
        """A writable memoryview of [va, va+size). The range must be physically contiguous in one
        allocation (every KernelPool block and mapped image is); reuse it for hot paths."""
        offset = va & 0xFFF
        if offset + size <= PAGE_SIZE:
            hit = self._tlb.get(va >> PAGE_SHIFT) or self._miss(va, size)
            mv, base = hit[0], hit[1]
            return mv[base + offset:base + offset + size]
        pieces = self._span(va, size)
        if len(pieces) != 1:
            raise ValueError("view(0x%x, %d): range is not physically contiguous in one allocation"
                             % (va, size))
        mv, start, stop = pieces[0]
        return mv[start:stop]

    # Typed helpers read_u8/u16/u32/u64(va) -> int and write_u8/u16/u32/u64(va, value) are
    # attached after the class (_typed_reader/_typed_writer: one Python call per access, which
    # the ring-buffer hot path needs); read_ptr/write_ptr are bound per instance in __init__.


def _typed_reader(fmt: struct.Struct):
    unpack_from, size = fmt.unpack_from, fmt.size

    def read(self: AddressSpace, va: int) -> int:
        offset = va & 0xFFF
        if offset + size <= PAGE_SIZE:
            hit = self._tlb.get(va >> PAGE_SHIFT) or self._miss(va, size)
            return unpack_from(hit[0], hit[1] + offset)[0]
        return fmt.unpack(self.read(va, size))[0]

    read.__name__ = "read_u%d" % (size * 8)
    read.__doc__ = "Read a little-endian %d-bit unsigned integer at a kernel VA." % (size * 8)
    return read


def _typed_writer(fmt: struct.Struct):
    pack_into, size = fmt.pack_into, fmt.size

    def write(self: AddressSpace, va: int, value: int) -> None:
        offset = va & 0xFFF
        if offset + size <= PAGE_SIZE:
            hit = self._tlb.get(va >> PAGE_SHIFT) or self._miss(va, size)
            pack_into(hit[0], hit[1] + offset, value)
            return
        self.write(va, fmt.pack(value))

    write.__name__ = "write_u%d" % (size * 8)
    write.__doc__ = "Write a little-endian %d-bit unsigned integer at a kernel VA." % (size * 8)
    return write


AddressSpace.read_u8 = _typed_reader(_U8)
AddressSpace.read_u16 = _typed_reader(_U16)
AddressSpace.read_u32 = _typed_reader(_U32)
AddressSpace.read_u64 = _typed_reader(_U64)
AddressSpace.write_u8 = _typed_writer(_U8)
AddressSpace.write_u16 = _typed_writer(_U16)
AddressSpace.write_u32 = _typed_writer(_U32)
AddressSpace.write_u64 = _typed_writer(_U64)
# read_ptr/write_ptr are bound per instance in AddressSpace.__init__ (pointer size = arch)
