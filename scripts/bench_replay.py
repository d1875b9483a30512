#!/usr/bin/env python3
"""Benchmark: replay the large example scenario (large-million-operations: 1,000,000 SELF writes of
64-byte records and 20,000 data-source writes through IOCTL_DATA_SOURCE_WRITE) end to end - checking
the scenario, replaying every operation, writing the dump, the ISF and expected.json - against the raw
emulator ring-write rate measured in the same run: DMF_RingBuffer writes of the same 64-byte records
into a ring of the same size, in a plain loop (what scripts/bench_ringbuffer.py measures).

Goal (issue 12): replay operations/s >= 1/3 of the raw ring writes/s.

    PYTHONPATH=extension:emulator python3 scripts/bench_replay.py [--runs 3] [--writes 1000000] [--json]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
for sub in ("extension", "emulator"):
    path = os.path.join(HERE, os.pardir, sub)
    if path not in sys.path:
        sys.path.insert(0, path)

from dmfkd.layouts import dmf_structures  # noqa: E402
from dmfemu.machine import Machine  # noqa: E402
from dmfemu.modules.dmfobject import Dmf  # noqa: E402
from dmfemu.modules.ringbuffer import RingBuffer  # noqa: E402
from dmfemu.scenarios.examples import example  # noqa: E402
from dmfemu.scenarios.replay import replay  # noqa: E402
from dmfemu.scenarios.scenario_format import read_document  # noqa: E402

GOAL = 1 / 3


def raw_ring_rate(writes: int, size: int, slots: int) -> float:
    """DMF_RingBuffer writes per second: a plain loop over 257 distinct records."""
    machine = Machine("x64")
    ring = RingBuffer(Dmf(machine), slots, size, dmf_structures.RingBuffer_Mode_DeleteOldestIfFullOnWrite)
    items = [bytes([(k + i) & 0xFF for i in range(size)]) for k in range(257)]
    write = ring.write
    start = time.perf_counter()
    for k in range(writes):
        write(items[k % 257])
    return writes / (time.perf_counter() - start)


def replay_rate(document: dict) -> float:
    """Operations per second of one end-to-end replay of `document` (files in a temp folder)."""
    operations = sum(op.get("repeat", 1) for op in document["operations"])
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        expected = replay(document, out)
        elapsed = time.perf_counter() - start
    if expected["sources"][0]["present"] != expected["sources"][0]["capacity"]:
        raise SystemExit("replay check failed: the SELF ring is not full")
    return operations / elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--writes", type=int, default=1000000, help="SELF writes of the large example")
    parser.add_argument("--json", action="store_true", help="also print one JSON line for scripts/bench.py")
    args = parser.parse_args(argv)
    document = read_document(example("large-million-operations").path)
    self_writes = document["operations"][0]
    self_writes["repeat"] = args.writes
    slots = document["crashdump"]["buffer_count"]
    raw, replayed = [], []
    for _ in range(args.runs):
        raw.append(raw_ring_rate(args.writes, 64, slots))
        replayed.append(replay_rate(document))
    raw_rate, replay_ops = statistics.median(raw), statistics.median(replayed)
    ratio = replay_ops / raw_rate
    operations = sum(op.get("repeat", 1) for op in document["operations"])
    print("python %s; large example: %d operations; median of %d runs" % (sys.version.split()[0], operations,
                                                                          args.runs))
    print("replay end to end:  %10.0f operations/s" % replay_ops)
    print("raw ring writes:    %10.0f writes/s (DMF_RingBuffer.write in a loop)" % raw_rate)
    print("ratio replay / raw: %.2f (goal >= %.2f): %s" % (ratio, GOAL, "met" if ratio >= GOAL else "NOT met"))
    if args.json:
        print("BENCH-RESULT " + json.dumps({
            "figure": "large example replay", "value": round(replay_ops), "unit": "operations/s",
            "baseline": "raw ring writes", "baseline_unit": "writes/s", "baseline_value": round(raw_rate),
            "ratio": round(ratio, 3), "goal": "ratio >= 1/3", "met": ratio >= GOAL}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
