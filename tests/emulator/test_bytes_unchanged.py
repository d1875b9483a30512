"""Every file the emulator's entry points write is byte-identical to what they wrote at commit
bc918ec (the branch point of the emulator's restructuring, issue 8): a change in module layout must
not change one byte of a dump, a symbol file or an expected.json. The ARM64 cases (issue 13) are
pinned as they were when dmfemu learnt to write ARM64 dumps.

Each case runs a user-facing entry point - `dmfemu demo|livedump|scenario` through dmfemu.cli.main,
`python -m dmfemu.pdb demo` through dmfemu.pdb.main, scripts/make_sample.py - into a fresh directory
and compares the sha256 of every file it wrote with the table below, which was taken at bc918ec, and
retaken once on purpose: when the demo driver's DMFDEMO_EVENT got enum-typed EventId/Level (44-byte
Message) and its events moved to the minutes before the crash (issue 11): 124 of the 144 pinned files
changed then (every demo dump and expected.json, every driver.isf.json); the live dumps, the native
images and two scenario dumps did not.

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
            {"op": "write_self", "hex": "0303", "expect": "STATUS_UNSUCCESSFUL"},
            {"op": "open", "handle": "a"},
            {"op": "create", "handle": "a", "guid": _G3, "entries": 2, "entry_size": 4},
            {"op": "write", "handle": "a", "hex": "0a0a0a0a"}, {"op": "write", "handle": "a", "hex": "0b0b0b0b"},
            {"op": "write", "handle": "a", "hex": "0c0c", "expect": "STATUS_UNSUCCESSFUL"},
            {"op": "write", "handle": "a", "hex": "0d0d0d0d0d",
             "expect": "STATUS_BUFFER_OVERFLOW"},
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
    'demo-arm64-bitmap-1.0.0': {
        "MEMORY.DMP": "c9f3abeb6178c45424041b575498c893db16710fb101ede44d3da500fe6cc9cf",
        "driver.isf.json": "5b0ae24b7ae17b58c405587b6fe25db26f2dc629d762ca6889130977f6b01d6a",
        "expected.json": "22d2d58841d792c91821424826c1b9707b22f18ed5b045d7a53669c9c02ff612",
    },
    'demo-arm64-bitmap-1.1.154': {
        "MEMORY.DMP": "c1c495ae261d205ff68eca81435aa160c9199b9b90335b957b592d9fa1f559ab",
        "driver.isf.json": "88095f96d6c557ea98ae201059d373c1b71d7d2d9e508a26b42de604ca8e4fcc",
        "expected.json": "4106bb5942858b10f2807210da991496a075c8ada325ddad9a9c74c2243e380b",
    },
    'demo-arm64-bitmap-1.1.84': {
        "MEMORY.DMP": "c16c695146ae23e80f8a15f8887e6738c51d5172862ad8ffbe8d778c05731a34",
        "driver.isf.json": "1b381c18cb507c2dd97f4551a5f86d23e0b48637b13a23d5018e243e3c7380d8",
        "expected.json": "2657b74d2f7a43a6c79739560db9e5eb44fdbb783c6ac194b58b5769f4142ff7",
    },
    'demo-arm64-full-1.0.0': {
        "MEMORY.DMP": "aaac8ea6050b0ba7b610120ee9bd01654b36e2ca4fa84e408ac14f5dff90fe64",
        "driver.isf.json": "5b0ae24b7ae17b58c405587b6fe25db26f2dc629d762ca6889130977f6b01d6a",
        "expected.json": "b07c2609a60384e3e6efb456f8bf30144f55c88a3e91fca75f9e33a2907347d3",
    },
    'demo-arm64-full-1.1.154': {
        "MEMORY.DMP": "ab5fb50b20d4f3f76fa9db206cb5e7196cd132af3f5507b2dd51426bb364c670",
        "driver.isf.json": "88095f96d6c557ea98ae201059d373c1b71d7d2d9e508a26b42de604ca8e4fcc",
        "expected.json": "0cd6809e37126f6aff5aa56beecea60ed7db16057a06199c641fb8a21d6cba1f",
    },
    'demo-arm64-full-1.1.84': {
        "MEMORY.DMP": "30d7e99846041ccfc6640fdf3d531110f299f6b47c570c5e1f01db91d8aa87f3",
        "driver.isf.json": "1b381c18cb507c2dd97f4551a5f86d23e0b48637b13a23d5018e243e3c7380d8",
        "expected.json": "1b11a1a23229bb028207c57409a33db0d8261f7166f735aa9031f0f32331bb93",
    },
    'demo-arm64-triage-1.0.0': {
        "MEMORY.DMP": "24347cde500971a71edd2ed9c61b12ed1b929c6254eb36b9be6f6d9530995ed2",
        "driver.isf.json": "5b0ae24b7ae17b58c405587b6fe25db26f2dc629d762ca6889130977f6b01d6a",
        "expected.json": "e7f487015531426b660e22020958c08f9534aa8f43fa65f59a81230ba2545b19",
    },
    'demo-arm64-triage-1.1.154': {
        "MEMORY.DMP": "043e352f165df959e6fb1307e321577a35d7af186e67a279f0cb2f2028240048",
        "driver.isf.json": "88095f96d6c557ea98ae201059d373c1b71d7d2d9e508a26b42de604ca8e4fcc",
        "expected.json": "7a8b8e22d98eda1147a07f5898595a3157e6dc29bc4866316f80bedd3f389fc9",
    },
    'demo-arm64-triage-1.1.84': {
        "MEMORY.DMP": "24347cde500971a71edd2ed9c61b12ed1b929c6254eb36b9be6f6d9530995ed2",
        "driver.isf.json": "1b381c18cb507c2dd97f4551a5f86d23e0b48637b13a23d5018e243e3c7380d8",
        "expected.json": "2c6bb63a1e2ff849993ef8ce2ca2f83260e24aa08a42083ce66276aea74c6992",
    },
    'demo-x64-bitmap-1.0.0': {
        "MEMORY.DMP": "d5fbd8c5aed62db201687262e0e397ae8a3b0c3b72c309ef747387b93a53ca4b",
        "driver.isf.json": "500bb4825ad92a32f67bec81dde2f3ca8d5d017f664cf05beafc34800e9fe5d2",
        "expected.json": "e74867c1325c6a26dec53a54777783c79be4335ae03d0d7cb1388f7c1a02f1d1",
    },
    'demo-x64-bitmap-1.1.154': {
        "MEMORY.DMP": "01d69870dde11b77cfe66b2f04cea03d745354b59269280f69391f8763747204",
        "driver.isf.json": "b168e5ff087c021ad6d6586edfa1a1a245042b03693fbf95fd6838e0f94005ca",
        "expected.json": "14cc4acb0510a2ed90cdc54322143b3dd2e5eacf70c93800c3d7b0c28d1a5221",
    },
    'demo-x64-bitmap-1.1.84': {
        "MEMORY.DMP": "5dabc054b22e83e61e5fce5c1b9b9c12f9398280802b43b500a9589cdf9a954f",
        "driver.isf.json": "17acb0dc531cc7e46220518df6cd0b7cbad9fdcb069e90309a5bd748bb2656fd",
        "expected.json": "e9680918b00d20090722271c390f9b3b837e55b2ce1d363b90afbbc1ba75d5f9",
    },
    'demo-x64-full-1.0.0': {
        "MEMORY.DMP": "5c455d89b53de45c5c9c23036c15b66dd14eb72b3acf1466e1a95a062123bc0e",
        "driver.isf.json": "500bb4825ad92a32f67bec81dde2f3ca8d5d017f664cf05beafc34800e9fe5d2",
        "expected.json": "adb30c2fa3f2014282482b5909807fc6ef7a85b3548f0af107c806d7d924435d",
    },
    'demo-x64-full-1.1.100': {
        "MEMORY.DMP": "918df39ef9eabc5df71338bf2906239aef2223a0c2070f5800767628b7994ee1",
        "driver.isf.json": "a8e2d4b73a7b0362315207fb027cf8866ce5aa79a40ddf8a6671c3306b674427",
        "expected.json": "ccb44a4e84d07938e48391c90cf700567c1d23ff4e5f46587e4a2345c3002376",
    },
    'demo-x64-full-1.1.140': {
        "MEMORY.DMP": "a17a86e204c3414aad55f65c2c2ccb3ea24ffc55917160905044e6bac6bc883f",
        "driver.isf.json": "fec95e456d8b1fcf6fbbb272cd9c2f0e9dacb085ee918ed39572db985c8d9572",
        "expected.json": "524bcb72fa85977eec32362e00f8d8c07c2a7e47bc25ac9acaad0ded438be04e",
    },
    'demo-x64-full-1.1.154': {
        "MEMORY.DMP": "343473a4391d2a6c5aab58ea537ab5093cd9ea4607d5f9273902cabf7f5c36b0",
        "driver.isf.json": "b168e5ff087c021ad6d6586edfa1a1a245042b03693fbf95fd6838e0f94005ca",
        "expected.json": "a5eddf0fd884402a7ee52baaeb3c7ce2c6ac9eda0d104e25d43f13dc51e193a7",
    },
    'demo-x64-full-1.1.84': {
        "MEMORY.DMP": "9283c81536d9c4bf19a9289412730ee96dffe8678f765711114db59d90e4bde2",
        "driver.isf.json": "17acb0dc531cc7e46220518df6cd0b7cbad9fdcb069e90309a5bd748bb2656fd",
        "expected.json": "ad6ef74ddb86388315cfc41227ced0803c1cee08361f9dadbc1797d4195c6c50",
    },
    'demo-x64-full-maximum-600': {
        "MEMORY.DMP": "6239d74f9d2bf862c1a750ebbdd7fb270e4229ead6c34e7d04f23dd5c2d84f8c",
        "driver.isf.json": "b168e5ff087c021ad6d6586edfa1a1a245042b03693fbf95fd6838e0f94005ca",
        "expected.json": "0da99f37389cf50b318422f1193d0f19f0c3d3c416843d8a31a60e5a51af6561",
    },
    'demo-x64-triage-1.0.0': {
        "MEMORY.DMP": "87e742746a5498fad688ab33fadda984eccfea3f1acf24ac8e8308ba3445cf32",
        "driver.isf.json": "500bb4825ad92a32f67bec81dde2f3ca8d5d017f664cf05beafc34800e9fe5d2",
        "expected.json": "7de119fbb58111589b53b944dda3168049d3d972e9ee19cadffb6bb038f1c275",
    },
    'demo-x64-triage-1.1.154': {
        "MEMORY.DMP": "7b1e5311c692919e6c786cf9a4ac0bde01b3a446ae10dd6cd5094fae13b3f7b0",
        "driver.isf.json": "b168e5ff087c021ad6d6586edfa1a1a245042b03693fbf95fd6838e0f94005ca",
        "expected.json": "6c53ad1231bbfe58157e113552a6061e7d38a2475f06f7f83e697b6e31652552",
    },
    'demo-x64-triage-1.1.84': {
        "MEMORY.DMP": "87e742746a5498fad688ab33fadda984eccfea3f1acf24ac8e8308ba3445cf32",
        "driver.isf.json": "17acb0dc531cc7e46220518df6cd0b7cbad9fdcb069e90309a5bd748bb2656fd",
        "expected.json": "f153a932824a5394c963df05821c1f20fa9899b2b10835c418bfa6b39729ea2e",
    },
    'demo-x64-triage-seed-7': {
        "MEMORY.DMP": "138156015f849cddd18b8210ea263bd001d5dabdbbdb0cfeab70b7744fe17cc0",
        "driver.isf.json": "b168e5ff087c021ad6d6586edfa1a1a245042b03693fbf95fd6838e0f94005ca",
        "expected.json": "cd523142324c8d3b140da6aed2153b679266bb7890e48c80a6dec6782378ec49",
    },
    'demo-x86-bitmap-1.0.0': {
        "MEMORY.DMP": "95adb1d85c9faefc5dd6c197625f245ae2362374d5306b19195aa0f47cb3c9bf",
        "driver.isf.json": "aa035f3b7bd859fa681715bf3918e4c75ab3612b075f77de4b442542f4313d76",
        "expected.json": "604db607a576d13b0168c4cadfa424f8c7a39d8862f125cb4e7a52e46f7182f9",
    },
    'demo-x86-bitmap-1.1.154': {
        "MEMORY.DMP": "2dcf59526bcdcc263af7f065f45f2f334b4dcad0894511db2215fd17cd17b953",
        "driver.isf.json": "06be757e616a6398e9209b5df71133f45987a3e8891efc4f761424856d0fb1b8",
        "expected.json": "90352c355e754c1159e33e7e8bc64c12b5e9ffc5bdbea8a5759e053fd48b9622",
    },
    'demo-x86-bitmap-1.1.84': {
        "MEMORY.DMP": "258cedee06272d88111895b0aaecc8bac1ee990aea6638ae2e316f474b3c5a94",
        "driver.isf.json": "aa9a1f7b363520e08ffb403b12bb1d4a51eb379c3b2888e31da26935c86d3843",
        "expected.json": "28bd500290047d3723387236f3b959d8b02dc06f8dfa3630aaa226f48f9df0b7",
    },
    'demo-x86-full-1.0.0': {
        "MEMORY.DMP": "3258e247ac904cd18125a92ee9ad87f222dc26996e3bc1b7dc3d17fc1a4ddb51",
        "driver.isf.json": "aa035f3b7bd859fa681715bf3918e4c75ab3612b075f77de4b442542f4313d76",
        "expected.json": "664ee33bb6a193742e55ada58b729dcbda2559d6ecf474d2958654ea8bad8389",
    },
    'demo-x86-full-1.1.154': {
        "MEMORY.DMP": "ba0f04332abd60ca619a6bfc539b284ce2ebcdfe4c5a76f5fb54471f8844fb2b",
        "driver.isf.json": "06be757e616a6398e9209b5df71133f45987a3e8891efc4f761424856d0fb1b8",
        "expected.json": "c04769286fe78fd8558630f5e9880ba162ddba5c16e4ef48b50ca3de28ef499c",
    },
    'demo-x86-full-1.1.84': {
        "MEMORY.DMP": "5a02b112130eda081e85d4cb047e43c4c75cc99d943782ee5229ca5f955cf5a8",
        "driver.isf.json": "aa9a1f7b363520e08ffb403b12bb1d4a51eb379c3b2888e31da26935c86d3843",
        "expected.json": "379ea02a7481fda19f305a127b1404b531518f99661abe58fb507d7aea5e6a68",
    },
    'livedump-arm64-bitmap-kernel': {
        "LIVEDUMP.DMP": "b97eccf8601313983a36505343b4d689eb9b4a946d6e2662892da55c3a2cee49",
        "driver.isf.json": "ec3132466d56cd66e27ac1d5987fd66df93845e463cf832f4db0c314447fcd7e",
        "expected.json": "86c8a04dd14a13090112bf0b567e744bf0f3f5c57244f1dde0bcc01cd12a661f",
    },
    'livedump-arm64-full': {
        "LIVEDUMP.DMP": "dab412a37b799fc5d55c355f0b5cf6f50847bc17d51dcc4d387467c2b40fcd62",
        "driver.isf.json": "ec3132466d56cd66e27ac1d5987fd66df93845e463cf832f4db0c314447fcd7e",
        "expected.json": "982d27e329dd76c5dfbd2bcbdf5a30c0e1f6d5b7e8a463505cd5637a17d75868",
    },
    'livedump-arm64-triage': {
        "LIVEDUMP.DMP": "ab52470b40cb447decea4fb67b513fb68d4d32c54ecfd35dcd9b9b9ec5dd30b8",
        "driver.isf.json": "ec3132466d56cd66e27ac1d5987fd66df93845e463cf832f4db0c314447fcd7e",
        "expected.json": "3dd5e1aa62840573626098f84420f8665079e15a8369a12a0fa66ba6b9824db5",
    },
    'livedump-x64-bitmap-kernel': {
        "LIVEDUMP.DMP": "5a900bc328ef6624fbfe3ec625694178f742670325651ef16cd210b8aa0361b7",
        "driver.isf.json": "005bb134ff3d4c58ae8f05e182496f9ce6d4a17296db9dd808cbd1d33defc08b",
        "expected.json": "1e598c3308cf5638fc5be927e8750a3a7aa947e8839fb8a90692ed43efc6c3bd",
    },
    'livedump-x64-full': {
        "LIVEDUMP.DMP": "59b053d8773120ccbc81988b46bfa156887c0e65a6df5fbd53a4c305ec9d044e",
        "driver.isf.json": "005bb134ff3d4c58ae8f05e182496f9ce6d4a17296db9dd808cbd1d33defc08b",
        "expected.json": "2d5dcf90dfff30a2efcdfffea9e7b103a37615ee70d9fa88f3d96065e1d3747a",
    },
    'livedump-x64-triage': {
        "LIVEDUMP.DMP": "3a5cd02b4d13a1a3a3ddc2982ce41f430f67d863ad7521f6baabeeed33e96360",
        "driver.isf.json": "005bb134ff3d4c58ae8f05e182496f9ce6d4a17296db9dd808cbd1d33defc08b",
        "expected.json": "46d95974bd7baceb3303717937a277e95ee81d157cfd57ba83ceab489af6fb6a",
    },
    'livedump-x64-triage-1.1.84': {
        "LIVEDUMP.DMP": "7cc200e86ae1fcad87833a0a448b2ed7965b14f3d36e95707e5fbd4afeba034a",
        "driver.isf.json": "aa1eec2367a7c3dde80dd5ede5a1cd14f8f17262b9768c2ec9aa75c5fc091be3",
        "expected.json": "5a434ca78dcd8ad581344648a058eb8d09e6f706c48db5e6645b01a191125e56",
    },
    'livedump-x64-triage-exclude': {
        "LIVEDUMP.DMP": "64881f5bdcc23429fbd60eabf0b605c2c6ddf97a6680e84010ccb053b94f8b5f",
        "driver.isf.json": "005bb134ff3d4c58ae8f05e182496f9ce6d4a17296db9dd808cbd1d33defc08b",
        "expected.json": "9a303d02ae559be55008912686433d63ac7e0e4262bc11c3d55bdf76f7ff3f56",
    },
    'livedump-x86-full': {
        "LIVEDUMP.DMP": "a4efd69498f321d2d34a0bc549c6231101bc2e7337601a907121df9ff2ffad67",
        "driver.isf.json": "a27695f22587a520e867578be414133f09c1e4a7b10fd0f1c68be4be8fc80d98",
        "expected.json": "3ac13adfaf402ec1b558ce898cfe7d42e5d80f5e656fa0c3082921b679230c95",
    },
    'make_sample': {
        "MEMORY.DMP": "343473a4391d2a6c5aab58ea537ab5093cd9ea4607d5f9273902cabf7f5c36b0",
        "driver.isf.json": "b168e5ff087c021ad6d6586edfa1a1a245042b03693fbf95fd6838e0f94005ca",
        "expected.json": "a5eddf0fd884402a7ee52baaeb3c7ce2c6ac9eda0d104e25d43f13dc51e193a7",
    },
    'pdb-demo-arm64': {
        "MEMORY.DMP": "2b741277e87e1c4512ca1c76d6f0de7bc7be7dccc5b6f78efe1aa95b9a4422f1",
        "driver.isf.json": "88095f96d6c557ea98ae201059d373c1b71d7d2d9e508a26b42de604ca8e4fcc",
        "expected.json": "0cd6809e37126f6aff5aa56beecea60ed7db16057a06199c641fb8a21d6cba1f",
        "native-build/dmfdemo.c": "c9d6bfae388c5098ddb3fcfc23a5cc141332c5bdcb4635f9028b4d9d60d86008",
        "symbols/dmfdemo.sys": "3ea13e9f03e74f4199a5f1fdff4fa8c9a8c55f08a9d7cc1c988aee8ac1e96b57",
    },
    'pdb-demo-x64': {
        "MEMORY.DMP": "2add156826b7d47c403706a3052a68df22e91812924ead50874e2fbe6703ead0",
        "driver.isf.json": "b168e5ff087c021ad6d6586edfa1a1a245042b03693fbf95fd6838e0f94005ca",
        "expected.json": "a5eddf0fd884402a7ee52baaeb3c7ce2c6ac9eda0d104e25d43f13dc51e193a7",
        "native-build/dmfdemo.c": "e129e73dbade05cc9f78f4db9648d0295fa0b9be41bd22e319d8d8911b240ace",
        "symbols/dmfdemo.sys": "41d282bb24e07181ac010deaea6658f00bcef88f46175c2499d4cb2f503ff437",
    },
    'pdb-demo-x86': {
        "MEMORY.DMP": "2af158aca022673eea1ecbc9f3a6c997c89fe8695f2b48d8c5b8791784674501",
        "driver.isf.json": "06be757e616a6398e9209b5df71133f45987a3e8891efc4f761424856d0fb1b8",
        "expected.json": "c04769286fe78fd8558630f5e9880ba162ddba5c16e4ef48b50ca3de28ef499c",
        "native-build/dmfdemo.c": "dee1bf41c4a5619610b1504c214760eeab80fce8f8b7776fa731025aa5c649a1",
        "symbols/dmfdemo.sys": "f6208353808a262748d8e2efd3d2ab770309dce2c16b018879c9ad70a73ef3a7",
    },
    'scenario-demo-arm64-triage-read-destroy': {
        "MEMORY.DMP": "24b2c6a82c442f1ed437fe17ffc41ae4af794873ea848d8b973d233067841020",
        "driver.isf.json": "8c3a714d59c5491f5d8485eb86276a593088aebcd7b002af693acbd4c0d5399e",
        "expected.json": "6539ebbd2d0a18337f1f49a5113628cb0749338499040959747b0022a00d31e1",
    },
    'scenario-demo-seed-3-bugcheck': {
        "MEMORY.DMP": "8f850b5dd2bbc046c4f5aa39c6fc2e244656d20fd20cd4608099958882479259",
        "driver.isf.json": "b168e5ff087c021ad6d6586edfa1a1a245042b03693fbf95fd6838e0f94005ca",
        "expected.json": "e25a7da1bdd1d6d4d784e11c5231d7fd03f1f4bbbfd15d0893f38038637f48ac",
    },
    'scenario-demo-x86-bitmap-read-destroy': {
        "MEMORY.DMP": "5531584d6be26276efe64500bf282bcf9ff2ba213c8f33e2f80c49ddd1c567ef",
        "driver.isf.json": "c7e444ca296b06e6adf8e1a64749baf0bdf5130cf98698aedc9cdd72be5a9c84",
        "expected.json": "e4fa14231ded51ec1f8e96583897bfd19f23a3d93a7e368bc4d93a18707210e1",
    },
    'scenario-destroy-recreate': {
        "MEMORY.DMP": "c7eee2b03e3eacc423152000234bce3ad8d1a06af66084fdbb8844f807a2e0ca",
        "driver.isf.json": "10d7f51d9ec8d85e7abe1744fd2c26d00dbcb2614b78edaa5da65e39e9079772",
        "expected.json": "0f3bbd3ef4346a26645515ad3e4d9058f4f467077c8e1ed05b485fb6c8e32aa8",
    },
    'scenario-short-writes': {
        "MEMORY.DMP": "a85c202092dcde95b3334122e72e797a4f4b582a6ecb2ee8e167b00fe428baed",
        "driver.isf.json": "10d7f51d9ec8d85e7abe1744fd2c26d00dbcb2614b78edaa5da65e39e9079772",
        "expected.json": "a615bec405082cbb241dd1311fec6acb7c558d542f1efb8cb29080770aa5a827",
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
