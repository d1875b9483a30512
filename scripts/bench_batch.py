"""Dumps per second of `dmfkd batch` against a shell loop of `dmfkd crashdump` processes, on one corpus, in
one run (issue 14's goals: `batch --jobs 1` >= 5x the loop, two workers >= 1.7x one).

    python scripts/bench_batch.py [--corpus DIR | --count N] [--repeat R] [--loop-sample K] [--no-dask]

Measured, each as a separate process started from this script (so every variant pays its own start-up):
- loop:      `dmfkd crashdump DUMP --all --format jsonl > /dev/null` once per dump, one after the other
- jobs 1:    `dmfkd batch CORPUS --out DIR --jobs 1`
- jobs 2:    `dmfkd batch CORPUS --out DIR --jobs 2`
- dask 2:    `dmfkd batch CORPUS --out DIR --engine dask --jobs 2` (a LocalCluster of 2 workers)
Each batch variant runs --repeat times and keeps its best time. Without --corpus, scripts/make_corpus.py
writes --count dumps (default 200) into a temporary folder first. The loop's rate is per dump, so on a large
corpus --loop-sample K times it on K dumps spread over the corpus (the batch variants always read all).
Every variant pays its fixed costs (interpreter, worker start, merging the output) inside its time: on a
small corpus they weigh against more workers. The load average is printed: other work on the machine
shows there.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _env():
    paths = [os.path.join(ROOT, "extension"), os.path.join(ROOT, "emulator")]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


def _load() -> str:
    try:
        return " ".join("%.2f" % value for value in os.getloadavg())
    except (AttributeError, OSError):
        return "-"


def _dumps(corpus):
    sys.path[:0] = [os.path.join(ROOT, "extension")]
    from dmfkd.batch.inputs import discover

    return discover([corpus])[0]


def time_loop(dumps):
    env = _env()
    start = time.perf_counter()
    for dump in dumps:
        subprocess.run([sys.executable, "-m", "dmfkd", "crashdump", dump, "--all", "--format", "jsonl"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def time_batch(corpus, work, options, repeat):
    """(best wall time, best steady time): the whole command, and first to last result (run.json)."""
    best = steady = None
    for attempt in range(repeat):
        out = os.path.join(work, "out-%s-%d" % ("-".join(options).replace("-", ""), attempt))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dmfkd", "batch", corpus, "--out", out, "--progress", "none"] + options,
                       check=True, stdout=subprocess.DEVNULL, env=_env())
        took = time.perf_counter() - start
        with open(os.path.join(out, "run.json")) as handle:
            facts = json.load(handle)["runs"][-1]
        span = facts["last_result_seconds"] - facts["first_result_seconds"]
        best = took if best is None else min(best, took)
        steady = span if steady is None else min(steady, span)
        shutil.rmtree(out)
    return best, steady


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", metavar="DIR", help="an existing corpus (default: make one)")
    parser.add_argument("--count", type=int, default=200, metavar="N", help="dumps in the corpus made (default 200)")
    parser.add_argument("--repeat", type=int, default=3, metavar="R", help="runs per batch variant (default 3)")
    parser.add_argument("--loop-sample", type=int, metavar="K", help="time the loop on K dumps of the corpus")
    parser.add_argument("--no-dask", action="store_true", help="leave out the Dask variant")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="dmfkd-bench-batch-")
    try:
        corpus = args.corpus
        if corpus is None:
            corpus = os.path.join(work, "corpus")
            subprocess.run([sys.executable, os.path.join(HERE, "make_corpus.py"), str(args.count), corpus],
                           check=True, env=_env())
        dumps = _dumps(corpus)
        print("corpus: %s, %d dumps, %.1f MB; %d cores; load average %s" % (
            corpus, len(dumps), sum(os.path.getsize(d) for d in dumps if os.path.isfile(d)) / 1e6,
            os.cpu_count() or 1, _load()))
        sample = dumps
        if args.loop_sample and args.loop_sample < len(dumps):
            step = len(dumps) / float(args.loop_sample)
            sample = [dumps[int(i * step)] for i in range(args.loop_sample)]
        loop_seconds = time_loop(sample) * len(dumps) / len(sample)
        results = [("loop of crashdump processes%s" % ("" if sample is dumps else " (%d sampled)" % len(sample)),
                    (loop_seconds, None))]
        results.append(("batch --jobs 1", time_batch(corpus, work, ["--jobs", "1"], args.repeat)))
        results.append(("batch --jobs 2", time_batch(corpus, work, ["--jobs", "2"], args.repeat)))
        if not args.no_dask:
            results.append(("batch --engine dask, 2 workers",
                            time_batch(corpus, work, ["--engine", "dask", "--jobs", "2"], args.repeat)))
        n = len(dumps)
        loop = results[0][1][0]
        one, one_steady = results[1][1]
        print("%-44s %8s %8s %8s %9s %12s" % ("variant", "seconds", "dumps/s", "vs loop", "vs jobs 1",
                                               "steady vs 1"))
        for name, (seconds, steady) in results:
            print("%-44s %8.2f %8.1f %7.1fx %8.2fx %12s" % (
                name, seconds, n / seconds, loop / seconds, one / seconds,
                "-" if steady is None else "%.2fx" % (one_steady / steady)))
        two, two_steady = results[2][1]
        print("steady: the pace from the first result to the last (no interpreter start, worker start or merge)")
        print("goals: jobs 1 >= 5x the loop: %s (%.1fx); jobs 2 >= 1.7x jobs 1: %s (%.2fx, steady %.2fx); "
              "load average after: %s" % ("met" if loop / one >= 5 else "NOT met", loop / one,
                                          "met" if one / two >= 1.7 else "NOT met", one / two,
                                          one_steady / two_steady, _load()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
