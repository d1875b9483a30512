"""The few kernel structures Microsoft's debugger engine needs to treat an emulator dump as a kernel
session: a decoded KDBG, a kernel image, PsLoadedModuleList, one processor (KPRCB, context, thread,
System process) and KUSER_SHARED_DATA. ``dmfemu.machine.Machine`` calls ``prepare_dump(machine)``
before it captures memory for a dump (spec/dbgeng-oracle.md: without a KdDebuggerDataBlock dbgeng
says "KdDebuggerDataBlock not available!", WaitForEvent fails and nothing reads).

Structure offsets are Windows 10 19041 x64's where dbgeng takes them from the KDBG (the
``Offset*``/``Size*`` fields tell the debugger where to look, so using the real build's values keeps
the emulated objects readable with real symbols too); KDDEBUGGER_DATA64 and KLDR_DATA_TABLE_ENTRY
are laid out by dmfkd.layouts.debugger_data (spec/dump-format.md §1.6). x86 machines get the same
block with sign-extended 32-bit pointers and PAE set, over self-consistent x86 offsets. ARM64 machines
get Windows 11 22000 ARM64's offsets (the real ARM64 triage dump's KDBG) and an ARM64 context. Every
structure is built once per machine; each call refreshes the loaded-module list so images added later
are listed too.

What dbgeng 10.0.15063 still prints on these dumps, and why, is listed in
tests/oracle/test_dbgeng_synthetic.py (EXPECTED_MESSAGES).
"""
import struct
from typing import Dict

from dmfkd.layouts import dump_format
from dmfkd.layouts import debugger_data
from dmfkd.layouts.windows import PAGE_SIZE

from dmfemu.memory import ARM64_PTE_BASE, X64_PTE_BASE, X86_PTE_BASE

# Windows 10 19041 x64 values of the KDDEBUGGER_DATA64 Offset*/Size*/Gdt* fields (read from the KDBG copy in
# tests/data/windows-triage/triage_x64.dmp); dbgeng locates thread/process/PRCB fields through them.
X64_OFFSETS = {
    "OffsetKThreadNextProcessor": 0x218, "OffsetKThreadTeb": 0xF0, "OffsetKThreadKernelStack": 0x58,
    "OffsetKThreadInitialStack": 0x28, "OffsetKThreadApcProcess": 0xB8, "OffsetKThreadState": 0x184,
    "SizeEProcess": 0xA40, "OffsetEprocessPeb": 0x550, "OffsetEprocessParentCID": 0x540,
    "OffsetEprocessDirectoryTableBase": 0x28, "SizePrcb": 0xAF00, "OffsetPrcbDpcRoutine": 0x312A,
    "OffsetPrcbCurrentThread": 0x8, "OffsetPrcbMhz": 0x44, "OffsetPrcbCpuType": 0x40,
    "OffsetPrcbVendorString": 0x8590, "OffsetPrcbProcStateContext": 0x1F0, "OffsetPrcbNumber": 0x24,
    "SizeEThread": 0x898, "SizePcr": 0xB080, "OffsetPcrSelfPcr": 0x18, "OffsetPcrCurrentPrcb": 0x20,
    "OffsetPcrContainedPrcb": 0x180, "OffsetPrcbProcStateSpecialReg": 0x100, "GdtR0Code": 0x10,
    "GdtR0Data": 0x18, "GdtR0Pcr": 0x0, "GdtR3Code": 0x33, "GdtR3Data": 0x2B, "GdtR3Teb": 0x0,
    "GdtLdt": 0x0, "GdtTss": 0x40, "Gdt64R3CmCode": 0x23, "Gdt64R3CmTeb": 0x53,
    "OffsetPrcbContext": 0x85C0,
}
X64_KTHREAD_STACK_LIMIT = 0x30              # StackLimit, then StackBase @0x38
X64_EPROCESS_UNIQUE_PROCESS_ID = 0x440
X64_EPROCESS_ACTIVE_PROCESS_LINKS = 0x448
X64_EPROCESS_IMAGE_FILE_NAME = 0x5A8
KTHREAD_STATE_RUNNING = 2

# Windows 11 22000 ARM64 values of the same fields (read from the KDBG copy in
# tests/data/windows-triage/triage_arm64.dmp), and the EPROCESS fields the KDBG does not name, found in that
# dump's process copy: UniqueProcessId = 4, ActiveProcessLinks.Blink = the header's PsActiveProcessHead,
# ImageFileName "System". PaeEnabled is the bit-field unit {PaeEnabled:1, KiBugCheckRecoveryActive:1,
# PagingLevels:4}: 0x10 says four translation levels.
ARM64_OFFSETS = {
    "OffsetKThreadNextProcessor": 0x238, "OffsetKThreadTeb": 0xE8, "OffsetKThreadKernelStack": 0x58,
    "OffsetKThreadInitialStack": 0x28, "OffsetKThreadApcProcess": 0xB0, "OffsetKThreadState": 0x17C,
    "SizeEProcess": 0xC80, "OffsetEprocessPeb": 0x508, "OffsetEprocessParentCID": 0x4F8,
    "OffsetEprocessDirectoryTableBase": 0x28, "SizePrcb": 0x9680, "OffsetPrcbDpcRoutine": 0xB1A,
    "OffsetPrcbCurrentThread": 0x8, "OffsetPrcbMhz": 0x6F4, "OffsetPrcbCpuType": 0x6F0,
    "OffsetPrcbVendorString": 0x890, "OffsetPrcbProcStateContext": 0x360, "OffsetPrcbNumber": 0x24,
    "SizeEThread": 0x910, "SizePcr": 0xA000, "OffsetPcrSelfPcr": 0x18, "OffsetPcrContainedPrcb": 0x980,
    "OffsetPrcbProcStateSpecialReg": 0x40, "OffsetPrcbContext": 0x8A0, "OffsetPrcbMaxBreakpoints": 0x898,
    "OffsetPrcbMaxWatchpoints": 0x89C, "OffsetKThreadStackLimit": 0x30, "OffsetKThreadStackBase": 0x38,
    "OffsetKThreadQueueListEntry": 0x200, "OffsetEThreadIrpList": 0x520, "OffsetPrcbIdleThread": 0x18,
    "OffsetPrcbNormalDpcState": 0xB1C, "OffsetPrcbDpcStack": 0xAF8, "OffsetPrcbIsrStack": 0x18E0,
    "SizeKDPC_STACK_FRAME": 0x10, "OffsetKPriQueueThreadListHead": 0x2A0, "OffsetKThreadWaitReason": 0x2A3,
    "OffsetEProcessMmHotPatchContext": 0xAB8, "PaeEnabled": 0x10,
}
ARM64_EPROCESS_UNIQUE_PROCESS_ID = 0x3F8
ARM64_EPROCESS_ACTIVE_PROCESS_LINKS = 0x400
ARM64_EPROCESS_IMAGE_FILE_NAME = 0x560
ARM64_BRK_F000 = 0xD43E0000             # `brk #0xf000`: what __debugbreak / a fatal trap compiles to on ARM64
ARM64_RET = 0xD65F03C0                  # `ret`
# the real dump's saved Cpsr: N flag, EL1 with SP_EL0 (EL1t), IRQ and SError masked
ARM64_CPSR = 0x80000144
PROCESSOR_ARCHITECTURE = {"x64": 9, "x86": 0, "arm64": 12}

KUSER_SHARED_DATA = {"x64": 0xFFFFF78000000000, "x86": 0xFFDF0000, "arm64": 0xFFFFF78000000000}
KUSD_NT_BUILD_NUMBER = 0x260
KUSD_NT_PRODUCT_TYPE = 0x264
KUSD_PRODUCT_TYPE_IS_VALID = 0x268
KUSD_NATIVE_PROCESSOR_ARCHITECTURE = 0x26A
KUSD_NT_MAJOR_VERSION = 0x26C
KUSD_NT_MINOR_VERSION = 0x270
KUSD_SUITE_MASK = 0x2D0
KUSD_NT_SYSTEM_ROOT = 0x30
SUITE_MASK = 0x110                     # TerminalServer | SingleUserTS, as the real samples
PRODUCT_WIN_NT = 1

KERNEL_IMAGE_SIZE = 0x20000
KERNEL_TIMESTAMP = 0x5E0BD8A7
DRIVER_TIMESTAMP = 0x5F5E1000
# where the kernel's globals sit inside the emulated ntoskrnl image (RVA)
RVA_KDBG = 0x2000
RVA_GLOBALS = 0x3000                   # MmSystemRangeStart, MmHighestUserAddress, ... (8 bytes each)
RVA_BUILD_LAB = 0x3400
RVA_GDT = 0x3800
# x64 GDT as Windows sets it up (selectors of the KDBG Gdt* fields): dbgeng looks CS up here to
# know the context is 64-bit code ("CS descriptor lookup failed" without it)
X64_GDT = {
    0x10: 0x00209B0000000000,          # KGDT64_R0_CODE: present, DPL 0, code, L=1
    0x18: 0x00CF93000000FFFF,          # KGDT64_R0_DATA
    0x20: 0x00CFFB000000FFFF,          # KGDT64_R3_CMCODE (0x23)
    0x28: 0x00CFF3000000FFFF,          # KGDT64_R3_DATA (0x2B)
    0x30: 0x0020FB0000000000,          # KGDT64_R3_CODE (0x33)
    0x50: 0x0040F3000000FC00,          # KGDT64_R3_CMTEB (0x53)
}
X64_GDT_LIMIT = 0x57
X64_TSS_SELECTOR = 0x40
KERNEL_CHECKSUM = 0x00A1B2C3           # any non-zero PE CheckSum; 0 makes dbgeng warn it cannot verify
DRIVER_CHECKSUM = 0x0001E240
RVA_KEBUGCHECKEX = 0x1100              # "code" the saved context points into
STACK_SIZE = 0x6000
PE_MACHINE = {"x64": dump_format.MACHINE_AMD64, "x86": dump_format.MACHINE_I386, "arm64": dump_format.MACHINE_ARM64}


def _pe_headers(arch: str, base: int, size: int, timestamp: int, entry_rva: int, dll: bool,
                checksum: int) -> bytes:
    """A minimal MZ/PE header page: what dbgeng reads of an image it has no file for (PE32+ with
    Machine AMD64 or ARM64, PE32 with Machine I386)."""
    image = bytearray(0x400)
    image[0:2] = b"MZ"
    struct.pack_into("<I", image, 0x3C, 0x80)              # e_lfanew
    image[0x80:0x84] = b"PE\0\0"
    pe64 = arch != "x86"
    optional_size = 0xF0 if pe64 else 0xE0
    characteristics = 0x22 if pe64 else 0x102              # EXECUTABLE | LARGE_ADDRESS_AWARE / 32BIT
    if dll:
        characteristics |= 0x2000
    struct.pack_into("<HHIIIHH", image, 0x84, PE_MACHINE[arch], 1, timestamp, 0, 0,
                     optional_size, characteristics)
    opt = 0x98
    struct.pack_into("<HBBIIIII", image, opt, 0x20B if pe64 else 0x10B, 14, 0, size - 0x1000, 0, 0,
                     entry_rva, 0x1000)
    if pe64:
        struct.pack_into("<Q", image, opt + 0x18, base)
    else:
        struct.pack_into("<II", image, opt + 0x18, 0x1000, base)
    struct.pack_into("<IIHHHHHHIIIIHH", image, opt + 0x20, 0x1000, 0x200, 10, 0, 10, 0, 10, 0, 0,
                     size, 0x400, checksum, 1, 0x160 if pe64 else 0x140)  # Subsystem NATIVE
    if pe64:
        struct.pack_into("<QQQQII", image, opt + 0x48, 0x80000, 0x1000, 0x100000, 0x1000, 0, 16)
    else:
        struct.pack_into("<IIIIII", image, opt + 0x48, 0x80000, 0x1000, 0x100000, 0x1000, 0, 16)
    section = opt + optional_size
    struct.pack_into("<8sIIIIIIHHI", image, section, b".text", size - 0x1000, 0x1000, size - 0x1000,
                     0x400, 0, 0, 0, 0, 0x68000020)
    return bytes(image)


def _unicode_string(space, pool, prefix: str, text: str) -> Dict[str, int]:
    """Allocate the UTF-16 buffer in pool; the UNICODE_STRING pointing at it as `prefix`.* values."""
    data = text.encode("utf-16-le")
    buffer = pool.allocate(len(data) + 2, tag=b"MmLd")
    space.write(buffer, data + b"\0\0")
    return {prefix + ".Length": len(data), prefix + ".MaximumLength": len(data) + 2, prefix + ".Buffer": buffer}


class KernelState(object):
    """What prepare_dump built in one machine's memory."""

    def __init__(self):
        self.kernel_base = 0
        self.kdbg_va = 0
        self.module_list = 0
        self.process_head = 0
        self.context = {}          # type: Dict[str, int]
        self.entries = []          # type: List[Tuple[str, int]]  (image name, entry VA) in list order
        self.listed = set()        # image names already linked


def _write_ptr(space, va: int, value: int) -> None:
    space.write(va, struct.pack("<Q" if space.pointer_size == 8 else "<I", value))


def _list_insert_tail(space, head: int, entry: int) -> None:
    """InsertTailList on LIST_ENTRY{Flink, Blink} of the machine's pointer size."""
    ps = space.pointer_size
    blink = space.read_ptr(head + ps)
    _write_ptr(space, entry, head)
    _write_ptr(space, entry + ps, blink)
    _write_ptr(space, blink, entry)
    _write_ptr(space, head + ps, entry)


def _link_image(machine, state: KernelState, name: str, base: int, size: int, is_kernel: bool) -> None:
    space, pool = machine.space, machine.pool
    if is_kernel:
        file_name = "ntoskrnl.exe"
        full_name = "\\SystemRoot\\system32\\ntoskrnl.exe"
    else:
        file_name = name if "." in name else name + ".sys"
        full_name = "\\SystemRoot\\system32\\drivers\\" + file_name
    timestamp = KERNEL_TIMESTAMP if is_kernel else DRIVER_TIMESTAMP
    # an image region the driver did not put anything into at its start gets headers, so dbgeng
    # can read SizeOfImage/TimeDateStamp from memory as it does for a real module
    if not is_kernel and size >= 0x1000 and space.read(base, 0x400) == bytes(0x400):
        space.write(base, _pe_headers(machine.arch, base, size, timestamp, 0x1000, dll=False,
                                      checksum=DRIVER_CHECKSUM))
    values = dict(DllBase=base, EntryPoint=base + 0x1000, SizeOfImage=size, LoadCount=1,
                  Flags=debugger_data.LDRP_ENTRY_PROCESSED | (0 if is_kernel else debugger_data.LDRP_IMAGE_DLL),
                  CheckSum=KERNEL_CHECKSUM if is_kernel else DRIVER_CHECKSUM, TimeDateStamp=timestamp)
    values.update(_unicode_string(space, pool, "FullDllName", full_name))
    values.update(_unicode_string(space, pool, "BaseDllName", file_name))
    entry = debugger_data.kldr_data_table_entry(machine.arch).pack(values)
    va = pool.allocate(len(entry), tag=b"MmLd")
    space.write(va, bytes(entry))
    _list_insert_tail(space, state.module_list, va)
    state.entries.append((name, va))
    state.listed.add(name)


def _shared_data(machine, arch: str) -> None:
    """KUSER_SHARED_DATA: product type / suite / version / native processor architecture as a real
    machine has them."""
    space = machine.space
    shared = KUSER_SHARED_DATA[arch]
    page = machine.phys.allocate_pages(1)
    space.map(shared, page, PAGE_SIZE)
    space.write(shared + KUSD_NT_SYSTEM_ROOT, "C:\\Windows".encode("utf-16-le") + b"\0\0")
    # NtBuildNumber, NtProductType, ProductTypeIsValid (+ a reserved byte), NativeProcessorArchitecture
    space.write(shared + KUSD_NT_BUILD_NUMBER, struct.pack("<IIHH", 0xF0000000 | machine.build, PRODUCT_WIN_NT,
                                                           1, PROCESSOR_ARCHITECTURE[arch]))
    space.write(shared + KUSD_NT_MAJOR_VERSION, struct.pack("<II", 10, 0))
    space.write(shared + KUSD_SUITE_MASK, struct.pack("<I", SUITE_MASK))


def _kdbg(list_head: int, values: Dict[str, int]) -> bytes:
    """A lone KDDEBUGGER_DATA64 block: its header's LIST_ENTRY64 points to itself (the list links
    every KDBG block of a system), OwnerTag 'KDBG', Size = the block's size (19041's 0x380)."""
    layout = debugger_data.kddebugger_data64()
    header = {"Header.List.Flink": list_head, "Header.List.Blink": list_head,
              "Header.OwnerTag": debugger_data.KDBG_OWNER_TAG, "Header.Size": layout.size}
    return layout.pack(dict(values, **header))


def _kernel_globals(space, state: KernelState, globals_va: int, pointer_size: int, ranges):
    """nt's data globals, laid out the same on every architecture: MmSystemRangeStart,
    MmHighestUserAddress and MmUserProbeAddress (holding `ranges`) one pointer apart, then the empty
    PsLoadedModuleList and PsActiveProcessHead (each LIST_ENTRY pointing at itself). Returns (the three
    range globals' addresses, KiProcessorBlock's address)."""
    fmt = "<Q" if pointer_size == 8 else "<I"
    addresses = tuple(globals_va + index * pointer_size for index in range(3))
    for address, value in zip(addresses, ranges):
        space.write(address, struct.pack(fmt, value))
    state.module_list = globals_va + 0x20
    state.process_head = globals_va + 0x30
    for head in (state.module_list, state.process_head):
        space.write(head, struct.pack(fmt, head) * 2)
    return addresses, globals_va + 0x40


def _build_x64(machine) -> KernelState:
    space, pool = machine.space, machine.pool
    state = KernelState()
    base = pool.map_image("nt", KERNEL_IMAGE_SIZE)
    state.kernel_base = base
    space.write(base, _pe_headers("x64", base, KERNEL_IMAGE_SIZE, KERNEL_TIMESTAMP, RVA_KEBUGCHECKEX, dll=False,
                                  checksum=KERNEL_CHECKSUM))
    # `int3; ret` at the saved RIP, so a disassembly at the context's PC shows real code
    space.write(base + RVA_KEBUGCHECKEX, b"\xcc\xc3")

    globals_va = base + RVA_GLOBALS
    (system_range_start, highest_user, user_probe), processor_block = _kernel_globals(
        space, state, globals_va, 8, (0xFFFF800000000000, 0x7FFFFFFEFFFF, 0x7FFFFFFF0000))
    build_lab = base + RVA_BUILD_LAB
    lab = "%d.1.amd64fre.vb_release.191206-1406" % machine.build
    space.write(build_lab, lab.encode("ascii") + b"\0")
    csd_version = globals_va + 0x60      # CmNtCSDVersion (a ULONG, 0: no service pack)

    # one processor: KPRCB -> current thread -> System process; the register context it shows
    prcb = pool.allocate(X64_OFFSETS["SizePrcb"], tag=b"Prcb")
    space.write(processor_block, struct.pack("<Q", prcb))
    process = pool.allocate(X64_OFFSETS["SizeEProcess"], tag=b"Proc")
    thread = pool.allocate(X64_OFFSETS["SizeEThread"], tag=b"Thre")
    stack = pool.allocate(STACK_SIZE, tag=b"Stak")
    context_va = pool.allocate(dump_format.CONTEXT_AMD64_SIZE, tag=b"Ctxt")
    stack_base = stack + STACK_SIZE
    rsp = stack_base - 0x1000
    # KeBugCheckEx(code, ...) is where the bug-check context points; the stack holds its frame
    space.write(rsp, struct.pack("<Q", base + RVA_KEBUGCHECKEX + 1))
    state.context = dict(Rip=base + RVA_KEBUGCHECKEX, Rsp=rsp, Rbp=rsp + 0x80, Rcx=0, SegCs=0x10,
                         SegSs=0x18, SegDs=0x2B, SegEs=0x2B, SegFs=0x53, SegGs=0x2B, EFlags=0x40286)
    space.write(context_va, dump_format.CONTEXT_AMD64.build(state.context))

    space.write(prcb + X64_OFFSETS["OffsetPrcbCurrentThread"], struct.pack("<Q", thread))
    space.write(prcb + X64_OFFSETS["OffsetPrcbNumber"], struct.pack("<H", 0))
    space.write(prcb + X64_OFFSETS["OffsetPrcbCpuType"], struct.pack("<BBH", 6, 0, 0x9E0A))
    space.write(prcb + X64_OFFSETS["OffsetPrcbMhz"], struct.pack("<I", 2400))
    space.write(prcb + X64_OFFSETS["OffsetPrcbVendorString"], b"GenuineIntel\0")
    space.write(prcb + X64_OFFSETS["OffsetPrcbContext"], struct.pack("<Q", context_va))
    gdt = base + RVA_GDT
    for selector, descriptor in X64_GDT.items():
        space.write(gdt + selector, struct.pack("<Q", descriptor))
    tss = pool.allocate(0x68, tag=b"Tss ")
    # 16-byte available-TSS system descriptor (type 0x89, present)
    low = (0x67 | ((tss & 0xFFFFFF) << 16) | (0x89 << 40) | (((tss >> 24) & 0xFF) << 56))
    space.write(gdt + X64_TSS_SELECTOR, struct.pack("<QQ", low, tss >> 32))
    special = prcb + X64_OFFSETS["OffsetPrcbProcStateSpecialReg"]
    space.write(special, struct.pack("<QQQQ", 0x80050033, 0, space.dtb, 0x350EF8))   # Cr0, Cr2, Cr3, Cr4
    # KSPECIAL_REGISTERS.Gdtr @+0x50 {Pad[3], Limit, Base}, Tr @+0x70
    space.write(special + 0x56, struct.pack("<HQ", X64_GDT_LIMIT, gdt))
    space.write(special + 0x70, struct.pack("<H", X64_TSS_SELECTOR))
    space.write(prcb + X64_OFFSETS["OffsetPrcbProcStateContext"], dump_format.CONTEXT_AMD64.build(state.context))

    space.write(thread + X64_OFFSETS["OffsetKThreadApcProcess"], struct.pack("<Q", process))
    space.write(thread + X64_OFFSETS["OffsetKThreadState"], struct.pack("<B", KTHREAD_STATE_RUNNING))
    space.write(thread + X64_OFFSETS["OffsetKThreadInitialStack"], struct.pack("<Q", stack_base - 0x30))
    space.write(thread + X64_OFFSETS["OffsetKThreadKernelStack"], struct.pack("<Q", rsp))
    space.write(thread + X64_KTHREAD_STACK_LIMIT, struct.pack("<QQ", stack, stack_base))

    space.write(process + X64_OFFSETS["OffsetEprocessDirectoryTableBase"], struct.pack("<Q", space.dtb))
    space.write(process + X64_EPROCESS_UNIQUE_PROCESS_ID, struct.pack("<Q", 4))
    space.write(process + X64_EPROCESS_IMAGE_FILE_NAME, b"System\0")
    _list_insert_tail(space, state.process_head, process + X64_EPROCESS_ACTIVE_PROCESS_LINKS)

    # KUSER_SHARED_DATA: product type / suite / version as a real machine has them
    _shared_data(machine, "x64")

    values = _kdbg_pointers(state, base, (system_range_start, highest_user, user_probe), build_lab, processor_block,
                            csd_version, X64_PTE_BASE)
    values.update(X64_OFFSETS, MmPageSize=PAGE_SIZE)
    return _publish_kernel(machine, state, base, processor_block, values, pointer_size=8)


# x86 (PAE) kernel: the same KDDEBUGGER_DATA64 block with sign-extended 32-bit pointers. The
# offsets are self-consistent choices inside the sizes given (dbgeng takes them from the KDBG);
# KPRCB.CurrentThread @4 and ProcessorState @0x18 (CONTEXT, then KSPECIAL_REGISTERS) follow x86
# Windows.
X86_OFFSETS = {
    "OffsetKThreadNextProcessor": 0x134, "OffsetKThreadTeb": 0xA8, "OffsetKThreadKernelStack": 0x30,
    "OffsetKThreadInitialStack": 0x18, "OffsetKThreadApcProcess": 0x70, "OffsetKThreadState": 0x68,
    "SizeEProcess": 0x300, "OffsetEprocessPeb": 0x1A8, "OffsetEprocessParentCID": 0x140,
    "OffsetEprocessDirectoryTableBase": 0x18, "SizePrcb": 0x4000, "OffsetPrcbDpcRoutine": 0x2E80,
    "OffsetPrcbCurrentThread": 0x4, "OffsetPrcbMhz": 0x3C4, "OffsetPrcbCpuType": 0x3C0,
    "OffsetPrcbVendorString": 0x3C8, "OffsetPrcbProcStateContext": 0x18, "OffsetPrcbNumber": 0x3CC,
    "SizeEThread": 0x3C0, "SizePcr": 0x120, "OffsetPcrSelfPcr": 0x1C, "OffsetPcrCurrentPrcb": 0x20,
    "OffsetPcrContainedPrcb": 0x120, "OffsetPrcbProcStateSpecialReg": 0x2E4, "GdtR0Code": 0x8,
    "GdtR0Data": 0x10, "GdtR0Pcr": 0x30, "GdtR3Code": 0x1B, "GdtR3Data": 0x23, "GdtR3Teb": 0x3B,
    "GdtLdt": 0x48, "GdtTss": 0x28, "Gdt64R3CmCode": 0x0, "Gdt64R3CmTeb": 0x0,
    "OffsetPrcbContext": 0x3E00,
}
X86_GDT = {
    0x08: 0x00CF9B000000FFFF,          # KGDT_R0_CODE
    0x10: 0x00CF93000000FFFF,          # KGDT_R0_DATA
    0x18: 0x00CFFB000000FFFF,          # KGDT_R3_CODE (0x1B)
    0x20: 0x00CFF3000000FFFF,          # KGDT_R3_DATA (0x23)
    0x38: 0x0040F30000000FFF,          # KGDT_R3_TEB (0x3B)
}
X86_GDT_LIMIT = 0x3FF


def _sign_extend(value: int, pointer_size: int) -> int:
    if pointer_size == 4 and value & 0x80000000:
        return value | 0xFFFFFFFF00000000
    return value


def _gdt_entry(base: int, limit: int, access: int, flags: int) -> int:
    return ((limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (access << 40) | (((limit >> 16) & 0xF) << 48)
            | (flags << 52) | (((base >> 24) & 0xFF) << 56))


def _kdbg_pointers(state: KernelState, base: int, ranges, build_lab: int, processor_block: int, csd_version: int,
                   pte_base: int) -> dict:
    """The KDBG's pointer fields, the same on every architecture; `ranges` is (MmSystemRangeStart,
    MmHighestUserAddress, MmUserProbeAddress) - where those globals are, not their values."""
    system_range_start, highest_user, user_probe = ranges
    return dict(KernBase=base, PsLoadedModuleList=state.module_list, PsActiveProcessHead=state.process_head,
                MmHighestUserAddress=highest_user, MmSystemRangeStart=system_range_start,
                MmUserProbeAddress=user_probe, NtBuildLab=build_lab, KiProcessorBlock=processor_block,
                CmNtCSDVersion=csd_version, KiBugcheckData=0, PteBase=pte_base)


def _publish_kernel(machine, state: KernelState, base: int, processor_block: int, values: dict,
                    pointer_size: int) -> KernelState:
    """Write the KDBG at its RVA, give nt its symbols and link it in the loaded-module list. On x86 a KDBG
    pointer is a 32-bit address sign-extended to 64 bits, as the real block stores it (the offsets and
    small values are unchanged by it)."""
    state.kdbg_va = base + RVA_KDBG
    kdbg_self = state.kdbg_va
    if pointer_size == 4:
        values = dict((name, _sign_extend(value, 4)) for name, value in values.items())
        kdbg_self = _sign_extend(state.kdbg_va, 4)
    machine.space.write(state.kdbg_va, _kdbg(kdbg_self, values))
    for name, va in (("KdDebuggerDataBlock", state.kdbg_va), ("PsLoadedModuleList", state.module_list),
                     ("PsActiveProcessHead", state.process_head), ("KiProcessorBlock", processor_block),
                     ("KeBugCheckEx", base + RVA_KEBUGCHECKEX)):
        machine.add_symbol("nt", name, va)
    _link_image(machine, state, "nt", base, KERNEL_IMAGE_SIZE, is_kernel=True)
    return state


def _build_x86(machine) -> KernelState:
    space, pool = machine.space, machine.pool
    state = KernelState()
    offsets = X86_OFFSETS
    base = pool.map_image("nt", KERNEL_IMAGE_SIZE)
    state.kernel_base = base
    space.write(base, _pe_headers("x86", base, KERNEL_IMAGE_SIZE, KERNEL_TIMESTAMP, RVA_KEBUGCHECKEX,
                                  dll=False, checksum=KERNEL_CHECKSUM))
    space.write(base + RVA_KEBUGCHECKEX, b"\xcc\xc3")
    globals_va = base + RVA_GLOBALS
    (system_range_start, highest_user, user_probe), processor_block = _kernel_globals(
        space, state, globals_va, 4, (0x80000000, 0x7FFEFFFF, 0x7FFF0000))
    build_lab = base + RVA_BUILD_LAB
    space.write(build_lab, ("%d.1.x86fre.vb_release.191206-1406" % machine.build).encode("ascii") + b"\0")
    csd_version = globals_va + 0x60

    prcb = pool.allocate(offsets["SizePrcb"], tag=b"Prcb")
    space.write(processor_block, struct.pack("<I", prcb))
    process = pool.allocate(offsets["SizeEProcess"], tag=b"Proc")
    thread = pool.allocate(offsets["SizeEThread"], tag=b"Thre")
    stack = pool.allocate(STACK_SIZE, tag=b"Stak")
    context_va = pool.allocate(dump_format.CONTEXT_X86_SIZE, tag=b"Ctxt")
    stack_base = stack + STACK_SIZE
    esp = stack_base - 0x1000
    space.write(esp, struct.pack("<I", base + RVA_KEBUGCHECKEX + 1))
    state.context = dict(Eip=base + RVA_KEBUGCHECKEX, Esp=esp, Ebp=esp + 0x40, SegCs=0x8, SegSs=0x10,
                         SegDs=0x23, SegEs=0x23, SegFs=0x30, SegGs=0, EFlags=0x246)
    context = dump_format.CONTEXT_X86.build(state.context)
    space.write(context_va, context)
    space.write(prcb + offsets["OffsetPrcbCurrentThread"], struct.pack("<I", thread))
    space.write(prcb + offsets["OffsetPrcbCpuType"], struct.pack("<BBH", 6, 0, 0x9E0A))
    space.write(prcb + offsets["OffsetPrcbMhz"], struct.pack("<I", 2400))
    space.write(prcb + offsets["OffsetPrcbVendorString"], b"GenuineIntel\0")
    space.write(prcb + offsets["OffsetPrcbContext"], struct.pack("<I", context_va))
    space.write(prcb + offsets["OffsetPrcbProcStateContext"], context)

    gdt = base + RVA_GDT
    for selector, descriptor in X86_GDT.items():
        space.write(gdt + selector, struct.pack("<Q", descriptor))
    tss = pool.allocate(0x20AC, tag=b"Tss ")
    space.write(gdt + offsets["GdtTss"], struct.pack("<Q", _gdt_entry(tss, 0x20AB, 0x89, 0)))
    pcr = pool.allocate(offsets["SizePcr"], tag=b"Pcr ")
    space.write(pcr + offsets["OffsetPcrSelfPcr"], struct.pack("<II", pcr, prcb))
    space.write(gdt + offsets["GdtR0Pcr"], struct.pack("<Q", _gdt_entry(pcr, 0xFFF, 0x93, 0x4)))
    special = prcb + offsets["OffsetPrcbProcStateSpecialReg"]
    space.write(special, struct.pack("<IIII", 0x80010033, 0, space.dtb, 0x406E9))    # Cr0, Cr2, Cr3, Cr4
    # KSPECIAL_REGISTERS (x86): Gdtr @+0x28 {Pad, Limit, Base}, Tr @+0x38
    space.write(special + 0x2A, struct.pack("<HI", X86_GDT_LIMIT, gdt))
    space.write(special + 0x38, struct.pack("<H", offsets["GdtTss"]))

    space.write(thread + offsets["OffsetKThreadApcProcess"], struct.pack("<I", process))
    space.write(thread + offsets["OffsetKThreadState"], struct.pack("<B", KTHREAD_STATE_RUNNING))
    space.write(thread + offsets["OffsetKThreadInitialStack"], struct.pack("<I", stack_base - 0x210))
    space.write(thread + offsets["OffsetKThreadKernelStack"], struct.pack("<I", esp))
    space.write(process + offsets["OffsetEprocessDirectoryTableBase"], struct.pack("<I", space.dtb))

    _shared_data(machine, "x86")

    values = _kdbg_pointers(state, base, (system_range_start, highest_user, user_probe), build_lab, processor_block,
                            csd_version, X86_PTE_BASE)
    values.update(offsets, MmPageSize=PAGE_SIZE, PaeEnabled=1)
    return _publish_kernel(machine, state, base, processor_block, values, pointer_size=4)


def _build_arm64(machine) -> KernelState:
    """Windows 11 22000 ARM64's kernel in the same shape as _build_x64: its KDBG offsets (ARM64_OFFSETS),
    an ARM64 PE image for nt with `brk #0xf000; ret` at KeBugCheckEx, one KPRCB -> thread -> System process,
    the ARM64 CONTEXT (X0..X28, Fp, Lr, Sp, Pc, Cpsr) where the PRCB points and in its ProcessorState.
    ARM64 has no GDT, TSS or CR registers: dbgeng reads the translation root from the dump header."""
    space, pool = machine.space, machine.pool
    offsets = ARM64_OFFSETS
    state = KernelState()
    base = pool.map_image("nt", KERNEL_IMAGE_SIZE)
    state.kernel_base = base
    space.write(base, _pe_headers("arm64", base, KERNEL_IMAGE_SIZE, KERNEL_TIMESTAMP, RVA_KEBUGCHECKEX, dll=False,
                                  checksum=KERNEL_CHECKSUM))
    space.write(base + RVA_KEBUGCHECKEX, struct.pack("<II", ARM64_BRK_F000, ARM64_RET))

    globals_va = base + RVA_GLOBALS
    (system_range_start, highest_user, user_probe), processor_block = _kernel_globals(
        space, state, globals_va, 8, (0xFFFF800000000000, 0x7FFFFFFEFFFF, 0x7FFFFFFF0000))
    build_lab = base + RVA_BUILD_LAB
    space.write(build_lab, ("%d.1.arm64fre.co_release.210604-1628" % machine.build).encode("ascii") + b"\0")
    csd_version = globals_va + 0x60

    prcb = pool.allocate(offsets["SizePrcb"], tag=b"Prcb")
    space.write(processor_block, struct.pack("<Q", prcb))
    process = pool.allocate(offsets["SizeEProcess"], tag=b"Proc")
    thread = pool.allocate(offsets["SizeEThread"], tag=b"Thre")
    stack = pool.allocate(STACK_SIZE, tag=b"Stak")
    context_va = pool.allocate(dump_format.CONTEXT_ARM64_SIZE, tag=b"Ctxt")
    stack_base = stack + STACK_SIZE
    sp = stack_base - 0x1000
    # KeBugCheckEx's frame record {caller's Fp, Lr} at Fp, as an AArch64 prologue leaves it
    lr = base + RVA_KEBUGCHECKEX + 4
    space.write(sp, struct.pack("<QQ", 0, lr))
    state.context = dict(Pc=base + RVA_KEBUGCHECKEX, Sp=sp, Fp=sp, Lr=lr, Cpsr=ARM64_CPSR)
    context = dump_format.CONTEXT_ARM64.build(state.context)
    space.write(context_va, context)
    space.write(prcb + offsets["OffsetPrcbCurrentThread"], struct.pack("<Q", thread))
    space.write(prcb + offsets["OffsetPrcbNumber"], struct.pack("<H", 0))
    # CpuType / CpuStep and Mhz, VendorString, MaxBreakpoints / MaxWatchpoints as the real ARM64 PRCB has them
    space.write(prcb + offsets["OffsetPrcbCpuType"], struct.pack("<BBHI", 5, 8, 0x0D0E, 1517))
    space.write(prcb + offsets["OffsetPrcbVendorString"], b"Q\0")
    space.write(prcb + offsets["OffsetPrcbMaxBreakpoints"], struct.pack("<II", 6, 2))
    space.write(prcb + offsets["OffsetPrcbContext"], struct.pack("<Q", context_va))
    space.write(prcb + offsets["OffsetPrcbProcStateContext"], context)

    space.write(thread + offsets["OffsetKThreadApcProcess"], struct.pack("<Q", process))
    space.write(thread + offsets["OffsetKThreadState"], struct.pack("<B", KTHREAD_STATE_RUNNING))
    space.write(thread + offsets["OffsetKThreadInitialStack"], struct.pack("<Q", stack_base - 0x30))
    space.write(thread + offsets["OffsetKThreadKernelStack"], struct.pack("<Q", sp))
    space.write(thread + offsets["OffsetKThreadStackLimit"], struct.pack("<QQ", stack, stack_base))

    space.write(process + offsets["OffsetEprocessDirectoryTableBase"], struct.pack("<Q", space.dtb))
    space.write(process + ARM64_EPROCESS_UNIQUE_PROCESS_ID, struct.pack("<Q", 4))
    space.write(process + ARM64_EPROCESS_IMAGE_FILE_NAME, b"System\0")
    _list_insert_tail(space, state.process_head, process + ARM64_EPROCESS_ACTIVE_PROCESS_LINKS)
    _shared_data(machine, "arm64")

    values = _kdbg_pointers(state, base, (system_range_start, highest_user, user_probe), build_lab, processor_block,
                            csd_version, ARM64_PTE_BASE)
    values.update(offsets, MmPageSize=PAGE_SIZE)
    return _publish_kernel(machine, state, base, processor_block, values, pointer_size=8)


_BUILDERS = {"x64": _build_x64, "x86": _build_x86, "arm64": _build_arm64}


def prepare_dump(machine) -> Dict[str, object]:
    """Build (once) the kernel structures dbgeng needs and return the extra ``write_dump`` arguments:
    ``kdbg_va``, ``ps_loaded_module_list``, ``ps_active_process_head`` and ``context``."""
    state = machine.kernel_state   # type: Optional[KernelState]
    if state is None:
        state = _BUILDERS[machine.arch](machine)
        machine.kernel_state = state
    for name, (base, size) in sorted(machine.images.items(), key=lambda item: item[1][0]):
        if name not in state.listed:
            _link_image(machine, state, name, base, size, is_kernel=False)
    return dict(kdbg_va=state.kdbg_va, ps_loaded_module_list=state.module_list,
                ps_active_process_head=state.process_head, context=dict(state.context))
