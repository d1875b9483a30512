"""The reference CrashDump scenario (`dmfemu demo`, the bundled sample): a DMF driver with a wrapped
SELF ring, two user-mode data sources created through the IOCTLs (one orphaned by closing its
handle, one read from by a second client), additional data and triage data, crashed through
IOCTL_CRASH_DRIVER. ``demo_scenario(...)`` builds the scenario document that
dmfemu.scenarios.crashdump_replay replays; a seed makes the records."""
import random
import uuid

from dmfkd.layouts import dmf_versions

from dmfemu.driver import pack_event

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
