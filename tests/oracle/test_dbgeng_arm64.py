"""Microsoft's dbgeng (10.0.15063) vs dmfkd's DumpFile on ARM64.

Real Windows 11 ARM64 triage dump: the saved registers dbgeng shows (`r`, IDebugRegisters) are
DumpFile.context()'s, and the VA-mapped regions a triage dump carries (current thread, its process, the
stack, the KDBG copy) read the same; the x64 triage dump's regions too. (On the x64 one dbgeng's
registers are not the header's ContextRecord - rip is the exception address, rsp TopOfStack - so only
the ARM64 registers are compared.)

dmfemu's ARM64 dumps (the other checks of them - open, tags, bug check, registers, `lm`, pool and image
reads, triage regions, every dmfkd command through the real pykd - run with the x64 and x86 ones in
test_dbgeng_synthetic.py, test_dbgeng_demo.py, test_dbgeng_livedump.py, test_realpykd_cli.py,
test_pykd_standin.py and test_pdb_oracle.py):
- the `dmfemu demo --arch arm64` full, bitmap and triage dumps: every mapped page of the emulated
  driver's pool blocks and images, sampled through dbgeng's ReadVirtual, reads what DumpFile reads (on
  full and bitmap dumps every page reads; on the triage dump both fail alike outside its regions);
- hand-written descriptors in an emulated ARM64 machine's tables (a full dump): the same bytes or a
  failure in both - except one case where dmfkd follows the architecture and dbgeng does not (a 0b01
  descriptor at L3)."""
import hashlib
import os
import re

import pytest

from dmfkd.errors import MemoryReadError
from dmfkd.layouts.windows import PAGE_SIZE
from dmfkd.targets.dumpfile import DumpFile
from dmfemu.machine import Machine
from dmfemu.scenarios.crashdump_demo import demo_scenario
from dmfemu.scenarios.crashdump_replay import ScenarioRun

from helpers.paths import TRIAGE_ARM64, TRIAGE_X64
from helpers.synthetic_dumps import BLOBS

pytestmark = pytest.mark.oracle


# -- the real triage dumps ------------------------------------------------------------------------
def named_regions(dump):
    tri = dump.triage
    by_offset = {offset: (start, end) for start, end, offset in dump.triage_regions()}
    return {name: by_offset[getattr(tri, field)] for name, field in
            (("thread", "ThreadOffset"), ("process", "ProcessOffset"), ("stack", "CallStackOffset"),
             ("kdbg", "DebuggerDataOffset"))}


def region_reads(path):
    with DumpFile(path) as dump:
        reads = []
        for start, end in named_regions(dump).values():
            reads += [(start, min(end - start, 0x1000)), (end - 8, 8)]
        context = dump.context()
        pc = context.Pc if dump.arch == "arm64" else context.Rip
        return reads + [(pc, 4)]


@pytest.fixture(scope="module")
def triage_answers(dbgeng_oracle):
    paths = [TRIAGE_ARM64, TRIAGE_X64]
    queries = [dbgeng_oracle.DumpQuery(path, tags=False, reads=region_reads(path), regs=True, commands=["r"])
               for path in paths]
    return dict(zip(["arm64", "x64"], dbgeng_oracle.query(queries)))


def registers_in(text):
    return {name: int(value, 16) for name, value in re.findall(r"\b(x\d+|fp|lr|sp|pc|psr)=([0-9a-f]+)", text)}


def test_arm64_triage_registers_are_the_saved_context(triage_answers):
    answer = triage_answers["arm64"]
    with DumpFile(TRIAGE_ARM64) as dump:
        context = dump.context()
    shown = registers_in(answer.command_text("r"))
    expected = {"x%d" % i: value for i, value in enumerate(context.X)}
    expected.update(fp=context.Fp, lr=context.Lr, sp=context.Sp, pc=context.Pc, psr=context.Cpsr)
    assert shown == expected
    assert (answer.regs["ip"], answer.regs["sp"]) == (context.Pc, context.Sp)


@pytest.mark.parametrize("arch, path", [("arm64", TRIAGE_ARM64), ("x64", TRIAGE_X64)])
def test_triage_thread_process_stack_kdbg_read_alike(triage_answers, arch, path):
    answer = triage_answers[arch]
    assert len(answer.reads) == 9
    with DumpFile(path) as dump:
        for reply in answer.reads:
            assert reply["hr"] == 0, hex(reply["address"])
            assert bytes.fromhex(reply["hex"]) == dump.read(reply["address"], reply["size"]), hex(reply["address"])


# -- the ARM64 demo dumps: every mapped page of the driver's pool and images ----------------------
DEMO_KINDS = ["full", "bitmap", "triage"]
SAMPLE = 0x10


def _page_samples(machine):
    """(VA, SAMPLE) reads: one per page of each image (at an offset that moves from page to page), and
    one per page each pool block covers (its POOL_HEADER on the block's first page)."""
    reads = []
    for name, (base, size) in sorted(machine.images.items()):
        for page in range(base, base + size, PAGE_SIZE):
            reads.append((page + ((page >> 12) * 0x110) % (PAGE_SIZE - SAMPLE), SAMPLE))
    seen = set()
    for block in machine.pool.blocks():
        end = block.va + max(block.size, 1)
        for page in range(block.header_va & ~0xFFF, end, PAGE_SIZE):
            if page in seen:
                continue
            seen.add(page)
            start = max(page, block.header_va)
            reads.append((start, min(SAMPLE, end - start)))
    return reads


@pytest.fixture(scope="module")
def demos(oracle_tmp, dbgeng_oracle):
    built, queries = {}, []
    for dump_type in DEMO_KINDS:
        # what `dmfemu demo --arch arm64 --dump-type T` does, in-process so the pool's blocks are known
        scenario = demo_scenario("arm64", dump_type=dump_type)
        run = ScenarioRun(scenario)
        for op in scenario["operations"]:
            run.run(op)
        directory = os.path.join(str(oracle_tmp), "arm64-demo-%s" % dump_type)
        os.makedirs(directory, exist_ok=True)
        run.crash(directory)
        reads = _page_samples(run.machine)
        path = os.path.join(directory, "MEMORY.DMP")
        built[dump_type] = (path, run.machine, reads)
        queries.append(dbgeng_oracle.DumpQuery(path, tags=False, reads=reads))
    answers = dbgeng_oracle.query(queries)
    return {dump_type: built[dump_type] + (answer,) for dump_type, answer in zip(DEMO_KINDS, answers)}


@pytest.mark.parametrize("dump_type", DEMO_KINDS)
def test_every_mapped_page_of_pool_and_images_reads_alike(demos, dump_type):
    path, machine, reads, answer = demos[dump_type]
    assert answer.opened, answer.open_text
    assert len(answer.reads) == len(reads) > 50
    both = 0
    with DumpFile(path) as dump:
        for (va, size), reply in zip(reads, answer.reads):
            assert (reply["address"], reply["size"]) == (va, size)
            try:
                mine = dump.read(va, size)
            except MemoryReadError:
                mine = None
            theirs = bytes.fromhex(reply["hex"]) if reply["hr"] == 0 else None
            assert theirs == mine, hex(va)
            both += mine is not None
    if dump_type == "triage":
        # only the triage regions (thread, process, stack, KDBG, data blocks, nt's header page) are there
        assert 0 < both < len(reads)
    else:
        assert both == len(reads)


# -- hand-written descriptors in an emulated ARM64 machine's tables --------------------------------
# what each hand-written descriptor is, and whether it reads (in both readers unless noted)
EDGE_CASES = {
    "transition": True,             # Windows transition PTE (bit 11, not bit 10): the page is in RAM
    "prototype": False,             # prototype PTE: needs the section's PTEs, not in the tables
    "l3_type_01": None,             # reserved at L3: the MMU faults; dbgeng reads the page anyway
    "valid_clear": False,
    "access_flag_clear": True,      # AF only decides whether the first access faults
    "contiguous_hint": True,
    "bits_51_48_set": True,         # not address bits without 52-bit addresses
    "read_only": True,
    "block_2m_res0_bits": True,     # output bits below the block size are ignored
    "block_1g": True,
    "table_attributes": True,       # APTable/UXNTable/PXNTable/NSTable on a table descriptor
    "l0_block": False,              # no L0 blocks with a 4 KiB granule
    "user_half": True,              # user VAs go through the same root
    "tagged_pointer": False,        # top byte set: dbgeng does not strip tags either
    "not_sign_extended": False,
}
EDGE_BUGCHECK = (0xDEADDEAD, 0x1FFF8A3B2C38, 0x2, 0xFFFFF80012345678, 0x4)


def pattern(label, size):
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(("%s/%d" % (label, counter)).encode()).digest()
        counter += 1
    return bytes(out[:size])


def edge_cases(machine, mapped_va):
    """Hand-written descriptors on fresh VAs of `machine` (written into its tables in physical memory,
    as corrupt or unusual tables would be); {case: VA to read}. `mapped_va`: a mapped pool VA."""
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
    phys.write_u64(space.dtb + 0x1F8 * 8, 0x1 | af_sh)                  # a "block" at L0
    cases["l0_block"] = 0xFFFFFC0000005000
    user = 0x00007FF612340000
    space.map(user, page("user"), PAGE_SIZE)
    cases["user_half"] = user + 0x20
    cases["tagged_pointer"] = (mapped_va & 0x00FFFFFFFFFFFFFF) | 0xAB << 56
    cases["not_sign_extended"] = mapped_va & 0x0000FFFFFFFFFFFF
    return cases


@pytest.fixture(scope="module")
def edges(oracle_tmp, dbgeng_oracle):
    machine = Machine(arch="arm64")
    block = machine.pool.allocate(0x2100, tag=b"Dmf4")
    machine.space.write(block, pattern("pool", 0x2100))
    cases = edge_cases(machine, block + 0x1000)
    path = os.path.join(str(oracle_tmp), "arm64-edge-cases.dmp")
    machine.write_dump(path, "full", EDGE_BUGCHECK, blobs=BLOBS)
    answer = dbgeng_oracle.query_one(path, tags=False, reads=[(va, 8) for va in cases.values()])
    return path, cases, answer


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_hand_written_descriptors(edges, case):
    path, cases, answer = edges
    assert answer.opened, answer.open_text
    va = cases[case]
    reply = {r["address"]: r for r in answer.reads}[va]
    with DumpFile(path) as dump:
        try:
            mine = dump.read(va, 8)
        except MemoryReadError:
            mine = None
    theirs = bytes.fromhex(reply["hex"]) if reply["hr"] == 0 else None
    if EDGE_CASES[case] is None:
        # bits[1:0] = 0b01 at L3 is reserved (Arm ARM): dmfkd reports the page unreadable, dbgeng
        # 10.0.15063 checks only the valid bit there and reads it. Windows never writes such an entry
        # (nt!_MMPTE_HARDWARE.NotLargePage is set on every valid PTE), so only a corrupt table shows it.
        assert theirs is not None and mine is None
        return
    assert (theirs is not None) == EDGE_CASES[case] == (mine is not None), (case, reply)
    assert theirs == mine
