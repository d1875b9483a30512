"""dmfemu is built top-down: every import - at module level or inside a function - goes from a module
to one of its own layer or below, no dmfemu module imports (directly or through others) a module
that imports it, no function imports a dmfemu module (an import that only works late hides a
cycle), nothing is imported dynamically, and no module reaches into another one's private names.

The layers, bottom up (a module's place is given by its dotted name or a package prefix):

    memory        emulated RAM, page tables, the kernel pool
    kernel        what nt keeps for debuggers (KDBG, loaded modules), the dump writer, the bug-check
                  flow, WDF objects, a built native image read back - none of them imports the machine
                  (they take one as an argument)
    machine       the machine (memory + pool + images + symbols; its dumps go through kernel and
                  dumpwriter), the live-debugging target, the pykd stand-in
    dmf modules   DMF_OBJECT, RingBuffer, CrashDump, LiveKernelDump
    driver        the emulated client driver, its ISF, its native build
    scenarios     replays and demos start to end
    entry points  dmfemu's command line, `python -m dmfemu.pdb`
"""
import ast
import os

import pytest

from helpers.paths import REPO

PACKAGE_ROOT = os.path.join(REPO, "emulator")

LAYERS = [
    ("memory", ["dmfemu.memory", "dmfemu.pool"]),
    ("kernel", ["dmfemu.kernel", "dmfemu.dumpwriter", "dmfemu.bugcheck", "dmfemu.wdf", "dmfemu.native_image"]),
    ("machine", ["dmfemu.machine", "dmfemu.target", "dmfemu.pykd"]),
    ("dmf modules", ["dmfemu.modules"]),
    ("driver", ["dmfemu.driver", "dmfemu.isf", "dmfemu.native_build"]),
    ("scenarios", ["dmfemu.scenarios"]),
    ("entry points", ["dmfemu.cli", "dmfemu.pdb", "dmfemu.__main__"]),
]
# the package's own __init__ (a docstring and a version) sits below everything
BASE = {"dmfemu"}

#: function-local imports of dmfemu modules that are allowed (an optional heavy path would go here)
FUNCTION_LOCAL_ALLOWED = set()  # type: set


def _modules():
    """{dotted name: path} of every module of the dmfemu package."""
    out = {}
    for folder, _, names in os.walk(os.path.join(PACKAGE_ROOT, "dmfemu")):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            dotted = os.path.relpath(path, PACKAGE_ROOT)[:-3].replace(os.sep, ".")
            if dotted.endswith(".__init__"):
                dotted = dotted[:-len(".__init__")]
            out[dotted] = path
    return out


MODULES = _modules()


def _layer(module: str) -> int:
    if module in BASE:
        return -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                return index
    raise AssertionError("%s is in no layer of tests/emulator/test_import_layers.py: give it one" % module)


def _target_of(module: str, node) -> list:
    """The dmfemu modules an import statement in `module` loads by name (a package's __init__ when a
    name is not a submodule of it)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "dmfemu"]
    if node.level:
        package = module.split(".")
        if not MODULES[module].endswith("__init__.py"):
            package = package[:-1]
        base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base.split(".")[0] != "dmfemu":
        return []
    out = []
    for alias in node.names:
        submodule = base + "." + alias.name
        out.append(submodule if submodule in MODULES else base)
    return out


class _Imports(ast.NodeVisitor):
    def __init__(self, module: str):
        self.module = module
        self.depth = 0
        self.edges = []          # (target module, line, function-local)
        self.dynamic = []        # lines of importlib / __import__ calls
        self.private = []        # (line, what) private names of other dmfemu modules
        self.aliases = {}        # local name -> dmfemu module it names

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def _import(self, node):
        for target in _target_of(self.module, node):
            self.edges.append((target, node.lineno, self.depth > 0))
        if isinstance(node, ast.ImportFrom):
            targets = _target_of(self.module, node)
            for alias, target in zip(node.names, targets):
                if target and alias.name.startswith("_") and target != self.module:
                    if target + "." + alias.name not in MODULES:
                        self.private.append((node.lineno, "%s.%s" % (target, alias.name)))
                if target in MODULES and target.endswith("." + alias.name):
                    self.aliases[alias.asname or alias.name] = target
        else:
            for alias in node.names:
                if alias.name.split(".")[0] == "dmfemu" and alias.asname:
                    self.aliases[alias.asname] = alias.name

    visit_Import = _import
    visit_ImportFrom = _import

    def visit_Call(self, node):
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        if name in ("import_module", "__import__"):
            self.dynamic.append(node.lineno)
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name) and node.value.id in self.aliases and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            self.private.append((node.lineno, "%s.%s" % (self.aliases[node.value.id], node.attr)))
        self.generic_visit(node)


def _scan():
    scans = {}
    for module, path in sorted(MODULES.items()):
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        visitor = _Imports(module)
        visitor.visit(tree)
        scans[module] = visitor
    return scans


SCANS = _scan()


def _graph():
    graph = {module: set() for module in MODULES}
    for module, scan in SCANS.items():
        for target, _, _ in scan.edges:
            if target != module:
                graph[module].add(target)
    return graph


def _cycles(graph):
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_is_found_and_has_a_layer():
    assert {"dmfemu.machine", "dmfemu.modules.crashdump.module", "dmfemu.scenarios.crashdump_replay",
            "dmfemu.pykd._session", "dmfemu.cli"} <= set(MODULES)
    for module in MODULES:
        _layer(module)


def test_no_import_cycle_among_dmfemu_modules():
    assert _cycles(_graph()) == []


def test_imports_go_down_the_layers():
    upward = []
    for module, scan in SCANS.items():
        for target, line, _ in scan.edges:
            if _layer(target) > _layer(module):
                upward.append("%s:%d imports %s (%s above %s)" % (module, line, target, LAYERS[_layer(target)][0],
                                                                  LAYERS[_layer(module)][0]))
    assert upward == []


def test_no_function_imports_a_dmfemu_module():
    local = ["%s:%d imports %s inside a function" % (module, line, target)
             for module, scan in SCANS.items() for target, line, in_function in scan.edges
             if in_function and (module, target) not in FUNCTION_LOCAL_ALLOWED]
    assert local == []


def test_no_dynamic_imports():
    assert [(module, scan.dynamic) for module, scan in SCANS.items() if scan.dynamic] == []


def test_no_module_uses_another_ones_private_names():
    assert [(module, scan.private) for module, scan in SCANS.items() if scan.private] == []


@pytest.mark.parametrize("graph,cycle", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_the_cycle_finder_finds_cycles(graph, cycle):
    assert _cycles(graph) == cycle
