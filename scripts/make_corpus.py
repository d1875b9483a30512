"""Write a corpus of N varied emulator dumps for `dmfkd batch` (its tests and scripts/bench_batch.py).

    python scripts/make_corpus.py N DIR [--seed S] [--corrupt-every K] [--live-every L]

Each member is a folder DIR/NNNN-<what>/ holding MEMORY.DMP (or LIVEDUMP.DMP) and the driver.isf.json
the emulator writes beside it. Members vary, from a seeded generator:
- arch x64 / x86, dump type full / bitmap / triage (x64), DMF 1.0.0 / 1.1.84 / 1.1.100 / 1.1.154 (context V1,
  V3, V5);
- the scenario: the demo driver with its own seed (other records), crashed through its IOCTL (0xDEADDEAD)
  or a bug check of another code; sometimes a small MaximumAllowed (truncated sources); the crash time
  spread over a week;
- every L-th member a live kernel dump made by DMF_LiveKernelDump (no CrashDump data);
- every K-th member corrupt, so that it cannot be read: cut inside the header, its signature broken, random
  bytes, an empty file, an unknown dump type; and one more in every K damaged but readable: its last bytes
  cut off, or a blob header claiming more bytes than the file has.
DIR/corpus.json lists every member: path, what it is, and whether it is corrupt or damaged.

The dumps are small (70-520 KB), so a 200-dump corpus takes a few seconds and ~80 MB.
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
from typing import Any, Dict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _sub in ("extension", "emulator"):
    _path = os.path.join(ROOT, _sub)
    if _path not in sys.path:
        sys.path.insert(0, _path)

DMF_VERSIONS = ("1.0.0", "1.1.84", "1.1.100", "1.1.154")
#: bug checks other than DMF's own 0xDEADDEAD, with plausible parameters
OTHER_BUGCHECKS = ((0xD1, [0xFFFFF80000001234, 2, 0, 0xFFFFF80000004321]), (0x9F, [3, 0xFFFFE00000100000, 0, 0]),
                   (0x133, [1, 0x1E00, 0xFFFFF80000005000, 0]), (0x7E, [0xC0000005, 0xFFFFF80000002222, 0, 0]))
WEEK = 7 * 24 * 3600 * 10 ** 7          # 100 ns ticks
#: what makes a member unreadable (an error row), and what only damages it (read, with warnings)
CORRUPTIONS = ("header-cut", "bad-signature", "random-bytes", "empty", "bad-dump-type")
DAMAGES = ("tail-cut", "blob-past-end")


def _emulator():
    """The emulator's demo scenario and its replayer."""
    from dmfemu.scenarios.crashdump_demo import demo_scenario
    from dmfemu.scenarios.crashdump_replay import run_scenario

    return demo_scenario, run_scenario


#: (DumpType, SystemTime) offsets in DUMP_HEADER64 and DUMP_HEADER32
HEADER_OFFSETS = {b"DU64": (0xF98, 0xFA8), b"DUMP": (0xF88, 0xFC0)}


def _header_offsets(data: bytes):
    offsets = HEADER_OFFSETS.get(bytes(data[4:8]))
    if data[:4] != b"PAGE" or offsets is None:
        raise SystemExit("make_corpus: the emulator wrote no dump header")
    return offsets


def _set_crash_time(path: str, when: int) -> None:
    """Put the crash time into the dump header just written (the emulator writes a fixed one)."""
    with open(path, "r+b") as handle:
        _, system_time = _header_offsets(handle.read(8))
        handle.seek(system_time)
        handle.write(struct.pack("<Q", when))


def _blob_region(data: bytes):
    from dmfkd.layouts import dump_format

    at = data.rfind(dump_format.BLOB_SIGNATURE)
    return None if at < 0 else at


def _spoil(path: str, how: str, rng: random.Random) -> None:
    """Corrupt (unreadable: an error row) or damage (readable, with warnings) a member."""
    with open(path, "rb") as handle:
        data = bytearray(handle.read())
    if how == "header-cut":
        data = data[:rng.randrange(100, 0x1000)]
    elif how == "bad-signature":
        data[0:4] = b"PAGX"
    elif how == "random-bytes":
        data = bytearray(rng.getrandbits(8) for _ in range(rng.randrange(4096, 65536)))
    elif how == "empty":
        data = bytearray()
    elif how == "bad-dump-type":
        dump_type, _ = _header_offsets(data)
        struct.pack_into("<I", data, dump_type, 9)
    elif how == "tail-cut":
        data = data[:len(data) - rng.randrange(16, 64)]
    elif how == "blob-past-end":
        region = _blob_region(bytes(data))
        if region is not None:      # the first blob claims far more bytes than the file has
            first_blob = region + max(16, struct.unpack_from("<I", data, region + 8)[0])
            struct.pack_into("<I", data, first_blob + 0x14, 0x7FFFFFFF)
    with open(path, "wb") as handle:
        handle.write(bytes(data))


def _crash_member(rng: random.Random, number: int, folder: str, base_time: int) -> Dict[str, Any]:
    demo_scenario, run_scenario = _emulator()
    arch = rng.choice(("x64", "x64", "x86"))
    dump_type = rng.choice(("full", "bitmap", "triage") if arch == "x64" else ("full", "bitmap"))
    version = rng.choice(DMF_VERSIONS)
    scenario = demo_scenario(arch=arch, dmf_version=version, dump_type=dump_type, seed=number + 1,
                             maximum_allowed=rng.choice((None, None, None, 512, 2048)))
    what = {"kind": "crash", "arch": arch, "dump_type": dump_type, "dmf_version": version,
            "maximum_allowed": scenario.get("maximum_allowed"), "bugcheck": 0xDEADDEAD}
    if rng.random() < 0.4:
        code, parameters = rng.choice(OTHER_BUGCHECKS)
        scenario["crash"] = {"via": "bugcheck", "code": code, "parameters": parameters}
        what["bugcheck"] = code
    run_scenario(scenario, folder)
    when = base_time + rng.randrange(WEEK)
    _set_crash_time(os.path.join(folder, "MEMORY.DMP"), when)
    what["crash_time"] = when
    return what


def _live_member(rng: random.Random, folder: str, base_time: int) -> Dict[str, Any]:
    arch = rng.choice(("x64", "x86"))
    dump_type = rng.choice(("triage", "bitmap-kernel")) if arch == "x64" else "full"
    command = [sys.executable, "-m", "dmfemu", "livedump", "-o", folder, "--arch", arch, "--dump-type", dump_type,
               "--client-buffers", str(rng.randrange(1, 5))]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "extension"), os.path.join(ROOT, "emulator")]
                                                      + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    when = base_time + rng.randrange(WEEK)      # also makes each live dump a different file
    _set_crash_time(os.path.join(folder, "LIVEDUMP.DMP"), when)
    return {"kind": "live", "arch": arch, "dump_type": dump_type, "crash_time": when}


def make_corpus(count: int, out: str, seed: int = 14, corrupt_every: int = 25, live_every: int = 40) -> Dict[str, Any]:
    rng = random.Random(seed)
    base_time = 133485408000000000          # 2024-01-01
    os.makedirs(out, exist_ok=True)
    members = []
    for number in range(count):
        live = live_every and number % live_every == live_every - 1
        corrupt = corrupt_every and number % corrupt_every == corrupt_every - 1
        damaged = corrupt_every and not corrupt and number % corrupt_every == corrupt_every // 2
        tag = "live" if live else "crash"
        folder = os.path.join(out, "%04d-%s" % (number, tag))
        if os.path.exists(folder):
            shutil.rmtree(folder)
        what = _live_member(rng, folder, base_time) if live else _crash_member(rng, number, folder, base_time)
        name = "LIVEDUMP.DMP" if live else "MEMORY.DMP"
        path = os.path.join(folder, name)
        for extra in ("expected.json",):
            if os.path.exists(os.path.join(folder, extra)):
                os.remove(os.path.join(folder, extra))
        if corrupt:
            how = CORRUPTIONS[(number // corrupt_every) % len(CORRUPTIONS)]
            _spoil(path, how, rng)
            what["corrupt"] = how
        elif damaged:
            how = DAMAGES[(number // corrupt_every) % len(DAMAGES)]
            _spoil(path, how, rng)
            what["damaged"] = how
        what["path"] = path
        members.append(what)
    document = {"seed": seed, "count": count, "members": members}
    with open(os.path.join(out, "corpus.json"), "w") as handle:
        json.dump(document, handle, indent=1)
    return document


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, metavar="N")
    parser.add_argument("out", metavar="DIR")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--corrupt-every", type=int, default=25, metavar="K", help="every K-th member corrupt (0: none)")
    parser.add_argument("--live-every", type=int, default=40, metavar="L", help="every L-th member a live dump (0: none)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("N must be at least 1")
    document = make_corpus(args.count, args.out, args.seed, args.corrupt_every, args.live_every)
    members = document["members"]
    corrupt = sum(1 for m in members if m.get("corrupt"))
    damaged = sum(1 for m in members if m.get("damaged"))
    live = sum(1 for m in members if m["kind"] == "live")
    size = sum(os.path.getsize(m["path"]) for m in members)
    print("%s: %d dumps (%d live, %d corrupt, %d damaged), %.1f MB"
          % (args.out, len(members), live, corrupt, damaged, size / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
