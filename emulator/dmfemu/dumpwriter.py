"""Write Windows kernel dump files the way the kernel does (spec/dump-format.md §1-§3, §8).

`write_dump` builds a KeInitializeCrashDumpHeader-style header (the whole header pre-filled with
`PAGE`, §1.1), one of the bodies full (1) or bitmap (5/6) (x64, ARM64 and x86 PAE) or triage (4, x64 and
ARM64), and the secondary-data region of §3.7 right after the primary data; the file ends there. An ARM64
dump is an x64 one with MachineImageType 0xAA64, the ARM64 CONTEXT in ContextRecord and ARM64
translation tables under DirectoryTableBase (the real Windows 11 ARM64 triage dump in tests/data has
that shape).

Page data is streamed: pages are gathered into large batches and written with few system calls
(os.writev where available), never byte by byte.
"""
import os
import uuid
from typing import Iterable, List, Optional, Sequence, Tuple

from dmfkd.layouts import debugger_data
from dmfkd.layouts import dump_format
from dmfkd.layouts.windows import PAGE_SIZE
from dmfkd.targets.paging import translate_arm64, translate_pae, translate_x64

BATCH_PAGES = 1024              # pages per write call (4 MiB); also os.writev's IOV_MAX on Linux

DUMP_TYPES = {"full": dump_format.DumpType.FULL, "bitmap": dump_format.DumpType.BITMAP_FULL,
              "bitmap-kernel": dump_format.DumpType.BITMAP_KERNEL, "triage": dump_format.DumpType.TRIAGE}

# 2024-01-01 00:00:00 UTC as FILETIME, and ten minutes of uptime (100 ns units)
DEFAULT_SYSTEM_TIME = 133485408000000000
DEFAULT_SYSTEM_UPTIME = 10 * 60 * 10 ** 7

SUITE_MASK = 0x110                  # VER_SUITE_TERMINAL | VER_SUITE_SINGLEUSERTS, as in the real samples
TRIAGE_PRCB_PLACEHOLDER = 0x100     # no KDBG/PRCB in memory: the area only satisfies "PrcbOffset != 0"
TRIAGE_MAX_STACK = 0x3000
KDBG_COPY_MAX = 0x1000
TRIAGE_BUILD_LAB_MAX = 0x100
TRIAGE_MAX_DRIVERS = 4096          # bounds the PsLoadedModuleList walk (a corrupt list may not end)


class _Pages:
    """Uniform view of `pages`: a {pfn: bytes} mapping or an object with present_pfns()/page(pfn)."""

    def __init__(self, pages):
        if hasattr(pages, "present_pfns") and hasattr(pages, "page"):
            self.pfns = sorted(int(p) for p in pages.present_pfns())
            self._get = pages.page
            self._chunks = getattr(pages, "chunks", None)
        else:
            self.pfns = sorted(int(p) for p in pages.keys())
            self._get = pages.__getitem__
            self._chunks = None
        if self.pfns and self.pfns[0] < 0:
            raise ValueError("negative PFN %d" % self.pfns[0])
        self._present = set(self.pfns) if len(self.pfns) < (1 << 22) else None

    def __contains__(self, pfn) -> bool:
        if self._present is not None:
            return pfn in self._present
        import bisect

        i = bisect.bisect_left(self.pfns, pfn)
        return i < len(self.pfns) and self.pfns[i] == pfn

    def page(self, pfn: int) -> bytes:
        data = self._get(pfn)
        if len(data) != PAGE_SIZE:
            raise ValueError("page %#x has %d bytes, expected %d" % (pfn, len(data), PAGE_SIZE))
        return data

    def read_physical(self, pa: int, size: int) -> Optional[bytes]:
        out = []
        while size > 0:
            pfn, off = divmod(pa, PAGE_SIZE)
            if pfn not in self:
                return None
            take = min(size, PAGE_SIZE - off)
            out.append(bytes(self.page(pfn)[off:off + take]))
            pa += take
            size -= take
        return b"".join(out)

    def chunk_views(self):
        """(first_pfn, whole-page memoryview) stretches covering every present page once, in PFN
        order, when the source offers them (dmfemu.memory chunks()); else None."""
        if self._chunks is None:
            return None
        chunks = []
        index = 0
        for first_pfn, view in self._chunks():
            view = memoryview(view).cast("B")
            count, rest = divmod(len(view), PAGE_SIZE)
            if rest or not count or index + count > len(self.pfns) or self.pfns[index] != first_pfn \
                    or self.pfns[index + count - 1] != first_pfn + count - 1:
                return None         # not the shape we rely on: fall back to page by page
            chunks.append(view)
            index += count
        return chunks if index == len(self.pfns) else None

    def runs(self) -> List[Tuple[int, int]]:
        runs: List[List[int]] = []
        for pfn in self.pfns:
            if runs and runs[-1][0] + runs[-1][1] == pfn:
                runs[-1][1] += 1
            else:
                runs.append([pfn, 1])
        return [(base, count) for base, count in runs]


def _write_pages(fileobj, pages: _Pages, pfns: Sequence[int]) -> None:
    chunks = pages.chunk_views() if len(pfns) == len(pages.pfns) else None
    if chunks is not None:
        for view in chunks:             # whole contiguous stretches: megabytes per call
            fileobj.write(view)
        return
    writev = getattr(os, "writev", None)
    fileobj.flush()
    fd = fileobj.fileno() if writev is not None else None
    for start in range(0, len(pfns), BATCH_PAGES):
        batch = [pages.page(pfn) for pfn in pfns[start:start + BATCH_PAGES]]
        if writev is not None:
            total = PAGE_SIZE * len(batch)
            written = writev(fd, batch)
            if written != total:                   # short write: finish the rest the plain way
                os.write(fd, b"".join(batch)[written:])
        else:
            fileobj.write(b"".join(batch))


def blob_region(blobs: Iterable[Tuple[uuid.UUID, bytes]], build: int) -> bytes:
    """The secondary-data region of spec/dump-format.md §3.7: `DumpBlob`, then each blob with
    PrePad 0 and PostPad up to a multiple of 8. Empty when there are no blobs."""
    blobs = list(blobs)
    if not blobs:
        return b""
    parts = [dump_format.DUMP_BLOB_FILE_HEADER.build(dict(BuildNumber=0xF0000000 | (build & 0x0FFFFFFF)))]
    for guid, payload in blobs:
        if not isinstance(guid, uuid.UUID):
            guid = uuid.UUID(str(guid))
        payload = bytes(payload)
        post_pad = -len(payload) % 8
        parts.append(dump_format.DUMP_BLOB_HEADER.build(dict(Tag=guid.bytes_le, DataSize=len(payload),
                                                             PrePad=0, PostPad=post_pad)))
        parts.append(payload)
        parts.append(bytes(post_pad))
    return b"".join(parts)


def _context64(context: Optional[dict], arch: str = "x64") -> Tuple[bytes, int]:
    """ContextRecord of a 64-bit header (CONTEXT_AMD64 or the ARM64 CONTEXT, the rest `PAGE`) and the PC."""
    fields = dict(context or {})
    if arch == "arm64":
        raw = dump_format.CONTEXT_ARM64.build(fields)
        pc = fields.get("Pc", 0)
    else:
        mxcsr = fields.setdefault("MxCsr", 0x1F80)
        fields.setdefault("FltSave_MxCsr", mxcsr)      # kdmp-parser rejects a dump when they differ (§1.5)
        raw = dump_format.CONTEXT_AMD64.build(fields)
        pc = fields.get("Rip", 0)
    fill = (dump_format.PAGE * dump_format.CONTEXT_RECORD64_SIZE)[:dump_format.CONTEXT_RECORD64_SIZE - len(raw)]
    return raw + fill, pc


def _context32(context: Optional[dict]) -> Tuple[bytes, int]:
    fields = dict(context or {})
    raw = dump_format.CONTEXT_X86.build(fields)
    fill = (dump_format.PAGE * dump_format.CONTEXT_RECORD32_SIZE)[:dump_format.CONTEXT_RECORD32_SIZE - len(raw)]
    return raw + fill, fields.get("Eip", 0)


def _exception(address: int, pointer_size: int) -> dict:
    # KeBugCheck's exception record: a non-continuable breakpoint at the saved PC (§1.5)
    return dict(ExceptionCode=dump_format.STATUS_BREAKPOINT, ExceptionFlags=dump_format.EXCEPTION_NONCONTINUABLE,
                ExceptionRecord=0, ExceptionAddress=address & ((1 << (8 * pointer_size)) - 1),
                NumberParameters=0, ExceptionInformation=[0] * 15,
                **({"_pad": 0} if pointer_size == 8 else {}))


def _run_block(runs, total_pages, x86: bool) -> dict:
    limit = dump_format.MAX_RUNS32 if x86 else dump_format.MAX_RUNS64
    block = dict(NumberOfRuns=len(runs), NumberOfPages=total_pages,
                 Run=[dict(BasePage=b, PageCount=c) for b, c in runs] + dump_format.unused_runs(limit - len(runs), x86))
    return block


_WALKS = {"x64": translate_x64, "x86": translate_pae, "arm64": translate_arm64}


def _translate(pages: _Pages, dtb: int, va: int, arch: str) -> Optional[int]:
    def read_u64(pa):
        raw = pages.read_physical(pa, 8)
        return None if raw is None else int.from_bytes(raw, "little")

    return _WALKS[arch](read_u64, dtb, va)


def _read_virtual(pages: _Pages, dtb: int, va: int, size: int, arch: str) -> Optional[bytes]:
    out = []
    while size > 0:
        pa = _translate(pages, dtb, va, arch)
        take = min(size, PAGE_SIZE - (va & 0xFFF))
        data = None if pa is None else pages.read_physical(pa, take)
        if data is None:
            return None
        out.append(data)
        va += take
        size -= take
    return b"".join(out)


def write_dump(path, *, arch: str, dump_type: str, pages, dtb: int, bugcheck=(0xDEADDEAD, 0, 0, 0, 0),
               blobs: Sequence[Tuple[uuid.UUID, bytes]] = (), build: int = 19041, kdbg_va: int = 0,
               ps_loaded_module_list: int = 0, ps_active_process_head: int = 0, context=None,
               system_time: int = DEFAULT_SYSTEM_TIME, system_uptime: int = DEFAULT_SYSTEM_UPTIME,
               processors: int = 1, triage_blocks: Sequence[Tuple[int, bytes]] = (),
               dump_type_value: Optional[int] = None, attributes: Optional[int] = None) -> int:
    """Write a kernel dump to `path` and return its size in bytes.

    arch "x64" or "arm64" (types full, bitmap, bitmap-kernel, triage) or "x86" (full, bitmap,
    bitmap-kernel; PAE paging). `context`: CONTEXT_AMD64 / CONTEXT_X86 / ARM64 CONTEXT fields by arch.
    `pages`: {pfn: 4096 bytes} or an object with present_pfns()/page(pfn) (dmfemu.memory snapshot).
    `blobs`: (GUID, payload) in the order the bug check produced them (§3.7: ReadTagged sees the
    first of duplicate GUIDs). `triage_blocks`: (kernel VA, bytes) regions a triage dump carries
    (KeAddTriageDumpDataBlock). `dump_type_value` overrides the DumpType number written.
    `attributes`: DUMP_FILE_ATTRIBUTES (header 0x1050 x64 / 0x8A0 x86; e.g.
    dmfkd.layouts.dumpfile.DUMP_ATTRIBUTE_LIVE_DUMP for a live dump); None leaves the field as the
    kernel's crash writer does, `PAGE`-filled (both real minidumps in tests/data, §1.1).
    """
    if attributes is not None and not 0 <= attributes <= 0xFFFFFFFF:
        raise ValueError("attributes must be a u32, not %r" % (attributes,))
    optional = {} if attributes is None else {"Attributes": attributes}
    if arch not in _WALKS:
        raise ValueError("arch must be 'x64', 'x86' or 'arm64', not %r" % (arch,))
    if dump_type not in DUMP_TYPES:
        raise ValueError("dump_type must be one of %s, not %r" % (", ".join(DUMP_TYPES), dump_type))
    if arch == "x86" and dump_type == "triage":
        raise ValueError("x86 dumps: dump_type 'full', 'bitmap' or 'bitmap-kernel' (no triage)")
    code, p1, p2, p3, p4 = (tuple(bugcheck) + (0, 0, 0, 0))[:5]
    page_view = _Pages(pages)
    region = blob_region(blobs, build)
    type_value = DUMP_TYPES[dump_type] if dump_type_value is None else dump_type_value

    if arch == "x86":
        return _write_x86(path, dump_type, page_view, region, dtb, (code, p1, p2, p3, p4), build, kdbg_va,
                          ps_loaded_module_list, ps_active_process_head, context, system_time,
                          system_uptime, processors, type_value, optional)

    context_raw, pc = _context64(context, arch)
    header = dict(
        MajorVersion=0xF, MinorVersion=build, DirectoryTableBase=dtb,
        PsLoadedModuleList=ps_loaded_module_list, PsActiveProcessHead=ps_active_process_head,
        MachineImageType=dump_format.MACHINE_ARM64 if arch == "arm64" else dump_format.MACHINE_AMD64,
        NumberProcessors=processors,
        BugCheckCode=code, BugCheckParameter1=p1, BugCheckParameter2=p2, BugCheckParameter3=p3,
        BugCheckParameter4=p4, KdDebuggerDataBlock=kdbg_va, ContextRecord=context_raw,
        Exception=_exception(pc, 8), DumpType=type_value, SystemTime=system_time,
        SystemUpTime=system_uptime, SecondaryDataState=0, ProductType=1, SuiteMask=SUITE_MASK, WriterStatus=0,
        KdSecondaryVersion=0, **optional
    )
    runs = page_view.runs()
    total = len(page_view.pfns)

    if dump_type == "full":
        if len(runs) > dump_format.MAX_RUNS64:
            raise ValueError("a full dump holds at most %d runs; these pages form %d (use a bitmap dump)"
                             % (dump_format.MAX_RUNS64, len(runs)))
        header["PhysicalMemoryBlock"] = _run_block(runs, total, False)
        return _write_full(path, page_view, region, dump_format.DUMP_HEADER64, header)

    if dump_type in ("bitmap", "bitmap-kernel"):
        if len(runs) <= dump_format.MAX_RUNS64:           # informational for bitmap dumps (§1.4)
            header["PhysicalMemoryBlock"] = _run_block(runs, total, False)
        return _write_bitmap(path, page_view, region, dump_format.DUMP_HEADER64, header)

    return _write_triage64(path, page_view, region, header, dtb, kdbg_va, context, triage_blocks,
                           ps_loaded_module_list, arch)


def _write_full(path, pages: _Pages, region: bytes, layout, header: dict) -> int:
    """Type 1: header, then every page in run order with no sub-header, then the blob region
    (spec/dump-format.md §2.1, §3.7); RequiredDumpSpace = the file size."""
    size = layout.sizeof() + PAGE_SIZE * len(pages.pfns) + len(region)
    header["RequiredDumpSpace"] = size
    with open(path, "wb") as f:
        f.write(layout.build(header))
        _write_pages(f, pages, pages.pfns)
        f.write(region)
    return size


def _write_bitmap(path, pages: _Pages, region: bytes, layout, header: dict) -> int:
    """Bitmap body (§2.2) after a header of `layout` (0x2000 x64, 0x1000 x86: the same 0x38-byte
    `SDMP` sub-header follows whichever header there is; dbgeng reads x86 ones so, see
    tests/oracle/test_dbgeng_synthetic.py), pages from a 4 KiB-aligned FirstPage, then the region."""
    header_size = layout.sizeof()
    span = (pages.pfns[-1] + 1) if pages.pfns else 0
    bits = -(-span // 64) * 64              # LeechCore ignores bits past the last full u64 (§5.4)
    bitmap = bytearray(bits // 8)
    for pfn in pages.pfns:
        bitmap[pfn >> 3] |= 1 << (pfn & 7)
    total = len(pages.pfns)
    first_page = -(-(header_size + dump_format.BITMAP_HEADER_SIZE + len(bitmap)) // PAGE_SIZE) * PAGE_SIZE
    size = first_page + PAGE_SIZE * total + len(region)
    header["RequiredDumpSpace"] = size
    sub = dump_format.BITMAP_DUMP_HEADER.build(dict(Signature=b"SDMP", FirstPage=first_page, TotalPresentPages=total,
                                                    Pages=bits))
    with open(path, "wb") as f:
        head = layout.build(header) + sub + bytes(bitmap)
        f.write(head + bytes(first_page - len(head)))
        _write_pages(f, pages, pages.pfns)
        f.write(region)
    return size


def _u64(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset:offset + 8], "little")


class _TriageSource:
    """What a triage dump copies out of memory, located the way the kernel's triage writer does:
    through the KDBG (KiProcessorBlock[0] -> PRCB -> CurrentThread -> ApcState.Process, with the
    sizes the KDBG gives; spec/dump-format.md §2.5) and PsLoadedModuleList for the driver list."""

    def __init__(self, pages: _Pages, dtb: int, kdbg_va: int, module_list: int, rsp: int, arch: str = "x64"):
        self.pages, self.dtb, self.arch = pages, dtb, arch
        self.kdbg = self._kdbg(kdbg_va)
        # the block's fields, those past a short copy read as 0; None when the copy ends before
        # SizeEThread (the last field this writer needs)
        layout = debugger_data.kddebugger_data64()
        self.kdbg_fields = None
        if len(self.kdbg) >= layout.offsets["SizeEThread"] + 2:
            self.kdbg_fields = layout.unpack_from(self.kdbg[:layout.size].ljust(layout.size, b"\0"))
        self.prcb_va = self.thread_va = self.process_va = 0
        self.prcb = self.thread = self.process = b""
        kd = self.kdbg_fields
        if kd is not None:
            prcb_array = kd["KiProcessorBlock"]
            head = self.read(prcb_array, 8) if prcb_array else None
            self.prcb_va = _u64(head, 0) if head else 0
            self.prcb = self.read(self.prcb_va, kd["SizePrcb"]) or b""
            current = kd["OffsetPrcbCurrentThread"]
            if self.prcb and len(self.prcb) >= current + 8:
                self.thread_va = _u64(self.prcb, current)
                self.thread = self.read(self.thread_va, kd["SizeEThread"]) or b""
            apc_process = kd["OffsetKThreadApcProcess"]
            if self.thread and len(self.thread) >= apc_process + 8:
                self.process_va = _u64(self.thread, apc_process)
                self.process = self.read(self.process_va, kd["SizeEProcess"]) or b""
        self.stack = self._stack(rsp)
        self.drivers = self._drivers(module_list)

    def kernel_blocks(self) -> List[Tuple[int, bytes]]:
        """Data blocks the kernel adds to every minidump before the drivers' ones (the real
        triage_x64 sample maps nt's header page): the kernel image's headers, so the debugger can
        check the module's timestamp, and the NtBuildLab string ("Built by:")."""
        out = []
        if self.kdbg_fields is None:
            return out
        kern_base = self.kdbg_fields["KernBase"]
        header = self.read(kern_base, PAGE_SIZE)
        if header is not None:
            out.append((kern_base, header))
        lab_va = self.kdbg_fields["NtBuildLab"]
        lab = self.read(lab_va, min(TRIAGE_BUILD_LAB_MAX, PAGE_SIZE - (lab_va & 0xFFF))) if lab_va else None
        if lab is not None and b"\0" in lab:
            out.append((lab_va, lab[:lab.index(b"\0") + 1]))
        return out

    def read(self, va: int, size: int) -> Optional[bytes]:
        if not va or size <= 0:
            return None
        return _read_virtual(self.pages, self.dtb, va, size, self.arch)

    def _kdbg(self, kdbg_va: int) -> bytes:
        header_layout = debugger_data.dbgkd_debug_data_header64()
        head = self.read(kdbg_va, header_layout.size)
        if head is None:
            return b""
        header = header_layout.unpack_from(head)
        if header["OwnerTag"] != debugger_data.KDBG_OWNER_TAG:
            return b""
        return self.read(kdbg_va, max(min(header["Size"], KDBG_COPY_MAX), header_layout.size)) or b""

    def _stack(self, rsp: int) -> bytes:
        """From the saved Rsp up to the thread's InitialStack (else the end of Rsp's page), at most
        TRIAGE_MAX_STACK bytes: the frames above the bug check, as the real dumps carry them."""
        if not rsp:
            return b""
        end = (rsp | 0xFFF) + 1
        if self.thread and len(self.thread) >= self.kdbg_fields["OffsetKThreadInitialStack"] + 8:
            top = _u64(self.thread, self.kdbg_fields["OffsetKThreadInitialStack"])
            if rsp < top <= rsp + TRIAGE_MAX_STACK:
                end = top
        end = min(end, rsp + TRIAGE_MAX_STACK)
        out = []
        va = rsp
        while va < end:                     # page by page: an unmapped page ends the copy
            take = min(end - va, PAGE_SIZE - (va & 0xFFF))
            data = self.read(va, take)
            if data is None:
                break
            out.append(data)
            va += take
        return b"".join(out)

    def _drivers(self, head: int) -> List[Tuple[str, dict]]:
        """(full name, DUMP_DRIVER_ENTRY64 fields) for each PsLoadedModuleList entry."""
        layout = debugger_data.kldr_data_table_entry(self.arch)
        copied = ("DllBase", "EntryPoint", "SizeOfImage", "Flags", "LoadCount", "CheckSum", "TimeDateStamp")
        out = []
        seen = set()
        link = self.read(head, 8)
        entry = _u64(link, 0) if link else 0
        while entry and entry != head and entry not in seen and len(out) < TRIAGE_MAX_DRIVERS:
            seen.add(entry)
            raw = self.read(entry, layout.size)
            if raw is None:
                break
            fields = layout.unpack_from(raw)
            name = ""
            length = fields["FullDllName.Length"]
            text = self.read(fields["FullDllName.Buffer"], length) if length else None
            if text is not None:
                name = text.decode("utf-16-le", "replace")
            out.append((name, dict((key, fields[key]) for key in copied)))
            entry = fields["InLoadOrderLinks.Flink"]
        return out


def _write_triage64(path, pages: _Pages, region: bytes, header: dict, dtb: int, kdbg_va: int,
                    context: Optional[dict], triage_blocks, module_list: int, arch: str) -> int:
    """Type 4 (§2.5) laid out in the order of the real kernel minidumps: TRIAGE_DUMP64 at 0x2000,
    PRCB (KDBG.SizePrcb bytes of KiProcessorBlock[0]), process, thread, call stack, KDBG copy,
    driver list and its string pool, data blocks and their array; `TRGD` at SizeOfDump - 4;
    secondary data at SizeOfDump. Without a usable KDBG (unit tests' bare page sets) the PRCB is
    a placeholder that only satisfies "PrcbOffset != 0"."""
    body = bytearray()
    base = dump_format.HEADER64_SIZE + dump_format.TRIAGE_DUMP64.sizeof()

    def place(data: bytes, align: int = 8) -> int:
        body.extend(bytes(-(base + len(body)) % align))
        offset = base + len(body)
        body.extend(data)
        return offset

    # the stack pointer the stack copy starts at: Rsp (x64) / Sp (ARM64)
    rsp = (context or {}).get("Sp" if arch == "arm64" else "Rsp", 0)
    src = _TriageSource(pages, dtb, kdbg_va, module_list, rsp, arch)
    prcb_offset = place(src.prcb or bytes(TRIAGE_PRCB_PLACEHOLDER))
    process_offset = place(src.process) if src.process else 0
    thread_offset = place(src.thread) if src.thread else 0
    stack_offset = place(src.stack if src.stack else bytes(8))
    kdbg_offset = place(src.kdbg) if src.kdbg else 0
    driver_offset = pool_offset = 0
    pool_size = 0
    if src.drivers:
        entry_size = dump_format.DUMP_DRIVER_ENTRY64.sizeof()
        driver_offset = place(bytes(entry_size * len(src.drivers)))
        pool_offset = base + len(body)
        entries = []
        for name, fields in src.drivers:
            text = name.encode("utf-16-le")
            name_offset = place(len(name).to_bytes(4, "little") + text + b"\0\0")
            entries.append(dump_format.DUMP_DRIVER_ENTRY64.build(dict(fields, DriverNameOffset=name_offset)))
        pool_size = base + len(body) - pool_offset
        body[driver_offset - base:driver_offset - base + entry_size * len(entries)] = b"".join(entries)
    # the unloaded-driver list: a u64 count, then DUMP_UNLOADED_DRIVERS64 entries; dmfemu unloads
    # nothing. Without one dbgeng says "Mini Kernel Dump does not contain unloaded driver list".
    unloaded_offset = place(bytes(8))
    blocks = []
    for va, data in src.kernel_blocks() + list(triage_blocks):
        data = bytes(data)
        blocks.append(dict(Address=va, Offset=place(data), Size=len(data)))
    blocks_offset = place(b"".join(dump_format.TRIAGE_DATA_BLOCK64.build(b) for b in blocks)) if blocks else 0
    valid_offset = place(dump_format.TRIAGE_VALID, 4)
    size_of_dump = valid_offset + 4

    # dbgeng maps the data blocks / KDBG copy only when all of BASIC_INFO is claimed (checked with
    # the dbgeng oracle: 0xC27 -> blocks unreadable, 0xCFF -> readable; the real samples carry 0xCFF)
    fields = (dump_format.TRIAGE_DUMP_BASIC_INFO | (dump_format.TRIAGE_DUMP_DEBUGGER_DATA if src.kdbg else 0)
              | (dump_format.TRIAGE_DUMP_DATA_BLOCKS if blocks else 0))
    triage = dump_format.TRIAGE_DUMP64.build(dict(
        SizeOfDump=size_of_dump, ValidOffset=valid_offset, ContextOffset=0x348, ExceptionOffset=0xF00,
        UnloadedDriversOffset=unloaded_offset, PrcbOffset=prcb_offset, ProcessOffset=process_offset,
        ThreadOffset=thread_offset,
        CallStackOffset=stack_offset, SizeOfCallStack=len(src.stack), TopOfStack=rsp if src.stack else 0,
        DriverListOffset=driver_offset, DriverCount=len(src.drivers), StringPoolOffset=pool_offset,
        StringPoolSize=pool_size, DebuggerDataOffset=kdbg_offset, DebuggerDataSize=len(src.kdbg),
        DataBlocksOffset=blocks_offset, DataBlocksCount=len(blocks)))
    size = size_of_dump + len(region)
    header.update(MiniDumpFields=fields, RequiredDumpSpace=size)
    with open(path, "wb") as f:
        f.write(dump_format.DUMP_HEADER64.build(header) + triage + bytes(body) + region)
    return size


def _write_x86(path, dump_type: str, pages: _Pages, region: bytes, dtb: int, bugcheck, build: int,
               kdbg_va: int, ps_loaded_module_list: int, ps_active_process_head: int, context,
               system_time: int, system_uptime: int, processors: int, type_value: int,
               optional: dict) -> int:
    runs = pages.runs()
    total = len(pages.pfns)
    fits = len(runs) <= dump_format.MAX_RUNS32 and not (pages.pfns and pages.pfns[-1] >= 1 << 32)
    if dump_type == "full" and len(runs) > dump_format.MAX_RUNS32:
        raise ValueError("an x86 full dump holds at most %d runs; these pages form %d"
                         % (dump_format.MAX_RUNS32, len(runs)))
    if dump_type == "full" and not fits:
        raise ValueError("x86 run list holds 32-bit PFNs")
    context_raw, pc = _context32(context)
    code, p1, p2, p3, p4 = bugcheck
    header = dict(
        MajorVersion=0xF, MinorVersion=build, DirectoryTableBase=dtb,
        PsLoadedModuleList=ps_loaded_module_list, PsActiveProcessHead=ps_active_process_head,
        MachineImageType=dump_format.MACHINE_I386, NumberProcessors=processors, BugCheckCode=code,
        BugCheckParameter1=p1, BugCheckParameter2=p2, BugCheckParameter3=p3, BugCheckParameter4=p4,
        PaeEnabled=1, KdSecondaryVersion=0, KdDebuggerDataBlock=kdbg_va, ContextRecord=context_raw,
        Exception=_exception(pc, 4), DumpType=type_value, SecondaryDataState=0, ProductType=1, SuiteMask=SUITE_MASK,
        WriterStatus=0, SystemUpTime=system_uptime, SystemTime=system_time, **optional
    )
    if fits:                                    # for bitmap dumps informational only (§1.4)
        header["PhysicalMemoryBlock"] = _run_block(runs, total, True)
    if dump_type != "full":
        return _write_bitmap(path, pages, region, dump_format.DUMP_HEADER32, header)
    return _write_full(path, pages, region, dump_format.DUMP_HEADER32, header)
