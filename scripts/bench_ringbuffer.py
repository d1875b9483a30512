#!/usr/bin/env python3
"""Benchmark: 1,000,000 DMF_RingBuffer writes of 64-byte items through emulated kernel memory
(dmfemu.modules.ringbuffer: every write reads and updates the RING_BUFFER context in emulated
memory and copies the item into the (N+1)*S storage block), against a baseline measured in the
same run: the same number of plain 64-byte slice copies into a bytearray with a Python-side
write index (the least any Python ring can do per item).

Goal (issue 3): >= 500,000 writes/s. Prints writes/s for both, and the ratio ring / baseline.
Also checks the result: the ring must end up holding the last N items written, oldest first.

    PYTHONPATH=extension:emulator python3 scripts/bench_ringbuffer.py [--writes 1000000]
        [--item-size 64] [--items 4096] [--arch x64|x86|arm64] [--runs 3]
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "extension"))
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))

from dmfkd.layouts import dmf_structures
from dmfemu.machine import Machine  # noqa: E402
from dmfemu.modules.dmfobject import Dmf  # noqa: E402
from dmfemu.modules.ringbuffer import RingBuffer  # noqa: E402


def make_items(count: int, size: int):
    """A small pool of distinct items reused cyclically (so item creation is not measured)."""
    return [bytes([(k + i) & 0xFF for i in range(size)]) for k in range(count)]


def bench_ring(arch: str, writes: int, size: int, slots: int, items) -> float:
    machine = Machine(arch)
    ring = RingBuffer(Dmf(machine), slots, size, dmf_structures.RingBuffer_Mode_DeleteOldestIfFullOnWrite)
    write = ring.write
    n_items = len(items)
    start = time.perf_counter()
    for k in range(writes):
        write(items[k % n_items])
    elapsed = time.perf_counter() - start
    # correctness: after Reorder the storage holds the last `slots` items oldest first
    ring.reorder(True)
    expected_first = items[(writes - min(writes, slots)) % n_items]
    if machine.space.read(ring.items_va, size) != expected_first:
        raise SystemExit("ring content check failed")
    if ring.items_present != min(writes, slots):
        raise SystemExit("ItemsPresentCount check failed")
    return elapsed


def bench_baseline(writes: int, size: int, slots: int, items) -> float:
    storage = bytearray((slots + 1) * size)
    n_items = len(items)
    w = 0
    end = slots * size
    start = time.perf_counter()
    for k in range(writes):
        storage[w:w + size] = items[k % n_items]
        w += size
        if w >= end:
            w = 0
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=1000000)
    parser.add_argument("--item-size", type=int, default=64)
    parser.add_argument("--items", type=int, default=4096, help="ring capacity N")
    parser.add_argument("--arch", choices=("x64", "x86", "arm64"), default="x64")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    items = make_items(257, args.item_size)
    ring_times, base_times = [], []
    for _ in range(args.runs):
        ring_times.append(bench_ring(args.arch, args.writes, args.item_size, args.items, items))
        base_times.append(bench_baseline(args.writes, args.item_size, args.items, items))
    ring_t = statistics.median(ring_times)
    base_t = statistics.median(base_times)
    ring_rate = args.writes / ring_t
    base_rate = args.writes / base_t
    print("python %s, arch %s, %d writes of %d bytes into N=%d, median of %d runs"
          % (sys.version.split()[0], args.arch, args.writes, args.item_size, args.items, args.runs))
    print("emulated RingBuffer: %.3f s  %10.0f writes/s  (goal >= 500,000)" % (ring_t, ring_rate))
    print("baseline slice copy: %.3f s  %10.0f writes/s" % (base_t, base_rate))
    print("ratio ring time / baseline time: %.2f" % (ring_t / base_t))
    print("goal %s" % ("met" if ring_rate >= 500000 else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
