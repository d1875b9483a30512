#!/usr/bin/env python3
"""Benchmark: decode a 1,000,000 x 64-byte DMF CrashDump ring blob to JSONL (issue 4).

Goal: < 1 s, and >= 10x faster than a naive decoder measured in the same run: construct parses each
record on its own (the key XOR of record 0 done the same way), and every line goes through
json.dumps. Both produce the same JSON per line (checked; dmfkd pads the index with spaces so that
every line has the same width). Prints the times and the ratio.

    PYTHONPATH=extension python3 scripts/bench_decode.py [--records N] [--entry-size S] [--repeat K]
"""
import argparse
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "extension"))

import construct as cs  # noqa: E402

from dmfkd.decode import records_jsonl_bytes  # noqa: E402
from dmfkd.dmf.ringbuffer import decode_crash_blob  # noqa: E402

GUID = uuid.UUID("F4A58486-FD91-4BF9-96BC-DDA5CF571EDF")


def make_blob(n: int, s: int) -> bytes:
    """n live records (a counter, a tag and zero padding, like a C struct) as DMF writes them:
    record 0 XOR-ed with the GUID key (spec/dmf.md §2.11)."""
    rec = bytearray(s)
    body = bytearray()
    for i in range(min(n, 4096)):
        rec[:] = bytes(s)
        rec[0:8] = (i * 2654435761 + 1).to_bytes(8, "little")
        rec[8:16] = b"evt-%04d" % (i % 10000)
        body += rec
    body = bytes(body) * (n // 4096 + 1)
    body = body[:n * s]
    key = GUID.hex.upper().encode()
    first = bytes(b ^ key[j % 32] for j, b in enumerate(body[:s]))
    return first + body[s:]


def naive(blob: bytes, s: int) -> str:
    record = cs.Struct("data" / cs.Bytes(s))
    key = GUID.hex.upper().encode()
    lines = []
    for i in range(len(blob) // s):
        parsed = record.parse(blob[i * s:(i + 1) * s])
        data = parsed.data
        if i == 0:
            data = bytes(b ^ key[j % 32] for j, b in enumerate(data))
        lines.append(json.dumps({"index": i, "hex": data.hex()}, separators=(",", ":")))
    # the trailing-zero rule of the real decoder does not apply: every record here is live
    return "\n".join(lines) + "\n"


def fast(blob: bytes, s: int) -> bytes:
    ring = decode_crash_blob(blob, GUID, s)
    return records_jsonl_bytes(ring)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--entry-size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3, help="fast path runs (best is reported)")
    ap.add_argument("--json", action="store_true", help="also print one BENCH-RESULT line (scripts/bench.py)")
    a = ap.parse_args()
    blob = make_blob(a.records, a.entry_size)
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        out_fast = fast(blob, a.entry_size)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    out_naive = naive(blob, a.entry_size)
    t_naive = time.perf_counter() - t0
    # same JSON: dmfkd right-aligns the index with spaces (equal-width lines); hex has no spaces
    same = bytes(out_fast).replace(b" ", b"") == out_naive.encode("ascii")
    best = min(times)
    print("records=%d entry_size=%d blob=%d bytes jsonl=%d bytes identical=%s"
          % (a.records, a.entry_size, len(blob), len(out_fast), same))
    print("dmfkd decode_crash_blob + records_jsonl: best %.3f s of %d (%s)"
          % (best, a.repeat, ", ".join("%.3f" % t for t in times)))
    print("naive construct per record + json.dumps: %.3f s" % t_naive)
    print("ratio naive/dmfkd: %.1fx   goal: < 1 s and >= 10x -> %s"
          % (t_naive / best, "met" if best < 1.0 and t_naive / best >= 10 else "NOT met"))
    if a.json:
        print("BENCH-RESULT " + json.dumps({
            "figure": "%d records blob -> JSONL" % a.records, "value": round(best, 3), "unit": "s",
            "baseline": "naive construct decode", "baseline_value": round(t_naive, 3),
            "ratio": round(t_naive / best, 1), "goal": "< 1 s and baseline/figure >= 10",
            "met": best < 1.0 and t_naive / best >= 10 and same}))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
