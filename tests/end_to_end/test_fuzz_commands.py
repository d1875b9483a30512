"""Every dmfkd command survives hostile DMF data (ARCHITECTURE.md "Rules of the house").

The engine is scripts/fuzz_commands.py (the long campaign): the emulator's demo dump with its DMF
structures (DMF_OBJECTs, CrashDump context/config, DATA_SOURCEs, RING_BUFFERs and storage, the
g_DmfModuleCrashDump global, the TYPE_INFO), its blobs and its ISF file mutated; each command run
through `dmfkd.cli.main` on the file and through the pykd stand-in attached to it. Accepted: exit 0, or
exit 2 / a DmfkdError with one line "dmfkd: ..."; anything else (another exception, a hang, a call
growing the process by more than 200 MiB) fails. Budgets are small (the suite runs twice in CI); the
campaign script runs the same checks for as long as one likes.

Then one regression test per reader fix, each feeding the minimal input that crashed.
"""
import atexit
import importlib.util
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmfkd.errors import DmfkdError

from helpers.paths import REPO as ROOT
_spec = importlib.util.spec_from_file_location("fuzz_commands", os.path.join(ROOT, "scripts", "fuzz_commands.py"))
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)

#: DMFKD_FUZZ_EXAMPLES=2000 for a longer local run (CI keeps the small default)
EXAMPLES = int(os.environ.get("DMFKD_FUZZ_EXAMPLES", "50"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HANG_SECONDS = 60.0   # a hang guard, not a timing assertion: a healthy call takes milliseconds

_WORKDIR = tempfile.mkdtemp(prefix="dmfkd-fuzz-cmd-")
atexit.register(shutil.rmtree, _WORKDIR, True)
_BASES = {}


def bases():
    if not _BASES:
        for base in F.build_bases(_WORKDIR, F.BASE_CONFIGS):
            _BASES[base.name] = base
    return _BASES


def example_dir() -> str:
    d = os.path.join(_WORKDIR, "example")
    os.makedirs(d, exist_ok=True)
    return d


# -- strategies (data mutations, as scripts/fuzz_commands.py describes them) ----------------------------

@st.composite
def field_mutation(draw, base):
    name = draw(st.sampled_from(base.hot_fields))
    bits = 8 * min(base.field_sizes[name], 8)
    value = draw(st.one_of(st.sampled_from(F.INTERESTING), st.sampled_from(sorted(base.addresses)),
                           st.sampled_from(sorted(base.handles)), st.integers(0, (1 << bits) - 1)))
    return ["field", name, value % (1 << bits)]


@st.composite
def splat_mutation(draw, base):
    name = draw(st.sampled_from(base.region_names))
    total = sum(n for _, n in base.regions[name])
    return ["splat", name, draw(st.integers(0, max(total - 1, 0))), draw(st.binary(min_size=1, max_size=32)).hex()]


@st.composite
def blob_mutation(draw, base):
    blob_fields = [n for n in base.field_names if n.startswith(("Blob[", "DumpBlob."))]
    if draw(st.booleans()):
        name = draw(st.sampled_from(blob_fields))
        return ["field", name, draw(st.sampled_from(F.INTERESTING))]
    payloads = [n for n in base.region_names if n.startswith("Blob[")]
    (offset, size), = base.regions[draw(st.sampled_from(payloads))][:1]
    return ["truncate", draw(st.integers(max(0, offset - 40), offset + size + 8))]


# ISF values the validator of targets/isf.py must refuse or the readers must survive (a dict or list
# where a type name belongs crashed the validator: test_isf_unhashable_type_name)
_ISF_SCALARS = (None, 0, -1, 1, 8, 0x7FFFFFFF, 1 << 64, "x", "", "dmfdemo", "1.1.84", "9.9.9", True, 1.5,
                [], {}, {"kind": "struct"}, ["DMF_OBJECT"])


@st.composite
def isf_mutation(draw, base):
    path = draw(st.sampled_from(base.isf_paths))
    if draw(st.integers(0, 9)) == 0:
        return ["isf_del", path]
    last = path[-1]
    if last == "offset":
        size = base.isf["user_types"][path[1]]["size"]
        value = draw(st.integers(0, size))
    elif last in ("address", "size", "image_base", "count"):
        value = draw(st.one_of(st.sampled_from((0, 8, 0x4000, 0x4008, 0x4028, 1 << 32)), st.integers(0, 1 << 16)))
    elif last == "name":
        value = draw(st.one_of(st.sampled_from(sorted(base.isf["user_types"]) + sorted(base.isf["base_types"]) +
                                               ["NOPE"]), st.sampled_from(_ISF_SCALARS)))
    else:
        value = draw(st.sampled_from(_ISF_SCALARS))
    return ["isf_set", path, value]


def _check(base, mutations, lines, pykd=True):
    dump, isf = F.apply(base, mutations, example_dir())
    try:
        F.run_all(base, dump, isf, lines=lines, pykd=pykd, seconds=HANG_SECONDS, memory="rss")
    except F.Finding as finding:
        pytest.fail("%s\nmutations: %r" % (finding, mutations))


def _lines(draw, base, k):
    lines = F.command_lines(base)
    return [draw(st.sampled_from(lines)) for _ in range(k)]


@SETTINGS
@given(st.data())
def test_commands_survive_mutated_dmf_structures(data):
    base = data.draw(st.sampled_from(sorted(bases().values(), key=lambda b: b.name)), label="base")
    mutations = data.draw(st.lists(st.one_of(field_mutation(base), field_mutation(base), splat_mutation(base)),
                                   min_size=1, max_size=4), label="mutations")
    _check(base, mutations, _lines(data.draw, base, 3))


@settings(SETTINGS, max_examples=max(1, EXAMPLES * 3 // 5))
@given(st.data())
def test_commands_survive_mutated_blobs_and_isf(data):
    base = data.draw(st.sampled_from(sorted(bases().values(), key=lambda b: b.name)), label="base")
    mutations = data.draw(st.lists(st.one_of(blob_mutation(base), isf_mutation(base), field_mutation(base)),
                                   min_size=1, max_size=3), label="mutations")
    _check(base, mutations, _lines(data.draw, base, 3))


def test_every_command_on_the_pristine_dumps_exits_0():
    """The harness itself: unmutated, every command line of every base succeeds both ways."""
    for base in bases().values():
        dump, isf = F.apply(base, [], example_dir())
        # the pykd stand-in path once (x86 bitmap: the least travelled); the CLI on every base
        codes = F.run_all(base, dump, isf, pykd=base.name == "x86-1.1.154-bitmap", seconds=HANG_SECONDS)
        assert set(codes) == {0}, base.name


def test_harness_reports_a_traceback(monkeypatch):
    """A reader raising something other than DmfkdError is a finding, not a pass."""
    import dmfkd.dmf.crashdump_view as cd

    def broken(*a, **k):
        raise ZeroDivisionError("planted")

    base = bases()["x64-1.1.154-full"]
    monkeypatch.setattr(cd, "classify_blobs", broken)
    dump, isf = F.apply(base, [], example_dir())
    with pytest.raises(F.Finding) as info:
        F.run_cli(["crashdump", dump])
    assert info.value.key.startswith("ZeroDivisionError")


# -- the hostile values the brief names, every one on every command (deterministic) -------------------

def _named_cases(base):
    ring = "Ring[1].context."
    obj = "CrashDump.object."
    cases = {
        "DataSourceCount huge": [["field", "CrashDump.context.DataSourceCount", 0xFFFFFFFF]],
        "DataSource pointer wild": [["field", "CrashDump.context.DataSource", 0xFFFF800012345000]],
        "DataSource pointer into the object": [["field", "CrashDump.context.DataSource", min(base.addresses)]],
        "ring handle garbage": [["field", "DataSource[1].DmfModuleDataSourceRingBuffer", 0x1234567]],
        "ring handle is the CrashDump's": [["field", "DataSource[2].DmfModuleDataSourceRingBuffer",
                                            base.ring_handles[0] ^ 0x10]],
        "GUID zeroed": [["field", "DataSource[1].RingBufferGuid", 0]],
        "key size huge": [["field", "DataSource[0].RingBufferEncryptionKeySize", 0xFFFFFFFF]],
        "entry size 0": [["field", "DataSource[2].RingBufferSizeOfEachEntry", 0]],
        "ItemsCount huge": [["field", ring + "ItemsCount", 0xFFFFFFFF]],
        "ItemSize huge": [["field", ring + "ItemSize", 0x7FFFFFFF]],
        "ItemSize and ItemsCount 0": [["field", ring + "ItemSize", 0], ["field", ring + "ItemsCount", 0]],
        "ItemSize 1, ItemsCount 128 MiB": [["field", ring + "ItemSize", 1], ["field", ring + "ItemsCount", 1 << 27]],
        "ReadPointer off-slot": [["field", ring + "ReadPointer", base.ring_contexts[1] + 3]],
        "WritePointer outside": [["field", ring + "WritePointer", 0xFFFF800000000000]],
        "P > N": [["field", ring + "ItemsPresentCount", 0xFFFFFFFF]],
        "Items NULL": [["field", ring + "Items", 0]],
        "Signature wrong": [["field", obj + "Signature", 0x87654321]],
        "ModuleContext wild": [["field", obj + "ModuleContext", 0xFFFFFFFFFFFFF000]],
        "ModuleConfig NULL": [["field", obj + "ModuleConfig", 0]],
        "ModuleConfigSize huge": [["field", obj + "ModuleConfigSize", 0xFFFFFFFF]],
        "ModuleName wild": [["field", obj + "ModuleName", 0xFFFF800000001000]],
        "g_DmfModuleCrashDump wild": [["field", "g_DmfModuleCrashDump", 0x0000100000000008]],
        "g_DmfModuleCrashDump a ring": [["field", "g_DmfModuleCrashDump", base.ring_handles[0]]],
        "ContextSize unknown": [["field", "TYPE_INFO.ContextSize", 200]],
        "blob DataSize huge": [["field", "Blob[0].DataSize", 0xFFFFFFF0]],
        "blob PrePad huge": [["field", "Blob[1].PrePad", 0x7FFFFFFF]],
        "blob GUID changed": [["field", "Blob[0].Tag", 0]],
        "dump cut inside a blob": [["truncate", base.regions["Blob[1].payload"][0][0] + 7]],
    }
    cases["child list loops on its head"] = [["field", obj + "ChildObjectList.Flink", _list_head(base, obj)]]
    return cases


def _list_head(base, prefix):
    """VA of the CrashDump object's ChildObjectList (a Flink pointing at it: an empty list that
    claims children, or a loop)."""
    from dmfkd.targets.dumpfile import DumpFile
    from dmfkd.targets.isf import IsfSymbols
    from dmfkd.dmf.crashdump import walk_crashdump

    target = DumpFile(base.dump_path)
    try:
        target.symbols = IsfSymbols.load(base.isf_path)
        walk = walk_crashdump(target)
        obj = walk.reader.read(walk.info.handle)
        return obj.address + obj.layout.offsets["ChildObjectList"][0]
    finally:
        target.close()


NAMED_LINES = [["crashdump"], ["crashdump", "--all", "--type", F.EVENT_TYPE], ["datasources"], ["modules"],
               ["tags"], ["crashdump", "--to-scenario", os.path.join(tempfile.gettempdir(), "dmfkd-fuzz-scenario.json")]]


@pytest.mark.parametrize("name,pykd", [("x64-1.1.154-full", False), ("x86-1.1.154-bitmap", True)])
def test_named_hostile_values_on_every_command(name, pykd):
    base = bases()[name]
    lines = NAMED_LINES + [["ringbuffer", "0x%x" % base.ring_handles[1]]]
    if not pykd:
        lines += [["crashdump", "--guid", g] for g in base.guids]
    for case, mutations in _named_cases(base).items():
        dump, isf = F.apply(base, mutations, example_dir())
        try:
            F.run_all(base, dump, isf, lines=lines, pykd=pykd, seconds=HANG_SECONDS)
        except F.Finding as finding:
            pytest.fail("%s: %s" % (case, finding))


def test_named_hostile_values_are_reported():
    """Not just no crash: the corrupt value shows up as a warning / unreadable value."""
    base = bases()["x64-1.1.154-full"]
    cases = _named_cases(base)

    def out_of(case, line):
        dump, isf = F.apply(base, cases[case], example_dir())
        rc, out, err = F.run_cli([line[0], dump] + line[1:], seconds=HANG_SECONDS)
        return rc, out + err

    rc, text = out_of("DataSourceCount huge", ["datasources"])
    assert rc == 0 and "DataSourceCount 4294967295 > 9" in text
    rc, text = out_of("DataSource pointer wild", ["crashdump"])
    assert rc == 0 and "array at 0xffff800012345000 unreadable" in text
    rc, text = out_of("P > N", ["datasources"])
    assert rc == 0 and "4294967295" in text
    rc, text = out_of("Signature wrong", ["crashdump"])
    assert rc == 0 and "no DMF_OBJECT" in text
    rc, text = out_of("child list loops on its head", ["modules"])
    assert rc == 0 and "CrashDump" in text
    rc, text = out_of("ContextSize unknown", ["crashdump"])
    assert rc == 0 and "200 bytes: unknown layout" in text
    rc, text = out_of("dump cut inside a blob", ["tags"])
    assert rc == 0 and "runs past the end of the file" in text


# -- targets/isf.py ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("descriptor", [{"kind": "base", "name": {"kind": "struct"}},
                                        {"kind": "struct", "name": ["DMF_OBJECT"]}])
def test_isf_unhashable_type_name(descriptor):
    base = bases()["x64-1.1.154-full"]
    dump, isf = F.apply(base, [["isf_set", ["user_types", "DMFDEMO_EVENT", "fields", "Timestamp", "type"],
                                descriptor]], example_dir())
    from dmfkd.targets.isf import IsfSymbols

    with pytest.raises(DmfkdError) as exc:
        IsfSymbols.load(isf)
    assert "name is not a string" in str(exc.value)


# -- regressions: the minimal inputs of findings fixed in the readers ----------------------------------

def _run_both(base, mutations, line):
    """(exit status, stdout, stderr) of the CLI, and the pykd stand-in's error line (None: success)."""
    dump, isf = F.apply(base, mutations, example_dir())
    rc, out, err = F.run_cli([line[0], dump] + line[1:], seconds=HANG_SECONDS)
    return rc, out, err, F.run_pykd(line, dump, isf, seconds=HANG_SECONDS)


def test_dmf_object_type_without_module_context():
    """Symbols whose DMF_OBJECT type lacks ModuleContext (and no DMF version to pin the layout): the
    readers passed None to target.read (TypeError in every DMF command). Now a warning / one line."""
    base = bases()["x64-1.1.84-full"]
    mutations = [["isf_del", ["metadata", "dmfkd", "dmf_version"]],
                 ["isf_del", ["user_types", "DMF_OBJECT", "fields", "ModuleContext"]]]
    rc, out, err, pykd_error = _run_both(base, mutations, ["crashdump"])
    assert rc == 0 and "ModuleContext unknown" in out and pykd_error is None
    rc, out, err, pykd_error = _run_both(base, mutations, ["ringbuffer", "0x%x" % base.ring_handles[0]])
    assert rc == 2 and "has no readable ModuleContext" in err
    assert "has no readable ModuleContext" in pykd_error


def test_dmf_object_type_field_past_its_end_is_unknown():
    base = bases()["x64-1.1.84-full"]
    size = base.isf["user_types"]["DMF_OBJECT"]["size"]
    mutations = [["isf_del", ["metadata", "dmfkd", "dmf_version"]],
                 ["isf_set", ["user_types", "DMF_OBJECT", "fields", "ModuleContext", "offset"], size - 4]]
    rc, out, err, pykd_error = _run_both(base, mutations, ["datasources"])
    assert rc == 0 and pykd_error is None
    assert "ModuleContext unknown" in out


def test_ring_size_disagreeing_with_its_data_source_is_not_read():
    """ItemsCount corrupted to 2^20 (N*S = 32 MiB, while DATA_SOURCE.RingBufferSize says 256): the walk
    used to read the whole 32 MiB+ storage (up to MAX_RING_BYTES = 256 MiB - through real pykd a list of
    as many Python ints). Now the disagreement (inv. 10) stops the read and says why."""
    from dmfkd.dmf.crashdump import walk_crashdump
    from dmfkd.targets.dumpfile import DumpFile
    from dmfkd.targets.isf import IsfSymbols

    base = bases()["x64-1.1.154-full"]
    dump, isf = F.apply(base, [["field", "Ring[1].context.ItemsCount", 1 << 20]], example_dir())
    target = DumpFile(dump)
    target.symbols = IsfSymbols.load(isf)
    sizes = []
    read = target.read

    def recording_read(address, size):
        sizes.append(size)
        return read(address, size)

    target.read = recording_read
    try:
        walk = walk_crashdump(target)
        assert walk.read_storage(1) is None
        assert "disagrees with DATA_SOURCE RingBufferSize 256" in walk.rings[1].problem
        assert max(sizes) < 1 << 20
        assert walk.read_storage(0) is not None  # the sane rings are still read
        memory = walk.live_decode(1)
        assert memory.count == 0 and any("storage not read" in w for w in memory.warnings)
    finally:
        target.close()
    rc, out, err = F.run_cli(["datasources", dump])
    assert rc == 0 and "1048576" in out


def test_summary_reads_only_the_head_of_a_large_foreign_blob(tmp_path):
    """`crashdump` (summary) tells DMF ring blobs from others by their first bytes; it read every
    unknown blob whole (a dump's size in memory for one big foreign blob). Now 4 KiB of it."""
    import uuid
    from dmfemu.dumpwriter import write_dump
    from dmfkd.dmf.crashdump import classify_blobs
    from dmfkd.dmf.ringbuffer import xor_with_key
    from dmfkd.guids import crashdump_key
    from dmfkd.targets.dumpfile import DumpFile

    path = str(tmp_path / "foreign.dmp")
    big = bytes(range(1, 256)) * 8000      # ~2 MB, no zero byte: nothing like a DMF ring
    ring_guid = uuid.UUID("a1b2c3d4-e5f6-4a5b-8c7d-0e1f2a3b4c5d")
    records = [(b"record %03d" % i).ljust(64, b"\0") for i in range(100)]   # 6400 bytes: > the head
    ring = xor_with_key(records[0], crashdump_key(ring_guid)) + b"".join(records[1:])
    write_dump(path, arch="x64", dump_type="full", pages={1: bytes(0x1000)}, dtb=0x1000,
               blobs=[(uuid.UUID(int=7), big), (ring_guid, ring)])
    target = DumpFile(path)
    sizes = []
    read_blob = target.read_blob
    target.read_blob = lambda blob: sizes.append(blob.size) or read_blob(blob)
    try:
        infos = classify_blobs(target, None)
    finally:
        target.close()
    assert [b.kind for b in infos] == ["other", "ring?"] and infos[0].size == len(big)
    assert infos[1].entry_size == 64 and infos[1].records == 100
    assert sizes == [4096, 4096, len(ring)]   # the ring's head, then all of it


def _ring_storage_va(base, index):
    from dmfkd.dmf.crashdump import walk_crashdump
    from dmfkd.targets.dumpfile import DumpFile
    from dmfkd.targets.isf import IsfSymbols

    target = DumpFile(base.dump_path)
    try:
        target.symbols = IsfSymbols.load(base.isf_path)
        return walk_crashdump(target).rings[index].state.items
    finally:
        target.close()


def test_module_name_with_control_characters_stays_on_one_line():
    """Found by the campaign (seed 2026): a ring's ModuleName pointing at record bytes holding a
    newline made `ringbuffer`'s error two lines ("...is a <name> module, not RingBuffer") - through
    the pykd stand-in the DmfkdError text itself, on the CLI a cut message. Names are now read with
    non-printable bytes as \\xNN."""
    base = bases()["x64-1.1.154-full"]
    mutations = [["splat", "Ring[1].storage", 0, b"Ring\nBuffer\x7f\0".hex()],
                 ["field", "Ring[2].object.ModuleName", _ring_storage_va(base, 1)]]
    rc, out, err, pykd_error = _run_both(base, mutations, ["ringbuffer", "0x%x" % base.ring_handles[2]])
    assert rc == 2 and err == "dmfkd: DMFMODULE 0x%x is a Ring\\x0aBuffer\\x7f module, not RingBuffer\n" \
        % base.ring_handles[2]
    assert pykd_error == err[len("dmfkd: "):-1]
    rc, out, err, pykd_error = _run_both(base, mutations, ["modules"])
    assert rc == 0 and "Ring\\x0aBuffer\\x7f" in out and pykd_error is None


def test_broken_blob_region_leaves_info_and_the_summary_readable():
    """An absurd blob PrePad makes the blob region unreadable: `info` exited 2 although every header
    fact was there, and the `crashdump` summary silently showed no blobs. Now info shows the header
    with "unreadable" blob counts and the error; the summary warns (spec: an unreadable value is a
    visible value); `crashdump --guid` falls back to the ring in memory."""
    import json

    base = bases()["x64-1.1.154-full"]
    mutations = [["field", "Blob[1].PrePad", 0x7FFFFFFF]]
    rc, out, err, pykd_error = _run_both(base, mutations, ["info", "--format", "json"])
    doc = json.loads(out)
    assert rc == 0 and doc["blobs"] == "unreadable" and "absurd blob PrePad" in doc["secondary_data_error"]
    assert doc["bugcheck_code"] == base.expected["bugcheck"]["code"]
    rc, out, err, pykd_error = _run_both(base, mutations, ["crashdump"])
    assert rc == 0 and "WARNING: secondary data unreadable:" in out and "absurd blob PrePad" in out
    assert "data sources" in out  # the memory side is still there
    rc, out, err, pykd_error = _run_both(base, mutations, ["crashdump", "--guid", base.guids[0], "--format", "json"])
    doc = json.loads(out)
    assert rc == 0 and doc["source"] == "memory" and "absurd blob PrePad" in doc["warnings"][0]
    assert [r["hex"] for r in doc["records"]] == [r["hex"] for r in base.expected["sources"][0]["records"]]
