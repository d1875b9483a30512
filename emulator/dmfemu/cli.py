"""`dmfemu` command line: build emulated DMF drivers, crash them, write dump files.

    dmfemu demo -o DIR       the reference CrashDump scenario (dmfemu.scenarios.crashdump_demo)
    dmfemu scenario FILE     replay a scenario file (format v1: docs/scenarios.md, dmfemu.scenarios)
    dmfemu check DIR         run dmfkd on a replay's output and compare with its expected.json
    dmfemu livedump -o DIR   a live kernel dump made by DMF_LiveKernelDump (dmfemu.scenarios.live_dump_demo)

Usage errors exit with status 2, a replay whose operation fails unexpectedly and a check that finds a
difference with status 1.
"""
import argparse
import json
import os
import sys
from typing import List, Optional

from dmfkd.errors import DmfkdError, UsageError
from dmfkd.layouts import dmf_versions

from dmfemu.scenarios.check import Difference, check_directory
from dmfemu.scenarios.crashdump_demo import demo_scenario
from dmfemu.scenarios.crashdump_replay import run_scenario
from dmfemu.scenarios.examples import listing, write_example
from dmfemu.scenarios.live_dump_demo import demo_live_dump
from dmfemu.scenarios.replay import dump_name, replay, replay_with_pdb
from dmfemu.scenarios.scenario_format import ReplayFailure, Scenario, read_document
from dmfemu.scenarios.schema_validation import scenario_schema_path

DEMO_DESCRIPTION = """\
The reference scenario: a DMF driver with a wrapped SELF ring, two user-mode data sources created
through the IOCTLs (one orphaned by closing its handle, one read from by a second client),
additional data and triage data, crashed through IOCTL_CRASH_DRIVER (bug check 0xDEADDEAD).
Writes DIR/MEMORY.DMP, DIR/driver.isf.json (the driver's symbols) and DIR/expected.json (what each
data source must show, from the emulated clients' own log)."""

SCENARIO_DESCRIPTION = """\
Replay a scenario: what an emulated DMF driver is (its DMF_CrashDump or DMF_LiveKernelDump config, its
own record types), what it and its user-mode clients do (open, create, write, read, capture, destroy,
close a data source; write its own ring; add triage data or live-dump buffers), and how the machine
stops (IOCTL_CRASH_DRIVER, a bug check, or a live kernel dump). Writes DIR/MEMORY.DMP (or
DIR/LIVEDUMP.DMP), DIR/driver.isf.json (the driver's symbols, record types included) and
DIR/expected.json (what dmfkd must show, from the clients' own log); `dmfemu check DIR` compares.

An operation that returns a failure NTSTATUS stops the replay (exit status 1) unless it says
"expect": "STATUS_...". The format (v1) is described with a complete annotated example in the
project's docs/scenarios.md; files are checked against the JSON Schema shipped with dmfemu:
  %s
--list shows the example scenarios; --example NAME -o DIR writes one into DIR and replays it there.\
""" % scenario_schema_path()

CHECK_DESCRIPTION = """\
Run dmfkd on a replay's output directory (MEMORY.DMP or LIVEDUMP.DMP with driver.isf.json beside it)
and compare what it shows with DIR/expected.json: the bug check, every blob, every data source's
geometry and records (hex, and fields when the source has a record type), or a live dump's blocks.
Exits 1 at the first difference, naming it."""

LIVEDUMP_DESCRIPTION = """\
A DMF driver whose DMF_LiveKernelDump records the DMF framework data and client buffers, and the live
kernel dump its IOCTL_LIVEKERNELDUMP_CREATE asks for: a triage live minidump (type 4), a full live
dump (bitmap type 6) or a full dump (type 1, the only kind on x86).
Writes DIR/LIVEDUMP.DMP, DIR/driver.isf.json and DIR/expected.json (what each recorded buffer is,
from the callers' own log)."""


ARCHES = ("x64", "x86", "arm64")


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are DmfkdErrors: one line and exit status 2, like every other error."""

    def error(self, message):
        raise DmfkdError(message)


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


# -- dmfemu demo / scenario ----------------------------------------------------------------------------

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
    if args.list:
        sys.stdout.write(listing())
        return 0
    if args.output is None:
        raise UsageError("give -o DIR: where the replay writes its files")
    if args.example:
        if args.scenario:
            raise UsageError("give a scenario FILE or --example NAME, not both")
        path = write_example(args.example, args.output)
    elif args.scenario:
        path = args.scenario
    else:
        raise UsageError("give a scenario FILE, --example NAME or --list")
    document = read_document(path)
    for key in ("arch", "dump_type", "maximum_allowed"):
        value = getattr(args, key, None)
        if value is not None:
            document[key] = value
    scenario = Scenario(document, source=path, base_dir=os.path.dirname(os.path.abspath(path)))
    if args.pdb:
        replay_with_pdb(scenario, args.output, args.cache)
        with open(os.path.join(args.output, "expected.json"), encoding="utf-8") as handle:
            expected = json.load(handle)
    else:
        expected = replay(scenario, args.output)
    dump = os.path.join(args.output, dump_name(scenario))
    if scenario.live:
        sys.stdout.write("%s: %s live dump, code 0x%X, %d operation(s), %d triage block(s)\n" % (
            dump, expected["dump_type"], expected["bugcheck"]["code"], _operations(scenario),
            len(expected["triage_blocks"])))
    else:
        faults = [entry for entry in expected["transcript"] if entry["op"] == "bugcheck_fault"]
        sys.stdout.write("%s: bug check 0x%08X, %d operation(s), %d blobs%s\n" % (
            dump, expected["bugcheck"]["code"], _operations(scenario), len(expected["blobs"]),
            ", %d bug-check callback(s) faulted (see expected.json)" % len(faults) if faults else ""))
    return 0


def _operations(scenario: Scenario) -> int:
    return sum(op.repeat for op in scenario.operations)


def _run_check(args) -> int:
    checks = check_directory(args.directory)
    sys.stdout.write("%s: dmfkd shows what expected.json says (%d checks)\n" % (args.directory, checks))
    return 0


def _add_demo_parsers(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="build, exercise and crash the reference emulated driver",
                                 description=DEMO_DESCRIPTION)
    demo.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    demo.add_argument("--arch", choices=ARCHES, default="x64")
    demo.add_argument("--dmf-version", type=_version, default="1.1.154", metavar="V")
    demo.add_argument("--dump-type", choices=("full", "bitmap", "triage"), default="full")
    demo.add_argument("--seed", type=int, default=1, metavar="N")
    demo.add_argument("--maximum-allowed", type=_size, default=None, metavar="BYTES",
                      help="KBUGCHECK_SECONDARY_DUMP_DATA.MaximumAllowed per callback")
    demo.set_defaults(func=_run_demo)

    scenario = subparsers.add_parser("scenario", help="replay a scenario file (format: docs/scenarios.md); "
                                     "--list shows the examples", description=SCENARIO_DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    scenario.add_argument("scenario", metavar="FILE", nargs="?", help="the scenario (JSON)")
    scenario.add_argument("-o", "--output", metavar="DIR", help="output directory")
    scenario.add_argument("--list", action="store_true", help="list the example scenarios")
    scenario.add_argument("--example", metavar="NAME", help="write example NAME into DIR and replay it there")
    scenario.add_argument("--arch", choices=ARCHES, default=None, help="override the scenario's arch")
    scenario.add_argument("--dump-type", choices=("full", "bitmap", "triage", "bitmap-kernel"), default=None,
                          help="override the scenario's dump type")
    scenario.add_argument("--maximum-allowed", type=_size, default=None, metavar="BYTES",
                          help="override the scenario's MaximumAllowed")
    scenario.add_argument("--pdb", action="store_true", help="also build the driver's PE image and PDB into "
                          "DIR/symbols (needs clang-14 and lld-14)")
    scenario.add_argument("--cache", metavar="DIR", help="where --pdb keeps its builds (default DIR/native-build)")
    scenario.set_defaults(func=_run_scenario)

    check = subparsers.add_parser("check", help="run dmfkd on a replay's output and compare with expected.json",
                                  description=CHECK_DESCRIPTION)
    check.add_argument("directory", metavar="DIR", help="a replay's output directory")
    check.set_defaults(func=_run_check)


# -- dmfemu livedump -----------------------------------------------------------------------------------

def _run_livedump(args) -> int:
    if not 0 <= args.client_buffers <= 4096:
        raise UsageError("--client-buffers must be in 0..4096")
    expected = demo_live_dump(args.output, args.arch, args.dump_type, args.client_buffers,
                              args.exclude_dmf_data, args.dmf_version)
    sys.stdout.write("%s: %s %s live dump, code 0x%X, P2 0x%x, %d triage block(s), %d DATA_BUFFER entr%s\n" % (
        expected["path"], expected["arch"], expected["dump_type"], expected["bugcheck"]["code"],
        expected["bugcheck"]["parameters"][1], len(expected["triage_blocks"]), len(expected["data_buffers"]),
        "y" if len(expected["data_buffers"]) == 1 else "ies"))
    return 0


def _add_livedump_parser(subparsers) -> None:
    live = subparsers.add_parser("livedump", help="a DMF driver with DMF_LiveKernelDump and the live kernel dump "
                                 "it creates (IOCTL_LIVEKERNELDUMP_CREATE)", description=LIVEDUMP_DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    live.add_argument("-o", "--output", required=True, metavar="DIR")
    live.add_argument("--arch", choices=ARCHES, default="x64")
    live.add_argument("--dump-type", choices=("triage", "bitmap-kernel", "full"), default=None,
                      help="triage live minidump (type 4, default on x64 and arm64), full live dump (bitmap "
                      "type 6), or type 1 (the only one on x86)")
    live.add_argument("--client-buffers", type=int, default=3, metavar="N")
    live.add_argument("--exclude-dmf-data", action="store_true", help="LIVEKERNELDUMP_INPUT_BUFFER.ExcludeDmfData")
    live.add_argument("--dmf-version", default="1.1.154", metavar="V")
    live.set_defaults(func=_run_livedump)


# -- main ----------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="dmfemu", description="DMF emulator: emulated drivers, crashes and dump files")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    _add_demo_parsers(sub)
    _add_livedump_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        return args.func(args) or 0
    except (ReplayFailure, Difference) as exc:
        sys.stderr.write("dmfemu: %s\n" % str(exc).splitlines()[0])
        return 1
    except DmfkdError as exc:
        sys.stderr.write("dmfemu: %s\n" % str(exc).splitlines()[0])
        return 2
