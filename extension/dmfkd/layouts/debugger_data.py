"""The kernel structures a debugger finds its way through a kernel dump with: the debugger data block
(KDDEBUGGER_DATA64, "KDBG", whose VA the dump header carries), the loaded-module list entries
(KLDR_DATA_TABLE_ENTRY) and the UNICODE_STRING they name images with.

KDDEBUGGER_DATA64 follows the public declaration (wdbgexts.h; dbgeng.h's DEBUG_DATA_* indices are
its offsets) through the Windows 10 19H1 additions: 0x380 bytes, the Size a 19041 kernel puts in
the header. Every pointer in it is a ULONG64 on every architecture (x86 kernels sign-extend), so
its layout does not depend on the architecture. KLDR_DATA_TABLE_ENTRY is the Windows 10 kernel's
(x64 0xA0 bytes, x86 0x5C; ntoskrnl's PDB), which is what dbgeng walks PsLoadedModuleList with.
"""
from dmfkd.layouts.engine import Layout, Spec, cached_layout
from dmfkd.layouts.windows import LIST_ENTRY

#: DBGKD_DEBUG_DATA_HEADER64.OwnerTag of the kernel's block: 'KDBG' as a little-endian ULONG
KDBG_OWNER_TAG = int.from_bytes(b"KDBG", "little")

# LDR_DATA_TABLE_ENTRY.Flags bits (ntldr.h)
LDRP_IMAGE_DLL = 0x4
LDRP_ENTRY_PROCESSED = 0x4000

UNICODE_STRING = Spec("UNICODE_STRING", [("Length", "u16"), ("MaximumLength", "u16"), ("Buffer", "ptr")])

LIST_ENTRY64 = Spec("LIST_ENTRY64", [("Flink", "u64"), ("Blink", "u64")])
DBGKD_DEBUG_DATA_HEADER64 = Spec("DBGKD_DEBUG_DATA_HEADER64", [
    ("List", ("struct", LIST_ENTRY64)),
    ("OwnerTag", "u32"),
    ("Size", "u32"),
])


def _u64s(*names):
    return [(name, "u64") for name in names]


def _u16s(*names):
    return [(name, "u16") for name in names]


KDDEBUGGER_DATA64 = Spec("KDDEBUGGER_DATA64", [("Header", ("struct", DBGKD_DEBUG_DATA_HEADER64))]
    + _u64s("KernBase", "BreakpointWithStatus", "SavedContext")
    + _u16s("ThCallbackStack", "NextCallback", "FramePointer")
    + [("PaeEnabled", "u16")]           # USHORT PaeEnabled:1 - the bit field's storage unit
    + _u64s("KiCallUserMode", "KeUserCallbackDispatcher", "PsLoadedModuleList", "PsActiveProcessHead",
            "PspCidTable", "ExpSystemResourcesList", "ExpPagedPoolDescriptor", "ExpNumberOfPagedPools",
            "KeTimeIncrement", "KeBugCheckCallbackListHead", "KiBugcheckData", "IopErrorLogListHead",
            "ObpRootDirectoryObject", "ObpTypeObjectType", "MmSystemCacheStart", "MmSystemCacheEnd",
            "MmSystemCacheWs", "MmPfnDatabase", "MmSystemPtesStart", "MmSystemPtesEnd", "MmSubsectionBase",
            "MmNumberOfPagingFiles", "MmLowestPhysicalPage", "MmHighestPhysicalPage",
            "MmNumberOfPhysicalPages", "MmMaximumNonPagedPoolInBytes", "MmNonPagedSystemStart",
            "MmNonPagedPoolStart", "MmNonPagedPoolEnd", "MmPagedPoolStart", "MmPagedPoolEnd",
            "MmPagedPoolInformation", "MmPageSize", "MmSizeOfPagedPoolInBytes", "MmTotalCommitLimit",
            "MmTotalCommittedPages", "MmSharedCommit", "MmDriverCommit", "MmProcessCommit",
            "MmPagedPoolCommit", "MmExtendedCommit", "MmZeroedPageListHead", "MmFreePageListHead",
            "MmStandbyPageListHead", "MmModifiedPageListHead", "MmModifiedNoWritePageListHead",
            "MmAvailablePages", "MmResidentAvailablePages", "PoolTrackTable", "NonPagedPoolDescriptor",
            "MmHighestUserAddress", "MmSystemRangeStart", "MmUserProbeAddress", "KdPrintCircularBuffer",
            "KdPrintCircularBufferEnd", "KdPrintWritePointer", "KdPrintRolloverCount",
            "MmLoadedUserImageList", "NtBuildLab", "KiNormalSystemCall", "KiProcessorBlock",
            "MmUnloadedDrivers", "MmLastUnloadedDriver", "MmTriageActionTaken", "MmSpecialPoolTag",
            "KernelVerifier", "MmVerifierData", "MmAllocatedNonPagedPool", "MmPeakCommitment",
            "MmTotalCommitLimitMaximum", "CmNtCSDVersion", "MmPhysicalMemoryBlock", "MmSessionBase",
            "MmSessionSize", "MmSystemParentTablePage", "MmVirtualTranslationBase")
    + _u16s("OffsetKThreadNextProcessor", "OffsetKThreadTeb", "OffsetKThreadKernelStack",
            "OffsetKThreadInitialStack", "OffsetKThreadApcProcess", "OffsetKThreadState", "OffsetKThreadBStore",
            "OffsetKThreadBStoreLimit", "SizeEProcess", "OffsetEprocessPeb", "OffsetEprocessParentCID",
            "OffsetEprocessDirectoryTableBase", "SizePrcb", "OffsetPrcbDpcRoutine", "OffsetPrcbCurrentThread",
            "OffsetPrcbMhz", "OffsetPrcbCpuType", "OffsetPrcbVendorString", "OffsetPrcbProcStateContext",
            "OffsetPrcbNumber", "SizeEThread")
    + [("L1tfHighPhysicalBitIndex", "u8"), ("L1tfSwizzleBitIndex", "u8"), ("Padding0", "u32")]
    + _u64s("KdPrintCircularBufferPtr", "KdPrintBufferSize", "KeLoaderBlock")
    + _u16s("SizePcr", "OffsetPcrSelfPcr", "OffsetPcrCurrentPrcb", "OffsetPcrContainedPrcb",
            "OffsetPcrInitialBStore", "OffsetPcrBStoreLimit", "OffsetPcrInitialStack", "OffsetPcrStackLimit",
            "OffsetPrcbPcrPage", "OffsetPrcbProcStateSpecialReg", "GdtR0Code", "GdtR0Data", "GdtR0Pcr",
            "GdtR3Code", "GdtR3Data", "GdtR3Teb", "GdtLdt", "GdtTss", "Gdt64R3CmCode", "Gdt64R3CmTeb")
    + _u64s("IopNumTriageDumpDataBlocks", "IopTriageDumpDataBlocks", "VfCrashDataBlock", "MmBadPagesDetected",
            "MmZeroedPageSingleBitErrorsDetected", "EtwpDebuggerData")
    + _u16s("OffsetPrcbContext", "OffsetPrcbMaxBreakpoints", "OffsetPrcbMaxWatchpoints")
    + [("OffsetKThreadStackLimit", "u32"), ("OffsetKThreadStackBase", "u32"),
       ("OffsetKThreadQueueListEntry", "u32"), ("OffsetEThreadIrpList", "u32")]
    + _u16s("OffsetPrcbIdleThread", "OffsetPrcbNormalDpcState", "OffsetPrcbDpcStack", "OffsetPrcbIsrStack",
            "SizeKDPC_STACK_FRAME", "OffsetKPriQueueThreadListHead", "OffsetKThreadWaitReason", "Padding")
    + _u64s("PteBase", "RetpolineStubFunctionTable")
    + [("RetpolineStubFunctionTableSize", "u32"), ("RetpolineStubOffset", "u32"), ("RetpolineStubSize", "u32"),
       ("OffsetEProcessMmHotPatchContext", "u16")])

KLDR_DATA_TABLE_ENTRY = Spec("KLDR_DATA_TABLE_ENTRY", [
    ("InLoadOrderLinks", ("struct", LIST_ENTRY)),
    ("ExceptionTable", "ptr"),
    ("ExceptionTableSize", "u32"),
    ("GpValue", "ptr"),
    ("NonPagedDebugInfo", "ptr"),
    ("DllBase", "ptr"),
    ("EntryPoint", "ptr"),
    ("SizeOfImage", "u32"),
    ("FullDllName", ("struct", UNICODE_STRING)),
    ("BaseDllName", ("struct", UNICODE_STRING)),
    ("Flags", "u32"),
    ("LoadCount", "u16"),
    ("SignatureInfo", "u16"),          # union u1: SignatureLevel:4, SignatureType:3, Frozen:2, ...
    ("SectionPointer", "ptr"),
    ("CheckSum", "u32"),
    ("CoverageSectionSize", "u32"),
    ("CoverageSection", "ptr"),
    ("LoadedImports", "ptr"),
    ("Spare", "ptr"),
    ("SizeOfImageNotRounded", "u32"),
    ("TimeDateStamp", "u32"),
])


def kddebugger_data64() -> Layout:
    """KDDEBUGGER_DATA64 (0x380 bytes on every architecture)."""
    return cached_layout(KDDEBUGGER_DATA64, "x64")


def dbgkd_debug_data_header64() -> Layout:
    """The 0x18-byte header every debugger data block starts with (OwnerTag, Size)."""
    return cached_layout(DBGKD_DEBUG_DATA_HEADER64, "x64")


def kldr_data_table_entry(arch: str) -> Layout:
    """KLDR_DATA_TABLE_ENTRY: 0xA0 bytes on x64 (DllBase @0x30, BaseDllName @0x58), 0x5C on x86."""
    return cached_layout(KLDR_DATA_TABLE_ENTRY, arch)


def unicode_string(arch: str) -> Layout:
    return cached_layout(UNICODE_STRING, arch)
