"""What the JSON bounds cost: dmfkd.bounded_input.parse_json (nesting and value count measured on the text,
integer digits checked by a parse_int hook) against plain json.loads of the same ISF-like text, measured
in the same run.

    python3 scripts/bench_bounded_json.py [--types 20000]

A driver's ISF is a few MB; the default builds ~20 MB (20,000 structs of 12 fields, volatility3's layout).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "extension"))

from dmfkd import bounded_input  # noqa: E402


def isf_text(types: int) -> str:
    user_types = {}
    for t in range(types):
        fields = {"Field%d" % f: {"offset": 8 * f, "type": {"kind": "pointer", "subtype": {"kind": "base",
                                                                                          "name": "unsigned long"}}}
                  for f in range(12)}
        user_types["_TYPE_%d" % t] = {"kind": "struct", "size": 96, "fields": fields}
    return json.dumps({"metadata": {"format": "6.2.0"}, "base_types": {}, "user_types": user_types, "symbols": {}})


def best_of(runs: int, call) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--types", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="also print one BENCH-RESULT line (scripts/bench.py)")
    args = parser.parse_args()
    text = isf_text(args.types)
    saved = bounded_input.MAX_JSON_VALUES
    bounded_input.MAX_JSON_VALUES = 1 << 40  # measure the checks, not a refusal
    try:
        baseline = best_of(args.runs, lambda: json.loads(text))
        bounded = best_of(args.runs, lambda: bounded_input.parse_json(text, "bench"))
        shape = best_of(args.runs, lambda: bounded_input.json_shape(text))
    finally:
        bounded_input.MAX_JSON_VALUES = saved
    depth, values = bounded_input.json_shape(text)
    print("%.1f MB of ISF JSON, %d values, %d levels deep" % (len(text) / 1e6, values, depth))
    print("json.loads        %.3f s (baseline)" % baseline)
    print("parse_json        %.3f s  ratio %.2f" % (bounded, bounded / baseline))
    print("  of which shape  %.3f s  ratio %.2f" % (shape, shape / baseline))
    if args.json:
        # the goal: the checks may cost at most half a parse again
        print("BENCH-RESULT " + json.dumps({
            "figure": "bounded parse of a %.0f MB ISF" % (len(text) / 1e6), "value": round(bounded, 3), "unit": "s",
            "baseline": "json.loads", "baseline_value": round(baseline, 3), "ratio": round(bounded / baseline, 2),
            "goal": "ratio <= 1.5", "met": bounded / baseline <= 1.5}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
