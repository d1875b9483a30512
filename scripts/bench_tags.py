"""Benchmark: `dmfkd tags` on a sparse full dump claiming 64 GiB of pages vs the same blobs in a
64 MiB full dump (issue 2; goal: median ratio <= 1.2), plus kdmp-parser's open time on both files.

The 64 GiB file is sparse: header, one run of 16 Mi pages, a hole where the pages would be, and the
secondary-data region at 0x2000 + 64 GiB. Listing tags reads only the header and the region, so the
two should cost about the same. Temp files live under /tmp and are deleted afterwards.

    PYTHONPATH=extension:emulator python3 scripts/bench_tags.py [--runs 15]
"""
import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from dmfemu.dumpwriter import blob_region, write_dump
from dmfkd.cli import run
from dmfkd.layouts import dump_format
from dmfkd.render import Output

PAGE = 0x1000
BIG_PAGES = (64 << 30) // PAGE
SMALL_PAGES = (64 << 20) // PAGE


def make_blobs():
    # sizes in the spirit of the real x64 triage dump (§3.6): 20 blobs, a few KiB to ~50 KiB
    sizes = [4096, 68, 4096, 54459, 3360, 4024, 521, 0, 4060, 1568, 470, 4096, 8192, 12288, 0, 536,
             1800, 905, 10240, 42268]
    return [(uuid.UUID(int=(i + 1) * 0x1111), bytes([i]) * size) for i, size in enumerate(sizes)]


def write_sparse_full(path, blobs, pages):
    region = blob_region(blobs, 19041)
    size = dump_format.HEADER64_SIZE + PAGE * pages + len(region)
    runs = [dict(BasePage=0, PageCount=pages)] + dump_format.unused_runs(dump_format.MAX_RUNS64 - 1)
    header = dump_format.DUMP_HEADER64.build(dict(
        MajorVersion=0xF, MinorVersion=19041, DirectoryTableBase=0x1000, MachineImageType=dump_format.MACHINE_AMD64,
        NumberProcessors=1, BugCheckCode=0xDEADDEAD, BugCheckParameter1=0, BugCheckParameter2=0,
        BugCheckParameter3=0, BugCheckParameter4=0, KdDebuggerDataBlock=0,
        PhysicalMemoryBlock=dict(NumberOfRuns=1, NumberOfPages=pages, Run=runs),
        Exception=dict(ExceptionCode=dump_format.STATUS_BREAKPOINT, ExceptionFlags=1, ExceptionRecord=0,
                       ExceptionAddress=0, NumberParameters=0, _pad=0, ExceptionInformation=[0] * 15),
        ContextRecord=dump_format.CONTEXT_AMD64.build({}) + b"\0" * (dump_format.CONTEXT_RECORD64_SIZE - dump_format.CONTEXT_AMD64_SIZE),
        DumpType=1, RequiredDumpSpace=size, SystemTime=0, SystemUpTime=0, SecondaryDataState=0, ProductType=1))
    with open(path, "wb") as f:
        f.write(header)
        f.seek(dump_format.HEADER64_SIZE + PAGE * pages)      # the pages are a hole
        f.write(region)
    return size


def time_tags(path, runs):
    times = []
    for _ in range(runs):
        out = io.StringIO()
        start = time.perf_counter()
        run(["tags", path, "--format", "json"], output=Output(out))
        times.append(time.perf_counter() - start)
    return times, out.getvalue()


def time_tags_process(path, runs):
    env = dict(os.environ)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dmfkd", "tags", path, "--format", "json"], env=env,
                       stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return times


def time_kdmp(path, runs, timeout=600):
    code = ("import sys, time, kdmp_parser\n"
            "t = time.perf_counter(); p = kdmp_parser.KernelDumpParser(sys.argv[1]); "
            "print(time.perf_counter() - t)\n")
    times = []
    for _ in range(runs):
        try:
            proc = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, "timed out after %d s" % timeout
        if proc.returncode != 0:
            return None, "failed: %s" % (proc.stderr.strip().splitlines() or ["?"])[-1]
        times.append(float(proc.stdout.strip().splitlines()[-1]))
    return times, ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--kdmp-runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="also print one BENCH-RESULT line (scripts/bench.py)")
    args = parser.parse_args()
    blobs = make_blobs()
    workdir = tempfile.mkdtemp(prefix="dmfkd-bench-tags-", dir="/tmp")
    big = os.path.join(workdir, "sparse-64g.dmp")
    small = os.path.join(workdir, "full-64m.dmp")
    try:
        big_size = write_sparse_full(big, blobs, BIG_PAGES)
        zero = bytes(PAGE)
        small_size = write_dump(small, arch="x64", dump_type="full", dtb=0x1000,
                                pages={pfn: zero for pfn in range(SMALL_PAGES)}, blobs=blobs)
        print("files: sparse %d bytes apparent (%d KiB allocated), dense %d bytes"
              % (big_size, os.stat(big).st_blocks // 2, small_size))
        # warm both files once (page cache, imports)
        _, out_big = time_tags(big, 1)
        _, out_small = time_tags(small, 1)
        assert out_big.count('"guid"') == out_small.count('"guid"') == len(blobs)
        big_t, _ = time_tags(big, args.runs)
        small_t, _ = time_tags(small, args.runs)
        mb, ms = statistics.median(big_t), statistics.median(small_t)
        print("tags in-process, %d runs: 64 GiB sparse median %.2f ms, 64 MiB median %.2f ms, ratio %.3f (goal <= 1.2)"
              % (args.runs, mb * 1e3, ms * 1e3, mb / ms))
        if args.json:
            print("BENCH-RESULT " + json.dumps({
                "figure": "tags, 64 GiB sparse dump", "value": round(mb * 1e3, 2), "unit": "ms",
                "baseline": "tags, 64 MiB dump", "baseline_value": round(ms * 1e3, 2), "ratio": round(mb / ms, 3),
                "goal": "ratio <= 1.2", "met": mb / ms <= 1.2}))
        proc_runs = max(3, args.runs // 3)
        pb, ps = statistics.median(time_tags_process(big, proc_runs)), statistics.median(time_tags_process(small, proc_runs))
        print("tags as `python -m dmfkd`, %d runs: 64 GiB median %.1f ms, 64 MiB median %.1f ms, ratio %.3f"
              % (proc_runs, pb * 1e3, ps * 1e3, pb / ps))
        for label, path in (("64 MiB", small), ("64 GiB sparse", big)):
            times, problem = time_kdmp(path, args.kdmp_runs if path == small else 1)
            if times is None:
                print("kdmp-parser open, %s: %s" % (label, problem))
            else:
                print("kdmp-parser open, %s: median %.1f ms over %d run(s)"
                      % (label, statistics.median(times) * 1e3, len(times)))
    finally:
        for path in (big, small):
            if os.path.exists(path):
                os.unlink(path)
        os.rmdir(workdir)


if __name__ == "__main__":
    main()
