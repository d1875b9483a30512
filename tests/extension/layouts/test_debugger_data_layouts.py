"""The kernel's debugger data block and loader entries (layouts/debugger_data.py) against the real Windows
triage dumps (their KDBG copy and their dump header, both written by Windows) and the structure
sizes of the Windows 10 kernel."""
import pytest

from dmfkd.layouts import debugger_data
from dmfkd.targets.dumpfile import DumpFile

from helpers.paths import TRIAGE_DUMPS


def _kdbg_copy(path):
    dump = DumpFile(path)
    offset, size = dump.triage["DebuggerDataOffset"], dump.triage["DebuggerDataSize"]
    with open(path, "rb") as handle:
        handle.seek(offset)
        raw = handle.read(size)
    return dump, debugger_data.kddebugger_data64().unpack_from(raw)


@pytest.mark.parametrize("path", TRIAGE_DUMPS)
def test_the_kdbg_copy_of_a_real_triage_dump_reads_with_the_layout(path):
    dump, kdbg = _kdbg_copy(path)
    assert kdbg["Header.OwnerTag"] == debugger_data.KDBG_OWNER_TAG
    assert kdbg["Header.Size"] == debugger_data.kddebugger_data64().size == 0x380
    # fields the dump header carries too (Windows wrote both)
    assert kdbg["PsLoadedModuleList"] == dump.header.PsLoadedModuleList
    assert kdbg["PsActiveProcessHead"] == dump.header.PsActiveProcessHead
    assert kdbg["MmPageSize"] == 0x1000
    assert kdbg["KernBase"] & 0xFFF == 0 and kdbg["KernBase"] < kdbg["PsLoadedModuleList"]


def test_fields_sit_where_dbgeng_reads_them():
    # DEBUG_DATA_* indices of dbgeng.h are these byte offsets
    offsets = debugger_data.kddebugger_data64().offsets
    assert (offsets["KernBase"], offsets["PsLoadedModuleList"], offsets["MmPageSize"], offsets["NtBuildLab"],
            offsets["KiProcessorBlock"], offsets["SizeEThread"], offsets["KeLoaderBlock"], offsets["SizePcr"],
            offsets["Gdt64R3CmTeb"], offsets["OffsetPrcbContext"], offsets["PteBase"]) == (
        0x18, 0x48, 0x138, 0x208, 0x218, 0x2C0, 0x2D8, 0x2E0, 0x306, 0x338, 0x360)


@pytest.mark.parametrize("arch,size,dll_base,full_name,base_name,checksum,stamp", [
    ("x64", 0xA0, 0x30, 0x48, 0x58, 0x78, 0x9C),
    ("x86", 0x5C, 0x18, 0x24, 0x2C, 0x40, 0x58),
])
def test_loader_entry_is_the_windows_10_kernels(arch, size, dll_base, full_name, base_name, checksum, stamp):
    entry = debugger_data.kldr_data_table_entry(arch)
    assert (entry.size, entry.offsets["DllBase"], entry.offsets["FullDllName"], entry.offsets["BaseDllName"],
            entry.offsets["CheckSum"], entry.offsets["TimeDateStamp"]) == (
        size, dll_base, full_name, base_name, checksum, stamp)
    assert entry.offsets["BaseDllName.Buffer"] == base_name + (8 if arch == "x64" else 4)
    assert debugger_data.unicode_string(arch).size == (16 if arch == "x64" else 8)
