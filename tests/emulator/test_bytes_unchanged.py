"""Every file the emulator's entry points write is byte-identical to what they wrote at commit
bc918ec (the branch point of the emulator's restructuring, issue 8): a change in module layout must
not change one byte of a dump, a symbol file or an expected.json. The ARM64 cases (issue 13) are
pinned as they were when dmfemu learnt to write ARM64 dumps.

Each case runs a user-facing entry point - `dmfemu demo|livedump|scenario` through dmfemu.cli.main,
`python -m dmfemu.pdb demo` through dmfemu.pdb.main, scripts/make_sample.py - into a fresh directory
and compares the sha256 of every file it wrote with the table below, which was taken at bc918ec.

The outputs are deterministic (fixed seeds, fixed clocks) except the native image of
`dmfemu.pdb demo`: lld-link stamps the link time into the PE header and the debug directory and
puts a fresh value in the first half of the RSDS GUID, and the PDB carries both in several streams.
So the .pdb is not pinned, and the .sys and the MEMORY.DMP that maps it are pinned after those
three fields (found through the built .sys itself) are zeroed. The generated C source is pinned as is.

The whole table runs in about a second (the dumps are small; the two native builds are the
slowest part), so CI runs all of it. `python tests/emulator/test_bytes_unchanged.py` prints the
current table (for an intended change of the emulator's output, with the reason in the commit
message).
"""
import contextlib
import hashlib
import io
import json
import os
import runpy
import struct
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAKE_SAMPLE = os.path.join(REPO, "scripts", "make_sample.py")

DEMO_VERSIONS = ("1.0.0", "1.1.84", "1.1.154")


def _demo_cases():
    cases = {}
    for arch in ("x64", "x86", "arm64"):
        for dump_type in ("full", "bitmap", "triage"):
            if arch == "x86" and dump_type == "triage":
                continue        # dmfemu writes no x86 triage dumps
            for version in DEMO_VERSIONS:
                cases["demo-%s-%s-%s" % (arch, dump_type, version)] = (
                    "demo", ["--arch", arch, "--dump-type", dump_type, "--dmf-version", version])
    # the two CrashDump context layouts the three versions above do not reach (V3, V4), a
    # MaximumAllowed that truncates, another seed
    cases["demo-x64-full-1.1.100"] = ("demo", ["--dmf-version", "1.1.100"])
    cases["demo-x64-full-1.1.140"] = ("demo", ["--dmf-version", "1.1.140"])
    cases["demo-x64-full-maximum-600"] = ("demo", ["--maximum-allowed", "600"])
    cases["demo-x64-triage-seed-7"] = ("demo", ["--dump-type", "triage", "--seed", "7"])
    return cases


def _livedump_cases():
    return {
        "livedump-x64-triage": ("livedump", []),
        "livedump-x64-bitmap-kernel": ("livedump", ["--dump-type", "bitmap-kernel"]),
        "livedump-x64-full": ("livedump", ["--dump-type", "full"]),
        "livedump-x86-full": ("livedump", ["--arch", "x86"]),
        "livedump-x64-triage-exclude": ("livedump", ["--exclude-dmf-data", "--client-buffers", "5"]),
        "livedump-x64-triage-1.1.84": ("livedump", ["--dmf-version", "1.1.84"]),
        "livedump-arm64-triage": ("livedump", ["--arch", "arm64"]),
        "livedump-arm64-bitmap-kernel": ("livedump", ["--arch", "arm64", "--dump-type", "bitmap-kernel"]),
        "livedump-arm64-full": ("livedump", ["--arch", "arm64", "--dump-type", "full"]),
    }


# The scenarios tests/emulator/test_demo.py replays (written out here so the pin does not move
# when that file changes).
_G1, _G2 = "aaaaaaaa-0000-0000-0000-000000000001", "aaaaaaaa-0000-0000-0000-000000000002"
_G3 = "bbbbbbbb-0000-0000-0000-000000000001"
SCENARIOS = {
    "scenario-destroy-recreate": {
        "crashdump": {"data_source_count": 2, "ring_buffer_maximum_size": 256},
        "operations": [
            {"op": "open", "handle": "a"}, {"op": "open", "handle": "b"},
            {"op": "create", "handle": "a", "guid": _G1, "entries": 2, "entry_size": 4},
            {"op": "create", "handle": "b", "guid": _G2, "entries": 2, "entry_size": 4},
            {"op": "write", "handle": "a", "hex": "01020304"},
            {"op": "write", "handle": "b", "hex": "05060708"},
            {"op": "destroy", "handle": "a"},
            {"op": "create", "handle": "a", "guid": _G1, "entries": 3, "entry_size": 4},
            {"op": "write", "handle": "a", "hex": "0a0b0c0d"},
        ],
    },
    "scenario-short-writes": {
        "crashdump": {"ring_buffer_data_guid": "bbbbbbbb-0000-0000-0000-000000000002", "buffer_size": 4,
                      "buffer_count": 2, "data_source_count": 1, "ring_buffer_maximum_size": 64},
        "operations": [
            {"op": "write_self", "hex": "01010101"}, {"op": "write_self", "hex": "02020202"},
            {"op": "write_self", "hex": "0303"},
            {"op": "open", "handle": "a"},
            {"op": "create", "handle": "a", "guid": _G3, "entries": 2, "entry_size": 4},
            {"op": "write", "handle": "a", "hex": "0a0a0a0a"}, {"op": "write", "handle": "a", "hex": "0b0b0b0b"},
            {"op": "write", "handle": "a", "hex": "0c0c"},
            {"op": "write", "handle": "a", "hex": "0d0d0d0d0d"},
        ],
        "crash": {"via": "bugcheck", "code": 0x1E, "parameters": [1, 2, 3, 4]},
    },
}


def _demo_scenario_file(seed: int, crash: dict, **changes) -> dict:
    """`dmfemu demo`'s own scenario, as a file a user would replay (taken from the CLI's output
    directory is not possible, so it is rebuilt from the public builder)."""
    from dmfemu.scenarios.crashdump_demo import demo_scenario

    scenario = demo_scenario(seed=seed, **changes)
    scenario["crash"] = crash
    return scenario


def _scenario_cases():
    cases = {name: ("scenario", name) for name in SCENARIOS}
    cases["scenario-demo-seed-3-bugcheck"] = ("scenario", "demo-seed-3-bugcheck")
    cases["scenario-demo-x86-bitmap-read-destroy"] = ("scenario", "demo-x86-bitmap-read-destroy")
    cases["scenario-demo-arm64-triage-read-destroy"] = ("scenario", "demo-arm64-triage-read-destroy")
    return cases


def _scenario_document(name: str) -> dict:
    if name in SCENARIOS:
        return SCENARIOS[name]
    if name == "demo-seed-3-bugcheck":
        return _demo_scenario_file(3, {"via": "bugcheck", "code": 0x1E, "parameters": [1, 2, 3, 4]})
    # the demo plus a capture and a destroy by the reader, crashed through the writer's handle
    arch, dump_type = ("arm64", "triage") if name == "demo-arm64-triage-read-destroy" else ("x86", "bitmap")
    scenario = _demo_scenario_file(5, {"via": "ioctl", "handle": "app2"}, arch=arch, dump_type=dump_type,
                                   dmf_version="1.1.140")
    scenario["operations"] += [{"op": "capture", "handle": "reader"}, {"op": "destroy", "handle": "reader"},
                               {"op": "surprise_removal"}]
    return scenario


CASES = {"make_sample": ("make_sample", None)}
CASES.update(_demo_cases())
CASES.update(_livedump_cases())
CASES.update(_scenario_cases())
CASES["pdb-demo-x64"] = ("pdb", ["--arch", "x64"])
CASES["pdb-demo-x86"] = ("pdb", ["--arch", "x86"])
CASES["pdb-demo-arm64"] = ("pdb", ["--arch", "arm64"])


# --------------------------------------------------------------------------------------------------
# running a case
# --------------------------------------------------------------------------------------------------

def _quiet(function, *args):
    """Run an entry point with its one-line report swallowed; its exit status must be 0."""
    with contextlib.redirect_stdout(io.StringIO()):
        status = function(*args)
    assert status in (0, None), "entry point failed with %r" % (status,)


def run_case(name: str, work: str) -> str:
    """Write case `name`'s files under `work`; returns the directory holding them. Output paths are
    relative to `work` (the current directory meanwhile), because expected.json of a live dump
    records the path it was written to."""
    kind, argument = CASES[name]
    previous = os.getcwd()
    os.chdir(work)
    try:
        if kind == "make_sample":
            saved = sys.argv
            sys.argv = [MAKE_SAMPLE, "out"]
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    with pytest.raises(SystemExit) as stopped:
                        runpy.run_path(MAKE_SAMPLE, run_name="__main__")
                assert stopped.value.code == 0
            finally:
                sys.argv = saved
        elif kind in ("demo", "livedump"):
            from dmfemu.cli import main as dmfemu_main

            _quiet(dmfemu_main, [kind, "-o", "out"] + argument)
        elif kind == "scenario":
            from dmfemu.cli import main as dmfemu_main

            with open("scenario.json", "w") as handle:
                json.dump(_scenario_document(argument), handle)
            _quiet(dmfemu_main, ["scenario", "scenario.json", "-o", "out"])
        else:
            from dmfemu.pdb import main as pdb_main

            _quiet(pdb_main, ["demo", "-o", "out"] + argument)
    finally:
        os.chdir(previous)
    return os.path.join(work, "out")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _link_stamps(image: bytes):
    """The byte strings of a built .sys that differ from link to link: the PE header's
    TimeDateStamp field (as the 8 bytes 'PE\\0\\0' + Machine + NumberOfSections + TimeDateStamp), the
    CodeView debug directory entry (it carries the link time too) and the RSDS record's GUID - each
    with a zeroed replacement."""
    pe = struct.unpack_from("<I", image, 0x3C)[0]
    header = image[pe:pe + 12]
    pairs = [(header, header[:8] + bytes(4))]
    rsds = image.find(b"RSDS")
    assert rsds > 0, "no RSDS record in the built image"
    pairs.append((image[rsds:rsds + 20], b"RSDS" + bytes(16)))
    for entry in range(0, len(image) - 28, 4):
        # IMAGE_DEBUG_DIRECTORY: ..., Type (2 = CODEVIEW), SizeOfData, AddressOfRawData, PointerToRawData
        characteristics, stamp, _, _, kind, size, _, pointer = struct.unpack_from("<IIHHIIII", image, entry)
        if characteristics == 0 and kind == 2 and pointer == rsds and size >= 24:
            raw = image[entry:entry + 28]
            pairs.append((raw, raw[:4] + bytes(4) + raw[8:]))
            break
    else:
        raise AssertionError("no CodeView debug directory entry in the built image")
    return pairs


def _normalised(data: bytes, stamps) -> bytes:
    for found, replacement in stamps:
        data = data.replace(found, replacement)
    return data


def hashes_of(out: str) -> dict:
    """{relative path: sha256} of every file a case wrote (build caches and the PDB left out,
    the native image's link stamps zeroed, see the module docstring)."""
    native = os.path.join(out, "symbols", "dmfdemo.sys")
    stamps = None
    if os.path.exists(native):
        with open(native, "rb") as handle:
            stamps = _link_stamps(handle.read())
    result = {}
    for folder, _, names in os.walk(out):
        for name in names:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, out).replace(os.sep, "/")
            if relative.startswith("native-build/"):
                if not relative.endswith(".c"):
                    continue
                relative = "native-build/" + name      # the cache folder's name hashes tool versions
            if relative.endswith(".pdb"):
                continue
            with open(path, "rb") as handle:
                data = handle.read()
            if stamps is not None and (relative.endswith(".sys") or relative.endswith(".DMP")):
                data = _normalised(data, stamps)
            result[relative] = _sha256(data)
    return result


# --------------------------------------------------------------------------------------------------
# the table, taken at bc918ec
# --------------------------------------------------------------------------------------------------

PINNED = {
    'demo-x64-bitmap-1.0.0': {
        "MEMORY.DMP": "203cd85c8c064c16e5521cabfec991f5471252059b02c8cb67bb96dddec820f3",
        "driver.isf.json": "8b78f3b1434aefd0cf73797ef423b756710ccae9e140c4b0d968ecba99003532",
        "expected.json": "a112e061370037d50698e490a23a67eee600d2372602fee1903682f275f20643",
    },
    'demo-x64-bitmap-1.1.154': {
        "MEMORY.DMP": "0c5422b5cac87ff7f8d0487a78b77c52c736d9dcc9b07e139d217cbbba2541b0",
        "driver.isf.json": "76a1403cd0737fb668f5d2159ff6342866cb20f1914cc8ddb31527344b4a11c4",
        "expected.json": "e5ad9b13796a1995824a89627f60561c3b664b277442c8268668a9cf67bab5fd",
    },
    'demo-x64-bitmap-1.1.84': {
        "MEMORY.DMP": "fed0435ac776d260aebb6040c73c689ea5a2e9758d6d82cc815ae8f3a98be949",
        "driver.isf.json": "53e421cdb157c6fc2e97cf12e8e47c823a458fd1b7a0eb94b43dba7d48186485",
        "expected.json": "30cbb64b01b107752f2ff829d344a46c0204dbd485df923aca0a028518cc4cb5",
    },
    'demo-x64-full-1.0.0': {
        "MEMORY.DMP": "4d17dc43938826d64af8d1b2c5654de8a33bd3c76799bde31a93961b6b94ee92",
        "driver.isf.json": "8b78f3b1434aefd0cf73797ef423b756710ccae9e140c4b0d968ecba99003532",
        "expected.json": "0874219849d0db479a286a43a73b1557b33daf9ea6b6415bc3b789a8c603f93a",
    },
    'demo-x64-full-1.1.100': {
        "MEMORY.DMP": "6aaec1be4f0c83f6fa6ccc27c483933428f9a43425421880dcc4ce965ba4c55a",
        "driver.isf.json": "8e2ddb761e2e51257528c97a50a9205e8f553c65b3fa710c39fa4a63b470e7c1",
        "expected.json": "3e0c141e400a9a161def0e4ef0bb6312b90d59f4581005b40e38b8c0f8ccb9bd",
    },
    'demo-x64-full-1.1.140': {
        "MEMORY.DMP": "c190b9d492c896da1ecc61af69c030e1a41fe38fdbbed3fb527c4ed1871deef0",
        "driver.isf.json": "595bc65bae4b3b0abc16e803d08219bf466738c6a0790c31531f5d84b1290f33",
        "expected.json": "5a32c37606b05389e004fec33cb5c24a20833bac8f97b9299d2ce4ff58d9bfdc",
    },
    'demo-x64-full-1.1.154': {
        "MEMORY.DMP": "242a1a0e80bbdb935d6455f2fc9192566788da0d0791dc5631f619f852853e75",
        "driver.isf.json": "76a1403cd0737fb668f5d2159ff6342866cb20f1914cc8ddb31527344b4a11c4",
        "expected.json": "618b579e841283f4b7afa78f56e1f7e0d5c5b80a4fdf1d7ce64fa2ef39df1b1f",
    },
    'demo-x64-full-1.1.84': {
        "MEMORY.DMP": "d65619cbc98ae8628fe391d8d07f8274bfc661801d36453297e7fbe60ba5bc76",
        "driver.isf.json": "53e421cdb157c6fc2e97cf12e8e47c823a458fd1b7a0eb94b43dba7d48186485",
        "expected.json": "9a4e6a2b07a7887390db7bf121279247760c18958700e4d46b4c3c11ca90ebc2",
    },
    'demo-x64-full-maximum-600': {
        "MEMORY.DMP": "e5b5d834f6ebc2a3fbd97d16fb63ae7bd05dd11eefdb1047c8bb56a54f697fbc",
        "driver.isf.json": "76a1403cd0737fb668f5d2159ff6342866cb20f1914cc8ddb31527344b4a11c4",
        "expected.json": "442d31ba51eca57a11093b4f7f54d1f1920bc1265e531a1c05166fab26be7e39",
    },
    'demo-x64-triage-1.0.0': {
        "MEMORY.DMP": "04a66622ddaa1cac2b296c80629cfcaf02d6d6a4f180a3a5b98808e49f87f11f",
        "driver.isf.json": "8b78f3b1434aefd0cf73797ef423b756710ccae9e140c4b0d968ecba99003532",
        "expected.json": "e033ea9b73d34715faf71775ee9b9d8250de34b72c921bf096d13109f5a69f89",
    },
    'demo-x64-triage-1.1.154': {
        "MEMORY.DMP": "5be26156bff51abe7cc40c079cdd70fbb59569bb7963cf03139ed52974f75039",
        "driver.isf.json": "76a1403cd0737fb668f5d2159ff6342866cb20f1914cc8ddb31527344b4a11c4",
        "expected.json": "c58bc1312ed2b21bef301a5de0d46f3a9acf6f3cda9de9a17ff8456160d7f178",
    },
    'demo-x64-triage-1.1.84': {
        "MEMORY.DMP": "04a66622ddaa1cac2b296c80629cfcaf02d6d6a4f180a3a5b98808e49f87f11f",
        "driver.isf.json": "53e421cdb157c6fc2e97cf12e8e47c823a458fd1b7a0eb94b43dba7d48186485",
        "expected.json": "54ba32310d3925dc8c7841586ff895b69c2436146ff19c645c766cea6b466df9",
    },
    'demo-x64-triage-seed-7': {
        "MEMORY.DMP": "fcae3d7c7a1f5dd0509c874add291b9a955e008ab972da9b908b3eff4133f606",
        "driver.isf.json": "76a1403cd0737fb668f5d2159ff6342866cb20f1914cc8ddb31527344b4a11c4",
        "expected.json": "96215d34a237c0e78fba5a187ba337e3e0abf7e4e938eaf356b4d3f66b360626",
    },
    'demo-x86-bitmap-1.0.0': {
        "MEMORY.DMP": "b46515905f28a6dfa9e0b9ecdfdfdaffce849174175c807e8147b71f1fa984e2",
        "driver.isf.json": "3551b7eccfd5497026cb3ec8e041f9d91f64d59e49fcc93b89376e42d23a6c42",
        "expected.json": "96cc51f83b4aa61587c5141a4307e2191c83110223db645d53b05dcad445c172",
    },
    'demo-x86-bitmap-1.1.154': {
        "MEMORY.DMP": "48afce802b741a31e22b1d17c89184630d0c00157a4b995545da32e798b927ee",
        "driver.isf.json": "4dc6c25a3a91065910bcb71fa3d38af577ee955ee40b327f27e45c630546ea5c",
        "expected.json": "72e54f6e125d3331205cb445eb8325d08bd3bbf352dfee24409f0ddb680028f7",
    },
    'demo-x86-bitmap-1.1.84': {
        "MEMORY.DMP": "16bd5e9934b3b6a9e2eb06c576b6c2664287472bf0c2bb5264632dfa0605cff2",
        "driver.isf.json": "850443aa1e8678257904a92796c3cde272282693132aa0dde289ced1761c7c09",
        "expected.json": "5c679c5fed5789c2c1fc578492d919a0940a5549eaa5fc7dd4f5b9367018a7b5",
    },
    'demo-x86-full-1.0.0': {
        "MEMORY.DMP": "ab3d279f059bd1324c6ef55a2b781adae450582f90629b37c1fc1cc91038ec53",
        "driver.isf.json": "3551b7eccfd5497026cb3ec8e041f9d91f64d59e49fcc93b89376e42d23a6c42",
        "expected.json": "a4d838b8c415f38d29ab11f6933390cee71d37500aede306591ac4a8b5d004b2",
    },
    'demo-x86-full-1.1.154': {
        "MEMORY.DMP": "3c78d7590dfca5dd38d062af0128a22c97465c5e72292fc015cdc5053bc6da7d",
        "driver.isf.json": "4dc6c25a3a91065910bcb71fa3d38af577ee955ee40b327f27e45c630546ea5c",
        "expected.json": "99dff52d5e205aae3148d83c9dbeb8599749989541c724dcbc54a42cfcc10b0b",
    },
    'demo-x86-full-1.1.84': {
        "MEMORY.DMP": "c662e57761e4caacab9a8faf9d46dc8769d141c250822d91871d5b490e2478ce",
        "driver.isf.json": "850443aa1e8678257904a92796c3cde272282693132aa0dde289ced1761c7c09",
        "expected.json": "124f76740ef124971746ece495ebf651c454bc946cd29a58e6eeeb8d931c97ed",
    },
    'livedump-x64-bitmap-kernel': {
        "LIVEDUMP.DMP": "ea822ccbbc28695ebca9b309a675308ca7f2545110b45cced814b2c90fba9995",
        "driver.isf.json": "a5010b9480ae09f539b31b5a26514ff6e2f354b7fb72e8ecdd9490758e441973",
        "expected.json": "1e598c3308cf5638fc5be927e8750a3a7aa947e8839fb8a90692ed43efc6c3bd",
    },
    'livedump-x64-full': {
        "LIVEDUMP.DMP": "1993103e81860518de6ae172b8afaefe4339889ed11a21be3e9395ef9e2bb493",
        "driver.isf.json": "a5010b9480ae09f539b31b5a26514ff6e2f354b7fb72e8ecdd9490758e441973",
        "expected.json": "2d5dcf90dfff30a2efcdfffea9e7b103a37615ee70d9fa88f3d96065e1d3747a",
    },
    'livedump-x64-triage': {
        "LIVEDUMP.DMP": "3a5cd02b4d13a1a3a3ddc2982ce41f430f67d863ad7521f6baabeeed33e96360",
        "driver.isf.json": "a5010b9480ae09f539b31b5a26514ff6e2f354b7fb72e8ecdd9490758e441973",
        "expected.json": "46d95974bd7baceb3303717937a277e95ee81d157cfd57ba83ceab489af6fb6a",
    },
    'livedump-x64-triage-1.1.84': {
        "LIVEDUMP.DMP": "7cc200e86ae1fcad87833a0a448b2ed7965b14f3d36e95707e5fbd4afeba034a",
        "driver.isf.json": "3a67ec4bfd8e9ec98ea9773b5b7e0208af8790f4ebe8360df956467f16d6a9d9",
        "expected.json": "5a434ca78dcd8ad581344648a058eb8d09e6f706c48db5e6645b01a191125e56",
    },
    'livedump-x64-triage-exclude': {
        "LIVEDUMP.DMP": "64881f5bdcc23429fbd60eabf0b605c2c6ddf97a6680e84010ccb053b94f8b5f",
        "driver.isf.json": "a5010b9480ae09f539b31b5a26514ff6e2f354b7fb72e8ecdd9490758e441973",
        "expected.json": "9a303d02ae559be55008912686433d63ac7e0e4262bc11c3d55bdf76f7ff3f56",
    },
    'livedump-x86-full': {
        "LIVEDUMP.DMP": "c5ba29f4f26b33b4062f36e558afae3f41936787aba414aac419f8e0b9abc5aa",
        "driver.isf.json": "29a374df6aa49d9c701c3259f0b2ab3795c5cce220e6be905940168c9c480206",
        "expected.json": "3ac13adfaf402ec1b558ce898cfe7d42e5d80f5e656fa0c3082921b679230c95",
    },
    'make_sample': {
        "MEMORY.DMP": "242a1a0e80bbdb935d6455f2fc9192566788da0d0791dc5631f619f852853e75",
        "driver.isf.json": "76a1403cd0737fb668f5d2159ff6342866cb20f1914cc8ddb31527344b4a11c4",
        "expected.json": "618b579e841283f4b7afa78f56e1f7e0d5c5b80a4fdf1d7ce64fa2ef39df1b1f",
    },
    'pdb-demo-x64': {
        "MEMORY.DMP": "79af2ac1b8c671068e92a89abf3bc06a219a6fa48d1fb6c7937f12a306849a03",
        "driver.isf.json": "76a1403cd0737fb668f5d2159ff6342866cb20f1914cc8ddb31527344b4a11c4",
        "expected.json": "618b579e841283f4b7afa78f56e1f7e0d5c5b80a4fdf1d7ce64fa2ef39df1b1f",
        "native-build/dmfdemo.c": "5a9f1e571588a5c32cf39220b1eb9251224b0fb3eb7723b90cf46b72238e9ba1",
        "symbols/dmfdemo.sys": "41d282bb24e07181ac010deaea6658f00bcef88f46175c2499d4cb2f503ff437",
    },
    'pdb-demo-x86': {
        "MEMORY.DMP": "30b9d8a04e4bc6252a2791a34cf756a7d08d4e2628e1af127c91750550d48274",
        "driver.isf.json": "4dc6c25a3a91065910bcb71fa3d38af577ee955ee40b327f27e45c630546ea5c",
        "expected.json": "99dff52d5e205aae3148d83c9dbeb8599749989541c724dcbc54a42cfcc10b0b",
        "native-build/dmfdemo.c": "c31a360319fb1d4ff23962e63847257ee993fe40d8135ef38b4dff51fa5f093b",
        "symbols/dmfdemo.sys": "f6208353808a262748d8e2efd3d2ab770309dce2c16b018879c9ad70a73ef3a7",
    },
    'scenario-demo-seed-3-bugcheck': {
        "MEMORY.DMP": "8d0c778f0107dde94c1caae17510f72e4cc96db5b00f3f69155c575c1e8db96a",
        "driver.isf.json": "76a1403cd0737fb668f5d2159ff6342866cb20f1914cc8ddb31527344b4a11c4",
        "expected.json": "b7b2a2537441b4a197b789bc53890448cc9e80f80070cfb79d9ca1b0e4043744",
    },
    'scenario-demo-x86-bitmap-read-destroy': {
        "MEMORY.DMP": "5b2e6d66738266f3838307311e21fd3de84c6c6d8657f4bbe2b89b3d52a643a2",
        "driver.isf.json": "aaeb8b02243a7a776943a9bfba996bf18082b62e369033e3f5e907f02c4e1121",
        "expected.json": "db3a6e350946ea729d5f781253e0ba3375a46aac645e3b888e9e83298eda54ae",
    },
    'scenario-destroy-recreate': {
        "MEMORY.DMP": "c7eee2b03e3eacc423152000234bce3ad8d1a06af66084fdbb8844f807a2e0ca",
        "driver.isf.json": "3512be091eb376e2abda8d4b92639e11a4fa9e8f4104924b0b8721e2cc20483f",
        "expected.json": "0f3bbd3ef4346a26645515ad3e4d9058f4f467077c8e1ed05b485fb6c8e32aa8",
    },
    'scenario-short-writes': {
        "MEMORY.DMP": "a85c202092dcde95b3334122e72e797a4f4b582a6ecb2ee8e167b00fe428baed",
        "driver.isf.json": "3512be091eb376e2abda8d4b92639e11a4fa9e8f4104924b0b8721e2cc20483f",
        "expected.json": "a615bec405082cbb241dd1311fec6acb7c558d542f1efb8cb29080770aa5a827",
    },
    # ARM64 (issue 13): pinned when dmfemu learnt to write ARM64 dumps; the x64/x86 entries above did not move
    'demo-arm64-bitmap-1.0.0': {
        "MEMORY.DMP": "1bc08cc5163c74937d7603b57d729a1eb611a52ea374a8eee48a8082cdfedf27",
        "driver.isf.json": "2fbe7b0f3c02a6e2f7c10e83f031cf044b8a41afadd9c60f676aab85cc346045",
        "expected.json": "5c5ea474f2cea4aaaa5b13934ac8600cd6da8dd5432cc045c3fddca2620c2ade",
    },
    'demo-arm64-bitmap-1.1.154': {
        "MEMORY.DMP": "209b60b5606b18522a002572ef8f8ab1d0f0b03433d90700b508ab759a704ed9",
        "driver.isf.json": "bbaa7c45311bcbcf9bad7a350373d8f86929b4a6048ea84db0c617a28221bbe7",
        "expected.json": "170d402d5ab31fbaa31813c56613f03f650c06bef54433bdd47e00312281b4cb",
    },
    'demo-arm64-bitmap-1.1.84': {
        "MEMORY.DMP": "8859db2f2ec7d6e34a247ee5365bbfe0d92699ca265bd640ca30b3eba73c53f2",
        "driver.isf.json": "2d9924bbfcfdeb06f99a3bb8f87919f6817f6fd53a0ac2e3537131546265bf9f",
        "expected.json": "cbefc3b42e08fbe057a7ffe4af9aa8e318f2a9502c7fa1098172ebd934af2f2a",
    },
    'demo-arm64-full-1.0.0': {
        "MEMORY.DMP": "49d3f024fa125b9fba39826b1d91bdfe715d4fb6f7e8309758f1e721ccb14ea5",
        "driver.isf.json": "2fbe7b0f3c02a6e2f7c10e83f031cf044b8a41afadd9c60f676aab85cc346045",
        "expected.json": "56216f179d92cb778b00fd1fdb8f6d3d4828a4cd04ddc27e7e06fd3778676194",
    },
    'demo-arm64-full-1.1.154': {
        "MEMORY.DMP": "bfbdfac653434cd045e33206cca4ad18a8ac167ea37872a0adde72495b8ec143",
        "driver.isf.json": "bbaa7c45311bcbcf9bad7a350373d8f86929b4a6048ea84db0c617a28221bbe7",
        "expected.json": "c1bbcd81286aa3e3eaa7313fe77ac89e7467ecfa9410f030d5a3bd0d40bb19b7",
    },
    'demo-arm64-full-1.1.84': {
        "MEMORY.DMP": "480697612886b5023ef10d0a9645d711073d8c04cb504cf6c9893a67f0acacca",
        "driver.isf.json": "2d9924bbfcfdeb06f99a3bb8f87919f6817f6fd53a0ac2e3537131546265bf9f",
        "expected.json": "4461e6057930c659e28913d4a5afcf82e40bbcb3442a73b537730ace5e723476",
    },
    'demo-arm64-triage-1.0.0': {
        "MEMORY.DMP": "4a4523d384f7884a7007cf4fbb65dadb768d465a290f019e1c922a2389877432",
        "driver.isf.json": "2fbe7b0f3c02a6e2f7c10e83f031cf044b8a41afadd9c60f676aab85cc346045",
        "expected.json": "02e503f0c702ab2d7cda605428ad75befba80a49772827b118985f9f55386813",
    },
    'demo-arm64-triage-1.1.154': {
        "MEMORY.DMP": "08ced3f483c1ce28d7d69584580032a97cc29c7041b189da4ed3b2f594d5dda0",
        "driver.isf.json": "bbaa7c45311bcbcf9bad7a350373d8f86929b4a6048ea84db0c617a28221bbe7",
        "expected.json": "a53bc3fa4f109045af33dce18d1982b929fba1b431dcd9ac9466f2529f11d381",
    },
    'demo-arm64-triage-1.1.84': {
        "MEMORY.DMP": "4a4523d384f7884a7007cf4fbb65dadb768d465a290f019e1c922a2389877432",
        "driver.isf.json": "2d9924bbfcfdeb06f99a3bb8f87919f6817f6fd53a0ac2e3537131546265bf9f",
        "expected.json": "3ec26e8edc9a535290571e459793833f3c0f5d98cce099b2fb098bff43744376",
    },
    'livedump-arm64-bitmap-kernel': {
        "LIVEDUMP.DMP": "8ad8b2d3132d6915d9b62a85857f4640585eface679bca5a25cc962865c953a7",
        "driver.isf.json": "b1ce1d9d03e7da543e3a3856aac76b1c8b438defe595cfcc0e8abba10e13e948",
        "expected.json": "86c8a04dd14a13090112bf0b567e744bf0f3f5c57244f1dde0bcc01cd12a661f",
    },
    'livedump-arm64-full': {
        "LIVEDUMP.DMP": "9a405c593ea9a13f079ae895b38abd88b524ddab5cb7931164648a2b7ad0899f",
        "driver.isf.json": "b1ce1d9d03e7da543e3a3856aac76b1c8b438defe595cfcc0e8abba10e13e948",
        "expected.json": "982d27e329dd76c5dfbd2bcbdf5a30c0e1f6d5b7e8a463505cd5637a17d75868",
    },
    'livedump-arm64-triage': {
        "LIVEDUMP.DMP": "ab52470b40cb447decea4fb67b513fb68d4d32c54ecfd35dcd9b9b9ec5dd30b8",
        "driver.isf.json": "b1ce1d9d03e7da543e3a3856aac76b1c8b438defe595cfcc0e8abba10e13e948",
        "expected.json": "3dd5e1aa62840573626098f84420f8665079e15a8369a12a0fa66ba6b9824db5",
    },
    'pdb-demo-arm64': {
        "MEMORY.DMP": "2a2d21f0d61fe4ae8043504b5be6a6ce952a5373cca1be7ace3c0a31adbf14d9",
        "driver.isf.json": "bbaa7c45311bcbcf9bad7a350373d8f86929b4a6048ea84db0c617a28221bbe7",
        "expected.json": "c1bbcd81286aa3e3eaa7313fe77ac89e7467ecfa9410f030d5a3bd0d40bb19b7",
        "native-build/dmfdemo.c": "3e9f0e68e3244f3da2eeaa386ade30960149a61faee5fdb996107678865541a3",
        "symbols/dmfdemo.sys": "3ea13e9f03e74f4199a5f1fdff4fa8c9a8c55f08a9d7cc1c988aee8ac1e96b57",
    },
    'scenario-demo-arm64-triage-read-destroy': {
        "MEMORY.DMP": "2c16eca046b99578f453ea3740dea633c70204339f249b4949dbdb76b1c02f18",
        "driver.isf.json": "f97a8cef11ef24d18796ab959f88c237d58fc595e7f46d86ed1f8c3ab0e11aac",
        "expected.json": "9ca2afab5d54624a83050ef51343a6a06bd6f8c46e0ec2b15b65f126e3466fa1",
    },
}


def _needs_native_tools(name: str) -> bool:
    return CASES[name][0] == "pdb"


@pytest.mark.parametrize("name", sorted(CASES))
def test_entry_point_output_is_byte_identical(name, tmp_path):
    if _needs_native_tools(name):
        from dmfemu.native_build import ToolsMissing, find_tools
        try:
            find_tools()
        except ToolsMissing as missing:
            pytest.skip(str(missing))
    out = run_case(name, str(tmp_path))
    assert hashes_of(out) == PINNED[name]


def test_every_case_is_pinned():
    assert sorted(PINNED) == sorted(CASES)


def main() -> int:
    """Print the table as it stands today, in the form PINNED is written in."""
    print("PINNED = {")
    for name in sorted(CASES):
        with tempfile.TemporaryDirectory() as work:
            hashes = hashes_of(run_case(name, work))
        print("    %r: {" % name)
        for relative in sorted(hashes):
            print('        "%s": "%s",' % (relative, hashes[relative]))
        print("    },")
    print("}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
