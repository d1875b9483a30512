"""dmfemu.pdb without Wine: the C source generated from the ISF, the clang/lld build (skipped with
one line when clang-14/lld-14 are missing), the PE/RSDS reader, and the driver hook that puts the
native headers into the emulated image. dbgeng's and the real pykd's view of the result:
tests/oracle/test_pdb_oracle.py."""
import copy
import json
import os
import re
import shutil
import struct
import subprocess

import pytest

from dmfemu import driver as D
from dmfemu import kernel, pdb
from dmfemu.demo import demo_scenario
from dmfemu.isf import build_isf
from dmfemu.machine import Machine
from dmfemu.scenario import ScenarioRun, run_scenario

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
        return pdb.find_tools()
    except pdb.ToolsMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("native"))


# -- C source ------------------------------------------------------------------------------------

def test_c_source_pins_every_offset_and_size_and_places_symbols_in_order():
    isf = _isf()
    source = pdb.c_source(isf)
    for name, user in isf["user_types"].items():
        assert "_Static_assert(sizeof(struct %s) == %d" % (name, user["size"]) in source
        for field, spec in user["fields"].items():
            assert "__builtin_offsetof(struct %s, %s) == %d," % (name, field, spec["offset"]) in source
    # one ordered section per piece; symbols appear in RVA order
    rvas = [int(m, 16) for m in re.findall(r"/\* RVA 0x([0-9a-f]+),", source)]
    assert rvas == sorted(rvas) and rvas[0] == D.TEXT_RVA
    sections = re.findall(r"\.(?:text|dmfd)\$p(\d{5})", source)
    assert sections == sorted(sections)
    assert "void *g_DmfModuleCrashDump;" in source
    assert "struct _WDF_OBJECT_CONTEXT_TYPE_INFO _WDF_DMF_CONTEXT_CrashDump_TYPE_INFO;" in source


def test_gaps_the_alignment_does_not_explain_get_a_filler():
    isf = _tiny_isf({"A": {"offset": 0, "type": _base("unsigned char")},
                     "B": {"offset": 8, "type": _base("unsigned long")},        # alignment says 4
                     "C": {"offset": 16, "type": _base("unsigned long long")}}, 32)  # natural end: 24
    source = pdb.c_source(isf)
    assert "unsigned char _Filler_0x1[7];" in source
    assert "unsigned char _Filler_0x18[8];" in source
    natural = _tiny_isf({"A": {"offset": 0, "type": _base("unsigned char")},
                         "B": {"offset": 4, "type": _base("unsigned long")}}, 8)
    assert "_Filler" not in pdb.c_source(natural)


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
    with pytest.raises(pdb.NativeBuildError, match=message):
        pdb.c_source(isf)


def test_map_publics_parses_lld_maps_and_undecorates_x86():
    text = """ Address         Publics by Value              Rva+Base               Lib:Object

 0001:00000000       _Routine1                  10001000     t.obj
 0001:00003000       _g_DmfModuleCrashDump      10004000     t.obj

 entry point at         0001:00000000
 0001:00000040       _After                     10001040     t.obj
"""
    assert pdb.map_publics(text, 0x10000000, "x86") == {"Routine1": 0x1000, "g_DmfModuleCrashDump": 0x4000}


# -- build (clang + lld) ---------------------------------------------------------------------------

@pytest.mark.parametrize("arch, version", VERSIONS, ids=["%s-%s" % v for v in VERSIONS])
def test_build_puts_every_symbol_at_its_isf_rva_and_the_debug_data_above_the_image(tools, out_dir, arch, version):
    isf = _isf(arch, version)
    build = pdb.build(isf, out_dir, tools)
    assert {name: build.symbols[name] for name in isf["symbols"]} == \
        {name: entry["address"] for name, entry in isf["symbols"].items()}
    image = pdb.NativeImage.load(build.image)
    assert image.arch == arch and image.module == "dmfdemo"
    assert image.codeview is not None and image.codeview.pdb_name == "dmfdemo.pdb" and image.codeview.age >= 1
    text = [s for s in image.sections if s.name == ".text"]
    assert len(text) == 1 and text[0].rva == D.TEXT_RVA and text[0].rva + text[0].virtual_size == D.IMAGE_SIZE
    assert all(s.rva >= D.IMAGE_SIZE for s in image.sections if s.name != ".text")
    assert image.debug_directory[0] >= D.IMAGE_SIZE
    # the routines' bytes are the emulator's INT3 slots
    first = min(rva for name, rva in build.symbols.items() if isf["symbols"].get(name, {}).get("type", {}).get("kind")
                == "function")
    assert image.read_rva(first, D.ROUTINE_SLOT) == b"\xcc" * D.ROUTINE_SLOT
    # the PDB's signature is the one in the image (llvm-pdbutil is an independent reader)
    pdbutil = shutil.which("llvm-pdbutil-14") or shutil.which("llvm-pdbutil")
    if pdbutil:
        info = subprocess.run([pdbutil, "dump", "-summary", build.pdb], stdout=subprocess.PIPE, check=True,
                              timeout=60).stdout.decode()
        guid = re.search(r"GUID:\s*\{([0-9A-F-]+)\}", info).group(1).replace("-", "")
        assert guid == image.codeview.guid


def test_build_is_cached_by_source(tools, out_dir):
    isf = _isf()
    first = pdb.build(isf, out_dir, tools)
    stamp = os.stat(first.pdb).st_mtime_ns
    again = pdb.build(copy.deepcopy(isf), out_dir, tools)
    assert again.pdb == first.pdb and os.stat(again.pdb).st_mtime_ns == stamp
    other = copy.deepcopy(isf)
    other["user_types"]["DMFDEMO_EVENT"]["fields"]["Level"]["type"] = _base("short")
    assert pdb.build(other, out_dir, tools).pdb != first.pdb


def test_missing_tools_are_one_line(monkeypatch):
    monkeypatch.setenv("DMFEMU_CLANG", "no-such-clang-dmfemu")
    with pytest.raises(pdb.ToolsMissing) as info:
        pdb.find_tools()
    assert "\n" not in str(info.value) and "clang-14" in str(info.value)


def test_not_a_pe_is_refused(tmp_path):
    path = tmp_path / "x.sys"
    path.write_bytes(b"MZ" + bytes(0x3A) + struct.pack("<I", 0x40) + b"NOPE" + bytes(64))
    with pytest.raises(pdb.NativeBuildError, match="no PE signature"):
        pdb.NativeImage.load(str(path))
    path.write_bytes(b"ELF")
    with pytest.raises(pdb.NativeBuildError, match="no MZ"):
        pdb.NativeImage.load(str(path))


# -- the driver hook -------------------------------------------------------------------------------

def test_without_a_native_image_the_driver_is_unchanged(monkeypatch):
    monkeypatch.delenv(pdb.NATIVE_IMAGE_ENV, raising=False)
    machine = Machine("x64")
    drv = D.Driver(machine)
    assert drv.native_image is None
    assert machine.images["dmfdemo"] == (drv.base, D.IMAGE_SIZE)


def test_native_image_headers_go_into_the_emulated_image_and_the_dump(tools, out_dir, tmp_path, monkeypatch):
    from dmfkd.targets.dumpfile import DumpFile

    isf = _isf()
    build = pdb.build(isf, out_dir, tools)
    image = pdb.NativeImage.load(build.image)
    monkeypatch.setenv(pdb.NATIVE_IMAGE_ENV, build.image)
    expected = run_scenario(demo_scenario("x64", "1.1.154"), str(tmp_path / "demo"))
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
        assert kind == pdb.IMAGE_DEBUG_TYPE_CODEVIEW
        record = dump.read(base + data_rva, data_size)
        assert record[:4] == b"RSDS" and record[24:].rstrip(b"\0") == b"dmfdemo.pdb"
        assert record == image.read_rva(data_rva, data_size)
        # the emulator's own bytes below IMAGE_SIZE stay (a routine's INT3 slot, the global's value)
        crashdump_rva = isf["symbols"]["g_DmfModuleCrashDump"]["address"]
        assert dump.read(base + D.TEXT_RVA, 4) == b"\xcc" * 4
        assert dump.read_pointer(base + crashdump_rva) != 0


def test_env_image_of_another_driver_or_arch_is_ignored(tools, out_dir, monkeypatch):
    build = pdb.build(_isf(), out_dir, tools)
    monkeypatch.setenv(pdb.NATIVE_IMAGE_ENV, build.image)
    assert pdb.native_image_for("otherdrv", "x64") is None
    assert pdb.native_image_for("dmfdemo", "x86") is None
    assert pdb.native_image_for("DMFDEMO", "x64").module == "dmfdemo"
    machine = Machine("x64")
    drv = D.Driver(machine, name="otherdrv")
    assert drv.native_image is None and machine.images["otherdrv"][1] == D.IMAGE_SIZE


def test_python_m_dmfemu_pdb_demo_writes_the_dump_and_its_symbols(tools, out_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(pdb.NATIVE_IMAGE_ENV, raising=False)
    target = str(tmp_path / "demo")
    assert pdb.main(["demo", "-o", target, "--cache", out_dir]) == 0
    assert sorted(os.listdir(os.path.join(target, "symbols"))) == ["dmfdemo.pdb", "dmfdemo.sys"]
    with open(os.path.join(target, "driver.isf.json")) as handle:
        assert json.load(handle)["symbols"] == _isf()["symbols"]
    assert pdb.NATIVE_IMAGE_ENV not in os.environ          # the hook's variable does not leak
    assert pdb.main(["demo", "-o", target, "--arch", "x86", "--dump-type", "bitmap"]) == 2
