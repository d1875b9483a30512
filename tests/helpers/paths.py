"""Where things are: the checkout, the test data, the real Windows dumps and the bundled sample."""
import os

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)
DATA = os.path.join(TESTS, "data")
TRIAGE_X64 = os.path.join(DATA, "windows-triage", "triage_x64.dmp")
TRIAGE_ARM64 = os.path.join(DATA, "windows-triage", "triage_arm64.dmp")
TRIAGE_DUMPS = [TRIAGE_X64, TRIAGE_ARM64]
SAMPLE = os.path.join(DATA, "dmfdemo")
SAMPLE_DUMP = os.path.join(SAMPLE, "MEMORY.DMP")
SMALL_ISF = os.path.join(DATA, "isf", "small.isf.json")
SCRIPTS = os.path.join(REPO, "scripts")
# a child Python that imports the checkout's packages (not an installed copy)
SOURCE_PATH = os.pathsep.join([os.path.join(REPO, "extension"), os.path.join(REPO, "emulator")])
