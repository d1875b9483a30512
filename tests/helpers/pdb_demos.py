"""Emulator dumps whose driver has a real PE image and PDB (dmfemu.pdb: clang-cl + lld-link), built
once per session and kind; tests skip with one line when clang-14/lld-14 are missing.

    demo = pdb_demo(tmp_path_factory, "x64", "1.1.154")
    demo.dump, demo.symbols (folder with dmfdemo.pdb + .sys), demo.pdb, demo.isf_path, demo.image_base
    live = pdb_live_demo(tmp_path_factory)          # the same for dmfemu's live kernel dump (LIVEDUMP.DMP)
    alone(demo, folder) -> the dump copied alone (no ISF beside it); symbol_store(demo, folder) -> a symstore
"""
import json
import os
import shutil
from typing import Dict, NamedTuple, Tuple

import pytest

from helpers.symbol_servers import store_pdb


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


def pdb_live_demo(tmp_path_factory, arch: str = "x64", dump_type: str = "bitmap-kernel") -> PdbDemo:
    """dmfemu's live kernel dump (LIVEDUMP.DMP) with the native image of its driver (a full live dump
    by default: a triage one keeps no image headers, so no CodeView record either)."""
    from dmfemu import native_build
    from dmfemu.native_image import NativeImage
    from dmfemu.scenarios.live_dump_demo import demo_live_dump

    key = ("live", arch, dump_type)
    if key in _BUILT:
        return _BUILT[key]
    try:
        native_build.find_tools()
    except native_build.ToolsMissing as exc:
        pytest.skip(str(exc))
    root = tmp_path_factory.getbasetemp()
    scratch = str(root / ("pdb-live-%s-%s-plain" % (arch, dump_type)))
    demo_live_dump(scratch, arch, dump_type)
    with open(os.path.join(scratch, "driver.isf.json")) as handle:
        built = native_build.build(json.load(handle), str(root / "pdb-demo-native-build"))
    folder = str(root / ("pdb-live-%s-%s" % (arch, dump_type)))
    demo_live_dump(folder, arch, dump_type, native_image=NativeImage.load(built.image))
    symbols = os.path.join(folder, "symbols")
    os.makedirs(symbols, exist_ok=True)
    shutil.copy(built.pdb, symbols)
    isf_path = os.path.join(folder, "driver.isf.json")
    with open(isf_path) as handle:
        base = json.load(handle)["metadata"]["dmfkd"]["image_base"]
    demo = PdbDemo(folder, os.path.join(folder, "LIVEDUMP.DMP"), symbols, os.path.join(symbols, "dmfdemo.pdb"),
                   isf_path, base)
    _BUILT[key] = demo
    return demo


def alone(demo: PdbDemo, folder) -> str:
    """The demo's dump copied into `folder` with nothing beside it (no driver.isf.json)."""
    os.makedirs(str(folder), exist_ok=True)
    path = os.path.join(str(folder), os.path.basename(demo.dump))
    shutil.copyfile(demo.dump, path)
    return path


def symbol_store(demo: PdbDemo, folder, two_tier: bool = False) -> str:
    """A symbol store (symstore layout) holding the demo's PDB only."""
    store_pdb(str(folder), demo.pdb, two_tier=two_tier)
    return str(folder)
