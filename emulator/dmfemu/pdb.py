"""`python -m dmfemu.pdb demo -o DIR`: the `dmfemu demo` dump together with a real PE image and PDB
for its driver (dmfemu.native_build), so Microsoft's debugger engine - and dmfkd inside WinDbg -
resolve the driver's symbols and types from the PDB, as they would for a real driver: open
DIR/MEMORY.DMP with the symbol path DIR/symbols. Needs Debian's clang-14 and lld-14.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import List, Optional

from dmfkd.errors import DmfkdError

from dmfemu.native_build import NativeBuild, build
from dmfemu.native_image import NativeBuildError, NativeImage
from dmfemu.scenarios.crashdump_demo import demo_scenario
from dmfemu.scenarios.crashdump_replay import run_scenario


def demo_with_pdb(out_dir: str, arch: str = "x64", dmf_version: str = "1.1.154", dump_type: str = "full",
                  cache: Optional[str] = None) -> NativeBuild:
    """The `dmfemu demo` scenario twice: once to learn the driver's ISF (RVAs, types), then with the
    native image built from it. Leaves DIR/MEMORY.DMP, DIR/driver.isf.json, DIR/expected.json and
    DIR/symbols/<module>.pdb (+ .sys): open the dump with the symbol path DIR/symbols."""
    if arch == "x86" and dump_type != "full":
        raise NativeBuildError("x86 dumps are full dumps only (--dump-type full)")
    with tempfile.TemporaryDirectory() as scratch:
        run_scenario(demo_scenario(arch, dmf_version, dump_type), scratch)
        with open(os.path.join(scratch, "driver.isf.json")) as handle:
            isf = json.load(handle)
    build_result = build(isf, cache or os.path.join(out_dir, "native-build"))
    run_scenario(demo_scenario(arch, dmf_version, dump_type), out_dir,
                 native_image=NativeImage.load(build_result.image))
    with open(os.path.join(out_dir, "driver.isf.json")) as handle:
        if json.load(handle)["symbols"] != isf["symbols"]:
            raise NativeBuildError("the demo laid out its driver differently with the native image")
    symbols = os.path.join(out_dir, "symbols")
    os.makedirs(symbols, exist_ok=True)
    for path in (build_result.pdb, build_result.image):
        shutil.copy(path, symbols)
    return build_result


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dmfemu.pdb",
                                     description="The dmfemu demo dump with a real PDB for its driver.")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="write DIR/MEMORY.DMP and DIR/symbols/dmfdemo.pdb")
    demo.add_argument("-o", "--output", required=True, metavar="DIR")
    demo.add_argument("--arch", choices=("x64", "x86", "arm64"), default="x64")
    demo.add_argument("--dmf-version", default="1.1.154")
    demo.add_argument("--dump-type", choices=("full", "bitmap"), default="full")
    demo.add_argument("--cache", metavar="DIR", help="where builds are kept (default DIR/native-build)")
    args = parser.parse_args(argv)
    if args.command != "demo":
        parser.print_help()
        return 2
    try:
        result = demo_with_pdb(args.output, args.arch, args.dmf_version, args.dump_type, args.cache)
    except DmfkdError as exc:
        sys.stderr.write("dmfemu.pdb: %s\n" % str(exc).splitlines()[0])
        return 2
    sys.stdout.write("%s/MEMORY.DMP with symbols in %s/symbols (%s)\n"
                     % (args.output, args.output, os.path.basename(result.pdb)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
