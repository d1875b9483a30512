"""The symbol path dmfkd takes inside WinDbg, for real: the emulated driver gets a real PE image and
PDB (dmfemu.pdb, clang-cl + lld-link), Microsoft's dbgeng loads that PDB for `dmfdemo` from the
symbol path (no ISF anywhere), and

- dbgeng's `x` / `dt` / `?? sizeof` agree with the ISF (symbol RVAs, every type's member offsets and
  size) - i.e. with dmfkd.layouts.dmf, which the ISF and the C source are generated from;
- the real pykd's getOffset / typeInfo / typedVar resolve them;
- `python -m dmfkd --pykd-dump DUMP datasources`, `crashdump --guid G [--type dmfdemo!DMFDEMO_EVENT]`,
  `crashdump --all`, `modules` (DMF objects read with the PDB's DMF_OBJECT type) and `bugcheck`
  through the real pykd (symbols from the PDB only) give the same rows as the CLI reading the file
  with the ISF, and as the CLI reading the file with only the PDB, found in a symbol store by
  `--symbols STORE` (dmfkd's own PDB reader: offline with the PDB = WinDbg with the PDB) - the
  crashdump summary too, whose DMF version only the ISF knows; without the PDB on the symbol path the
  same pykd run finds no DMF data (the control).

Skips with one line when clang/lld (apt-get install clang-14 lld-14), Wine or a download is missing.
Built images and PDBs live in the oracle cache (``pdb/``), never in the repository.
"""
import contextlib
import io
import json
import os
import re
import shutil

import pytest

from dmfkd import cli

from helpers.symbol_servers import store_pdb
from oracle import env

pytestmark = pytest.mark.oracle

# (arch, dump type, DMF version): HEAD layouts, and DMF 1.0 (V1 context, flat config, the <=1.1.80
# DMF_OBJECT) whose PDB type dmfkd then reads DMF objects with (ObjectLayout.from_symbols)
DEMOS = [("x64", "full", "1.1.154"), ("x64", "bitmap", "1.1.154"), ("x86", "full", "1.1.154"), ("x64", "full", "1.0"),
         ("arm64", "full", "1.1.154")]
IDS = ["-".join(k) for k in DEMOS]
SELF_GUID = "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70"
_DT_LINE = re.compile(r"^\s*\+0x([0-9a-f]+)\s+(\w+)\s+:")
# x64: "unsigned int64 0x3d0"; x86: "unsigned int 0x218", and small values in decimal ("unsigned int 8")
_SIZEOF = re.compile(r"unsigned int(?:64)? (0x[0-9a-f]+|\d+)\b")


def _sign_extend(arch, va):
    return va | 0xFFFFFFFF00000000 if arch == "x86" and va & 0x80000000 else va


def _demo(directory, arch, dump_type, version, native_image=None):
    """What `dmfemu demo -o directory` writes, with the driver's native image when one is given."""
    from dmfemu.native_image import NativeImage
    from dmfemu.scenarios.crashdump_demo import demo_scenario
    from dmfemu.scenarios.crashdump_replay import run_scenario

    run_scenario(demo_scenario(arch, version, dump_type), directory,
                 native_image=NativeImage.load(native_image) if native_image else None)
    with open(os.path.join(directory, "driver.isf.json")) as handle:
        return json.load(handle)


class PdbDemo(object):
    """One emulator dump whose driver has a native image; the dump alone in `bare` (no ISF beside
    it), the PDB alone in `symbols`."""

    def __init__(self, arch, dump_type, version, isf, build, dump, isf_path, symbols, plain_dump, store):
        self.arch, self.dump_type, self.version = arch, dump_type, version
        self.store = store             # the PDB alone in a symbol store (symstore layout)
        self.plain_dump = plain_dump   # the same scenario without the native image (no RSDS in memory)
        self.isf, self.build, self.dump, self.isf_path, self.symbols = isf, build, dump, isf_path, symbols
        self.base = isf["metadata"]["dmfkd"]["image_base"]

    def va(self, name):
        return _sign_extend(self.arch, self.base + self.isf["symbols"][name]["address"])


@contextlib.contextmanager
def _symbol_path(folder):
    """Point the oracle's Wine processes (_NT_SYMBOL_PATH, and pykd.setSymbolPath in the real-pykd
    bootstrap) at `folder` instead of the empty one."""
    original = env.symbol_dir
    env.symbol_dir = lambda: folder
    try:
        yield
    finally:
        env.symbol_dir = original


@pytest.fixture(scope="module")
def pdb_demos(oracle_tmp, dbgeng_oracle, real_pykd):
    from dmfemu import native_build

    try:
        native_build.find_tools()
    except native_build.ToolsMissing as exc:
        pytest.skip("oracle: %s" % exc)
    out = {}
    for arch, dump_type, version in DEMOS:
        name = "pdb-%s-%s-%s" % (arch, dump_type, version)
        plain = os.path.join(str(oracle_tmp), name + "-plain")
        isf = _demo(plain, arch, dump_type, version)
        with env.cache_lock():
            build = native_build.build(isf, os.path.join(env.cache_dir(), "pdb"))
        native = os.path.join(str(oracle_tmp), name + "-native")
        native_isf = _demo(native, arch, dump_type, version, native_image=build.image)
        # the native image changes nothing the ISF describes (same RVAs, same types)
        assert native_isf["symbols"] == isf["symbols"] and native_isf["user_types"] == isf["user_types"]
        bare = os.path.join(str(oracle_tmp), name + "-bare")
        symbols = os.path.join(str(oracle_tmp), name + "-symbols")
        for folder in (bare, symbols):
            shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(folder)
        shutil.copy(os.path.join(native, "MEMORY.DMP"), bare)
        shutil.copy(build.pdb, symbols)
        # the same PDB in a symbol store (symstore layout), for dmfkd's own --symbols
        store = os.path.join(str(oracle_tmp), name + "-store")
        shutil.rmtree(store, ignore_errors=True)
        store_pdb(store, build.pdb)
        out[(arch, dump_type, version)] = PdbDemo(arch, dump_type, version, native_isf, build, os.path.join(bare, "MEMORY.DMP"),
                                         os.path.join(native, "driver.isf.json"), symbols,
                                                   os.path.join(plain, "MEMORY.DMP"), store)
    return out


@pytest.fixture(scope="module")
def dbgeng_answers(pdb_demos, dbgeng_oracle):
    answers = {}
    for key, demo in pdb_demos.items():
        types = sorted(demo.isf["user_types"])
        # symbols load lazily: `lm` says "(deferred)" until something asked for one
        commands = (["x dmfdemo!*", "lm m dmfdemo", "!lmi dmfdemo"] + ["dt dmfdemo!%s" % t for t in types]
                    + ["?? sizeof(dmfdemo!%s)" % t for t in types])
        with _symbol_path(demo.symbols):
            answers[key], answers[key + ("plain",)] = dbgeng_oracle.query([
                dbgeng_oracle.DumpQuery(demo.dump, tags=False, commands=commands),
                dbgeng_oracle.DumpQuery(demo.plain_dump, tags=False, commands=["x dmfdemo!*", "lm m dmfdemo"])])
    return answers


@pytest.mark.parametrize("kind", DEMOS, ids=IDS)
def test_dbgeng_loads_the_pdb_and_finds_every_symbol_at_its_isf_rva(pdb_demos, dbgeng_answers, kind):
    demo, answer = pdb_demos[kind], dbgeng_answers[kind]
    assert answer.opened, answer.open_text
    lm = answer.command_text("lm m dmfdemo")
    # an exact match: no "M" (mismatched) flag - the image's RSDS record names this PDB's GUID/age
    assert re.search(r"dmfdemo\s+\(private pdb symbols\)\s+\S*dmfdemo\.pdb", lm), lm
    # the control: without the native headers dbgeng 10.0.15063 still loads dmfdemo.pdb by the
    # module's name, but flags it mismatched
    plain = dbgeng_answers[kind + ("plain",)].command_text("lm m dmfdemo")
    assert re.search(r"dmfdemo\s+M\s+\(private pdb symbols\)", plain), plain
    found = {}
    for line in answer.command_text("x dmfdemo!*").splitlines():
        match = re.match(r"^([0-9a-f`]+)\s+dmfdemo!(\w+)", line)
        if match:
            found[match.group(2)] = int(match.group(1).replace("`", ""), 16)
    # `x` prints 32-bit targets' addresses with 8 digits (not sign-extended)
    width = 0xFFFFFFFF if demo.arch == "x86" else (1 << 64) - 1
    assert found == {name: demo.va(name) & width for name in demo.isf["symbols"]}


_LMI = re.compile(r"Time Stamp: ([0-9a-f]+) .*Size: ([0-9a-f]+)\s+CheckSum: ([0-9a-f]+).*"
                  r"RSDS - GUID: \{([0-9A-F-]+)\}\s+Age: (\d+), Pdb: (\S+)", re.S)


@pytest.mark.parametrize("kind", DEMOS, ids=IDS)
def test_dmfkd_lm_gives_the_codeview_record_dbgeng_gives(pdb_demos, dbgeng_answers, kind):
    """dbgeng's `!lmi dmfdemo` and `dmfkd lm DUMP --symbols STORE`: time stamp, size, checksum, PDB GUID, age
    and name; dbgeng loaded the PDB as matching (no M flag), dmfkd found it matched in the store."""
    demo, answer = pdb_demos[kind], dbgeng_answers[kind]
    lmi = _LMI.search(answer.command_text("!lmi dmfdemo"))
    assert lmi, answer.command_text("!lmi dmfdemo")
    code, out, err = _run_cli(["lm", demo.dump, "--symbols", demo.store, "--format", "json"])
    assert code == 0 and err == ""
    row = [r for r in json.loads(out) if r["name"] == "dmfdemo"][0]
    assert (row["time_date_stamp"], row["size"], row["checksum"]) == tuple(int(lmi.group(i), 16) for i in (1, 2, 3))
    assert (row["pdb_guid"].upper(), row["pdb_age"], row["pdb_name"]) == (lmi.group(4), int(lmi.group(5)), lmi.group(6))
    assert row["symbol_status"] == "matched" and row["base"] == demo.base
    assert re.search(r"dmfdemo\s+\(private pdb symbols\)", answer.command_text("lm m dmfdemo"))


@pytest.mark.parametrize("kind", DEMOS, ids=IDS)
def test_dbgeng_type_layouts_equal_the_isf(pdb_demos, dbgeng_answers, kind):
    demo, answer = pdb_demos[kind], dbgeng_answers[kind]
    problems = []
    for name, user in sorted(demo.isf["user_types"].items()):
        members = {}
        for line in answer.command_text("dt dmfdemo!%s" % name).splitlines():
            match = _DT_LINE.match(line)
            if match:
                members[match.group(2)] = int(match.group(1), 16)
        expected = {field: spec["offset"] for field, spec in user["fields"].items()}
        if members != expected:
            problems.append("%s: dbgeng %s, ISF %s" % (name, sorted(members.items()), sorted(expected.items())))
        size = _SIZEOF.search(answer.command_text("?? sizeof(dmfdemo!%s)" % name))
        if size is None or int(size.group(1), 0) != user["size"]:
            problems.append("%s: sizeof %s, ISF %d" % (name, size and size.group(0), user["size"]))
    assert not problems, "\n".join(problems)


PYKD_SYMBOLS_SCRIPT = r'''
import json, sys
import pykd
pykd.loadDump(sys.argv[1])
out = {"crashdump": pykd.getOffset("dmfdemo!g_DmfModuleCrashDump"),
       "type_info": pykd.getOffset("dmfdemo!_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO")}
types = {}
for name in json.loads(sys.argv[2]):
    info = pykd.typeInfo("dmfdemo!" + name)
    types[name] = {"size": info.size(), "fields": {f: info.fieldOffset(f) for f, _ in info.fields()}}
out["types"] = types
var = pykd.typedVar("dmfdemo!_WDF_OBJECT_CONTEXT_TYPE_INFO", out["type_info"])
out["context_size"] = int(var.ContextSize)
out["unique_type"] = int(var.UniqueType)
out["handle"] = int(pykd.typedVar("dmfdemo!g_DmfModuleCrashDump"))
try:
    pykd.getOffset("dmfdemo!NoSuchSymbol")
    out["missing"] = None
except pykd.DbgException as exc:
    out["missing"] = type(exc).__name__
print("@@PDB@@" + json.dumps(out))
'''


@pytest.mark.parametrize("kind", [DEMOS[0], DEMOS[2], DEMOS[3], DEMOS[4]], ids=[IDS[0], IDS[2], IDS[3], IDS[4]])
def test_real_pykd_resolves_symbols_and_types_from_the_pdb(pdb_demos, real_pykd, kind):
    demo = pdb_demos[kind]
    types = sorted(demo.isf["user_types"])
    with _symbol_path(demo.symbols):
        run = real_pykd.run_script(PYKD_SYMBOLS_SCRIPT, [demo.dump, json.dumps(types)], name="pdb-symbols")
    marker = run.stdout.rfind("@@PDB@@")
    assert marker >= 0, run.stderr
    got = json.loads(run.stdout[marker + len("@@PDB@@"):])
    assert got["crashdump"] == demo.va("g_DmfModuleCrashDump")
    assert got["type_info"] == demo.va("_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO")
    for name in types:
        user = demo.isf["user_types"][name]
        assert got["types"][name] == {"size": user["size"],
                                      "fields": {f: s["offset"] for f, s in user["fields"].items()}}, name
    # typedVar over the dump's memory: the CrashDump context's WDF type info points at itself and
    # names the context size of the DMF version's layout (spec/dmf.md §2.4)
    from dmfkd.layouts import dmf_structures
    from dmfkd.layouts import dmf_versions

    label = dmf_structures.crashdump_context_label_for_dmf(dmf_versions.parse_dmf_version(demo.isf["metadata"]["dmfkd"]["dmf_version"]))
    assert got["context_size"] == dmf_structures.crashdump_context(demo.arch, label).size
    assert got["unique_type"] == got["type_info"]
    assert got["handle"] != 0
    assert got["missing"] == "SymbolException" or got["missing"] == "DbgException"


def _run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def _invocations(demo):
    calls = [["datasources", "--format", "json"],
             ["crashdump", "--guid", SELF_GUID, "--type", "dmfdemo!DMFDEMO_EVENT", "--format", "json"],
             # the DMF object tree read with the PDB's DMF_OBJECT type; every blob; the crash
             ["modules", "--format", "json"], ["crashdump", "--all", "--format", "json"],
             ["bugcheck", "--format", "json"],
             # the summary names the DMF version only the ISF's metadata has: compared with --symbols only
             ["crashdump", "--format", "json"]]
    code, out, _ = _run_cli(["datasources", demo.dump, "--isf", demo.isf_path, "--format", "json"])
    assert code == 0
    for row in json.loads(out)[1:]:
        if row.get("guid"):
            calls.append(["crashdump", "--guid", row["guid"], "--format", "json"])
    return calls


@pytest.mark.parametrize("kind", DEMOS, ids=IDS)
def test_datasources_and_crashdump_through_real_pykd_with_only_the_pdb(pdb_demos, real_pykd, kind):
    demo = pdb_demos[kind]
    calls = _invocations(demo)
    assert not os.path.exists(os.path.join(os.path.dirname(demo.dump), "driver.isf.json"))
    with _symbol_path(demo.symbols):
        runs = real_pykd.run_dmfkd_batch([["--pykd-dump", demo.dump] + argv for argv in calls])
    problems = []
    for argv, run in zip(calls, runs):
        label = " ".join(argv[:3])
        sources = [("CLI+PDB from the store", ["--symbols", demo.store])]
        if argv != ["crashdump", "--format", "json"]:
            sources.append(("CLI+ISF", ["--isf", demo.isf_path]))
        for source, options in sources:
            code, out, err = _run_cli(argv[:1] + [demo.dump] + options + argv[1:])
            if code != 0 or run.returncode != 0:
                problems.append("%s: exit %d through %s (%s), %d through pykd (%s)"
                                % (label, code, source, err.strip(), run.returncode, run.stderr.strip()[-300:]))
                continue
            if options[0] == "--symbols" and err:
                problems.append("%s: %s said %r" % (label, source, err))
            if json.loads(run.stdout) != json.loads(out):
                problems.append("%s: pykd+PDB %s\n  %s %s" % (label, run.stdout[:600], source, out[:600]))
    assert not problems, "\n".join(problems)
    rows = json.loads(runs[0].stdout)
    assert [r["role"] for r in rows][:1] == ["SELF"] and len(rows) >= 3
    decoded = json.loads(runs[1].stdout)["records"]
    assert decoded and all("Sequence" in r and "Message" in r for r in decoded)
    # the summary read through pykd found the CrashDump module through the PDB
    assert json.loads(runs[5].stdout)["crashdump"]["context_version"]


def test_without_the_pdb_pykd_finds_no_dmf_data(pdb_demos, real_pykd):
    """The control: same dump, same pykd, the empty symbol folder -> no g_DmfModuleCrashDump."""
    demo = pdb_demos[DEMOS[0]]
    run = real_pykd.run_dmfkd_batch([["--pykd-dump", demo.dump, "datasources", "--format", "json"]])[0]
    code, out, _ = _run_cli(["datasources", demo.dump, "--isf", demo.isf_path, "--format", "json"])
    assert code == 0
    assert run.returncode != 0 or json.loads(run.stdout or "null") != json.loads(out)
