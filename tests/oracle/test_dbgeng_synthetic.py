"""dbgeng vs dmfkd on dumps dmfemu writes (every kind and arch): accepted, same tags, bytes, bug check
and virtual/physical reads; on x64 (dmfemu.kernel's KDBG, module list, context) `lm` lists the
emulated driver at its base, `r` shows the saved registers and dbgeng prints only the messages
listed in EXPECTED_MESSAGES (each with the reason it cannot go away). x86 the same through
dmfemu.kernel's x86 (PAE) structures, ARM64 through its ARM64 structures and translation tables (4 KiB
pages, and 2 MiB blocks in the large-page kind). x64 and ARM64 triage (type 4) dumps, synthetic and
`dmfemu demo --dump-type triage`: dbgeng opens them as a Mini Kernel Dump, lists the same tags and
modules, and ReadVirtual of every VA-mapped region (thread, process, stack, KDBG copy, DMF triage data
blocks) equals DumpFile's reads."""
import json
import os
import re
import subprocess
import sys

import pytest

from dmfkd.errors import MemoryReadError
from dmfkd.targets.dumpfile import DumpFile
from oracle import synthetic

pytestmark = pytest.mark.oracle

QUALIFIER = {"full": 1026, "bitmap": 1026, "bitmap-kernel": 1025}        # spec/dbgeng-oracle.md
BANNER = {"full": "Kernel Complete Dump File", "bitmap": "Kernel Bitmap Dump File",
          "bitmap-kernel": "Kernel Bitmap Dump File"}
MACHINE = {"x64": 0x8664, "x86": 0x14C, "arm64": 0xAA64}

# Every line of dbgeng's opening text that reports a problem on an x64 emulator dump, and why it stays:
EXPECTED_MESSAGES = {
    # no ntkrnlmp.pdb for the emulated kernel (the real triage dumps say the same with an empty
    # symbol path); nothing to download here
    "*** ERROR: Module load completed but symbols could not be loaded for ntoskrnl.exe",
    "************* Symbol Loading Error Summary **************",
    "Module name            Error",          # the next line: "ntoskrnl  The system cannot find the file"
    # the pykd wheel ships dbgeng without its extension DLLs (spec/dbgeng-oracle.md); the automatic
    # bug-check analysis dbgeng starts on open needs them
    "Unable to add extension DLL: kdexts",
    "Unable to add extension DLL: kext",
    "Unable to add extension DLL: exts",
    "The call to LoadLibrary(ext) failed, Win32 error 0n2",
}
PROBLEM = re.compile(r"(?i)error|warning|unable|fail|not available|corrupt|truncat|invalid|does not|"
                     r"null|< SystemRangeStart|lookup")


def problem_lines(text):
    return {line.strip() for line in text.splitlines() if PROBLEM.search(line)
            and not line.startswith("You ")}   # dbgeng's generic troubleshooting advice


@pytest.fixture(scope="module")
def dumps(oracle_tmp):
    return synthetic.build_all(str(oracle_tmp))


@pytest.fixture(scope="module")
def answers(dumps, dbgeng_oracle):
    queries = []
    for name, s in dumps.items():
        queries.append(dbgeng_oracle.DumpQuery(
            s.path, reads=list(s.reads) + [(va, 8) for va in s.unmapped],
            physical=[(0x1000, 0x20), (0x2FF0, 0x20)], commands=["lm", "r", "vertarget"],
            modules=True, regs=True))
    return dict(zip(dumps, dbgeng_oracle.query(queries)))


def _sign_extend32(value):
    return value - (1 << 32) + (1 << 64) if value & 0x80000000 else value


@pytest.mark.parametrize("name", [synthetic.dump_name(*k) for k in synthetic.KINDS])
def test_accepted_as_kernel_dump(answers, dumps, name):
    s, answer = dumps[name], answers[name]
    assert answer.open["hr"] == 0
    assert answer.open["class"] == 1 and answer.open["qualifier"] == QUALIFIER[s.dump_type]
    assert answer.open["machine"] == MACHINE[s.arch]
    assert BANNER[s.dump_type] in answer.open_text
    with DumpFile(s.path) as dump:
        assert answer.open["build"] == dump.build


@pytest.mark.parametrize("name", [synthetic.dump_name(*k) for k in synthetic.KINDS])
def test_bugcheck_equal(answers, dumps, name):
    s, answer = dumps[name], answers[name]
    with DumpFile(s.path) as dump:
        code, params = dump.bugcheck()
    if s.arch == "x86":   # dbgeng widens 32-bit parameters by sign extension
        params = [_sign_extend32(p) for p in params]
    assert answer.open["bugcheck"] == [code] + list(params)


@pytest.mark.parametrize("name", [synthetic.dump_name(*k) for k in synthetic.KINDS])
def test_tags_and_bytes_equal(answers, dumps, name):
    s, answer = dumps[name], answers[name]
    with DumpFile(s.path) as dump:
        mine = [(b.guid_text, b.size) for b in dump.tagged()]
        assert [(t["guid"], t["size"]) for t in answer.tags] == mine
        assert mine == [(str(g), len(p)) for g, p in synthetic.blobs()]
        for guid, size, data in answer.tag_bytes():
            if size == 0:
                assert data is None      # ReadTagged of a zero-size block fails (E_INVALIDARG)
            else:
                assert data == dump.read_tagged(guid)
    # the repeated GUID answers with the FIRST block's bytes in both
    first = synthetic.blobs()[0][1]
    assert answer.tag_bytes()[2][2] == first


@pytest.mark.parametrize("name", [synthetic.dump_name(*k) for k in synthetic.KINDS])
def test_virtual_and_physical_reads_equal(answers, dumps, name):
    s, answer = dumps[name], answers[name]
    assert answer.open["wait_hr"] == 0, answer.open_text
    with DumpFile(s.path) as dump:
        for reply in answer.reads + answer.physical:
            read = dump.read if reply["op"] == "read" else dump.read_physical
            if reply["hr"] == 0:
                assert bytes.fromhex(reply["hex"]) == read(reply["address"], reply["size"])
            else:
                with pytest.raises(MemoryReadError):
                    read(reply["address"], reply["size"])
    ok = {r["address"]: r["hr"] == 0 for r in answer.reads}
    assert all(ok[va] for va, _ in s.reads)
    assert not ok[s.unmapped[1]]           # the guard page below the image is unmapped in both


ALL = [synthetic.dump_name(*k) for k in synthetic.KINDS]


def _widen(s, va):
    return _sign_extend32(va) if s.arch == "x86" else va


@pytest.mark.parametrize("name", ALL)
def test_lm_lists_the_driver_at_its_base(answers, dumps, name):
    s, answer = dumps[name], answers[name]
    assert answer.commands["lm"]["hr"] == 0
    lines = answer.command_text("lm").splitlines()
    if s.arch == "x86":
        start = "%08x" % s.driver_base
    else:
        start = "%08x`%08x" % (s.driver_base >> 32, s.driver_base & 0xFFFFFFFF)
    assert any(line.startswith(start) and " dmfdemo " in line for line in lines), lines
    modules = {m["module"]: (m["base"], m["size"]) for m in answer.modules}
    assert modules["dmfdemo"] == (_widen(s, s.driver_base), s.driver_size)
    nt_base, nt_size = s.machine.images["nt"]
    assert modules["nt"] == (_widen(s, nt_base), nt_size)
    assert set(modules) == set(s.machine.images)


@pytest.mark.parametrize("name", ALL)
def test_r_shows_the_saved_context(answers, dumps, name):
    s, answer = dumps[name], answers[name]
    assert answer.commands["r"]["hr"] == 0, answer.command_text("r")
    context = s.machine.kernel_state.context
    ip, sp, text = _ip_sp_text(s.arch, context)
    assert answer.regs["ip"] == _widen(s, ip) and answer.regs["sp"] == _widen(s, sp)
    assert text in answer.command_text("r")
    if s.arch == "arm64":       # the instruction at Pc, read through the ARM64 tables
        assert "brk         #0xF000" in answer.command_text("r")


def _ip_sp_text(arch, context):
    """(PC, stack pointer, how `r` prints the PC) of a saved context."""
    if arch == "x64":
        return context["Rip"], context["Rsp"], "rip=%016x" % context["Rip"]
    if arch == "arm64":
        return context["Pc"], context["Sp"], "pc=%016x" % context["Pc"]
    return context["Eip"], context["Esp"], "eip=%08x" % context["Eip"]


@pytest.mark.parametrize("name", ALL)
def test_only_expected_messages(answers, name):
    assert problem_lines(answers[name].open_text) == EXPECTED_MESSAGES
    for cmd in ("lm", "r", "vertarget"):
        assert problem_lines(answers[name].command_text(cmd)) == set()


# -- triage (type 4): the emulator's kernel minidumps ----------------------------------------------
# A triage dump carries no image pages, so dbgeng cannot load ntoskrnl.exe from the dump; the real
# Windows minidumps (tests/data/windows-triage) print exactly this line too.
TRIAGE_MESSAGES = EXPECTED_MESSAGES | {"Unable to load image \\SystemRoot\\system32\\ntoskrnl.exe, Win32 error 0n2"}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _kernel_objects(machine):
    """VAs and sizes of KPRCB, current thread and process as dmfemu.kernel built them."""
    from dmfemu import kernel

    offsets = kernel.ARM64_OFFSETS if machine.arch == "arm64" else kernel.X64_OFFSETS
    space = machine.space
    prcb = space.read_u64(machine.symbol("KiProcessorBlock"))
    thread = space.read_u64(prcb + offsets["OffsetPrcbCurrentThread"])
    process = space.read_u64(thread + offsets["OffsetKThreadApcProcess"])
    return dict(prcb=(prcb, offsets["SizePrcb"]), thread=(thread, offsets["SizeEThread"]),
                process=(process, offsets["SizeEProcess"]))


TRIAGE_ARCHES = ["x64", "arm64"]
BUILT_BY = {"x64": "Built by: 19041.1.amd64fre", "arm64": "Built by: 22000.1.arm64fre"}


@pytest.fixture(scope="module", params=TRIAGE_ARCHES)
def triage(request, oracle_tmp, dbgeng_oracle):
    s = synthetic.build(str(oracle_tmp), request.param, "triage")
    objects = _kernel_objects(s.machine)
    state = s.machine.kernel_state
    thread, thread_size = objects["thread"]
    process, process_size = objects["process"]
    _, sp, _ = _ip_sp_text(s.arch, state.context)
    reads = [(thread, 0x40), (thread + thread_size - 8, 8), (process, 0x40), (process + process_size - 8, 8),
             (sp, 0x80), (state.kdbg_va, 0x380), (state.kernel_base, 0x400)]
    # not in a triage dump: the PRCB (dbgeng does not map it), image bytes, pool outside the regions
    unmapped = [objects["prcb"][0], s.driver_base, thread + thread_size, process - 8]
    answer = dbgeng_oracle.query_one(s.path, reads=reads + [(va, 8) for va in unmapped],
                                     commands=["lm", "r", ".enumtag"], modules=True, regs=True)
    return s, reads, unmapped, answer


def test_emulator_triage_dump_opens(triage):
    s, _, _, answer = triage
    assert answer.opened, answer.open_text
    assert answer.open["wait_hr"] == 0
    assert answer.open["class"] == 1 and answer.open["qualifier"] == 1024     # DEBUG_KERNEL_SMALL_DUMP
    assert "Mini Kernel Dump File" in answer.open_text
    assert "PRCB only partially present" not in answer.open_text
    assert BUILT_BY[s.arch] in answer.open_text     # NtBuildLab travels as a data block
    with DumpFile(s.path) as dump:
        assert [(t["guid"], t["size"]) for t in answer.tags] == [(b.guid_text, b.size) for b in dump.tagged()]
        code, params = dump.bugcheck()
    assert answer.open["bugcheck"] == [code] + list(params)


def test_emulator_triage_only_expected_messages(triage):
    _, _, _, answer = triage
    assert problem_lines(answer.open_text) == TRIAGE_MESSAGES
    for cmd in ("lm", "r", ".enumtag"):
        assert problem_lines(answer.command_text(cmd)) == set(), cmd


def test_emulator_triage_driver_list_and_context(triage):
    s, _, _, answer = triage
    modules = {m["module"]: (m["base"], m["size"]) for m in answer.modules}
    assert modules == {name: image for name, image in s.machine.images.items()}
    ip, sp, text = _ip_sp_text(s.arch, s.machine.kernel_state.context)
    assert answer.regs["ip"] == ip and answer.regs["sp"] == sp
    assert text in answer.command_text("r")


def test_emulator_triage_reads_equal(triage):
    s, reads, unmapped, answer = triage
    assert len(answer.reads) == len(reads) + len(unmapped)
    with DumpFile(s.path) as dump:
        for (va, size), reply in zip(reads, answer.reads):
            assert reply["hr"] == 0, hex(va)
            assert bytes.fromhex(reply["hex"]) == dump.read(va, size) == s.machine.space.read(va, size)
        for va, reply in zip(unmapped, answer.reads[len(reads):]):
            assert reply["hr"] != 0, hex(va)
            with pytest.raises(MemoryReadError):
                dump.read(va, 8)


@pytest.fixture(scope="module", params=TRIAGE_ARCHES)
def demo_triage(request, oracle_tmp, dbgeng_oracle):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(REPO, "extension"), os.path.join(REPO, "emulator")])
    directory = os.path.join(str(oracle_tmp), "dbgeng-demo-triage-%s" % request.param)
    subprocess.run([sys.executable, "-m", "dmfemu", "demo", "-o", directory, "--dump-type", "triage",
                    "--arch", request.param], check=True, env=env, stdout=subprocess.DEVNULL, timeout=300)
    path = os.path.join(directory, "MEMORY.DMP")
    with open(os.path.join(directory, "expected.json")) as handle:
        expected = json.load(handle)
    ranges = [(item["address"], item["size"]) for item in expected["triage_ranges"]]
    with DumpFile(path) as dump:
        regions = dump.triage_regions()
    # every region DumpFile maps, at both ends, besides the driver's own triage ranges
    edges = [(start, min(0x40, end - start)) for start, end, _ in regions]
    edges += [(end - 8, 8) for start, end, _ in regions if end - start >= 8]
    past = [end for _, end, _ in regions if not any(s <= end < e for s, e, _ in regions)]
    answer = dbgeng_oracle.query_one(path, reads=ranges + edges + [(va, 1) for va in past],
                                     commands=["lm", ".enumtag"], modules=True)
    return path, expected, ranges, edges, past, answer


def test_demo_triage_opens_with_only_expected_messages(demo_triage):
    path, expected, _, _, _, answer = demo_triage
    assert answer.opened, answer.open_text
    assert answer.open["qualifier"] == 1024
    assert problem_lines(answer.open_text) == TRIAGE_MESSAGES
    assert problem_lines(answer.command_text("lm")) == set()
    modules = {m["module"]: m["base"] for m in answer.modules}
    assert modules[expected["module"]] == expected["image_base"]


def test_demo_triage_tags_equal(demo_triage):
    path, expected, _, _, _, answer = demo_triage
    with DumpFile(path) as dump:
        mine = [(b.guid_text, b.size) for b in dump.tagged()]
        assert [(t["guid"], t["size"]) for t in answer.tags] == mine
        assert mine == [(b["guid"], b["length"]) for b in expected["blobs"]]
        for guid, _, data in answer.tag_bytes():
            assert data == dump.read_tagged(guid)
    # .enumtag prints each GUID (with its display quirk: the last hyphen missing)
    text = answer.command_text(".enumtag").upper()
    for guid, _ in mine:
        assert "{%s%s}" % (guid[:23].upper(), guid[24:].upper()) in text


def test_demo_triage_data_blocks_read_equal(demo_triage):
    """The DMF triage data (TriageDumpDataAdd ranges) and every region dmfkd maps: dbgeng's
    ReadVirtual returns DumpFile's bytes; the byte after a region is unreadable in both."""
    path, expected, ranges, edges, past, answer = demo_triage
    assert ranges and answer.reads
    replies = answer.reads
    with DumpFile(path) as dump:
        for (va, size), reply in zip(ranges + edges, replies):
            assert reply["hr"] == 0, hex(va)
            assert bytes.fromhex(reply["hex"]) == dump.read(va, size)
        for va, reply in zip(past, replies[len(ranges) + len(edges):]):
            assert reply["hr"] != 0, hex(va)
            with pytest.raises(MemoryReadError):
                dump.read(va, 1)
    for item, reply in zip(expected["triage_ranges"], replies):
        if "hex" in item:                  # what the driver put there at setup time
            assert reply["hex"] == item["hex"]


# -- DUMP_FILE_ATTRIBUTES: dbgeng's `.dumpdebug` prints an "Attributes" line only when the field is set
ATTRIBUTE_DUMPS = [("x64", "bitmap-kernel", 0x10), ("x86", "full", 0x10), ("x64", "triage", 0x18),
                   ("arm64", "bitmap-kernel", 0x10), ("arm64", "triage", 0x18),
                   ("x64", "full", None), ("windows", "triage_x64.dmp", None)]


@pytest.fixture(scope="module")
def attribute_answers(oracle_tmp, dbgeng_oracle):
    from dmfemu.machine import Machine

    paths = []
    for arch, dump_type, attributes in ATTRIBUTE_DUMPS:
        if arch == "windows":                      # a real minidump: Windows left the field unset
            paths.append(os.path.join(REPO, "tests", "data", "windows-triage", dump_type))
            continue
        machine = Machine(arch=arch)
        machine.add_image(synthetic.DRIVER, 0x4000)
        path = os.path.join(str(oracle_tmp), "attributes-%s-%s-%s.dmp" % (arch, dump_type, attributes))
        machine.write_dump(path, dump_type, (0x161, 1, 2, 3, 4), attributes=attributes)
        paths.append(path)
    answers = dbgeng_oracle.query([dbgeng_oracle.DumpQuery(p, commands=[".dumpdebug"]) for p in paths])
    return list(zip(paths, answers))


@pytest.mark.parametrize("index", range(len(ATTRIBUTE_DUMPS)),
                         ids=["%s-%s-%s" % k for k in ATTRIBUTE_DUMPS])
def test_dumpdebug_attributes_equal(attribute_answers, index):
    path, answer = attribute_answers[index]
    assert answer.opened, answer.open_text
    text = answer.command_text(".dumpdebug")
    assert "WriterStatus" in text                  # the header dump is there
    shown = re.findall(r"(?m)^Attributes\s+([0-9a-fA-F]+)\s*$", text)
    with DumpFile(path) as dump:
        if dump.attribute_names() is None:
            assert shown == []                     # PAGE fill: not shown, like the real minidumps
        else:
            assert [int(v, 16) for v in shown] == [dump.attributes]
            assert dump.attribute_names()[-1] == "LiveDumpGeneratedDump"
