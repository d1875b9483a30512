"""dmfemu's triage (type 4) writer on a machine with dmfemu.kernel's structures: the parts a kernel
minidump carries are copied from emulated memory the way spec/dump-format.md §2.5 lays them out
(PRCB of KDBG.SizePrcb bytes, current thread and process, stack up to InitialStack, KDBG copy,
driver list with its string pool, empty unloaded-driver list), and DumpFile reads the VA-mapped
ones back. dbgeng's view of the same dumps: tests/oracle/test_dbgeng_synthetic.py."""
import struct

import pytest

from dmfemu import kernel
from dmfemu.machine import Machine
from dmfkd.errors import MemoryReadError
from dmfkd.layouts import dump_format
from dmfkd.targets.dumpfile import DumpFile

OFF = kernel.X64_OFFSETS


@pytest.fixture(scope="module")
def triage(tmp_path_factory):
    machine = Machine(arch="x64")
    base = machine.add_image("dmfdemo", 0x4000)
    block = machine.pool.allocate(0x90, tag=b"Dmf4")
    machine.space.write(block, bytes(range(0x90)))
    path = str(tmp_path_factory.mktemp("triage") / "triage.dmp")
    machine.write_dump(path, "triage", (0xDEADDEAD, 1, 2, 3, 4), triage_blocks=[(block, bytes(range(0x90)))])
    space = machine.space
    prcb = space.read_u64(machine.symbol("KiProcessorBlock"))
    thread = space.read_u64(prcb + OFF["OffsetPrcbCurrentThread"])
    process = space.read_u64(thread + OFF["OffsetKThreadApcProcess"])
    with DumpFile(path) as dump:
        yield dict(machine=machine, dump=dump, prcb=prcb, thread=thread, process=process, block=block,
                   driver_base=base)


def _file(dump, offset, size):
    with open(dump.path, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)


def test_prcb_thread_process_are_whole_copies(triage):
    dump, space = triage["dump"], triage["machine"].space
    tri = dump.triage
    assert _file(dump, tri.PrcbOffset, OFF["SizePrcb"]) == space.read(triage["prcb"], OFF["SizePrcb"])
    assert _file(dump, tri.ThreadOffset, OFF["SizeEThread"]) == space.read(triage["thread"], OFF["SizeEThread"])
    assert _file(dump, tri.ProcessOffset, OFF["SizeEProcess"]) == space.read(triage["process"],
                                                                             OFF["SizeEProcess"])
    # the real minidumps: PRCB, process, thread, stack, one after the other
    assert tri.PrcbOffset < tri.ProcessOffset < tri.ThreadOffset < tri.CallStackOffset
    assert dump.header.MiniDumpFields & dump_format.TRIAGE_DUMP_BASIC_INFO == dump_format.TRIAGE_DUMP_BASIC_INFO


def test_thread_process_stack_read_at_their_vas(triage):
    dump, space = triage["dump"], triage["machine"].space
    for va, size in ((triage["thread"], OFF["SizeEThread"]), (triage["process"], OFF["SizeEProcess"])):
        assert dump.read(va, size) == space.read(va, size)
        with pytest.raises(MemoryReadError):
            dump.read(va + size, 1)
    with pytest.raises(MemoryReadError):           # dbgeng does not map the PRCB either
        dump.read(triage["prcb"], 8)
    state = triage["machine"].kernel_state
    rsp = state.context["Rsp"]
    initial = space.read_u64(triage["thread"] + OFF["OffsetKThreadInitialStack"])
    assert dump.triage.TopOfStack == rsp and dump.triage.SizeOfCallStack == initial - rsp
    assert dump.read(rsp, initial - rsp) == space.read(rsp, initial - rsp)


def test_kernel_blocks_and_caller_blocks(triage):
    dump, space = triage["dump"], triage["machine"].space
    state = triage["machine"].kernel_state
    assert dump.read(state.kernel_base, 0x1000) == space.read(state.kernel_base, 0x1000)
    assert dump.read(state.kdbg_va, 0x380) == space.read(state.kdbg_va, 0x380)
    lab = struct.unpack_from("<Q", space.read(state.kdbg_va, 0x380), 0x208)[0]
    assert dump.read(lab, 12) == b"19041.1.amd6"
    assert dump.read(triage["block"], 0x90) == bytes(range(0x90))
    with pytest.raises(MemoryReadError):           # image bytes past the header page are not kept
        dump.read(triage["driver_base"] + 0x1000, 8)


def test_driver_list_and_string_pool(triage):
    dump, machine = triage["dump"], triage["machine"]
    tri = dump.triage
    entry = dump_format.DUMP_DRIVER_ENTRY64.sizeof()
    assert tri.DriverCount == len(machine.images) == 2
    listed = {}
    for i in range(tri.DriverCount):
        e = dump_format.DUMP_DRIVER_ENTRY64.parse(_file(dump, tri.DriverListOffset + i * entry, entry))
        assert tri.StringPoolOffset <= e.DriverNameOffset < tri.StringPoolOffset + tri.StringPoolSize
        length = struct.unpack("<I", _file(dump, e.DriverNameOffset, 4))[0]
        name = _file(dump, e.DriverNameOffset + 4, 2 * length + 2)
        assert name[-2:] == b"\0\0"                 # DUMP_STRING: length in WCHARs, NUL-terminated
        listed[name[:-2].decode("utf-16-le")] = (e.DllBase, e.SizeOfImage, e.TimeDateStamp)
    nt_base, nt_size = machine.images["nt"]
    drv_base, drv_size = machine.images["dmfdemo"]
    assert listed == {"\\SystemRoot\\system32\\ntoskrnl.exe": (nt_base, nt_size, kernel.KERNEL_TIMESTAMP),
                      "\\SystemRoot\\system32\\drivers\\dmfdemo.sys": (drv_base, drv_size,
                                                                       kernel.DRIVER_TIMESTAMP)}


def test_unloaded_driver_list_is_empty(triage):
    dump = triage["dump"]
    assert dump.triage.UnloadedDriversOffset
    assert _file(dump, dump.triage.UnloadedDriversOffset, 8) == bytes(8)


def test_kdbg_sizes_larger_than_the_dump_clip_not_fail(triage, tmp_path):
    """A KDBG copy whose SizeEThread overshoots SizeOfDump: the thread region ends at SizeOfDump;
    the rest of the dump stays readable."""
    dump = triage["dump"]
    with open(dump.path, "rb") as handle:
        raw = bytearray(handle.read())
    struct.pack_into("<H", raw, dump.triage.DebuggerDataOffset + dump_format.KDBG_SIZE_ETHREAD, 0xFFFF)
    path = tmp_path / "big-thread.dmp"
    path.write_bytes(bytes(raw))
    space = triage["machine"].space
    with DumpFile(str(path)) as broken:
        assert broken.read(triage["thread"], 0x40) == space.read(triage["thread"], 0x40)
        assert broken.read(triage["block"], 0x90) == bytes(range(0x90))
        end = [e for s, e, _ in broken.triage_regions() if s == triage["thread"]]
        assert end == [triage["thread"] + broken.triage.SizeOfDump - broken.triage.ThreadOffset]
