"""The example scenarios shipped with dmfemu (package data in dmfemu/scenarios/examples/): each one a
scenario file whose "description" says which real driver pattern it models. `dmfemu scenario --list`
lists them; `dmfemu scenario --example NAME -o DIR` writes DIR/NAME.json (and any schema file it
names) and replays it into DIR.
"""
import json
import os
import shutil
import textwrap
from typing import List, NamedTuple

from dmfemu.scenarios.scenario_format import ScenarioError, read_document

EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples")


class Example(NamedTuple):
    name: str
    path: str
    description: str


def list_examples() -> List[Example]:
    out = []
    for file_name in sorted(os.listdir(EXAMPLES_DIR)):
        if file_name.endswith(".json"):
            path = os.path.join(EXAMPLES_DIR, file_name)
            document = read_document(path)
            out.append(Example(file_name[:-len(".json")], path, document.get("description", "")))
    return out


def example(name: str) -> Example:
    for found in list_examples():
        if found.name == name:
            return found
    raise ScenarioError("no example scenario %r (dmfemu scenario --list shows them)" % name)


def listing(width: int = 100) -> str:
    """The examples as text: each name, then its description wrapped and indented."""
    lines = []
    for found in list_examples():
        lines.append(found.name)
        lines += textwrap.wrap(found.description, width - 4, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines) + "\n"


def write_example(name: str, out_dir: str) -> str:
    """Copy example `name` (and the schema files its record types name) into `out_dir`; returns the
    scenario's path there."""
    found = example(name)
    try:
        os.makedirs(out_dir, exist_ok=True)
        target = os.path.join(out_dir, found.name + ".json")
        shutil.copyfile(found.path, target)
        with open(found.path, "r", encoding="utf-8") as handle:
            document = json.load(handle)
        for record_type in document.get("record_types", {}).values():
            if "schema" in record_type:
                schema_file = record_type["schema"].rpartition(":")[0]
                shutil.copyfile(os.path.join(EXAMPLES_DIR, schema_file), os.path.join(out_dir, schema_file))
    except OSError as exc:
        raise ScenarioError("cannot write the example into %s: %s" % (out_dir, exc.strerror or exc))
    return target
