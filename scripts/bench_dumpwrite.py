#!/usr/bin/env python3
"""Benchmark: write a bitmap dump of 256 MiB of emulated physical memory (pages holding data) with
Machine.write_dump, against copying a file of the same size with shutil.copyfile, in the same run.

Goal (issue 3): median ratio dump-write / file-copy <= 3. Files go under a temporary directory
(default: the system temp dir) and are deleted afterwards.

    PYTHONPATH=extension:emulator python3 scripts/bench_dumpwrite.py [--mib 256] [--runs 5] [--arch x64|x86|arm64]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
for sub in ("extension", "emulator"):
    path = os.path.join(HERE, os.pardir, sub)
    if path not in sys.path:
        sys.path.insert(0, path)

from dmfemu.machine import Machine  # noqa: E402

PAGE = 0x1000


def build_machine(mib: int, arch: str = "x64") -> Machine:
    """A machine with exactly `mib` MiB of physical memory, every page holding non-zero data."""
    machine = Machine(arch)
    phys = machine.phys
    target_pages = mib * 256
    pattern = bytes(range(256)) * (PAGE // 256)
    while phys.top_pfn - 1 < target_pages:          # present pages are PFN 1 .. top_pfn - 1
        count = min(4096, target_pages - (phys.top_pfn - 1))
        pa = phys.allocate_pages(count)
        phys.view(pa, count * PAGE)[:] = pattern * count
    assert len(phys.present_pfns()) == target_pages
    return machine


def timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=None, help="directory for the files (default: temp dir)")
    parser.add_argument("--profile", action="store_true", help="cProfile one dump write")
    parser.add_argument("--arch", choices=("x64", "x86", "arm64"), default="x64")
    args = parser.parse_args(argv)

    machine = build_machine(args.mib, args.arch)
    nbytes = len(machine.phys.present_pfns()) * PAGE
    workdir = tempfile.mkdtemp(prefix="dmfemu-bench-", dir=args.dir)
    try:
        dump_path = os.path.join(workdir, "MEMORY.DMP")
        source = os.path.join(workdir, "source.bin")
        copy = os.path.join(workdir, "copy.bin")
        with open(source, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(nbytes >> 20):
                f.write(block)
            f.write(block[:nbytes & ((1 << 20) - 1)])
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            machine.write_dump(dump_path, "bitmap", (0xDEADDEAD, 0, 0, 0, 0))
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)
        ratios = []
        print("arch %s, physical memory: %d MiB (%d pages); runs: %d"
              % (args.arch, nbytes >> 20, nbytes // PAGE, args.runs))
        print("%4s %12s %12s %8s" % ("run", "dump_s", "copy_s", "ratio"))
        for run in range(args.runs):
            for stale in (dump_path, copy):
                if os.path.exists(stale):
                    os.remove(stale)
            copy_s = timed(lambda: shutil.copyfile(source, copy))
            os.remove(copy)
            dump_s = timed(lambda: machine.write_dump(dump_path, "bitmap", (0xDEADDEAD, 0, 0, 0, 0)))
            os.remove(dump_path)
            ratios.append(dump_s / copy_s)
            print("%4d %12.3f %12.3f %8.2f" % (run + 1, dump_s, copy_s, ratios[-1]))
        median = statistics.median(ratios)
        print("median ratio dump-write / file-copy: %.2f (goal <= 3): %s"
              % (median, "met" if median <= 3 else "MISSED"))
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
