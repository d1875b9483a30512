"""The emulated kernel's nonpaged pool and image regions: kernel VA handed out in physically
contiguous slabs of dmfemu.memory, each block behind a POOL_HEADER that carries its tag, as
`!pool` reads it."""
import bisect
import struct
from typing import List

from dmfkd.layouts.engine import align_up
from dmfkd.layouts.windows import PAGE_SIZE

from dmfemu.memory import LARGE_PAGE_SIZE, AddressSpace

_PAGES_PER_LARGE = LARGE_PAGE_SIZE // PAGE_SIZE
_U32 = struct.Struct("<I")

# Kernel VA regions handed out by KernelPool (Windows-like; any canonical kernel VA would do).
X64_POOL_BASE = 0xFFFFE00000000000       # nonpaged pool region (cf. spec/dmf.md §4.2's 0xffffe000...)
X64_IMAGE_BASE = 0xFFFFF80000000000      # system images (ntoskrnl, drivers)
# ARM64: regions like the real Windows 11 22000 ARM64 triage dump's in tests/data: ntoskrnl at
# 0xfffff803`f2e00000, its current thread and process (nonpaged pool) at 0xffffbb8e`b1......
ARM64_POOL_BASE = 0xFFFFBB8000000000
ARM64_IMAGE_BASE = 0xFFFFF80000000000
X86_IMAGE_BASE = 0x80000000
X86_POOL_BASE = 0x84000000               # below the PAE self-map at 0xC0000000
X86_POOL_LIMIT = 0xC0000000

_POOL_SLAB_PAGES = 64                    # pool grows in physically contiguous 256 KiB slabs


class PoolBlock(object):
    __slots__ = ("va", "size", "header_va")

    def __init__(self, va: int, size: int, header_va: int):
        self.va = va
        self.size = size
        self.header_va = header_va


class KernelPool:
    """Nonpaged-pool allocator in kernel VA.

    Each block is preceded by a POOL_HEADER (x64 and ARM64 16 bytes / x86 8 bytes): a ULONG bitfield
    (x64, ARM64 {PreviousSize:8, PoolIndex:8, BlockSize:8, PoolType:8}, x86 {PreviousSize:9, PoolIndex:7,
    BlockSize:9, PoolType:7}, sizes in header-size units), then the 4-byte PoolTag at +4 stored as
    `!pool` prints it (spec/dmf.md §0.2: source `'4fmD'` is the bytes
    `Dmf4`). Blocks that fit in a page never straddle one (as in Windows' small-pool pages); larger
    blocks start on a fresh page. Every block is physically contiguous, so `space.view(va, size)`
    works on it.
    """

    # POOL_HEADER.PoolType of an allocated block is the POOL_TYPE + 1 (0 marks a free block);
    # NonPagedPool(Nx) blocks read 1/2 on Win10 x64 - the exact value is not read by dmfkd.
    POOL_TYPE_NONPAGED = 1

    def __init__(self, space: AddressSpace, large_pages: bool = False):
        self.space = space
        self.phys = space.phys
        self.header_size = 16 if space.pointer_size == 8 else 8
        self.large_pages = large_pages
        if space.pointer_size == 8:
            arm64 = space.arch == "arm64"
            pool, image = (ARM64_POOL_BASE, ARM64_IMAGE_BASE) if arm64 else (X64_POOL_BASE, X64_IMAGE_BASE)
            self._pool_next = pool
            self._pool_limit = pool + (1 << 39)
            self._image_next = image
            self._image_limit = image + (1 << 39)
        else:
            self._pool_next = X86_POOL_BASE
            self._pool_limit = X86_POOL_LIMIT
            self._image_next = X86_IMAGE_BASE
            self._image_limit = X86_POOL_BASE
        self._slab_next = 0      # next free VA inside the current slab
        self._slab_end = 0
        self._blocks = {}        # type: Dict[int, PoolBlock]  block VA -> block
        self._block_starts = []  # type: List[int]  header VAs, sorted (VAs only grow)
        self._block_list = []    # type: List[PoolBlock]
        self._prev_units = {}    # page VA -> BlockSize (units) of the last block on that page
        self.images = {}         # type: Dict[str, Tuple[int, int]]

    # -- VA + physical backing ----------------------------------------------------------------
    def _map_new(self, size: int, images: bool) -> int:
        """Reserve VA, allocate contiguous physical pages and map them; returns the VA."""
        granule = LARGE_PAGE_SIZE if self.large_pages else PAGE_SIZE
        size = align_up(size, granule)
        if images:
            va = align_up(self._image_next, max(granule, 0x10000))
            limit = self._image_limit
        else:
            va = align_up(self._pool_next, granule)
            limit = self._pool_limit
        if va + size > limit:
            raise MemoryError("emulated kernel %s region exhausted" % ("image" if images else "pool"))
        pa = self.phys.allocate_pages(size // PAGE_SIZE, _PAGES_PER_LARGE if self.large_pages else 1)
        self.space.map(va, pa, size, large=self.large_pages)
        # one unmapped guard page between regions, as between real pool allocations / images
        if images:
            self._image_next = va + size + PAGE_SIZE
        else:
            self._pool_next = va + size + PAGE_SIZE
        return va

    def allocate(self, size: int, tag: bytes = b"Dmf4", align: int = 16) -> int:
        """Allocate a zeroed nonpaged block of `size` bytes; returns its VA (aligned to `align`)."""
        if isinstance(tag, str):
            tag = tag.encode("ascii")
        if len(tag) != 4:
            raise ValueError("pool tag must be 4 bytes, got %r" % (tag,))
        if size < 0:
            raise ValueError("pool allocation size must not be negative")
        hsize = self.header_size
        align = max(align, hsize)
        if align & (align - 1):
            raise ValueError("alignment must be a power of two")
        body = align_up(max(size, 1), hsize)
        total = hsize + body

        def placement(cursor: int) -> int:
            return align_up(cursor + hsize, align) - hsize

        header_va = placement(self._slab_next) if self._slab_end else 0
        if total <= PAGE_SIZE and header_va:
            # small block: keep it inside one page
            if (header_va & 0xFFF) + total > PAGE_SIZE:
                header_va = placement(align_up(header_va, PAGE_SIZE))
        elif header_va:
            header_va = placement(align_up(header_va, PAGE_SIZE))
        if not self._slab_end or header_va + total > self._slab_end:
            slab_size = max(_POOL_SLAB_PAGES * PAGE_SIZE, align_up(total + align, PAGE_SIZE))
            slab = self._map_new(slab_size, images=False)
            self._slab_end = slab + align_up(slab_size, LARGE_PAGE_SIZE if self.large_pages else PAGE_SIZE)
            header_va = placement(slab)
        self._slab_next = header_va + total
        va = header_va + hsize
        self._write_header(header_va, total, tag)
        block = PoolBlock(va, size, header_va)
        self._blocks[va] = block
        self._block_starts.append(header_va)
        self._block_list.append(block)
        return va

    def _write_header(self, header_va: int, total: int, tag: bytes) -> None:
        hsize = self.header_size
        page = header_va & ~0xFFF
        previous = self._prev_units.get(page, 0) if header_va & 0xFFF else 0
        if self.space.pointer_size == 8:
            # {PreviousSize:8, PoolIndex:8, BlockSize:8, PoolType:8}, units of 16 bytes
            units = min(total // hsize, 0xFF)      # blocks over a page saturate (big pool)
            bits = previous | (units << 16) | (self.POOL_TYPE_NONPAGED << 24)
        else:
            # x86: {PreviousSize:9, PoolIndex:7, BlockSize:9, PoolType:7}, units of 8 bytes
            units = min(total // hsize, 0x1FF)
            bits = previous | (units << 16) | (self.POOL_TYPE_NONPAGED << 25)
        self._prev_units[page] = units
        header = bytearray(hsize)
        _U32.pack_into(header, 0, bits)
        header[4:8] = tag
        self.space.write(header_va, bytes(header))

    def block_of(self, va: int) -> PoolBlock:
        """The block containing `va` (header or body); ValueError if none."""
        index = bisect.bisect_right(self._block_starts, va) - 1
        if index >= 0:
            block = self._block_list[index]
            if block.header_va <= va < block.va + max(block.size, 1):
                return block
        raise ValueError("0x%x is not inside a pool block" % va)

    def blocks(self) -> List[PoolBlock]:
        """Every block allocated so far, in address order (a test samples their pages)."""
        return list(self._block_list)

    def tag_of(self, va: int) -> bytes:
        """The 4-byte tag in the POOL_HEADER of the block containing `va`, read from memory."""
        block = self.block_of(va)
        return self.space.read(block.header_va + 4, 4)

    def map_image(self, name: str, size: int) -> int:
        """Map a zeroed driver image region (globals live here); returns its base VA."""
        if name in self.images:
            raise ValueError("image %r is already mapped" % name)
        if size <= 0:
            raise ValueError("image size must be positive")
        base = self._map_new(align_up(size, PAGE_SIZE), images=True)
        self.images[name] = (base, size)
        return base
