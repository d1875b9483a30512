"""Run Microsoft's dbgeng (10.0.15063.400, from the pykd wheel) on dump files via tests/oracle/probe.c.

    answers = query([DumpQuery(path, tags=True, reads=[(va, n)], commands=["lm", "r"])])
    answers[0].open["class"], answers[0].tags, answers[0].reads[0]["hex"], answers[0].commands["lm"]

One Wine process answers a whole batch of dumps (open, requests, close per dump), so the suite pays
Wine's start-up once per batch. The probe is compiled with mingw-w64 on first use into the cache
(named after the hash of probe.c, so an edited probe is rebuilt).
"""
import hashlib
import json
import os
import subprocess
from typing import List, NamedTuple, Optional, Sequence, Tuple

from oracle import env
from oracle.env import OracleUnavailable

PROBE_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.c")

# HRESULTs the spec names (spec/dbgeng-oracle.md)
S_OK = 0
E_INVALIDARG = 0x80070057          # bad signature / unsupported type; ReadTagged of a zero-size block
E_NOTIMPL = 0x80004001             # Wine's stub dbgeng answered (override missing)
E_NOINTERFACE = 0x80004002         # ReadTagged of a GUID not in the dump
ERROR_PARTIAL_COPY = 0x8007001E    # ReadVirtual of unmapped memory
ERROR_FILE_CORRUPT = 0x80070570    # broken bitmap sub-header

DEBUG_CLASS_KERNEL = 1
DEBUG_DUMP_SMALL = 1024
DEBUG_DUMP_DEFAULT = 1025
DEBUG_DUMP_FULL = 1026


def build_probe() -> str:
    """Path of probe.exe, compiled from probe.c with mingw-w64 if not cached yet."""
    with open(PROBE_SOURCE, "rb") as handle:
        digest = hashlib.sha1(handle.read()).hexdigest()[:12]
    out_dir = os.path.join(env.cache_dir(), "build")
    exe = os.path.join(out_dir, "probe-%s.exe" % digest)
    if os.path.exists(exe):
        return exe
    gcc = env.require_mingw()
    os.makedirs(out_dir, exist_ok=True)
    with env.cache_lock():
        if os.path.exists(exe):
            return exe
        tmp = exe + ".tmp"
        proc = subprocess.run([gcc, "-O2", "-std=c11", "-Wall", "-Wextra", "-D__USE_MINGW_ANSI_STDIO=1",
                               "-o", tmp, PROBE_SOURCE, "-luuid"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if proc.returncode != 0:
            first = (proc.stdout.decode("utf-8", "replace").strip().splitlines() or ["?"])[0]
            raise OracleUnavailable("building the dbgeng probe failed: %s" % first[:160])
        os.rename(tmp, exe)
    return exe


def ensure() -> Tuple[str, str]:
    """(probe.exe, dbgeng DLL folder), everything fetched/built; raises OracleUnavailable."""
    env.require_wine()
    exe = build_probe()
    dll_dir = env.dbgeng_dir()
    env.ensure_prefix()
    return exe, dll_dir


class DumpQuery(NamedTuple):
    path: str
    tags: bool = True                           # enumerate tagged blocks
    tag_data: bool = True                       # ... and ReadTagged each
    reads: Sequence[Tuple[int, int]] = ()       # ReadVirtual (va, size)
    physical: Sequence[Tuple[int, int]] = ()    # ReadPhysical (pa, size)
    readtags: Sequence[str] = ()                # ReadTagged of given GUID texts
    commands: Sequence[str] = ()                # IDebugControl::Execute, e.g. "lm", "r", ".enumtag"
    modules: bool = False                       # IDebugSymbols module list
    regs: bool = False                          # IDebugRegisters instruction / stack offsets
    kdata: Sequence[Tuple[int, int]] = ()       # ReadDebuggerData (DEBUG_DATA_* index, size)


class DumpAnswer:
    """dbgeng's replies for one dump."""

    def __init__(self, query: DumpQuery, replies: List[dict]):
        self.query = query
        self.replies = replies
        self.open = replies[0] if replies else {}
        self.tags = None          # type: Optional[List[dict]]
        self.tags_reply = None    # type: Optional[dict]
        self.reads = [r for r in replies if r["op"] == "read"]
        self.physical = [r for r in replies if r["op"] == "phys"]
        self.readtags = [r for r in replies if r["op"] == "readtag"]
        self.kdata = [r for r in replies if r["op"] == "kdata"]
        self.commands = {r["cmd"]: r for r in replies if r["op"] == "exec"}  # type: Dict[str, dict]
        self.modules = None       # type: Optional[List[dict]]
        self.regs = None          # type: Optional[dict]
        for reply in replies:
            if reply["op"] == "tags":
                self.tags_reply = reply
                self.tags = reply["tags"]
            elif reply["op"] == "modules":
                self.modules = reply["modules"]
            elif reply["op"] == "regs":
                self.regs = reply

    @property
    def opened(self) -> bool:
        return self.open.get("hr") == S_OK and self.open.get("wait_hr") == S_OK

    @property
    def open_text(self) -> str:
        return self.open.get("text", "")

    def command_text(self, cmd: str) -> str:
        return self.commands[cmd]["text"]

    def tag_bytes(self) -> List[Tuple[str, int, Optional[bytes]]]:
        """[(guid, size, ReadTagged bytes or None when it failed)] in dbgeng's order."""
        return [(t["guid"], t["size"], bytes.fromhex(t["hex"]) if "hex" in t else None)
                for t in (self.tags or [])]


def _requests(query: DumpQuery) -> List[str]:
    lines = ["open " + env.wine_path(query.path)]
    if query.tags:
        lines.append("tags" if query.tag_data else "tags nodata")
    lines += ["readtag %s" % guid for guid in query.readtags]
    lines += ["read %x %x" % (va, size) for va, size in query.reads]
    lines += ["phys %x %x" % (pa, size) for pa, size in query.physical]
    lines += ["kdata %d %d" % (index, size) for index, size in query.kdata]
    if query.modules:
        lines.append("modules")
    if query.regs:
        lines.append("regs")
    for cmd in query.commands:
        if "\n" in cmd:
            raise ValueError("one-line commands only: %r" % cmd)
        lines.append("exec " + cmd)
    lines.append("close")
    return lines


def run_requests(lines: Sequence[str], timeout: float = 300) -> List[dict]:
    """Send raw probe requests; returns every JSON reply (the first is "ready")."""
    exe, dll_dir = ensure()
    stdin = ("\n".join(lines) + "\n").encode("utf-8")
    proc = env.run_wine([exe, env.wine_path(dll_dir)], stdin=stdin, timeout=timeout)
    replies = []
    for raw in proc.stdout.decode("utf-8", "replace").splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            replies.append(json.loads(raw))
    if replies and replies[0]["op"] == "fatal":
        raise OracleUnavailable("dbgeng probe: %s failed, hr 0x%08x" % (replies[0]["what"], replies[0]["hr"]))
    if not replies or replies[0]["op"] != "ready":
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise OracleUnavailable("dbgeng probe did not start under Wine (exit %s): %s"
                                % (proc.returncode, " | ".join(tail) or "no output"))
    return replies


def query(queries: Sequence[DumpQuery], timeout: float = 300) -> List[DumpAnswer]:
    """Ask dbgeng about several dumps in one Wine process; one DumpAnswer per query, in order."""
    lines = []  # type: List[str]
    for q in queries:
        lines += _requests(q)
    replies = run_requests(lines, timeout=timeout)[1:]
    answers = []
    current = []  # type: List[dict]
    for reply in replies:
        if reply["op"] == "open" and current:
            raise AssertionError("probe reply stream out of step: open before close")
        if reply["op"] == "close":
            answers.append(current)
            current = []
        else:
            current.append(reply)
    if len(answers) != len(queries):
        raise AssertionError("dbgeng probe answered %d of %d dumps (crashed?)" % (len(answers), len(queries)))
    return [DumpAnswer(q, a) for q, a in zip(queries, answers)]


def query_one(path: str, **kwargs) -> DumpAnswer:
    return query([DumpQuery(path, **kwargs)])[0]
