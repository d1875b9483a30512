"""What the batch tests share: the corpus generator of scripts/, a few demo dumps, schema files that
misbehave on purpose, and readers of a batch's output."""
import importlib.util
import json
import os
import textwrap
from typing import Dict, List

from helpers.paths import SCRIPTS


def make_corpus_module():
    spec = importlib.util.spec_from_file_location("make_corpus", os.path.join(SCRIPTS, "make_corpus.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def demo_dumps(folder: str, seeds: List[int], **scenario) -> List[str]:
    """One demo crash dump (MEMORY.DMP + driver.isf.json) per seed, in folder/seed-N/."""
    demo_scenario, run_scenario = make_corpus_module()._emulator()
    paths = []
    for seed in seeds:
        out = os.path.join(folder, "seed-%d" % seed)
        run_scenario(demo_scenario(seed=seed, **scenario), out)
        os.remove(os.path.join(out, "expected.json"))
        paths.append(os.path.join(out, "MEMORY.DMP"))
    return paths


def schema_file(folder: str, body: str, name: str = "schema.py") -> str:
    """A --schema file: `body` is the parse(data) of a record type named Event of no fixed size (so it
    decodes every source; the demo's SELF records say "... seed N" in their text)."""
    path = os.path.join(folder, name)
    with open(path, "w") as handle:
        handle.write(textwrap.dedent('''\
            import os, sys, time

            class _Event:
                subcons = []

                def sizeof(self):
                    raise TypeError("any size")

                def parse(self, data):
            %s

            Event = _Event()
            ''') % textwrap.indent(textwrap.dedent(body), " " * 8))
    return path


def parquet_rows(folder: str, table: str) -> List[Dict]:
    import pyarrow.parquet

    return pyarrow.parquet.read_table(os.path.join(folder, "%s.parquet" % table)).to_pylist()


def jsonl_rows(folder: str, table: str) -> List[Dict]:
    with open(os.path.join(folder, "%s.jsonl" % table)) as handle:
        return [json.loads(line) for line in handle]


def records_by_dump(records: List[Dict]) -> Dict[int, List[Dict]]:
    out = {}  # type: Dict[int, List[Dict]]
    for record in records:
        out.setdefault(record["dump_id"], []).append(record)
    return out


def as_crashdump_record(record: Dict) -> Dict:
    """A batch record as `crashdump --all --format json` shows it: index, hex, partial when set, fields."""
    row = {"index": record["index"], "hex": record["hex"]}
    if record["partial"]:
        row["partial"] = True
    row.update(json.loads(record["fields"]))
    return row
