#!/usr/bin/env python3
"""Benchmark: debugger-engine calls made by `dmfkd crashdump` on a LIVE target (issue 4).

A live emulated machine (dmfemu, before any crash) whose driver has 8 user-mode data sources, each
filled with E entries; dmfkd runs through the stand-in pykd (dmfemu.pykd), which counts every pykd
call. Goal: <= 10 + 3 per source, and flat in E (E = 1,000 vs 10,000 must cost the same calls).

    PYTHONPATH=extension:emulator python3 scripts/bench_engine_calls.py [--entries 1000,10000] [--sources 8]
"""
import argparse
import io
import json
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "extension"), os.path.join(HERE, "..", "emulator")]

from dmfemu import pykd as standin  # noqa: E402

sys.modules["pykd"] = standin

from dmfkd.cli import run  # noqa: E402
from dmfkd.layouts import dmf_structures  # noqa: E402
from dmfkd.render import Output  # noqa: E402
from dmfkd.targets.isf import IsfSymbols  # noqa: E402
from dmfkd.targets.pykd import PykdTarget  # noqa: E402
from dmfemu.isf import build_isf  # noqa: E402
from dmfemu.modules.crashdump import pack_data_source_create  # noqa: E402
from dmfemu.scenarios.crashdump_replay import ScenarioRun  # noqa: E402
from dmfemu.target import EmulatorTarget  # noqa: E402

ENTRY_SIZE = 32


def guid_of(i: int) -> str:
    return "0badc0de-0000-4000-8000-%012x" % (i + 1)


def live_machine(sources: int, entries: int):
    scenario = {"arch": "x64", "dmf_version": "1.1.154",
                "crashdump": {"component_name": "Bench", "data_source_count": sources,
                              "ring_buffer_maximum_size": entries * ENTRY_SIZE}}
    run_ = ScenarioRun(scenario)
    crashdump = run_.crashdump
    for i in range(sources):
        fo = crashdump.file_create()
        status, _, _ = crashdump.ioctl(dmf_structures.IOCTL_DATA_SOURCE_CREATE,
                                       pack_data_source_create(entries, ENTRY_SIZE, uuid.UUID(guid_of(i))), 0, fo)
        assert status == 0, hex(status)
        for n in range(entries + 3):  # wrapped: the oldest 3 are gone
            rec = (b"src%d entry %07d" % (i, n)).ljust(ENTRY_SIZE, b"\0")
            crashdump.data_sources.write_auxiliary(fo, rec)
    return run_


def count(argv, target) -> (int, dict, object):
    standin.reset_counts()
    buf = io.StringIO()
    run(argv + ["--format", "json"], Output(buf), target=target)
    return standin.engine_calls(), standin.call_counts(), json.loads(buf.getvalue())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", default="1000,10000")
    ap.add_argument("--sources", type=int, default=8)
    a = ap.parse_args()
    budget = 10 + 3 * a.sources
    results = {}
    ok = True
    for entries in [int(x) for x in a.entries.split(",")]:
        t0 = time.perf_counter()
        r = live_machine(a.sources, entries)
        built = time.perf_counter() - t0
        symbols = IsfSymbols(build_isf(r.driver), source="bench")
        standin.attach(EmulatorTarget(r.machine), symbols)
        standin.reset_counts()
        target = PykdTarget()
        setup = standin.engine_calls()
        row = {}
        for name, argv in (("summary", ["crashdump"]), ("all records", ["crashdump", "--all"]),
                           ("one source", ["crashdump", "--guid", guid_of(0)])):
            calls, per, doc = count(argv, target)
            row[name] = calls
            if name == "all records":
                got = sum(len(s["records"]) for s in doc["sources"])
                assert got == a.sources * entries, got
            if name == "one source":
                assert len(doc["records"]) == entries and doc["records"][0]["hex"].startswith(
                    (b"src0 entry %07d" % 3).hex())
            print("entries=%-6d %-12s engine calls %3d  (+%d target set-up)  %s"
                  % (entries, name, calls, setup, json.dumps(per, sort_keys=True)))
        results[entries] = row
        print("entries=%-6d machine built in %.1f s" % (entries, built))
    flat = len({json.dumps(v, sort_keys=True) for v in results.values()}) == 1
    worst = max(max(v.values()) for v in results.values())
    print("budget 10 + 3 x %d = %d; worst command %d calls; flat in entries: %s -> %s"
          % (a.sources, budget, worst, flat, "met" if worst <= budget and flat else "NOT met"))
    return 0 if worst <= budget and flat else 1


if __name__ == "__main__":
    sys.exit(main())
