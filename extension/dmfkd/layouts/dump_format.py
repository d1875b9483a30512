"""Windows kernel dump-file structures (spec/dump-format.md §1-§3), defined once, used by the reader
(dmfkd.targets.dumpfile) and the writer (dmfemu.dumpwriter).

Header fields a writer does not set build as the `PAGE` fill: the kernel pre-fills the whole header
with the u32 'EGAP' before setting fields, and parsers treat that value as "absent" (§1.1).
Variable-length parts (run lists, blob payloads, triage block arrays) are never sized by a count
read from the file here: the run list is a fixed array as large as its 700-byte buffer allows, and
callers bound every other count by the file size themselves.
"""
import enum

from construct import (Array, Bytes, Default, Int8ul, Int16ul, Int32ul, Int64ul, Struct)

PAGE_SIZE = 0x1000

# multi-character constants, as the bytes that appear in the file (§0)
PAGE = b"PAGE"
PAGE_U32 = 0x45474150
PAGE_U64 = 0x4547415045474150
VALID_DUMP64 = b"DU64"
VALID_DUMP32 = b"DUMP"
BITMAP_SIGNATURES = (b"SDMP", b"FDMP")         # §2.2: readers accept either under type 5 or 6
BITMAP_VALID = b"DUMP"
TRIAGE_VALID = b"TRGD"                          # §2.5: u32 at SizeOfDump - 4
BLOB_SIGNATURE = b"DumpBlob"                    # §3.1: Signature1 'Dump' + Signature2 'Blob'

HEADER64_SIZE = 0x2000
HEADER32_SIZE = 0x1000
PHYSICAL_MEMORY_BLOCK_SIZE = 700
CONTEXT_RECORD64_SIZE = 3000
CONTEXT_RECORD32_SIZE = 1200
CONTEXT_AMD64_SIZE = 0x4D0
CONTEXT_X86_SIZE = 0x2CC
CONTEXT_ARM64_SIZE = 0x390
MAX_RUNS64 = (PHYSICAL_MEMORY_BLOCK_SIZE - 0x10) // 0x10    # 42 (§1.4)
MAX_RUNS32 = (PHYSICAL_MEMORY_BLOCK_SIZE - 0x8) // 0x8      # 86

MACHINE_AMD64 = 0x8664
MACHINE_ARM64 = 0xAA64
MACHINE_I386 = 0x14C

STATUS_BREAKPOINT = 0x80000003
EXCEPTION_NONCONTINUABLE = 1


class DumpType(enum.IntEnum):
    """DUMP_TYPE of mindumpdef.h (§1.3); 8-10 are WinDbgX `.dump` types named after kdmp-parser."""

    INVALID = -1
    UNKNOWN = 0
    FULL = 1
    SUMMARY = 2
    HEADER = 3
    TRIAGE = 4
    BITMAP_FULL = 5
    BITMAP_KERNEL = 6
    AUTOMATIC = 7
    KERNEL_MEMORY = 8
    KERNEL_AND_USER_MEMORY = 9
    COMPLETE_MEMORY = 10


def _u32():
    return Default(Int32ul, PAGE_U32)


def _u64():
    return Default(Int64ul, PAGE_U64)


def _fill(size):
    return Default(Bytes(size), (PAGE * (size // 4 + 1))[:size])


# -- physical memory descriptor (§1.4) ------------------------------------------------------------

PHYSICAL_MEMORY_RUN64 = Struct(
    "BasePage" / _u64(),
    "PageCount" / _u64(),
)

PHYSICAL_MEMORY_RUN32 = Struct(
    "BasePage" / _u32(),
    "PageCount" / _u32(),
)


def unused_runs(count, run32=False):
    """PAGE-filled run slots for the part of the fixed run array a writer leaves unused."""
    value = PAGE_U32 if run32 else PAGE_U64
    return [dict(BasePage=value, PageCount=value) for _ in range(count)]


# Fixed arrays filling the whole 700-byte buffer: NumberOfRuns is untrusted and only tells how many
# of these slots are meaningful.
PHYSICAL_MEMORY_DESCRIPTOR64 = Struct(
    "NumberOfRuns" / _u32(),
    "_pad" / _u32(),
    "NumberOfPages" / _u64(),
    "Run" / Default(Array(MAX_RUNS64, PHYSICAL_MEMORY_RUN64), unused_runs(MAX_RUNS64)),
    "_tail" / _fill(PHYSICAL_MEMORY_BLOCK_SIZE - 0x10 - 0x10 * MAX_RUNS64),
)

PHYSICAL_MEMORY_DESCRIPTOR32 = Struct(
    "NumberOfRuns" / _u32(),
    "NumberOfPages" / _u32(),
    "Run" / Default(Array(MAX_RUNS32, PHYSICAL_MEMORY_RUN32), unused_runs(MAX_RUNS32, True)),
    "_tail" / _fill(PHYSICAL_MEMORY_BLOCK_SIZE - 0x8 - 0x8 * MAX_RUNS32),
)


# -- context and exception records (§1.5) ---------------------------------------------------------

# A CONTEXT is copied whole by the kernel, so its own fields default to 0 (not PAGE).
CONTEXT_AMD64 = Struct(
    "P1Home" / Default(Int64ul, 0), "P2Home" / Default(Int64ul, 0), "P3Home" / Default(Int64ul, 0),
    "P4Home" / Default(Int64ul, 0), "P5Home" / Default(Int64ul, 0), "P6Home" / Default(Int64ul, 0),
    "ContextFlags" / Default(Int32ul, 0x10001F),      # CONTEXT_AMD64 | CONTROL|INTEGER|SEGMENTS|FP|DEBUG
    "MxCsr" / Default(Int32ul, 0x1F80),                # kdmp-parser requires == FltSave.MxCsr (§1.5)
    "SegCs" / Default(Int16ul, 0x10), "SegDs" / Default(Int16ul, 0x2B), "SegEs" / Default(Int16ul, 0x2B),
    "SegFs" / Default(Int16ul, 0x53), "SegGs" / Default(Int16ul, 0x2B), "SegSs" / Default(Int16ul, 0x18),
    "EFlags" / Default(Int32ul, 0x40246),
    "Dr0" / Default(Int64ul, 0), "Dr1" / Default(Int64ul, 0), "Dr2" / Default(Int64ul, 0),
    "Dr3" / Default(Int64ul, 0), "Dr6" / Default(Int64ul, 0), "Dr7" / Default(Int64ul, 0),
    "Rax" / Default(Int64ul, 0), "Rcx" / Default(Int64ul, 0), "Rdx" / Default(Int64ul, 0),
    "Rbx" / Default(Int64ul, 0), "Rsp" / Default(Int64ul, 0), "Rbp" / Default(Int64ul, 0),
    "Rsi" / Default(Int64ul, 0), "Rdi" / Default(Int64ul, 0),
    "R8" / Default(Int64ul, 0), "R9" / Default(Int64ul, 0), "R10" / Default(Int64ul, 0),
    "R11" / Default(Int64ul, 0), "R12" / Default(Int64ul, 0), "R13" / Default(Int64ul, 0),
    "R14" / Default(Int64ul, 0), "R15" / Default(Int64ul, 0),
    "Rip" / Default(Int64ul, 0),
    # FltSave (XMM_SAVE_AREA32, 512 bytes) @+0x100
    "FltSave_ControlWord" / Default(Int16ul, 0x27F),
    "FltSave_StatusWord" / Default(Int16ul, 0),
    "_FltSave_0x104" / Default(Bytes(0x14), bytes(0x14)),
    "FltSave_MxCsr" / Default(Int32ul, 0x1F80),        # @+0x118
    "FltSave_MxCsr_Mask" / Default(Int32ul, 0xFFFF),
    "_FltSave_0x120" / Default(Bytes(0x1E0), bytes(0x1E0)),
    "VectorRegister" / Default(Bytes(26 * 16), bytes(26 * 16)),   # @+0x300
    "VectorControl" / Default(Int64ul, 0),             # @+0x4A0
    "DebugControl" / Default(Int64ul, 0),
    "LastBranchToRip" / Default(Int64ul, 0),
    "LastBranchFromRip" / Default(Int64ul, 0),
    "LastExceptionToRip" / Default(Int64ul, 0),
    "LastExceptionFromRip" / Default(Int64ul, 0),
)

CONTEXT_X86 = Struct(
    "ContextFlags" / Default(Int32ul, 0x1003F),        # CONTEXT_i386 | FULL | DEBUG | EXTENDED
    "Dr0" / Default(Int32ul, 0), "Dr1" / Default(Int32ul, 0), "Dr2" / Default(Int32ul, 0),
    "Dr3" / Default(Int32ul, 0), "Dr6" / Default(Int32ul, 0), "Dr7" / Default(Int32ul, 0),
    "FloatSave" / Default(Bytes(112), bytes(112)),
    "SegGs" / Default(Int32ul, 0), "SegFs" / Default(Int32ul, 0x30),
    "SegEs" / Default(Int32ul, 0x23), "SegDs" / Default(Int32ul, 0x23),
    "Edi" / Default(Int32ul, 0), "Esi" / Default(Int32ul, 0), "Ebx" / Default(Int32ul, 0),
    "Edx" / Default(Int32ul, 0), "Ecx" / Default(Int32ul, 0), "Eax" / Default(Int32ul, 0),
    "Ebp" / Default(Int32ul, 0), "Eip" / Default(Int32ul, 0),
    "SegCs" / Default(Int32ul, 0x8), "EFlags" / Default(Int32ul, 0x246),
    "Esp" / Default(Int32ul, 0), "SegSs" / Default(Int32ul, 0x10),
    "ExtendedRegisters" / Default(Bytes(512), bytes(512)),
)

# ARM64_NT_CONTEXT (winnt.h), what an ARM64 dump's ContextRecord @0x348 holds: 0x390 bytes, 16-byte
# aligned. Offsets checked against the real Windows 11 ARM64 triage dump in tests/data, whose registers
# dbgeng prints (tests/oracle/test_dbgeng_arm64.py): Cpsr 0x80000144 at +0x4, X1 = 1 at +0x10.
CONTEXT_ARM64 = Struct(
    "ContextFlags" / Default(Int32ul, 0x400007),      # CONTEXT_ARM64 | CONTROL | INTEGER | FLOATING_POINT
    "Cpsr" / Default(Int32ul, 0x80000144),             # as in the real dump: N flag, EL1h, IRQs masked
    "X" / Default(Array(29, Int64ul), [0] * 29),       # X0..X28 @+0x8
    "Fp" / Default(Int64ul, 0),                        # X29 @+0xF0
    "Lr" / Default(Int64ul, 0),                        # X30 @+0xF8
    "Sp" / Default(Int64ul, 0),                        # @+0x100
    "Pc" / Default(Int64ul, 0),                        # @+0x108
    "V" / Default(Bytes(32 * 16), bytes(32 * 16)),     # NEON V0..V31 @+0x110
    "Fpcr" / Default(Int32ul, 0),                      # @+0x310
    "Fpsr" / Default(Int32ul, 0),
    "Bcr" / Default(Array(8, Int32ul), [0] * 8),       # breakpoint control @+0x318
    "Bvr" / Default(Array(8, Int64ul), [0] * 8),       # breakpoint values @+0x338
    "Wcr" / Default(Array(2, Int32ul), [0] * 2),       # watchpoint control @+0x378
    "Wvr" / Default(Array(2, Int64ul), [0] * 2),       # watchpoint values @+0x380
)

EXCEPTION_RECORD64 = Struct(
    "ExceptionCode" / _u32(),
    "ExceptionFlags" / _u32(),
    "ExceptionRecord" / _u64(),
    "ExceptionAddress" / _u64(),
    "NumberParameters" / _u32(),
    "_pad" / _u32(),
    "ExceptionInformation" / Default(Array(15, Int64ul), [PAGE_U64] * 15),
)

EXCEPTION_RECORD32 = Struct(
    "ExceptionCode" / _u32(),
    "ExceptionFlags" / _u32(),
    "ExceptionRecord" / _u32(),
    "ExceptionAddress" / _u32(),
    "NumberParameters" / _u32(),
    "ExceptionInformation" / Default(Array(15, Int32ul), [PAGE_U32] * 15),
)

# -- DUMP_HEADER64 / DUMP_HEADER32 (§1.1, §1.2) ---------------------------------------------------

DUMP_HEADER64 = Struct(
    "Signature" / Default(Bytes(4), PAGE),
    "ValidDump" / Default(Bytes(4), VALID_DUMP64),
    "MajorVersion" / _u32(),
    "MinorVersion" / _u32(),
    "DirectoryTableBase" / _u64(),
    "PfnDataBase" / _u64(),
    "PsLoadedModuleList" / _u64(),
    "PsActiveProcessHead" / _u64(),
    "MachineImageType" / _u32(),
    "NumberProcessors" / _u32(),
    "BugCheckCode" / _u32(),
    "_pad_0x03c" / _u32(),
    "BugCheckParameter1" / _u64(),
    "BugCheckParameter2" / _u64(),
    "BugCheckParameter3" / _u64(),
    "BugCheckParameter4" / _u64(),
    "VersionUser" / _fill(32),
    "KdDebuggerDataBlock" / _u64(),                            # @0x080
    "PhysicalMemoryBlock" / Default(PHYSICAL_MEMORY_DESCRIPTOR64, {}),      # @0x088
    "_pad_0x344" / _u32(),
    "ContextRecord" / _fill(CONTEXT_RECORD64_SIZE),            # @0x348, CONTEXT_AMD64 (ARM64: CONTEXT_ARM64)
    "Exception" / Default(EXCEPTION_RECORD64, {}),                          # @0xF00
    "DumpType" / _u32(),                                       # @0xF98
    "_pad_0xf9c" / _u32(),
    "RequiredDumpSpace" / _u64(),                              # @0xFA0
    "SystemTime" / _u64(),
    "Comment" / _fill(128),
    "SystemUpTime" / _u64(),                                   # @0x1030
    "MiniDumpFields" / _u32(),
    "SecondaryDataState" / _u32(),
    "ProductType" / _u32(),
    "SuiteMask" / _u32(),
    "WriterStatus" / _u32(),
    "Unused1" / Default(Int8ul, PAGE[0]),
    "KdSecondaryVersion" / Default(Int8ul, PAGE[1]),
    "Unused" / Default(Bytes(2), PAGE[2:4]),
    "Attributes" / _u32(),                                     # @0x1050
    "BootId" / _u32(),
    "_reserved0" / _fill(HEADER64_SIZE - 0x1058),
)

DUMP_HEADER32 = Struct(
    "Signature" / Default(Bytes(4), PAGE),
    "ValidDump" / Default(Bytes(4), VALID_DUMP32),
    "MajorVersion" / _u32(),
    "MinorVersion" / _u32(),
    "DirectoryTableBase" / _u32(),
    "PfnDataBase" / _u32(),
    "PsLoadedModuleList" / _u32(),
    "PsActiveProcessHead" / _u32(),
    "MachineImageType" / _u32(),
    "NumberProcessors" / _u32(),
    "BugCheckCode" / _u32(),
    "BugCheckParameter1" / _u32(),
    "BugCheckParameter2" / _u32(),
    "BugCheckParameter3" / _u32(),
    "BugCheckParameter4" / _u32(),
    "VersionUser" / _fill(32),
    "PaeEnabled" / Default(Int8ul, PAGE[0]),                   # @0x05C
    "KdSecondaryVersion" / Default(Int8ul, PAGE[1]),
    "_spare" / Default(Bytes(2), PAGE[2:4]),
    "KdDebuggerDataBlock" / _u32(),                            # @0x060
    "PhysicalMemoryBlock" / Default(PHYSICAL_MEMORY_DESCRIPTOR32, {}),      # @0x064
    "ContextRecord" / _fill(CONTEXT_RECORD32_SIZE),            # @0x320, parse with CONTEXT_X86
    "Exception" / Default(EXCEPTION_RECORD32, {}),                          # @0x7D0
    "Comment" / _fill(128),                                    # @0x820
    "Attributes" / _u32(),                                     # @0x8A0 (rizin's dmp32_header omits
    "BootId" / _u32(),                                         #  these and reserved0; vol3/SDK have them)
    "_reserved0" / _fill(1760),
    "DumpType" / _u32(),                                       # @0xF88
    "MiniDumpFields" / _u32(),
    "SecondaryDataState" / _u32(),
    "ProductType" / _u32(),
    "SuiteMask" / _u32(),
    "WriterStatus" / _u32(),
    "RequiredDumpSpace" / _u64(),                              # @0xFA0
    "_reserved2" / _fill(16),
    "SystemUpTime" / _u64(),                                   # @0xFB8
    "SystemTime" / _u64(),                                     # @0xFC0
    "_reserved3" / _fill(56),
)

# -- bitmap dump sub-header at 0x2000 (§2.2) ------------------------------------------------------

BITMAP_DUMP_HEADER = Struct(
    "Signature" / Default(Bytes(4), b"SDMP"),
    "ValidDump" / Default(Bytes(4), BITMAP_VALID),
    "DumpOptions" / Default(Int32ul, 0),
    "_reserved" / Default(Bytes(0x14), bytes(0x14)),
    "FirstPage" / Int64ul,              # absolute file offset of the first stored page
    "TotalPresentPages" / Int64ul,      # set bits = pages stored
    "Pages" / Int64ul,                  # bits in the bitmap (PFN span)
)
BITMAP_HEADER_SIZE = 0x38               # the bitmap follows at 0x2038

# -- triage dump (§2.5) ---------------------------------------------------------------------------

_TRIAGE_COMMON = (
    "ServicePackBuild" / Default(Int32ul, 0),
    "SizeOfDump" / Int32ul,
    "ValidOffset" / Int32ul,
    "ContextOffset" / Default(Int32ul, 0),
    "ExceptionOffset" / Default(Int32ul, 0),
    "MmOffset" / Default(Int32ul, 0),
    "UnloadedDriversOffset" / Default(Int32ul, 0),
    "PrcbOffset" / Default(Int32ul, 0),
    "ProcessOffset" / Default(Int32ul, 0),
    "ThreadOffset" / Default(Int32ul, 0),
    "CallStackOffset" / Default(Int32ul, 0),
    "SizeOfCallStack" / Default(Int32ul, 0),
    "DriverListOffset" / Default(Int32ul, 0),
    "DriverCount" / Default(Int32ul, 0),
    "StringPoolOffset" / Default(Int32ul, 0),
    "StringPoolSize" / Default(Int32ul, 0),
    "BrokenDriverOffset" / Default(Int32ul, 0),
    "TriageOptions" / Default(Int32ul, 0xFFFFFFFF),
)

_TRIAGE_TAIL = (
    "DataPageOffset" / Default(Int32ul, 0),
    "DataPageSize" / Default(Int32ul, 0),
    "DebuggerDataOffset" / Default(Int32ul, 0),
    "DebuggerDataSize" / Default(Int32ul, 0),
    "DataBlocksOffset" / Default(Int32ul, 0),
    "DataBlocksCount" / Default(Int32ul, 0),
)

# x64: TopOfStack u64 and a 16-byte ArchitectureSpecific (IA64 backing store) area; 0x80 bytes
TRIAGE_DUMP64 = Struct(
    *_TRIAGE_COMMON,
    "TopOfStack" / Default(Int64ul, 0),                 # @0x48; call stack = [TopOfStack, +SizeOfCallStack)
    "ArchitectureSpecific" / Default(Bytes(16), bytes(16)),
    "DataPageAddress" / Default(Int64ul, 0),            # @0x60
    *_TRIAGE_TAIL,
)

# x86: every field u32, no ArchitectureSpecific (rizin dmp_specs.h dmp32_triage; WRK TRIAGE_DUMP32)
TRIAGE_DUMP32 = Struct(
    *_TRIAGE_COMMON,
    "TopOfStack" / Default(Int32ul, 0),
    "DataPageAddress" / Default(Int32ul, 0),
    *_TRIAGE_TAIL,
)

TRIAGE_DATA_BLOCK64 = Struct(
    "Address" / Int64ul,        # kernel VA
    "Offset" / Int32ul,         # file offset
    "Size" / Int32ul,
)

TRIAGE_DATA_BLOCK32 = Struct(
    "Address" / Int32ul,
    "Offset" / Int32ul,
    "Size" / Int32ul,
)

# MiniDumpFields flags (§2.5)
TRIAGE_DUMP_CONTEXT = 0x1
TRIAGE_DUMP_EXCEPTION = 0x2
TRIAGE_DUMP_PRCB = 0x4
TRIAGE_DUMP_PROCESS = 0x8
TRIAGE_DUMP_THREAD = 0x10
TRIAGE_DUMP_STACK = 0x20
TRIAGE_DUMP_DRIVER_LIST = 0x40
TRIAGE_DUMP_BROKEN_DRIVER = 0x80
TRIAGE_DUMP_BASIC_INFO = 0xFF
TRIAGE_DUMP_MMINFO = 0x100
TRIAGE_DUMP_DATAPAGE = 0x200
TRIAGE_DUMP_DEBUGGER_DATA = 0x400
TRIAGE_DUMP_DATA_BLOCKS = 0x800

# DUMP_DRIVER_ENTRY64 of a triage dump's driver list (§2.5): u32 DriverNameOffset (file offset of
# a DUMP_STRING: u32 length in WCHARs, the name, a NUL), then the loader entry as the debugger's
# fixed KLDR_DATA_TABLE_ENTRY64 (0x88 bytes; list links and name buffers zero, as in the real
# triage_x64 sample, TimeDateStamp at +0x80 whatever the running kernel's own layout is)
DUMP_DRIVER_ENTRY64 = Struct(
    "DriverNameOffset" / Int32ul,
    "_pad" / Default(Int32ul, 0),
    "_links_to_debug_info" / Default(Bytes(0x30), bytes(0x30)),
    "DllBase" / Int64ul,                    # entry +0x38 = loader entry +0x30
    "EntryPoint" / Default(Int64ul, 0),
    "SizeOfImage" / Int64ul,
    "_names" / Default(Bytes(0x20), bytes(0x20)),
    "Flags" / Default(Int32ul, 0),
    "LoadCount" / Default(Int16ul, 0),
    "_pad2" / Default(Int16ul, 0),
    "SectionPointer" / Default(Int64ul, 0),
    "CheckSum" / Default(Int64ul, 0),
    "TimeDateStamp" / Default(Int64ul, 0),
)

# KDDEBUGGER_DATA64 fields a triage writer/reader needs (§1.6; public KDDEBUGGER_DATA64 order)
KDBG_OWNER_TAG_OFFSET = 0x10
KDBG_SIZE_OFFSET = 0x14
KDBG_KERN_BASE = 0x18
KDBG_NT_BUILD_LAB = 0x208
KDBG_KI_PROCESSOR_BLOCK = 0x218         # u64 VA of KiProcessorBlock[]
KDBG_OFFSET_KTHREAD_INITIAL_STACK = 0x29E
KDBG_OFFSET_KTHREAD_APC_PROCESS = 0x2A0
KDBG_SIZE_EPROCESS = 0x2A8
KDBG_SIZE_PRCB = 0x2B0
KDBG_OFFSET_PRCB_CURRENT_THREAD = 0x2B4
KDBG_SIZE_ETHREAD = 0x2C0
KDBG_MIN_SIZE = 0x2C2                   # through SizeEThread

# DUMP_FILE_ATTRIBUTES bits (header 0x1050 x64 / 0x8A0 x86; mindumpdef.h, §1.1)
DUMP_ATTRIBUTE_NAMES = (
    "HiberCrash", "DumpDevicePowerOff", "InsufficientDumpfileSize", "KernelGeneratedTriageDump",
    "LiveDumpGeneratedDump", "DumpIsGeneratedOffline", "FilterDumpFile", "EarlyBootCrash",
    "EncryptedDumpData", "DecryptedDump",
)
DUMP_ATTRIBUTE_LIVE_DUMP = 1 << 4


def attribute_names(value):
    """Names of the DUMP_FILE_ATTRIBUTES bits set in `value` (bits without a name as 'bit N');
    None when the field is the PAGE fill (the kernel's crash writer leaves it unset, §1.1)."""
    if value is None or value == PAGE_U32:
        return None
    names = []
    for bit in range(32):
        if value >> bit & 1:
            names.append(DUMP_ATTRIBUTE_NAMES[bit] if bit < len(DUMP_ATTRIBUTE_NAMES) else "bit %d" % bit)
    return names


# -- secondary data region (§3.1) -----------------------------------------------------------------

DUMP_BLOB_FILE_HEADER = Struct(
    "Signature1" / Default(Bytes(4), BLOB_SIGNATURE[:4]),
    "Signature2" / Default(Bytes(4), BLOB_SIGNATURE[4:]),
    "HeaderSize" / Default(Int32ul, 16),
    "BuildNumber" / Int32ul,            # 0xF0000000 | NtBuildNumber on modern kernels; not validated
)

DUMP_BLOB_HEADER = Struct(
    "HeaderSize" / Default(Int32ul, 32),    # readers skip by this value, not by 32
    "Tag" / Bytes(16),                      # GUID in Windows order = uuid.UUID(bytes_le=...)
    "DataSize" / Int32ul,
    "PrePad" / Default(Int32ul, 0),
    "PostPad" / Default(Int32ul, 0),
)

BLOB_FILE_HEADER_SIZE = 16
BLOB_HEADER_SIZE = 32
