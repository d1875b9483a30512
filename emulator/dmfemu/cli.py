"""`dmfemu` command line: build emulated DMF drivers, crash them, write dump files."""
import argparse
import sys
from typing import List, Optional

from dmfkd.errors import DmfkdError


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise DmfkdError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dmfemu", description="DMF emulator: emulated drivers, crashes and dump files")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    from dmfemu import demo, livedump_scenario

    demo.add_parser(sub)
    livedump_scenario.add_parser(sub)
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
