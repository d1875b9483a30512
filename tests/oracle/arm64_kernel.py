"""ARM64 dumps Microsoft's dbgeng can open as a kernel session, built over dmfemu.memory's ARM64 address
space until dmfemu builds an ARM64 kernel of its own: the few structures dbgeng needs (a decoded KDBG,
an ntoskrnl image, PsLoadedModuleList, one KPRCB -> thread -> process, the saved context; without the
KDBG it says "KdDebuggerDataBlock not available!", WaitForEvent fails and nothing reads). Structure
offsets are Windows 11 22000 ARM64's, taken from the KDBG copy in the real ARM64 triage dump in
tests/data (the block names them: Offset*/Size* fields), so the objects sit where dbgeng looks.

Besides the kernel, `build` puts pool blocks and an image of known bytes, and `edge_cases` hand-edits
descriptors dbgeng and dmfkd must read alike (or, where noted, not)."""
import hashlib
import os
import struct
from typing import Dict, List, NamedTuple, Tuple

from dmfkd.layouts.windows import PAGE_SIZE
from dmfemu.memory import ARM64_PTE_BASE, AddressSpace, PhysicalMemory
from dmfemu.pool import KernelPool
from dmfkd.layouts import dump_format
from dmfkd.targets.dumpfile import DumpFile

from helpers.arm64_dumps import write_arm64_dump
from helpers.paths import TRIAGE_ARM64

# KDDEBUGGER_DATA64 (public declaration; dbgeng.h DEBUG_DATA_* offsets): the fields set here
KDBG_SIZE = 0x380
KDBG_POINTERS = {"KernBase": 0x18, "PsLoadedModuleList": 0x48, "PsActiveProcessHead": 0x50,
                 "MmPageSize": 0x138, "MmHighestUserAddress": 0x1C8, "MmSystemRangeStart": 0x1D0,
                 "MmUserProbeAddress": 0x1D8, "NtBuildLab": 0x208, "KiProcessorBlock": 0x218,
                 "CmNtCSDVersion": 0x268, "PteBase": 0x360}
KDBG_OFFSETS = {"OffsetKThreadApcProcess": 0x2A0, "OffsetKThreadState": 0x2A2, "OffsetKThreadKernelStack": 0x29C,
                "OffsetKThreadInitialStack": 0x29E, "SizeEProcess": 0x2A8, "OffsetEprocessDirectoryTableBase": 0x2AE,
                "SizePrcb": 0x2B0, "OffsetPrcbCurrentThread": 0x2B4, "OffsetPrcbProcStateContext": 0x2BC,
                "SizeEThread": 0x2C0, "OffsetPrcbContext": 0x338}
# KLDR_DATA_TABLE_ENTRY, 64-bit
LDR_SIZE, LDR_DLL_BASE, LDR_SIZE_OF_IMAGE, LDR_FULL_NAME, LDR_BASE_NAME, LDR_FLAGS = 0xA0, 0x30, 0x40, 0x48, 0x58, 0x68
KERNEL_SIZE = 0x20000
RVA_CODE, RVA_KDBG, RVA_GLOBALS, RVA_BUILD_LAB = 0x1100, 0x2000, 0x3000, 0x3400
BRK_F000 = 0xD43E0000                  # `brk #0xf000`, what KeBugCheckEx's saved PC would point near
TIMESTAMP = 0x5E0BD8A7
BUGCHECK = (0xDEADDEAD, 0x1FFF8A3B2C38, 0x2, 0xFFFFF80012345678, 0x4)


def pattern(label: str, size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(("%s/%d" % (label, counter)).encode()).digest()
        counter += 1
    return bytes(out[:size])


def _real_kdbg() -> bytes:
    with DumpFile(TRIAGE_ARM64) as dump:
        return dump.read(dump.kdbg_va, KDBG_SIZE)


def _pe_headers(base: int) -> bytes:
    """A minimal PE32+ header page with Machine = ARM64: what dbgeng reads of an image it has no file for."""
    image = bytearray(0x400)
    image[0:2] = b"MZ"
    struct.pack_into("<I", image, 0x3C, 0x80)
    image[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", image, 0x84, dump_format.MACHINE_ARM64, 1, TIMESTAMP, 0, 0, 0xF0, 0x22)
    opt = 0x98
    struct.pack_into("<HBBIIIIIQ", image, opt, 0x20B, 14, 0, KERNEL_SIZE - 0x1000, 0, 0, RVA_CODE, 0x1000, base)
    struct.pack_into("<IIHHHHHHIIIIHH", image, opt + 0x20, 0x1000, 0x200, 10, 0, 10, 0, 10, 0, 0,
                     KERNEL_SIZE, 0x400, 0xA1B2C3, 1, 0x160)
    struct.pack_into("<QQQQII", image, opt + 0x48, 0x80000, 0x1000, 0x100000, 0x1000, 0, 16)
    struct.pack_into("<8sIIIIIIHHI", image, opt + 0xF0, b".text", KERNEL_SIZE - 0x1000, 0x1000,
                     KERNEL_SIZE - 0x1000, 0x400, 0, 0, 0, 0, 0x68000020)
    return bytes(image)


class Arm64Machine(NamedTuple):
    phys: PhysicalMemory
    space: AddressSpace
    pool: KernelPool
    kdbg_va: int
    module_list: int
    process_head: int
    kernel_base: int
    context: dict
    reads: List[Tuple[int, int]]        # VAs both must read alike
    unmapped: List[int]                 # VAs both must fail to read


def build(large_pages: bool = False) -> Arm64Machine:
    real = _real_kdbg()

    def offset(name):
        return struct.unpack_from("<H", real, KDBG_OFFSETS[name])[0]

    phys = PhysicalMemory()
    space = AddressSpace(phys, "arm64")
    pool = KernelPool(space, large_pages=large_pages)
    base = pool.map_image("nt", KERNEL_SIZE)
    space.write(base, _pe_headers(base))
    space.write(base + RVA_CODE, struct.pack("<I", BRK_F000))
    globals_va = base + RVA_GLOBALS
    space.write(globals_va, struct.pack("<QQQ", 0xFFFF800000000000, 0x7FFFFFFEFFFF, 0x7FFFFFFF0000))
    module_list, process_head, processor_block = globals_va + 0x20, globals_va + 0x30, globals_va + 0x40
    for head in (module_list, process_head):
        space.write(head, struct.pack("<QQ", head, head))
    space.write(base + RVA_BUILD_LAB, b"22000.1.arm64fre.co_release.210604-1628\0")

    prcb = pool.allocate(offset("SizePrcb"), tag=b"Prcb")
    process = pool.allocate(offset("SizeEProcess"), tag=b"Proc")
    thread = pool.allocate(offset("SizeEThread"), tag=b"Thre")
    stack = pool.allocate(0x6000, tag=b"Stak")
    sp = stack + 0x5000
    context = dict(Pc=base + RVA_CODE, Sp=sp, Fp=sp + 0x40, Lr=base + RVA_CODE + 4, Cpsr=0x80000145,
                   X=[0x1000 + i for i in range(29)])
    context_va = pool.allocate(dump_format.CONTEXT_ARM64_SIZE, tag=b"Ctxt")
    space.write(context_va, dump_format.CONTEXT_ARM64.build(context))
    space.write(processor_block, struct.pack("<Q", prcb))
    space.write(prcb + offset("OffsetPrcbCurrentThread"), struct.pack("<Q", thread))
    space.write(prcb + offset("OffsetPrcbContext"), struct.pack("<Q", context_va))
    space.write(prcb + offset("OffsetPrcbProcStateContext"), dump_format.CONTEXT_ARM64.build(context))
    space.write(thread + offset("OffsetKThreadApcProcess"), struct.pack("<Q", process))
    space.write(thread + offset("OffsetKThreadState"), b"\x02")                 # Running
    space.write(thread + offset("OffsetKThreadInitialStack"), struct.pack("<Q", stack + 0x6000 - 0x30))
    space.write(thread + offset("OffsetKThreadKernelStack"), struct.pack("<Q", sp))
    space.write(process + offset("OffsetEprocessDirectoryTableBase"), struct.pack("<Q", space.dtb))

    kdbg = bytearray(real)                 # the real block's Offset*/Size* fields, our pointers
    values = dict(KernBase=base, PsLoadedModuleList=module_list, PsActiveProcessHead=process_head,
                  MmPageSize=PAGE_SIZE, MmHighestUserAddress=globals_va + 8, MmSystemRangeStart=globals_va,
                  MmUserProbeAddress=globals_va + 0x10, NtBuildLab=base + RVA_BUILD_LAB,
                  KiProcessorBlock=processor_block, CmNtCSDVersion=globals_va + 0x60, PteBase=ARM64_PTE_BASE)
    for field in range(0x18, 0x298, 8):    # every other pointer of the real machine: none here
        struct.pack_into("<Q", kdbg, field, 0)
    for name, value in values.items():
        struct.pack_into("<Q", kdbg, KDBG_POINTERS[name], value)
    kdbg_va = base + RVA_KDBG
    space.write(kdbg_va, bytes(kdbg))
    space.write(kdbg_va, struct.pack("<QQ", kdbg_va, kdbg_va))     # a lone block's LIST_ENTRY64

    entry = bytearray(LDR_SIZE)
    struct.pack_into("<Q", entry, LDR_DLL_BASE, base)
    struct.pack_into("<I", entry, LDR_SIZE_OF_IMAGE, KERNEL_SIZE)
    for at, text in ((LDR_FULL_NAME, "\\SystemRoot\\system32\\ntoskrnl.exe"), (LDR_BASE_NAME, "ntoskrnl.exe")):
        data = text.encode("utf-16-le")
        buffer = pool.allocate(len(data) + 2, tag=b"MmLd")
        space.write(buffer, data + b"\0\0")
        struct.pack_into("<HHIQ", entry, at, len(data), len(data) + 2, 0, buffer)
    struct.pack_into("<I", entry, LDR_FLAGS, 0x4000)               # LDRP_ENTRY_PROCESSED
    entry_va = pool.allocate(LDR_SIZE, tag=b"MmLd")
    space.write(entry_va, bytes(entry))
    space.write(entry_va, struct.pack("<QQ", module_list, module_list))
    space.write(module_list, struct.pack("<QQ", entry_va, entry_va))

    # memory of known bytes: pool blocks (one past a slab), a driver image
    reads = [(base + RVA_CODE, 4), (kdbg_va + 0x10, 8)]
    for i, size in enumerate((0x180, 0x2100, 0x41000)):
        va = pool.allocate(size, tag=b"Dmf%d" % i)
        space.write(va, pattern("pool%d" % i, size))
        reads += [(va - pool.header_size, 0x40), (va + size - 0x10, 0x10)]
        reads += [(page, 0x20) for page in range((va + 0xFFF) & ~0xFFF, va + size - 0x20, 0x7000)]
    image = pool.map_image("dmfdemo", 0x6000)
    space.write(image, pattern("image", 0x6000))
    reads += [(image, 0x40), (image + 0xFF8, 0x10), (image + 0x5FF0, 0x10)]
    unmapped = [image - 0x10, image + 0x6000 + (0x200000 if large_pages else 0x10)]
    return Arm64Machine(phys, space, pool, kdbg_va, module_list, process_head, base, context, reads, unmapped)


def edge_cases(machine: Arm64Machine) -> Dict[str, int]:
    """Hand-written descriptors on fresh VAs; {case: VA to read}. See test_dbgeng_arm64.py for what
    each is and which reader reads it."""
    phys, space = machine.phys, machine.space
    af_sh = 0x400 | 0x300

    def page(label):
        pa = phys.allocate_pages(1)
        phys.write(pa, pattern(label, PAGE_SIZE))
        return pa

    def table(va, level):
        """PA of the level-`level` table on the walk of `va`, creating the path with a dummy mapping."""
        space.map(va ^ (1 << (39 - 9 * level)), page("dummy"), PAGE_SIZE)
        pa = space.dtb
        for shift in (39, 30, 21)[:level]:
            pa = phys.read_u64(pa + ((va >> shift) & 0x1FF) * 8) & 0x0000FFFFFFFFF000
        return pa

    def put(va, level, value):
        phys.write_u64(table(va, level) + ((va >> (39 - 9 * level)) & 0x1FF) * 8, value)

    base = 0xFFFFBB9000000000
    cases = {}
    for i, (name, bits) in enumerate((("transition", 0x800 | 4 << 1), ("prototype", 0x800 | 0x400),
                                      ("l3_type_01", 0x1 | af_sh), ("valid_clear", 0x2 | af_sh),
                                      ("access_flag_clear", 0x3 | 0x300), ("contiguous_hint", 0x3 | af_sh | 1 << 52),
                                      ("bits_51_48_set", 0x3 | af_sh | 0xF << 48),
                                      ("read_only", 0x3 | af_sh | 0x80))):
        va = base + 2 * i * PAGE_SIZE
        put(va, 3, page(name) | bits)
        cases[name] = va + 0x10
    block_2m = phys.allocate_pages(512, align_pages=512)
    phys.write(block_2m + 0x3000, pattern("block-2m", PAGE_SIZE))
    put(0xFFFFBBA000000000, 2, block_2m | 0x5000 | 0x1 | af_sh)         # output bits 20:12 are RES0
    cases["block_2m_res0_bits"] = 0xFFFFBBA000003010
    put(0xFFFFBBC000000000, 1, 0x0 | 0x1 | af_sh)                       # 1 GiB block at PA 0
    cases["block_1g"] = 0xFFFFBBC000005010                               # PA 0x5010: RAM starts at PFN 1
    put(0xFFFFBBB000000000, 3, page("table-attributes") | 0x3 | af_sh)
    l1_entry = space.dtb + ((0xFFFFBBB000000000 >> 39) & 0x1FF) * 8
    l1_entry = (phys.read_u64(l1_entry) & 0x0000FFFFFFFFF000) + ((0xFFFFBBB000000000 >> 30) & 0x1FF) * 8
    phys.write_u64(l1_entry, phys.read_u64(l1_entry) | 0xF8 << 56)      # NSTable, APTable, UXN/PXNTable
    cases["table_attributes"] = 0xFFFFBBB000000000
    phys.write_u64(machine.space.dtb + 0x1F8 * 8, 0x1 | af_sh)          # a "block" at L0
    cases["l0_block"] = 0xFFFFFC0000005000
    user = 0x00007FF612340000
    space.map(user, page("user"), PAGE_SIZE)
    cases["user_half"] = user + 0x20
    target = machine.reads[2][0]
    cases["tagged_pointer"] = (target & 0x00FFFFFFFFFFFFFF) | 0xAB << 56
    cases["not_sign_extended"] = target & 0x0000FFFFFFFFFFFF
    return cases


def write(machine: Arm64Machine, path: str, dump_type: str, blobs=()) -> str:
    write_arm64_dump(path, dump_type, machine.phys.snapshot(), dtb=machine.space.dtb, blobs=blobs,
                     context=machine.context, bugcheck=BUGCHECK, kdbg_va=machine.kdbg_va,
                     ps_loaded_module_list=machine.module_list, ps_active_process_head=machine.process_head)
    return path


def dump_path(directory: str, dump_type: str, large_pages: bool) -> str:
    return os.path.join(directory, "arm64-%s%s.dmp" % (dump_type, "-large" if large_pages else ""))
