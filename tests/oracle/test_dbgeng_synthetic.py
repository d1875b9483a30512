"""dbgeng vs dmfkd on dumps dmfemu writes (every kind and arch): accepted, same tags, bytes, bug check
and virtual/physical reads; on x64 (dmfemu.kernel's KDBG, module list, context) `lm` lists the
emulated driver at its base, `r` shows the saved registers and dbgeng prints only the messages
listed in EXPECTED_MESSAGES (each with the reason it cannot go away). x86 the same through
dmfemu.kernel's x86 (PAE) structures."""
import re

import pytest

from dmfkd.errors import MemoryReadError
from dmfkd.targets.dumpfile import DumpFile
from oracle import synthetic

pytestmark = pytest.mark.oracle

QUALIFIER = {"full": 1026, "bitmap": 1026, "bitmap-kernel": 1025}        # spec/dbgeng-oracle.md
BANNER = {"full": "Kernel Complete Dump File", "bitmap": "Kernel Bitmap Dump File",
          "bitmap-kernel": "Kernel Bitmap Dump File"}
MACHINE = {"x64": 0x8664, "x86": 0x14C}

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
    if s.arch == "x64":
        start = "%08x`%08x" % (s.driver_base >> 32, s.driver_base & 0xFFFFFFFF)
    else:
        start = "%08x" % s.driver_base
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
    context = s.machine._dmfemu_kernel.context
    if s.arch == "x64":
        ip, sp, text = context["Rip"], context["Rsp"], "rip=%016x" % context["Rip"]
    else:
        ip, sp, text = _widen(s, context["Eip"]), _widen(s, context["Esp"]), "eip=%08x" % context["Eip"]
    assert answer.regs["ip"] == ip and answer.regs["sp"] == sp
    assert text in answer.command_text("r")


@pytest.mark.parametrize("name", ALL)
def test_only_expected_messages(answers, name):
    assert problem_lines(answers[name].open_text) == EXPECTED_MESSAGES
    for cmd in ("lm", "r", "vertarget"):
        assert problem_lines(answers[name].command_text(cmd)) == set()


@pytest.mark.xfail(strict=True, reason="H1: the triage writer stores a 0x100-byte PRCB placeholder; with "
                   "dmfemu.kernel's KDBG (SizePrcb 0xAF00) dbgeng refuses the dump: 'ERROR: PRCB only "
                   "partially present in dump' (OpenDumpFile 0x80070570). Fix: copy KDBG.SizePrcb bytes "
                   "from KiProcessorBlock[0]")
def test_emulator_triage_dump_opens(oracle_tmp, dbgeng_oracle):
    s = synthetic.build(str(oracle_tmp), "x64", "triage")
    answer = dbgeng_oracle.query_one(s.path, commands=["r"])
    assert answer.opened, answer.open_text
    assert "PRCB only partially present" not in answer.open_text
    with DumpFile(s.path) as dump:
        assert [(t["guid"], t["size"]) for t in answer.tags] == [(b.guid_text, b.size) for b in dump.tagged()]
