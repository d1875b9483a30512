"""Replay any scenario (format v1): a crash-dump scenario through dmfemu.scenarios.crashdump_replay,
a live-dump scenario through dmfemu.scenarios.live_dump_replay; with ``replay_with_pdb`` also a real
PE image and PDB of the driver (dmfemu.native_build; needs clang-14 and lld-14), so its record types
reach the PDB as they reach the ISF.
"""
import json
import os
import shutil
import tempfile
from typing import Optional

from dmfemu.native_build import NativeBuild, build
from dmfemu.native_image import NativeBuildError, NativeImage
from dmfemu.scenarios.crashdump_replay import run_scenario
from dmfemu.scenarios.live_dump_demo import DUMP_NAME
from dmfemu.scenarios.live_dump_replay import run_live_scenario
from dmfemu.scenarios.scenario_format import Scenario, as_scenario


def replay(scenario, out_dir: str, native_image: Optional[NativeImage] = None) -> dict:
    """Replay `scenario` (a Scenario, a document or a file) into `out_dir`; returns expected.json's document."""
    spec = as_scenario(scenario)
    if spec.live:
        return run_live_scenario(spec, out_dir, native_image)
    return run_scenario(spec, out_dir, native_image)


def dump_name(scenario: Scenario) -> str:
    """The dump file a replay of `scenario` writes (MEMORY.DMP or LIVEDUMP.DMP)."""
    return DUMP_NAME if scenario.live else "MEMORY.DMP"


def replay_with_pdb(scenario, out_dir: str, cache: Optional[str] = None) -> NativeBuild:
    """The scenario replayed twice: once to learn the driver's ISF (RVAs, types), then with the native
    image built from it. Leaves the replay's files in `out_dir` and DIR/symbols/<driver>.pdb (+ .sys)."""
    spec = as_scenario(scenario)
    with tempfile.TemporaryDirectory() as scratch:
        replay(spec, scratch)
        with open(os.path.join(scratch, "driver.isf.json")) as handle:
            isf = json.load(handle)
    result = build(isf, cache or os.path.join(out_dir, "native-build"))
    replay(spec, out_dir, native_image=NativeImage.load(result.image))
    with open(os.path.join(out_dir, "driver.isf.json")) as handle:
        if json.load(handle)["symbols"] != isf["symbols"]:
            raise NativeBuildError("the scenario laid out its driver differently with the native image")
    symbols = os.path.join(out_dir, "symbols")
    os.makedirs(symbols, exist_ok=True)
    for path in (result.pdb, result.image):
        shutil.copy(path, symbols)
    return result
