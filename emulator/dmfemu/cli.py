"""`dmfemu` command line: build emulated DMF drivers, crash them, write dump files.

    dmfemu demo -o DIR       the reference CrashDump scenario (dmfemu.scenarios.crashdump_demo)
    dmfemu scenario FILE     replay a scenario file (format: dmfemu.scenarios.crashdump_replay)
    dmfemu livedump -o DIR   a live kernel dump made by DMF_LiveKernelDump (dmfemu.scenarios.live_dump_demo)
"""
import argparse
import sys
from typing import List, Optional

from dmfkd.errors import DmfkdError, UsageError
from dmfkd.layouts import dmf_versions

from dmfemu.scenarios.crashdump_demo import demo_scenario
from dmfemu.scenarios.crashdump_replay import load_scenario, run_scenario
from dmfemu.scenarios.live_dump_demo import demo_live_dump

DEMO_DESCRIPTION = """\
The reference scenario: a DMF driver with a wrapped SELF ring, two user-mode data sources created
through the IOCTLs (one orphaned by closing its handle, one read from by a second client),
additional data and triage data, crashed through IOCTL_CRASH_DRIVER (bug check 0xDEADDEAD).
Writes DIR/MEMORY.DMP, DIR/driver.isf.json (the driver's symbols) and DIR/expected.json (what each
data source must show, from the emulated clients' own log)."""

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
    scenario = load_scenario(args.scenario)
    for key in ("arch", "dump_type", "maximum_allowed"):
        value = getattr(args, key, None)
        if value is not None:
            scenario[key] = value
    expected = run_scenario(scenario, args.output)
    sys.stdout.write("%s/MEMORY.DMP: bug check 0x%08X, %d blobs\n" % (
        args.output, expected["bugcheck"]["code"], len(expected["blobs"])))
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

    scenario = subparsers.add_parser("scenario", help="replay a scenario JSON file (the format is described in "
                                     "dmfemu/scenarios/crashdump_replay.py)")
    scenario.add_argument("scenario", metavar="FILE")
    scenario.add_argument("-o", "--output", required=True, metavar="DIR")
    scenario.add_argument("--arch", choices=ARCHES, default=None)
    scenario.add_argument("--dump-type", choices=("full", "bitmap", "triage"), default=None)
    scenario.add_argument("--maximum-allowed", type=_size, default=None, metavar="BYTES")
    scenario.set_defaults(func=_run_scenario)


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
    except DmfkdError as exc:
        sys.stderr.write("dmfemu: %s\n" % str(exc).splitlines()[0])
        return 2
