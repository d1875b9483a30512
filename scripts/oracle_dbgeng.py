#!/usr/bin/env python3
"""Ask Microsoft's dbgeng (10.0.15063.400 from the pykd wheel, under Wine) about dump files.

    python scripts/oracle_dbgeng.py MEMORY.DMP [MORE.DMP ...] [-c lm -c r -c .enumtag] [--read VA:SIZE]
                                    [--json]

Prints what dbgeng says while opening each dump (its warnings included), the debuggee type, bug
check, tagged blocks, and the output of each -c command. Downloads/builds go to the oracle cache
(tests/oracle/env.py: $DMFKD_ORACLE_CACHE, default ~/.cache/dmfkd-oracle).
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from oracle import dbgeng  # noqa: E402
from oracle.env import OracleUnavailable  # noqa: E402


def _address(text):
    va, _, size = text.partition(":")
    return int(va, 16), int(size or "10", 16)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("dumps", nargs="+", metavar="DUMP")
    parser.add_argument("-c", "--command", action="append", default=[], help="dbgeng command (repeatable)")
    parser.add_argument("--read", action="append", default=[], type=_address, metavar="VA:SIZE",
                        help="ReadVirtual, hex (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the probe's raw JSON replies")
    args = parser.parse_args(argv)
    queries = [dbgeng.DumpQuery(os.path.abspath(p), reads=args.read, commands=args.command, modules=True)
               for p in args.dumps]
    try:
        answers = dbgeng.query(queries)
    except OracleUnavailable as exc:
        print("oracle unavailable: %s" % exc, file=sys.stderr)
        return 2
    for answer in answers:
        if args.json:
            for reply in answer.replies:
                print(json.dumps(reply))
            continue
        o = answer.open
        print("=== %s" % answer.query.path)
        print("OpenDumpFile hr=0x%08x WaitForEvent hr=0x%08x class=%s qualifier=%s machine=0x%x" % (
            o.get("hr", 0), o.get("wait_hr", 0), o.get("class"), o.get("qualifier"), o.get("machine", 0)))
        if "bugcheck" in o:
            print("bugcheck: " + " ".join("0x%x" % v for v in o["bugcheck"]))
        print(answer.open_text.rstrip())
        for tag in answer.tags or []:
            print("tag %s  %d bytes%s" % (tag["guid"], tag["size"],
                                          "" if "hex" in tag else "  (ReadTagged hr=0x%08x)" % tag.get("read_hr", 0)))
        for module in answer.modules or []:
            print("module %-12s base 0x%x size 0x%x" % (module["module"], module["base"], module["size"]))
        for reply in answer.reads:
            print("read 0x%x: hr=0x%08x %s" % (reply["address"], reply["hr"], reply.get("hex", "")))
        for cmd in args.command:
            print("--- %s (hr=0x%08x)" % (cmd, answer.commands[cmd]["hr"]))
            print(answer.command_text(cmd).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
