"""`dmfemu demo` - the reference scenario: a DMF driver with a wrapped SELF ring, two user-mode data
sources created through the IOCTLs (one orphaned by closing its handle, one read from by a second
client), additional data and triage data, crashed through IOCTL_CRASH_DRIVER. Also `dmfemu scenario`
to replay any scenario file (dmfemu.scenario)."""
import argparse
import random
import sys
import uuid

from dmfkd.errors import UsageError
from dmfkd.layouts import dmf_versions

from dmfemu.driver import pack_event
from dmfemu.scenario import load_scenario, run_scenario

SELF_GUID = uuid.UUID("5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70")
ADDITIONAL_GUID = uuid.UUID("5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f71")
ORPHAN_GUID = uuid.UUID("a1b2c3d4-e5f6-4a5b-8c7d-0e1f2a3b4c5d")
LIVE_GUID = uuid.UUID("a1b2c3d4-e5f6-4a5b-8c7d-0e1f2a3b4c5e")

SELF_COUNT = 16          # SELF ring: 16 DMFDEMO_EVENTs of 64 bytes
SELF_WRITES = 37         # -> wrapped
ORPHAN_ENTRIES, ORPHAN_SIZE, ORPHAN_WRITES = 8, 32, 5
LIVE_ENTRIES, LIVE_SIZE, LIVE_WRITES = 4, 48, 11


def _user_record(rng: random.Random, size: int, tag: str, n: int) -> bytes:
    text = ("%s#%03d " % (tag, n)).encode("ascii")
    body = bytes(rng.randrange(256) for _ in range(size - len(text)))
    return (text + body)[:size]


def demo_scenario(arch: str = "x64", dmf_version: str = "1.1.154", dump_type: str = "full", seed: int = 1,
                  maximum_allowed=None) -> dict:
    rng = random.Random(seed)
    ops = []
    timestamp = 132500000000000000 + rng.randrange(1 << 32)
    for n in range(SELF_WRITES):
        timestamp += rng.randrange(1, 10000000)
        ops.append({"op": "write_self", "hex": pack_event(timestamp, n, rng.randrange(1, 20), rng.randrange(1, 6),
                                                           "dmfdemo event %d seed %d" % (n, seed)).hex()})
    # client 1: creates a data source, writes, exits without destroying it -> orphan (spec/dmf.md §2.8)
    ops.append({"op": "open", "handle": "app1"})
    ops.append({"op": "create", "handle": "app1", "source": "orphaned", "guid": str(ORPHAN_GUID),
                "entries": ORPHAN_ENTRIES, "entry_size": ORPHAN_SIZE})
    for n in range(ORPHAN_WRITES):
        ops.append({"op": "write", "handle": "app1", "hex": _user_record(rng, ORPHAN_SIZE, "orphan", n).hex()})
    ops.append({"op": "close", "handle": "app1"})
    # client 2 writes a wrapped source and keeps its handle; client 3 opens it and reads one record
    ops.append({"op": "open", "handle": "app2"})
    ops.append({"op": "create", "handle": "app2", "source": "live", "guid": str(LIVE_GUID),
                "entries": LIVE_ENTRIES, "entry_size": LIVE_SIZE})
    for n in range(LIVE_WRITES):
        ops.append({"op": "write", "handle": "app2", "hex": _user_record(rng, LIVE_SIZE, "live", n).hex()})
    ops.append({"op": "open", "handle": "reader"})
    ops.append({"op": "open_source", "handle": "reader", "guid": str(LIVE_GUID)})
    ops.append({"op": "read", "handle": "reader"})
    nested = dmf_versions.parse_dmf_version(dmf_version) >= dmf_versions.V1_1_85
    if nested:
        state = b"DMFDEMO STATE\0\0\0" + bytes(rng.randrange(256) for _ in range(48))
        ops.append({"op": "triage_add", "hex": state.hex()})
    additional = b"DMFDEMO ADDITIONAL DATA seed=%d " % seed
    additional += bytes(rng.randrange(256) for _ in range(64 - len(additional)))
    return {
        "arch": arch, "dmf_version": dmf_version, "driver": "dmfdemo", "dump_type": dump_type,
        "maximum_allowed": maximum_allowed,
        "crashdump": {
            "component_name": "DmfDemo", "ring_buffer_data_guid": str(SELF_GUID),
            "additional_data_guid": str(ADDITIONAL_GUID), "buffer_size": 64, "buffer_count": SELF_COUNT,
            "ring_buffer_maximum_size": 4096, "data_source_count": 2,
            "triage_dump_data_array_size": 4 if nested else 0,
            "additional_data_hex": additional.hex(),
        },
        "operations": ops,
        "crash": {"via": "ioctl", "handle": "app2"},
    }


def _run_demo(args) -> int:
    if args.arch == "x86" and args.dump_type == "triage":
        raise UsageError("x86 triage dumps are not written (x86: --dump-type full or bitmap)")
    scenario = demo_scenario(args.arch, args.dmf_version, args.dump_type, args.seed, args.maximum_allowed)
    expected = run_scenario(scenario, args.output)
    sys.stdout.write("%s/MEMORY.DMP: %s %s dump, DMF %s (context %s), bug check 0x%08X, %d blobs\n" % (
        args.output, expected["arch"], expected["dump_type"], expected["dmf_version"],
        expected["context_version"], expected["bugcheck"]["code"], len(expected["blobs"])))
    return 0


def _run_scenario(args) -> int:
    scenario = load_scenario(args.scenario)
    for key in ("arch", "dump_type", "maximum_allowed"):
        value = getattr(args, key, None)
        if value is not None:
            scenario[key] = value
    expected = run_scenario(scenario, args.output)
    sys.stdout.write("%s/MEMORY.DMP: bug check 0x%08X, %d blobs\n" % (
        args.output, expected["bugcheck"]["code"], len(expected["blobs"])))
    return 0


def _version(text: str) -> str:
    try:
        return dmf_versions.format_dmf_version(dmf_versions.parse_dmf_version(text))
    except Exception:
        raise argparse.ArgumentTypeError("not a DMF version: %r (expected e.g. 1.1.154)" % (text,))


def _size(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError("not a byte count: %r" % (text,))
    if value <= 0 or value > 0xFFFFFFFF:
        raise argparse.ArgumentTypeError("MaximumAllowed must be in 1..0xFFFFFFFF")
    return value


def add_parser(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="build, exercise and crash the reference emulated driver",
                                 description=__doc__)
    demo.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    demo.add_argument("--arch", choices=("x64", "x86"), default="x64")
    demo.add_argument("--dmf-version", type=_version, default="1.1.154", metavar="V")
    demo.add_argument("--dump-type", choices=("full", "bitmap", "triage"), default="full")
    demo.add_argument("--seed", type=int, default=1, metavar="N")
    demo.add_argument("--maximum-allowed", type=_size, default=None, metavar="BYTES",
                      help="KBUGCHECK_SECONDARY_DUMP_DATA.MaximumAllowed per callback")
    demo.set_defaults(func=_run_demo)

    scenario = subparsers.add_parser("scenario", help="replay a scenario JSON file (dmfemu.scenario)")
    scenario.add_argument("scenario", metavar="FILE")
    scenario.add_argument("-o", "--output", required=True, metavar="DIR")
    scenario.add_argument("--arch", choices=("x64", "x86"), default=None)
    scenario.add_argument("--dump-type", choices=("full", "bitmap", "triage"), default=None)
    scenario.add_argument("--maximum-allowed", type=_size, default=None, metavar="BYTES")
    scenario.set_defaults(func=_run_scenario)
