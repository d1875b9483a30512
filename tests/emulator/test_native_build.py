"""A native image for an emulated driver, without Wine: the C source generated from the ISF and the
clang/lld build (dmfemu.native_build; skipped with one line when clang-14/lld-14 are missing), the
PE/RSDS reader (dmfemu.native_image), Driver(native_image=...) putting the native headers into the
emulated image, and `python -m dmfemu.pdb demo`. dbgeng's and the real pykd's view of the result:
tests/oracle/test_pdb_oracle.py."""
import copy
import json
import os
import re
import shutil
import struct
import subprocess

import pytest

from dmfkd.targets.dumpfile import DumpFile

from dmfemu import driver
from dmfemu import kernel
from dmfemu import native_build
from dmfemu import native_image
from dmfemu import pdb
from dmfemu.isf import build_isf
from dmfemu.machine import Machine
from dmfemu.scenarios.crashdump_demo import demo_scenario
from dmfemu.scenarios.crashdump_replay import ScenarioRun, run_scenario

VERSIONS = [("x64", "1.0"), ("x64", "1.1.85"), ("x64", "1.1.116"), ("x64", "1.1.154"), ("x86", "1.0"),
            ("x86", "1.1.154")]


def _isf(arch="x64", version="1.1.154"):
    run = ScenarioRun(demo_scenario(arch, version))
    for op in demo_scenario(arch, version)["operations"]:
        run.run(op)
    return build_isf(run.driver)


def _tiny_isf(fields, size, symbols=None):
    return {
        "metadata": {"dmfkd": {"module": "tiny", "arch": "x64", "dmf_version": "1.1.154", "image_base": 0}},
        "base_types": {"unsigned char": {"kind": "char", "size": 1, "signed": False, "endian": "little"},
                       "unsigned long": {"kind": "int", "size": 4, "signed": False, "endian": "little"},
                       "unsigned long long": {"kind": "int", "size": 8, "signed": False, "endian": "little"},
                       "pointer": {"kind": "int", "size": 8, "signed": False, "endian": "little"},
                       "void": {"kind": "void", "size": 0, "signed": False, "endian": "little"}},
        "user_types": {"T": {"kind": "struct", "size": size, "fields": fields}},
        "enums": {},
        "symbols": symbols if symbols is not None else {"g": {"address": 0x4000, "type": {"kind": "struct",
                                                                                       "name": "T"}}},
    }


def _base(name):
    return {"kind": "base", "name": name}


@pytest.fixture(scope="module")
def tools():
    try:
        return native_build.find_tools()
    except native_build.ToolsMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("native"))


# -- C source ------------------------------------------------------------------------------------

def test_c_source_pins_every_offset_and_size_and_places_symbols_in_order():
    isf = _isf()
    source = native_build.c_source(isf)
    for name, user in isf["user_types"].items():
        assert "_Static_assert(sizeof(struct %s) == %d" % (name, user["size"]) in source
        for field, spec in user["fields"].items():
            assert "__builtin_offsetof(struct %s, %s) == %d," % (name, field, spec["offset"]) in source
    # one ordered section per piece; symbols appear in RVA order
    rvas = [int(m, 16) for m in re.findall(r"/\* RVA 0x([0-9a-f]+),", source)]
    assert rvas == sorted(rvas) and rvas[0] == driver.TEXT_RVA
    sections = re.findall(r"\.(?:text|dmfd)\$p(\d{5})", source)
    assert sections == sorted(sections)
    assert "void *g_DmfModuleCrashDump;" in source
    assert "struct _WDF_OBJECT_CONTEXT_TYPE_INFO _WDF_DMF_CONTEXT_CrashDump_TYPE_INFO;" in source


def test_gaps_the_alignment_does_not_explain_get_a_filler():
    isf = _tiny_isf({"A": {"offset": 0, "type": _base("unsigned char")},
                     "B": {"offset": 8, "type": _base("unsigned long")},        # alignment says 4
                     "C": {"offset": 16, "type": _base("unsigned long long")}}, 32)  # natural end: 24
    source = native_build.c_source(isf)
    assert "unsigned char _Filler_0x1[7];" in source
    assert "unsigned char _Filler_0x18[8];" in source
    natural = _tiny_isf({"A": {"offset": 0, "type": _base("unsigned char")},
                         "B": {"offset": 4, "type": _base("unsigned long")}}, 8)
    assert "_Filler" not in native_build.c_source(natural)


@pytest.mark.parametrize("change, message", [
    (lambda isf: isf["user_types"]["T"]["fields"].update(B={"offset": 2, "type": _base("unsigned long")}),
     "overlaps"),
    (lambda isf: isf["user_types"]["T"]["fields"].update({"not a name": {"offset": 8, "type": _base("unsigned char")}}),
     "not a C identifier"),
    (lambda isf: isf["symbols"].update(f={"address": 0x5000, "type": {"kind": "function"}}), "after data"),
    (lambda isf: isf["symbols"].update(h={"address": 0x4002}), "overlaps the previous"),
    (lambda isf: isf["symbols"].update(h={"address": 0x10000}), "past the image"),
    (lambda isf: isf["user_types"]["T"]["fields"].update(B={"offset": 4, "type": {"kind": "enum"}}), "not supported"),
])
def test_isf_the_c_compiler_cannot_reproduce_is_refused(change, message):
    isf = _tiny_isf({"A": {"offset": 0, "type": _base("unsigned long")}}, 8)
    change(isf)
    with pytest.raises(native_image.NativeBuildError, match=message):
        native_build.c_source(isf)


def test_map_publics_parses_lld_maps_and_undecorates_x86():
    text = """ Address         Publics by Value              Rva+Base               Lib:Object

 0001:00000000       _Routine1                  10001000     t.obj
 0001:00003000       _g_DmfModuleCrashDump      10004000     t.obj

 entry point at         0001:00000000
 0001:00000040       _After                     10001040     t.obj
"""
    assert native_build.map_publics(text, 0x10000000, "x86") == {"Routine1": 0x1000, "g_DmfModuleCrashDump": 0x4000}


# -- build (clang + lld) ---------------------------------------------------------------------------

@pytest.mark.parametrize("arch, version", VERSIONS, ids=["%s-%s" % v for v in VERSIONS])
def test_build_puts_every_symbol_at_its_isf_rva_and_the_debug_data_above_the_image(tools, out_dir, arch, version):
    isf = _isf(arch, version)
    build = native_build.build(isf, out_dir, tools)
    assert {name: build.symbols[name] for name in isf["symbols"]} == \
        {name: entry["address"] for name, entry in isf["symbols"].items()}
    image = native_image.NativeImage.load(build.image)
    assert image.arch == arch and image.module == "dmfdemo"
    assert image.codeview is not None and image.codeview.pdb_name == "dmfdemo.pdb" and image.codeview.age >= 1
    text = [s for s in image.sections if s.name == ".text"]
    assert len(text) == 1 and text[0].rva == driver.TEXT_RVA and text[0].rva + text[0].virtual_size == driver.IMAGE_SIZE
    assert all(s.rva >= driver.IMAGE_SIZE for s in image.sections if s.name != ".text")
    assert image.debug_directory[0] >= driver.IMAGE_SIZE
    # the routines' bytes are the emulator's INT3 slots
    first = min(rva for name, rva in build.symbols.items() if isf["symbols"].get(name, {}).get("type", {}).get("kind")
                == "function")
    assert image.read_rva(first, driver.ROUTINE_SLOT) == b"\xcc" * driver.ROUTINE_SLOT
    # the PDB's signature is the one in the image (llvm-pdbutil is an independent reader)
    pdbutil = shutil.which("llvm-pdbutil-14") or shutil.which("llvm-pdbutil")
    if pdbutil:
        info = subprocess.run([pdbutil, "dump", "-summary", build.pdb], stdout=subprocess.PIPE, check=True,
                              timeout=60).stdout.decode()
        guid = re.search(r"GUID:\s*\{([0-9A-F-]+)\}", info).group(1).replace("-", "")
        assert guid == image.codeview.guid


def test_build_is_cached_by_source(tools, out_dir):
    isf = _isf()
    first = native_build.build(isf, out_dir, tools)
    stamp = os.stat(first.pdb).st_mtime_ns
    again = native_build.build(copy.deepcopy(isf), out_dir, tools)
    assert again.pdb == first.pdb and os.stat(again.pdb).st_mtime_ns == stamp
    other = copy.deepcopy(isf)
    other["user_types"]["DMFDEMO_EVENT"]["fields"]["Level"]["type"] = _base("short")
    assert native_build.build(other, out_dir, tools).pdb != first.pdb


def test_missing_tools_are_one_line(monkeypatch):
    monkeypatch.setenv("DMFEMU_CLANG", "no-such-clang-dmfemu")
    with pytest.raises(native_build.ToolsMissing) as info:
        native_build.find_tools()
    assert "\n" not in str(info.value) and "clang-14" in str(info.value)


def test_not_a_pe_is_refused(tmp_path):
    path = tmp_path / "x.sys"
    path.write_bytes(b"MZ" + bytes(0x3A) + struct.pack("<I", 0x40) + b"NOPE" + bytes(64))
    with pytest.raises(native_image.NativeBuildError, match="no PE signature"):
        native_image.NativeImage.load(str(path))
    path.write_bytes(b"ELF")
    with pytest.raises(native_image.NativeBuildError, match="no MZ"):
        native_image.NativeImage.load(str(path))


# -- Driver(native_image=...) -----------------------------------------------------------------------

def test_without_a_native_image_the_driver_is_unchanged():
    machine = Machine("x64")
    drv = driver.Driver(machine)
    assert drv.native_image is None
    assert machine.images["dmfdemo"] == (drv.base, driver.IMAGE_SIZE)


def test_native_image_headers_go_into_the_emulated_image_and_the_dump(tools, out_dir, tmp_path):
    isf = _isf()
    build = native_build.build(isf, out_dir, tools)
    image = native_image.NativeImage.load(build.image)
    expected = run_scenario(demo_scenario("x64", "1.1.154"), str(tmp_path / "demo"), native_image=image)
    with open(str(tmp_path / "demo" / "driver.isf.json")) as handle:
        native_isf = json.load(handle)
    assert native_isf["symbols"] == isf["symbols"]          # the emulator's RVAs did not move
    base = expected["image_base"]
    with DumpFile(str(tmp_path / "demo" / "MEMORY.DMP")) as dump:
        headers = dump.read(base, len(image.headers))
        pe = struct.unpack_from("<I", headers, 0x3C)[0]
        assert struct.unpack_from("<I", headers, pe + 8)[0] == kernel.DRIVER_TIMESTAMP
        assert struct.unpack_from("<II", headers, image.optional + 0x38)[0] == image.size_of_image
        assert struct.unpack_from("<I", headers, image.optional + 0x40)[0] == kernel.DRIVER_CHECKSUM
        # the debug directory and its RSDS record are readable where the headers say
        rva, size = image.debug_directory
        entry = dump.read(base + rva, 28)
        kind, data_size, data_rva = struct.unpack_from("<III", entry, 12)
        assert kind == 2                                    # IMAGE_DEBUG_TYPE_CODEVIEW
        record = dump.read(base + data_rva, data_size)
        assert record[:4] == b"RSDS" and record[24:].rstrip(b"\0") == b"dmfdemo.pdb"
        assert record == image.read_rva(data_rva, data_size)
        # the emulator's own bytes below IMAGE_SIZE stay (a routine's INT3 slot, the global's value)
        crashdump_rva = isf["symbols"]["g_DmfModuleCrashDump"]["address"]
        assert dump.read(base + driver.TEXT_RVA, 4) == b"\xcc" * 4
        assert dump.read_pointer(base + crashdump_rva) != 0


def test_a_native_image_of_another_driver_or_arch_is_refused(tools, out_dir):
    image = native_image.NativeImage.load(native_build.build(_isf(), out_dir, tools).image)
    assert (image.module, image.arch) == ("dmfdemo", "x64")
    for name, arch in (("otherdrv", "x64"), ("dmfdemo", "x86")):
        machine = Machine(arch)
        with pytest.raises(native_image.NativeBuildError, match="not of driver %s" % name) as refused:
            driver.Driver(machine, name=name, native_image=image)
        assert "\n" not in str(refused.value)
        assert name not in machine.images                  # nothing was mapped
    drv = driver.Driver(Machine("x64"), name="DMFDEMO", native_image=image)   # names match case-insensitively
    assert drv.native_image is image


def test_python_m_dmfemu_pdb_demo_writes_the_dump_and_its_symbols(tools, out_dir, tmp_path):
    target = str(tmp_path / "demo")
    assert pdb.main(["demo", "-o", target, "--cache", out_dir]) == 0
    assert sorted(os.listdir(os.path.join(target, "symbols"))) == ["dmfdemo.pdb", "dmfdemo.sys"]
    with open(os.path.join(target, "driver.isf.json")) as handle:
        assert json.load(handle)["symbols"] == _isf()["symbols"]
    assert pdb.main(["demo", "-o", target, "--arch", "x86", "--dump-type", "bitmap"]) == 2
