"""The shape of the extension, checked: commands are thin (no command branches on the output format),
readers reach hosts only through the Target protocol, modules stay focused."""
import ast
import os

from helpers.paths import REPO

EXTENSION = os.path.join(REPO, "extension", "dmfkd")
EMULATOR = os.path.join(REPO, "emulator", "dmfemu")
MAX_LINES = 600


def _python_files(root):
    for folder, _, files in os.walk(root):
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def test_no_command_branches_on_the_output_format():
    for path in _python_files(os.path.join(EXTENSION, "commands")):
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "format" and \
                    isinstance(node.value, ast.Name) and node.value.id == "args":
                raise AssertionError("%s:%d reads args.format: formats are the renderer's business"
                                     % (os.path.relpath(path, REPO), node.lineno))


def test_no_private_target_attributes_outside_the_hosts():
    """getattr(target, "_...") or target._x would reach into one host: use the Target protocol."""
    for path in _python_files(EXTENSION):
        if os.path.dirname(path).endswith("targets"):
            continue
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and len(node.args) >= 2 \
                    and isinstance(node.args[1], ast.Constant) and str(node.args[1].value).startswith("_"):
                raise AssertionError("%s:%d getattr(..., %r)" % (os.path.relpath(path, REPO), node.lineno,
                                                                node.args[1].value))
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") and \
                    isinstance(node.value, ast.Name) and node.value.id == "target":
                raise AssertionError("%s:%d target.%s" % (os.path.relpath(path, REPO), node.lineno, node.attr))


def test_readers_do_not_open_files():
    """dmf/ readers are pure: bytes come from the Target, never from open()."""
    for path in _python_files(os.path.join(EXTENSION, "dmf")):
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "open":
                raise AssertionError("%s:%d opens a file" % (os.path.relpath(path, REPO), node.lineno))
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                assert not any("targets.dumpfile" in n or n == "pykd" for n in names), \
                    "%s:%d imports a concrete host" % (os.path.relpath(path, REPO), node.lineno)


def test_no_module_over_the_size_limit():
    long = []
    for root in (EXTENSION, EMULATOR):
        for path in _python_files(root):
            lines = sum(1 for _ in open(path))
            if lines > MAX_LINES:
                long.append("%s (%d lines)" % (os.path.relpath(path, REPO), lines))
    assert not long, "modules over %d lines: %s" % (MAX_LINES, ", ".join(long))
