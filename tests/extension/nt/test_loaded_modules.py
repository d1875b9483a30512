"""nt/loaded_modules.py: the kernel's module list of emulator dumps (PsLoadedModuleList built by
dmfemu.kernel, x64 and x86, full/bitmap/triage), of the real Windows triage dumps (their driver list),
hostile lists (loops, wild pointers, endless lists, bad names), and each module's symbol status
against a symbol path (with the real PE + PDB dmfemu.pdb builds). dbgeng's view of the same lists:
tests/oracle/test_loaded_modules_vs_dbgeng.py."""
import os
import shutil
import struct

import pytest

from dmfemu import driver as emulated_driver
from dmfemu import kernel
from dmfemu.scenarios.crashdump_demo import demo_scenario
from dmfemu.scenarios.crashdump_replay import run_scenario
from dmfkd.errors import MemoryReadError
from dmfkd.layouts import debugger_data
from dmfkd.nt import loaded_modules as lm
from dmfkd.nt import pe
from dmfkd.targets.base import Target
from dmfkd.targets.dumpfile import DumpFile
from dmfkd.targets.symbol_path import SymbolPath

from helpers.paths import DATA, SAMPLE_DUMP, TRIAGE_ARM64, TRIAGE_X64
from helpers.pdb_demos import pdb_demo


@pytest.fixture(scope="module")
def emulator_dumps(tmp_path_factory):
    out = {}
    for arch, dump_type in (("x86", "full"), ("x64", "bitmap"), ("x64", "triage")):
        folder = str(tmp_path_factory.mktemp("%s-%s" % (arch, dump_type)))
        expected = run_scenario(demo_scenario(arch, "1.1.154", dump_type), folder)
        out[(arch, dump_type)] = (os.path.join(folder, "MEMORY.DMP"), expected["image_base"])
    return out


def _check_emulator_modules(rows, base):
    assert [row.name for row in rows] == ["nt", "dmfdemo"]
    nt, driver = rows
    assert (nt.image_name, nt.end - nt.base) == ("ntoskrnl.exe", kernel.KERNEL_IMAGE_SIZE)
    assert (driver.image_name, driver.image_path) == ("dmfdemo.sys", "\\SystemRoot\\system32\\drivers\\dmfdemo.sys")
    assert (driver.base, driver.end) == (base, base + emulated_driver.IMAGE_SIZE)
    assert driver.time_date_stamp == kernel.DRIVER_TIMESTAMP and driver.checksum == kernel.DRIVER_CHECKSUM
    assert driver.symbol_status == lm.NO_CODEVIEW           # no native image: dmfemu's minimal headers


def test_the_sample_dump(triage_x64):
    with DumpFile(SAMPLE_DUMP) as dump:
        rows, warnings = lm.loaded_modules(dump)
        base = [row.base for row in rows if row.name == "dmfdemo"][0]
    assert warnings == []
    _check_emulator_modules(rows, base)
    assert rows[1].image.headers == pe.OK and rows[1].image.codeview_status == pe.NO_CODEVIEW


@pytest.mark.parametrize("kind", [("x86", "full"), ("x64", "bitmap"), ("x64", "triage")], ids="-".join)
def test_emulator_dumps(emulator_dumps, kind):
    path, base = emulator_dumps[kind]
    with DumpFile(path) as dump:
        rows, warnings = lm.loaded_modules(dump)
        assert (dump.triage_drivers() is not None) == (kind[1] == "triage")
    assert warnings == []
    if kind[1] == "triage":
        # the driver list keeps the loader entries' facts; the images' pages are not in the dump
        assert [(row.name, row.base) for row in rows][1] == ("dmfdemo", base)
        assert rows[1].time_date_stamp == kernel.DRIVER_TIMESTAMP and rows[1].symbol_status == lm.NO_CODEVIEW
    else:
        _check_emulator_modules(rows, base)


@pytest.mark.parametrize("path, count", [(TRIAGE_X64, 151), (TRIAGE_ARM64, 245)], ids=["x64", "arm64"])
def test_real_triage_dumps_list_their_drivers(path, count):
    with DumpFile(path) as dump:
        rows, warnings = lm.loaded_modules(dump)
    assert warnings == [] and len(rows) == count
    assert (rows[0].name, rows[0].image_path) == ("nt", "\\SystemRoot\\system32\\ntoskrnl.exe")
    assert rows[1].name == "hal" and rows[2].name == "kd"
    assert all(row.end > row.base for row in rows)
    assert all(row.symbol_status == lm.NO_CODEVIEW for row in rows)      # no debug directory pages in a triage


def test_module_names_are_dbgengs():
    assert lm.module_name("ntkrnlmp.exe") == "nt" and lm.module_name("HAL.dll") == "HAL"
    assert lm.module_name("\\SystemRoot\\System32\\drivers\\Microsoft.Bluetooth.Legacy.LEEnumerator.sys") == \
        "Microsoft_Bluetooth_Legacy_LEEnumerator"


# -- hostile lists ---------------------------------------------------------------------------------

HEAD = 0xFFFFF80000100000
NAMES = 0xFFFFF80000200000


class Header:
    ps_loaded_module_list = HEAD


class Memory(Target):
    """Sparse kernel memory; `endless` makes every address past 0xFFFFF90000000000 a fresh entry
    linking to the next one (a list that never returns to its head)."""

    arch = "x64"
    pointer_size = 8

    def __init__(self, endless=False):
        self.pages = {}
        self.endless = endless
        self.layout = debugger_data.kldr_data_table_entry("x64")

    def dump_header(self):
        return Header()

    def write(self, address, data):
        for index, byte in enumerate(data):
            self.pages[address + index] = byte

    def entry(self, address, flink, base, name=None, name_length=None):
        values = {"InLoadOrderLinks.Flink": flink, "DllBase": base, "SizeOfImage": 0x2000, "TimeDateStamp": 7}
        if name is not None:
            raw = name.encode("utf-16-le")
            buffer = NAMES + (address & 0xFFFF) * 2
            self.write(buffer, raw)
            values.update({"BaseDllName.Length": len(raw) if name_length is None else name_length,
                           "BaseDllName.MaximumLength": len(raw), "BaseDllName.Buffer": buffer})
        self.write(address, self.layout.pack(values))

    def read(self, address, size):
        if self.endless and address >= 0xFFFFF90000000000:
            return self.layout.pack({"InLoadOrderLinks.Flink": address + 0x100, "DllBase": 0})[:size] \
                if address % 0x100 == 0 else bytes(size)
        try:
            return bytes(self.pages[address + i] for i in range(size))
        except KeyError:
            raise MemoryReadError(address, size, reason="not in the dump")


def test_a_list_that_loops_stops_with_a_warning():
    memory = Memory()
    memory.write(HEAD, struct.pack("<QQ", HEAD + 0x1000, 0))
    memory.entry(HEAD + 0x1000, HEAD + 0x2000, 0, "a.sys")
    memory.entry(HEAD + 0x2000, HEAD + 0x1000, 0, "b.sys")
    rows, warnings = lm.loaded_modules(memory)
    assert [row.image_name for row in rows] == ["a.sys", "b.sys"]
    assert warnings == ["the module list loops back to 0x%x after 2 entries; stopped there" % (HEAD + 0x1000)]
    assert rows[0].image.headers == pe.NOT_IN_DUMP and rows[0].symbol_status == lm.NO_CODEVIEW


def test_a_wild_pointer_stops_with_a_warning():
    memory = Memory()
    memory.write(HEAD, struct.pack("<QQ", HEAD + 0x1000, 0))
    memory.entry(HEAD + 0x1000, 0xDEADBEEF00000000, 0x10000, "a.sys")
    rows, warnings = lm.loaded_modules(memory)
    assert len(rows) == 1 and "not in the dump; the list stops after 1 entries" in warnings[0]
    unreadable = Memory()
    rows, warnings = lm.loaded_modules(unreadable)
    assert rows == [] and "PsLoadedModuleList at 0x%x is not in the dump" % HEAD in warnings[0]


def test_an_endless_list_stops_at_the_bound():
    memory = Memory(endless=True)
    memory.write(HEAD, struct.pack("<QQ", 0xFFFFF90000000000, 0))
    rows, warnings = lm.loaded_modules(memory, limit=300)
    assert len(rows) == 300 and warnings == ["the module list has more than 300 entries; stopped there"]


def test_bad_names_are_bounded_and_visible():
    memory = Memory()
    memory.write(HEAD, struct.pack("<QQ", HEAD + 0x1000, 0))
    memory.entry(HEAD + 0x1000, HEAD + 0x2000, 0, "evil\x1b[2J.sys")
    memory.entry(HEAD + 0x2000, HEAD, 0, "x.sys", name_length=0xFFFF)
    rows, warnings = lm.loaded_modules(memory)
    assert warnings == []
    assert rows[0].image_name == "evil?[2J.sys" and rows[1].name == "<unreadable name>"
    assert lm.loaded_modules(Target())[1] == ["the dump header names no PsLoadedModuleList: no module list"]


# -- symbol status ---------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_symbol_status_against_a_symbol_path(tmp_path_factory, tmp_path, arch):
    demo = pdb_demo(tmp_path_factory, arch)
    with DumpFile(demo.dump) as dump:
        rows, _ = lm.loaded_modules(dump, SymbolPath.parse(demo.symbols))
        driver = [row for row in rows if row.name == "dmfdemo"][0]
        assert driver.symbol_status == lm.MATCHED and driver.pdb_path == os.path.join(demo.symbols, "dmfdemo.pdb")
        assert driver.codeview.path == "dmfdemo.pdb" and driver.image.arch == arch
        assert [row.symbol_status for row in rows if row.name == "nt"] == [lm.NO_CODEVIEW]
        # another PDB under the same name: found, but not the one
        wrong = tmp_path / "wrong"
        wrong.mkdir()
        shutil.copy(os.path.join(DATA, "msvc-pdb", "x64", "xcpt4.pdb"), str(wrong / "dmfdemo.pdb"))
        driver = [row for row in lm.loaded_modules(dump, SymbolPath.parse(str(wrong)))[0] if row.name == "dmfdemo"][0]
        assert driver.symbol_status == lm.MISMATCHED and driver.lookup.mismatches[0].path == str(wrong / "dmfdemo.pdb")
        driver = [row for row in lm.loaded_modules(dump, SymbolPath.parse(str(tmp_path / "empty")))[0]
                  if row.name == "dmfdemo"][0]
        assert driver.symbol_status == lm.NOT_FOUND
        driver = [row for row in lm.loaded_modules(dump, SymbolPath.parse(demo.symbols), look_up=["nt"])[0]
                  if row.name == "dmfdemo"][0]
        assert driver.symbol_status == lm.NOT_CHECKED and driver.codeview is not None
