"""What dmfkd shows on two dumps, compared: the original and the replay of `crashdump --to-scenario`.

`rows(dump)` runs every command that shows a dump's DMF CrashDump state (crashdump, crashdump --all,
datasources, tags, bugcheck, modules) with --format json; `normalised` replaces what belongs to the
machine rather than to the DMF state - addresses and handles (a replay is a new boot: its pool hands
out other addresses once the allocation history differs), file offsets of blobs, the dump's own
path - so two dumps of the same state compare equal, and any other difference (a record, N/S/P, r/w,
a writer's role, a blob's size or bytes, the bug check) does not.
"""
import io
import json
import os
import re

from dmfkd import cli
from dmfkd.render import Output

COMMANDS = (("crashdump",), ("crashdump", "--all"), ("datasources",), ("tags",), ("bugcheck",), ("modules",))
#: JSON keys whose values are addresses, handles or file offsets
MACHINE_KEYS = {"handle", "object", "context", "config", "items", "read_pointer", "write_pointer", "ring_handle",
                "ring_object", "ring_buffer_data", "writer_handle", "reader_handle", "parent", "address", "offset",
                "module_context", "module_config"}
_ADDRESS_TEXT = re.compile(r"0x[0-9a-fA-F]{6,}")


def shown(dump: str, argv, isf=None):
    """`dmfkd ARGV[0] DUMP ARGV[1:] --format json` in-process."""
    buffer = io.StringIO()
    extra = ["--isf", isf] if isf else []
    cli.run([argv[0], dump] + list(argv[1:]) + extra + ["--format", "json"], output=Output(buffer))
    return json.loads(buffer.getvalue())


def normalised(value, dump: str):
    if isinstance(value, dict):
        return {key: "<machine>" if key in MACHINE_KEYS and isinstance(item, int) and not isinstance(item, bool)
                else normalised(item, dump) for key, item in value.items()}
    if isinstance(value, list):
        return [normalised(item, dump) for item in value]
    if isinstance(value, str):
        text = value.replace(dump, "<dump>").replace(os.path.dirname(dump), "<dir>")
        return _ADDRESS_TEXT.sub("0x<machine>", text)
    return value


def rows(dump: str, isf=None, commands=COMMANDS):
    """{command: normalised JSON document} of every command on `dump`."""
    return {" ".join(argv): normalised(shown(dump, argv, isf), dump) for argv in commands}


def bugcheck_parameters(dump: str):
    return shown(dump, ("bugcheck",))["parameters"]


def first_difference(left, right, path=""):
    """Where two JSON values first differ ("" when equal) - for an assertion message that says where."""
    if type(left) is not type(right):
        return "%s: %r != %r" % (path or "top", left, right)
    if isinstance(left, dict):
        for key in sorted(set(left) | set(right)):
            if key not in left or key not in right:
                return "%s.%s: only on one side" % (path, key)
            found = first_difference(left[key], right[key], "%s.%s" % (path, key))
            if found:
                return found
        return ""
    if isinstance(left, list):
        if len(left) != len(right):
            return "%s: %d != %d items" % (path, len(left), len(right))
        for index, (a, b) in enumerate(zip(left, right)):
            found = first_difference(a, b, "%s[%d]" % (path, index))
            if found:
                return found
        return ""
    return "" if left == right else "%s: %r != %r" % (path, left, right)
