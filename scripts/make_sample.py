"""Regenerate the bundled sample in tests/data/dmfdemo/ (README's main job runs on it).

The sample is the seeded `dmfemu demo` (x64, DMF 1.1.154, full dump): MEMORY.DMP, driver.isf.json and
expected.json (what each data source must show, from the emulated clients' own log). The test
tests/end_to_end/test_bundled_sample.py regenerates it and fails if the bytes differ (and
tests/emulator/test_bytes_unchanged.py pins it with every other emulator output), so run this script after an
intended emulator change:

    PYTHONPATH=extension:emulator python3 scripts/make_sample.py
"""
import os
import sys

from dmfemu.scenarios.crashdump_demo import demo_scenario
from dmfemu.scenarios.crashdump_replay import run_scenario

SAMPLE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "dmfdemo")


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else SAMPLE_DIR
    run_scenario(demo_scenario(), out)
    for name in sorted(os.listdir(out)):
        print("%-16s %9d bytes" % (name, os.path.getsize(os.path.join(out, name))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
