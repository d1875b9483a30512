#!/usr/bin/env python3
"""Run every benchmark of the project in one go and print one table: for each scripts/bench_*.py, its
figure, the baseline it measures in the same run, their ratio and its goal.

Each benchmark runs as its own process with ``--json`` and reports a line
``BENCH-RESULT {"figure", "value", "unit", "baseline", "baseline_value", "ratio", "goal", "met"}``
(or ``{"skipped": reason}`` when a prerequisite such as clang or llvm-pdbutil is missing). A script
without that line, one that fails or one that runs past --timeout is listed with the reason.

    python3 scripts/bench.py [--only NAME,...] [--timeout SECONDS] [--json]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MARK = "BENCH-RESULT "


def discover():
    """bench_*.py beside this script, by name."""
    return sorted(path for path in glob.glob(os.path.join(HERE, "bench_*.py")))


def run_one(path: str, timeout: float) -> dict:
    name = os.path.basename(path)[:-3]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(REPO, "extension"), os.path.join(REPO, "emulator"), HERE]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, path, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"name": name, "skipped": "ran past %d s" % timeout}
    seconds = time.perf_counter() - start
    lines = [line[len(MARK):] for line in proc.stdout.decode("utf-8", "replace").splitlines()
             if line.startswith(MARK)]
    if not lines:
        error = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        if proc.returncode == 2 and any("--json" in line for line in error):
            reason = "no machine-readable result (run it on its own)"
        elif proc.returncode:
            reason = "failed (exit %d): %s" % (proc.returncode, (error or ["no message"])[-1][:80])
        else:
            reason = "printed no BENCH-RESULT line"
        return {"name": name, "skipped": reason, "seconds": seconds}
    try:
        result = json.loads(lines[-1])
    except ValueError:
        return {"name": name, "skipped": "unreadable BENCH-RESULT line", "seconds": seconds}
    result.update(name=name, seconds=seconds)
    return result


def _number(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value < 100:
        text = "%.3g" % value
    else:
        text = "{:,}".format(int(round(value)))
    return (text + " " + unit).strip()


def table(results) -> str:
    from tabulate import tabulate

    rows = []
    for r in results:
        if "skipped" in r:
            rows.append([r["name"][len("bench_"):], "skipped: " + r["skipped"], "", "", "", "", ""])
            continue
        unit = r.get("unit", "")
        rows.append([r["name"][len("bench_"):], r["figure"], _number(r["value"], unit), r["baseline"],
                     _number(r["baseline_value"], r.get("baseline_unit", unit)), _number(r["ratio"]),
                     "%s: %s" % (r["goal"], "met" if r["met"] else "NOT met")])
    return tabulate(rows, headers=["benchmark", "figure", "value", "in-run baseline", "value", "ratio", "goal"],
                    tablefmt="github")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="NAME,...", help="only these benchmarks (e.g. bench_replay,bench_tags)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds each benchmark may run (default 900)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    paths = discover()
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        paths = [p for p in paths if os.path.basename(p)[:-3] in wanted]
    results = []
    for path in paths:
        sys.stderr.write("running %s ...\n" % os.path.basename(path))
        results.append(run_one(path, args.timeout))
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print("python %s, %d benchmark(s)" % (sys.version.split()[0], len(results)))
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
