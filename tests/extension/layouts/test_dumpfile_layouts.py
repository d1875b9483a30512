"""Sizes and field offsets of the dump-file layouts against the tables of spec/dump-format.md, and the
real Windows triage dumps parsed with them."""
import os
import struct

import pytest

from dmfkd.layouts import dump_format

from helpers.paths import DATA as _DATA

DATA = os.path.join(_DATA, "windows-triage")


def offsets(struct_def):
    out, pos = {}, 0
    for sub in struct_def.subcons:
        out[sub.name] = pos
        pos += sub.sizeof()
    return out


SIZES = [
    (dump_format.DUMP_HEADER64, 0x2000), (dump_format.DUMP_HEADER32, 0x1000),
    (dump_format.PHYSICAL_MEMORY_DESCRIPTOR64, 700), (dump_format.PHYSICAL_MEMORY_DESCRIPTOR32, 700),
    (dump_format.CONTEXT_AMD64, 0x4D0), (dump_format.CONTEXT_X86, 0x2CC),
    (dump_format.EXCEPTION_RECORD64, 0x98), (dump_format.EXCEPTION_RECORD32, 0x50),
    (dump_format.BITMAP_DUMP_HEADER, 0x38), (dump_format.TRIAGE_DUMP64, 0x80), (dump_format.TRIAGE_DUMP32, 0x68),
    (dump_format.TRIAGE_DATA_BLOCK64, 16), (dump_format.TRIAGE_DATA_BLOCK32, 12),
    (dump_format.DUMP_BLOB_FILE_HEADER, 16), (dump_format.DUMP_BLOB_HEADER, 32),
]


@pytest.mark.parametrize("struct_def,size", SIZES)
def test_sizes(struct_def, size):
    assert struct_def.sizeof() == size


# spec/dump-format.md §1.1 table
HEADER64 = {
    "Signature": 0x0, "ValidDump": 0x4, "MajorVersion": 0x8, "MinorVersion": 0xC,
    "DirectoryTableBase": 0x10, "PfnDataBase": 0x18, "PsLoadedModuleList": 0x20,
    "PsActiveProcessHead": 0x28, "MachineImageType": 0x30, "NumberProcessors": 0x34,
    "BugCheckCode": 0x38, "BugCheckParameter1": 0x40, "BugCheckParameter4": 0x58,
    "VersionUser": 0x60, "KdDebuggerDataBlock": 0x80, "PhysicalMemoryBlock": 0x88,
    "ContextRecord": 0x348, "Exception": 0xF00, "DumpType": 0xF98, "RequiredDumpSpace": 0xFA0,
    "SystemTime": 0xFA8, "Comment": 0xFB0, "SystemUpTime": 0x1030, "MiniDumpFields": 0x1038,
    "SecondaryDataState": 0x103C, "ProductType": 0x1040, "SuiteMask": 0x1044, "WriterStatus": 0x1048,
    "Unused1": 0x104C, "KdSecondaryVersion": 0x104D, "Unused": 0x104E, "Attributes": 0x1050,
    "BootId": 0x1054, "_reserved0": 0x1058,
}

# §1.2
HEADER32 = {
    "Signature": 0x0, "ValidDump": 0x4, "MajorVersion": 0x8, "MinorVersion": 0xC,
    "DirectoryTableBase": 0x10, "PfnDataBase": 0x14, "PsLoadedModuleList": 0x18,
    "PsActiveProcessHead": 0x1C, "MachineImageType": 0x20, "NumberProcessors": 0x24,
    "BugCheckCode": 0x28, "BugCheckParameter1": 0x2C, "BugCheckParameter4": 0x38,
    "VersionUser": 0x3C, "PaeEnabled": 0x5C, "KdSecondaryVersion": 0x5D, "KdDebuggerDataBlock": 0x60,
    "PhysicalMemoryBlock": 0x64, "ContextRecord": 0x320, "Exception": 0x7D0, "Comment": 0x820,
    "Attributes": 0x8A0, "BootId": 0x8A4, "_reserved0": 0x8A8, "DumpType": 0xF88,
    "MiniDumpFields": 0xF8C, "SecondaryDataState": 0xF90, "ProductType": 0xF94, "SuiteMask": 0xF98,
    "WriterStatus": 0xF9C, "RequiredDumpSpace": 0xFA0, "SystemUpTime": 0xFB8, "SystemTime": 0xFC0,
    "_reserved3": 0xFC8,
}

# §1.5
CONTEXT = {"ContextFlags": 0x30, "MxCsr": 0x34, "SegCs": 0x38, "SegSs": 0x42, "EFlags": 0x44,
           "Dr0": 0x48, "Dr7": 0x70, "Rax": 0x78, "Rcx": 0x80, "Rdx": 0x88, "Rbx": 0x90, "Rsp": 0x98,
           "Rbp": 0xA0, "Rsi": 0xA8, "Rdi": 0xB0, "R8": 0xB8, "R15": 0xF0, "Rip": 0xF8,
           "FltSave_ControlWord": 0x100, "FltSave_MxCsr": 0x118, "VectorRegister": 0x300,
           "VectorControl": 0x4A0, "DebugControl": 0x4A8, "LastBranchToRip": 0x4B0,
           "LastExceptionFromRip": 0x4C8}

EXCEPTION64 = {"ExceptionCode": 0, "ExceptionFlags": 4, "ExceptionRecord": 8, "ExceptionAddress": 0x10,
               "NumberParameters": 0x18, "ExceptionInformation": 0x20}

# §2.2
BITMAP = {"Signature": 0, "ValidDump": 4, "DumpOptions": 8, "FirstPage": 0x20,
          "TotalPresentPages": 0x28, "Pages": 0x30}

# §2.5 table
TRIAGE64 = {"ServicePackBuild": 0, "SizeOfDump": 4, "ValidOffset": 8, "ContextOffset": 0xC,
            "ExceptionOffset": 0x10, "MmOffset": 0x14, "UnloadedDriversOffset": 0x18,
            "PrcbOffset": 0x1C, "ProcessOffset": 0x20, "ThreadOffset": 0x24, "CallStackOffset": 0x28,
            "SizeOfCallStack": 0x2C, "DriverListOffset": 0x30, "DriverCount": 0x34,
            "StringPoolOffset": 0x38, "StringPoolSize": 0x3C, "BrokenDriverOffset": 0x40,
            "TriageOptions": 0x44, "TopOfStack": 0x48, "ArchitectureSpecific": 0x50,
            "DataPageAddress": 0x60, "DataPageOffset": 0x68, "DataPageSize": 0x6C,
            "DebuggerDataOffset": 0x70, "DebuggerDataSize": 0x74, "DataBlocksOffset": 0x78,
            "DataBlocksCount": 0x7C}

# rizin dmp_specs.h dmp32_triage: 26 consecutive u32
TRIAGE32 = {"SizeOfDump": 4, "BrokenDriverOffset": 0x40, "TriageOptions": 0x44, "TopOfStack": 0x48,
            "DataPageAddress": 0x4C, "DataPageOffset": 0x50, "DataPageSize": 0x54,
            "DebuggerDataOffset": 0x58, "DebuggerDataSize": 0x5C, "DataBlocksOffset": 0x60,
            "DataBlocksCount": 0x64}

# §3.1
BLOB = {"HeaderSize": 0, "Tag": 4, "DataSize": 0x14, "PrePad": 0x18, "PostPad": 0x1C}


@pytest.mark.parametrize("struct_def,table", [
    (dump_format.DUMP_HEADER64, HEADER64), (dump_format.DUMP_HEADER32, HEADER32), (dump_format.CONTEXT_AMD64, CONTEXT),
    (dump_format.EXCEPTION_RECORD64, EXCEPTION64), (dump_format.BITMAP_DUMP_HEADER, BITMAP), (dump_format.TRIAGE_DUMP64, TRIAGE64),
    (dump_format.TRIAGE_DUMP32, TRIAGE32), (dump_format.DUMP_BLOB_HEADER, BLOB),
])
def test_offsets(struct_def, table):
    got = offsets(struct_def)
    assert {name: got[name] for name in table} == table


def test_run_list_fits_the_700_byte_buffer():
    assert dump_format.MAX_RUNS64 == 42
    pmd = offsets(dump_format.PHYSICAL_MEMORY_DESCRIPTOR64)
    assert (pmd["NumberOfRuns"], pmd["NumberOfPages"], pmd["Run"]) == (0, 8, 0x10)
    pmd32 = offsets(dump_format.PHYSICAL_MEMORY_DESCRIPTOR32)
    assert (pmd32["NumberOfPages"], pmd32["Run"]) == (4, 8)


@pytest.mark.parametrize("struct_def,valid", [(dump_format.DUMP_HEADER64, b"DU64"), (dump_format.DUMP_HEADER32, b"DUMP")])
def test_unset_fields_build_as_page_fill(struct_def, valid):
    raw = struct_def.build({})
    assert raw[:8] == b"PAGE" + valid
    assert raw[8:] == b"PAGE" * ((len(raw) - 8) // 4)


def test_set_fields_land_at_spec_offsets():
    raw = dump_format.DUMP_HEADER64.build(dict(MinorVersion=19041, DumpType=5, RequiredDumpSpace=0x1234,
                                     PhysicalMemoryBlock=dict(NumberOfRuns=2, NumberOfPages=10)))
    assert struct.unpack_from("<I", raw, 0xC)[0] == 19041
    assert struct.unpack_from("<I", raw, 0xF98)[0] == 5
    assert struct.unpack_from("<Q", raw, 0xFA0)[0] == 0x1234
    assert struct.unpack_from("<IIQ", raw, 0x88) == (2, dump_format.PAGE_U32, 10)
    assert raw[0x98:0xA8] == b"PAGE" * 4          # unused run slots stay PAGE


@pytest.mark.parametrize("name,build,bugcheck,machine,kdbg_size", [
    ("triage_x64.dmp", 19041, 0x1000007E, 0x8664, 0x380),
    ("triage_arm64.dmp", 22000, 0x1C8, 0xAA64, 0x380),
])
def test_real_triage_headers(name, build, bugcheck, machine, kdbg_size):
    with open(os.path.join(DATA, name), "rb") as f:
        raw = f.read(0x2080)
    header = dump_format.DUMP_HEADER64.parse(raw)
    assert header.Signature + header.ValidDump == b"PAGEDU64"
    assert (header.MajorVersion, header.MinorVersion) == (0xF, build)
    assert header.BugCheckCode == bugcheck and header.MachineImageType == machine
    assert header.DumpType == dump_format.DumpType.TRIAGE
    assert header.PhysicalMemoryBlock.NumberOfRuns == dump_format.PAGE_U32
    assert header.Exception.ExceptionCode == dump_format.STATUS_BREAKPOINT
    assert header.Exception.ExceptionFlags == dump_format.EXCEPTION_NONCONTINUABLE
    triage = dump_format.TRIAGE_DUMP64.parse(raw[0x2000:])
    assert triage.ValidOffset == triage.SizeOfDump - 4
    assert (triage.ContextOffset, triage.ExceptionOffset) == (0x348, 0xF00)
    assert triage.DebuggerDataSize == kdbg_size
    if machine == 0x8664:
        context = dump_format.CONTEXT_AMD64.parse(header.ContextRecord)
        assert context.MxCsr == context.FltSave_MxCsr == 0x1F80
        assert context.ContextFlags == 0x10001F
