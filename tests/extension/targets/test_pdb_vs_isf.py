"""The clang-cl/lld-link PDBs dmfemu builds for its driver (dmfemu.pdb; x64, x86 and ARM64, DMF 1.0 and
current) read back the same type layouts and symbol addresses as the ISF written for the same driver
(the ISF and the C source are both generated from dmfkd.layouts, independently of the PDB reader);
and a small C driver compiled here reads back what lld-link's map file and the C source say
(file statics, a function static hidden in its function, bitfields, enums with negative values,
anonymous unions and structs). Skips with one line without clang-14/lld-14."""
import os
import re
import subprocess

import pytest

from dmfkd.targets.isf import IsfSymbols
from dmfkd.targets.pdb import PdbSymbols
from dmfkd.targets.symbols import EnumType, Field

from helpers.pdb_demos import pdb_demo

DEMOS = [("x64", "1.1.154"), ("x86", "1.1.154"), ("arm64", "1.1.154"), ("x64", "1.0"), ("x86", "1.0"), ("arm64", "1.0")]


@pytest.mark.parametrize("arch, version", DEMOS, ids=["-".join(d) for d in DEMOS])
def test_pdb_reads_like_the_isf_of_the_same_driver(tmp_path_factory, arch, version):
    demo = pdb_demo(tmp_path_factory, arch, version)
    isf = IsfSymbols.load(demo.isf_path)
    with PdbSymbols.open(demo.pdb, image_base=isf.image_base) as pdb:
        assert (pdb.arch, pdb.module, pdb.pointer_size) == (arch, "dmfdemo", isf.pointer_size)
        assert len(isf.user_types) > 15
        for name in isf.user_types:
            assert pdb.type_layout(name) == isf.type_layout(name), name
            # the same answer for the spelling WinDbg users type (typedef X for struct _X)
            if name.startswith("_"):
                assert pdb.type_layout(name[1:]) == isf.type_layout(name[1:]), name
        for name in isf.symbols:
            assert pdb.address_of("dmfdemo!" + name) == isf.address_of("dmfdemo!" + name), name
        assert pdb.search("*!g_DmfModuleCrashDump") == isf.search("*!g_DmfModuleCrashDump")
        assert sorted(pdb.search("dmfdemo!g_*")) == sorted(isf.search("dmfdemo!g_*"))


SOURCE = r"""
typedef enum _COLOR { Red, Green = 5, Blue = -2 } COLOR;
typedef struct _THING {
    unsigned long A : 3;
    unsigned long B : 29;
    COLOR C;
    union { int I; short S; };
    struct { char X; } Inner;
    struct _THING *Next;
    unsigned short Name[6];
} THING;
static void *g_DmfModuleCrashDump;
static THING s_Thing;
THING g_Public;
__declspec(dllexport) void *Get(void) { static int s_FunctionStatic; s_FunctionStatic++; s_Thing.A = 1;
                                        return &g_DmfModuleCrashDump; }
"""


@pytest.fixture(scope="module")
def small_driver(tmp_path_factory):
    from dmfemu import native_build

    try:
        clang, lld = native_build.find_tools()
    except native_build.ToolsMissing as exc:
        pytest.skip(str(exc))
    out = {}
    for arch in ("x64", "x86"):
        folder = str(tmp_path_factory.mktemp("small-" + arch))
        with open(os.path.join(folder, "small.c"), "w") as handle:
            handle.write(SOURCE)
        subprocess.run([clang, "--driver-mode=cl", "--target=%s" % native_build.TARGET_TRIPLE[arch], "/nologo", "/c", "/Z7",
                        "/GS-", "/Od", "/Zl", "/clang:-fno-eliminate-unused-debug-types", "small.c", "/Fosmall.obj"],
                       cwd=folder, check=True, timeout=120)
        subprocess.run([lld, "/nologo", "/DLL", "/NODEFAULTLIB", "/NOENTRY", "/DEBUG", "/MACHINE:%s" % arch.upper(),
                        "/PDB:small.pdb", "/MAP:small.map", "/OUT:small.dll", "small.obj"],
                       cwd=folder, check=True, timeout=120)
        out[arch] = folder
    return out


def _map_symbols(text):
    """{name: RVA} of lld-link's map: "Publics by Value" and "Static symbols" (Rva+Base - base)."""
    base = int(re.search(r"Preferred load address is ([0-9a-fA-F]+)", text).group(1), 16)
    found = {}
    for name, address in re.findall(r"^\s*[0-9a-fA-F]{4}:[0-9a-fA-F]{8}\s+(\S+)\s+([0-9a-fA-F]{8,16})\s", text, re.M):
        found[name] = int(address, 16) - base
    return found


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_small_driver_symbols_are_where_the_linker_put_them(small_driver, arch):
    folder = small_driver[arch]
    with open(os.path.join(folder, "small.map")) as handle:
        linker = _map_symbols(handle.read())
    prefix = "_" if arch == "x86" else ""
    with PdbSymbols.open(os.path.join(folder, "small.pdb"), image_base=0x10000000) as pdb:
        for name in ("g_DmfModuleCrashDump", "s_Thing", "g_Public", "Get"):
            assert pdb.rva_of("small!" + name) == linker[prefix + name], name
        # a function's static is not a module-scope name
        assert not pdb.has_symbol("s_FunctionStatic")
        assert pdb.symbol_type_name("g_DmfModuleCrashDump") == "void *"
        assert pdb.symbol_type_name("s_Thing") == "_THING"


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_small_driver_types_are_the_c_sources(small_driver, arch):
    pointer = 8 if arch == "x64" else 4
    with PdbSymbols.open(os.path.join(small_driver[arch], "small.pdb")) as pdb:
        layout = pdb.type_layout("THING")
        assert (layout.name, layout.size) == ("_THING", 16 + pointer + 12 + (4 if arch == "x64" else 0))
        fields = list(layout.fields.values())
        assert fields[:5] == [Field("A", 0, "unsigned long : 3", 4, 0, 3), Field("B", 0, "unsigned long : 29", 4, 3, 29),
                              Field("C", 4, "_COLOR", 4, enum="_COLOR"), Field("I", 8, "int", 4),
                              Field("S", 8, "short", 2)]
        assert (fields[5].name, fields[5].offset, fields[5].size) == ("Inner", 12, 1)
        assert pdb.type_layout(fields[5].type_name).fields == {"X": Field("X", 0, "char", 1)}
        assert fields[6:] == [Field("Next", 16, "_THING *", pointer), Field("Name", 16 + pointer, "unsigned short[6]", 12)]
        assert pdb.enum_type("COLOR") == EnumType("_COLOR", 4, {"Red": 0, "Green": 5, "Blue": -2})
