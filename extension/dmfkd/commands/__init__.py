"""Command registry. A command is a thin argparse shell (drgn's pattern, ARCHITECTURE.md):

    @command("tags", help="list secondary-data blobs")
    def tags(args, session) -> Report: ...
    @tags.arguments
    def _(parser): parser.add_argument(...)

`session` gives the Target (opened lazily from the DUMP argument, the debugger, or a test) and the
Output. Commands return a render.Report; they never print.
"""
import importlib
from typing import Callable, Dict, List, Optional

# modules whose import registers commands
COMMAND_MODULES = [
    "dmfkd.commands.info",
    "dmfkd.commands.tags",
    "dmfkd.commands.crashdump",
    "dmfkd.commands.datasources",
    "dmfkd.commands.ringbuffer",
    "dmfkd.commands.modules",
    "dmfkd.commands.bugcheck",
    "dmfkd.commands.livedump",
    "dmfkd.commands.timeline",
    "dmfkd.commands.lm",
]


class Command:
    def __init__(self, name: str, func: Callable, help: str, takes_dump: bool = True):
        self.name = name
        self.func = func
        self.help = help
        self.takes_dump = takes_dump
        self.add_arguments: Optional[Callable] = None

    def arguments(self, func: Callable) -> Callable:
        self.add_arguments = func
        return func

    def __call__(self, args, session):
        return self.func(args, session)


REGISTRY: Dict[str, Command] = {}


def command(name: str, help: str, takes_dump: bool = True):
    def deco(func: Callable) -> Command:
        cmd = Command(name, func, help, takes_dump)
        REGISTRY[name] = cmd
        return cmd
    return deco


def load_all() -> List[Command]:
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    return list(REGISTRY.values())
