"""Entry point shared by the `dmfkd` console script, `python -m dmfkd` and `!py -g -m dmfkd`.

Where the target comes from, in order: a DUMP path given to the command (read directly, any OS);
`--pykd-dump DUMP` (standalone pykd opens the dump with dbgeng); else the debugger session pykd
runs in (WinDbg). Errors a user can cause print one line `dmfkd: ...` and exit with status 2.
"""
import argparse
import os
import shutil
import sys
from typing import List, Optional

from dmfkd import __version__
from dmfkd.bounded_input import int_option
from dmfkd.commands import REGISTRY, load_all
from dmfkd.errors import DmfkdError, UsageError
from dmfkd.render import FORMATS, WINDBG_WIDTH, Output, render

EXIT_OK = 0
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would exit(2) with a usage dump; keep it one line
        raise UsageError(message)

    def _get_values(self, action, arg_strings):
        # `--last=--`: argparse drops the "--" and hands an option of one value an empty list (before 3.12)
        if action.nargs is None and action.option_strings and list(arg_strings) == ["--"]:
            raise UsageError("argument %s: expected one value, got '--'" % "/".join(action.option_strings))
        return super()._get_values(action, arg_strings)

    def exit(self, status=0, message=None):
        # --help / --version: argparse has printed them and would sys.exit(); an in-process caller of
        # main() gets the status back instead (the console entry point exits with it)
        if message:
            _error(message.strip())
        raise _ParserExit(status)


class _ParserExit(Exception):
    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class Session:
    """What a command gets: the parsed global options, the output and a lazily opened Target."""

    def __init__(self, args, output: Output, target=None):
        self.args = args
        self.output = output
        self._target = target

    @property
    def target(self):
        if self._target is None:
            self._target = open_target(self.args)
        return self._target

    def say(self, text: str) -> None:
        """A one-line message beside the output, on stderr (symbol loading, download progress)."""
        _symbol_message(text)

    def close(self) -> None:
        if self._target is not None:
            self._target.close()


def open_target(args):
    dump = getattr(args, "dump", None)
    if dump:
        from dmfkd.targets.dumpfile import DumpFile

        target = DumpFile(dump)
    elif getattr(args, "pykd_dump", None):
        from dmfkd.targets.pykd import PykdTarget

        target = PykdTarget.open_dump(args.pykd_dump)
    else:
        from dmfkd.targets.pykd import PykdTarget, pykd_available

        if not pykd_available():
            raise UsageError("no target: give a dump file (dmfkd %s MEMORY.DMP), or run inside WinDbg "
                             "with pykd (!py -g -m dmfkd ...)" % (args.command or "COMMAND"))
        target = PykdTarget()
    # --isf, --pdb, driver.isf.json beside the dump (also through --pykd-dump: the file is the user's
    # word over what dbgeng finds), the symbol path: dmfkd.driver_symbols decides; the loading waits
    # until a command first asks for symbols (tags and info never do)
    from dmfkd.driver_symbols import SymbolOptions, symbol_loader

    loader = symbol_loader(dump or getattr(args, "pykd_dump", None), SymbolOptions.from_args(args),
                           debugger=not dump, say=_symbol_message)
    if loader is not None:
        target.defer_symbols(lambda: loader(target))
    return target


def _symbol_message(text: str) -> None:
    """What symbol loading has to say (which driver, what was searched, a download's progress): on
    stderr, so the output itself stays what the command prints with any other symbol source."""
    try:
        sys.stderr.write("dmfkd: symbols: %s\n" % text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


#: the parser, built once per process: building it costs ~10 ms (every command's options), a cost paid on each
#: command inside WinDbg (`!py -g` keeps the interpreter) and by in-process callers running many commands.
#: Parsing leaves it unchanged (each parse_args fills a new namespace; list defaults are copied before append).
_PARSER = None  # type: Optional[argparse.ArgumentParser]


def shared_parser() -> argparse.ArgumentParser:
    """The command-line parser (shared; build_parser() makes a fresh one)."""
    global _PARSER
    if _PARSER is None:
        _PARSER = build_parser()
    return _PARSER


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dmfkd", description="Read DMF crash-dump data (ring buffers, data sources, "
                     "modules) from Windows dumps and live WinDbg sessions.")
    parser.add_argument("--version", action="version", version="dmfkd " + __version__)
    parser.add_argument("--pykd-dump", metavar="DUMP",
                        help="open DUMP with standalone pykd/dbgeng and run the command through pykd")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd in sorted(load_all(), key=lambda c: c.name):
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        if cmd.takes_dump:
            p.add_argument("dump", nargs="?", metavar="DUMP",
                           help="dump file to read (omit inside WinDbg: the debugger's target is used)")
        if not cmd.own_format:
            p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
        p.add_argument("--isf", metavar="FILE", help="ISF JSON symbol file for the driver (offline symbols)")
        p.add_argument("--symbols", metavar="PATH", action="append",
                       help="symbol path to find the driver's PDB on, as WinDbg's: folders, cache*DIR, "
                       "srv*CACHE*URL, ';'-separated (repeatable; then _NT_SYMBOL_PATH)")
        p.add_argument("--pdb", metavar="FILE", help="the driver's PDB, given outright (its GUID/age must be the "
                       "image's)")
        p.add_argument("--allow-mismatched-pdb", action="store_true",
                       help="load a --pdb whose GUID/age is not the image's (with a warning), like .reload /i")
        p.add_argument("--width", type=int_option("--width", 40, 10000), metavar="N",
                       help="fit tables to N columns (default: the terminal's, "
                       "$COLUMNS, 120 inside WinDbg or when not a terminal)")
        p.add_argument("--wide", action="store_true", help="every column, however wide the table gets")
        p.add_argument("--columns", metavar="A,B,...", help="only these table columns (keys or titles)")
        if cmd.add_arguments is not None:
            cmd.add_arguments(p)
    return parser


def table_width(args, dml: bool) -> Optional[int]:
    """--width, else $COLUMNS, else the terminal's width, else 120 (WinDbg, pipes and files)."""
    if getattr(args, "width", None) is not None:
        if not 40 <= args.width <= 10000:
            raise UsageError("--width must be between 40 and 10000")
        return args.width
    if dml:
        return WINDBG_WIDTH
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and 40 <= int(columns) <= 10000:
        return int(columns)
    try:
        if sys.stdout.isatty():
            return max(40, shutil.get_terminal_size().columns)
    except (AttributeError, ValueError, OSError):
        pass
    return WINDBG_WIDTH


def _default_output() -> Output:
    try:
        from dmfkd.targets.pykd import windbg_output

        out = windbg_output()
        if out is not None:
            return out
    except ImportError:
        pass
    return Output(sys.stdout, dml=False)


def run(argv: Optional[List[str]] = None, output: Optional[Output] = None, target=None) -> int:
    """Parse argv and run one command; raises DmfkdError on user errors (main() prints them)."""
    parser = shared_parser()
    try:
        args = parser.parse_args(argv)
    except _ParserExit as done:  # --help / --version were shown
        return done.status if isinstance(done.status, int) else EXIT_USAGE
    if not args.command:
        parser.print_help(file=sys.stdout)
        return EXIT_OK
    output = output or _default_output()
    output.width = table_width(args, output.dml)
    output.wide = bool(getattr(args, "wide", False))
    output.columns = args.columns.split(",") if getattr(args, "columns", None) else None
    output.dump = getattr(args, "dump", None)
    session = Session(args, output, target)
    try:
        command = REGISTRY[args.command]
        report = command(args, session)
        if report is not None:
            render(report, "table" if command.own_format else args.format, session.output)
            session.output.flush()
    finally:
        if target is None:
            session.close()
    return EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
    """Run one command and return its exit status (never exits the process)."""
    if argv is None:
        argv = sys.argv[1:]
    return _main(argv)


def console_main() -> None:
    """The `dmfkd` console script and `python -m dmfkd`: run, then leave with the status."""
    argv = sys.argv[1:]
    code = _main(argv)
    if "--pykd-dump" in argv or any(a.startswith("--pykd-dump=") for a in argv):
        # standalone pykd's teardown throws during normal interpreter exit and turns every exit
        # status into 3 (spec/real-pykd-under-wine.md): flush and leave at once with our own status.
        # Only here, in the process's own entry point: main() returns to whoever called it.
        _flush_quietly()
        os._exit(code)
    _flush_quietly()
    sys.exit(code)


def _flush_quietly() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _error(text: str) -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    try:
        sys.stderr.write("dmfkd: %s\n" % text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _main(argv: List[str]) -> int:
    try:
        return run(argv)
    except DmfkdError as exc:
        _error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return EXIT_USAGE
    except BrokenPipeError:
        # the reader went away (dmfkd ... | head): the conventional quiet exit; stdout is dead, so
        # point it at devnull to keep the interpreter's final flush from complaining
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_OK
    except MemoryError:
        # the machine (or a batch worker's memory limit) said no: a --schema that allocates without bound,
        # or a record type far larger than any record; one line like every other refusal
        _error("out of memory: the decoding asked for more memory than this process may have")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
