"""Emulator dumps whose driver has a real PE image and PDB (dmfemu.pdb: clang-cl + lld-link), built
once per session and kind; tests skip with one line when clang-14/lld-14 are missing.

    demo = pdb_demo(tmp_path_factory, "x64", "1.1.154")
    demo.dump, demo.symbols (folder with dmfdemo.pdb + .sys), demo.pdb, demo.isf_path, demo.image_base
"""
import json
import os
from typing import NamedTuple

import pytest


class PdbDemo(NamedTuple):
    folder: str
    dump: str
    symbols: str
    pdb: str
    isf_path: str
    image_base: int


_BUILT = {}  # type: Dict[Tuple[str, str, str], PdbDemo]


def pdb_demo(tmp_path_factory, arch: str = "x64", version: str = "1.1.154", dump_type: str = "full") -> PdbDemo:
    from dmfemu import native_build

    key = (arch, version, dump_type)
    if key in _BUILT:
        return _BUILT[key]
    try:
        native_build.find_tools()
    except native_build.ToolsMissing as exc:
        pytest.skip(str(exc))
    root = tmp_path_factory.getbasetemp()
    folder = str(root / ("pdb-demo-%s-%s-%s" % key))
    from dmfemu.pdb import demo_with_pdb

    demo_with_pdb(folder, arch, version, dump_type, cache=str(root / "pdb-demo-native-build"))
    isf_path = os.path.join(folder, "driver.isf.json")
    with open(isf_path) as handle:
        base = json.load(handle)["metadata"]["dmfkd"]["image_base"]
    demo = PdbDemo(folder, os.path.join(folder, "MEMORY.DMP"), os.path.join(folder, "symbols"),
                   os.path.join(folder, "symbols", "dmfdemo.pdb"), isf_path, base)
    _BUILT[key] = demo
    return demo
