"""DMF versions: parsing (``"1.1.154"``, ``DMF_VERSION`` ints, tuples) and the releases at which a
DMF layout changes."""
from typing import Tuple

from dmfkd.errors import LayoutError

DmfVersion = Tuple[int, int, int]

#: DMF versions at which a layout in this module changes (spec/dmf.md §0.3).
V1_0 = (1, 0, 0)
V1_1_0 = (1, 1, 0)            # DMF_DEVICE_CONTEXT.IsFilterDevice appended (see dmf_structures)
V1_1_3 = (1, 1, 3)            # DMF_MODULE_COLLECTION: ManualDestroyCallbackIsPending, ClientDevice appended
V1_1_49 = (1, 1, 49)          # DMF_DEVICE_CONTEXT.EvtDmfDeviceLog appended
V1_1_80 = (1, 1, 80)
V1_1_81 = (1, 1, 81)          # DMF_OBJECT.ReferenceCountLock inserted
V1_1_84 = (1, 1, 84)
V1_1_85 = (1, 1, 85)          # nested CrashDump config, context V3, LiveKernelDump additions
V1_1_116 = (1, 1, 116)        # context V4
V1_1_135 = (1, 1, 135)        # DMF_OBJECT ModuleConfigSize / ClientModuleInstanceNameSizeBytes
V1_1_136 = (1, 1, 136)        # ModuleState_PreCreate inserted
V1_1_146 = (1, 1, 146)        # DMF_OBJECT.AddedToParentChildModuleList; HEAD layout valid from here
V1_1_154 = (1, 1, 154)        # context V5
HEAD_VERSION = V1_1_154


def parse_dmf_version(value) -> DmfVersion:
    """``"1.1.154"``, ``"v1.1.154"``, ``"1.0"``, ``(1, 1, 154)`` or ``DMF_VERSION`` as an int
    (``0x0101009A``: major byte, minor byte, build word) -> ``(1, 1, 154)``."""
    if isinstance(value, tuple) and 1 <= len(value) <= 3 and all(isinstance(p, int) for p in value):
        parts = list(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 0xFFFFFFFF:
            raise LayoutError("DMF version 0x%x is not a DMF_VERSION value" % value)
        parts = [(value >> 24) & 0xFF, (value >> 16) & 0xFF, value & 0xFFFF]
    elif isinstance(value, str):
        text = value.strip()
        if text[:1] in ("v", "V"):
            text = text[1:]
        # a part has at most 10 digits (DMF_VERSION packs it in a word): int() never sees a digit flood
        if len(text) > 40 or any(len(p) > 10 for p in text.split(".")):
            raise LayoutError("not a DMF version: %r (expected like 1.1.154)" % (value[:40],))
        try:
            parts = [int(p, 10) for p in text.split(".")]
        except ValueError:
            raise LayoutError("not a DMF version: %r (expected like 1.1.154)" % (value,)) from None
        if not 1 <= len(parts) <= 3:
            raise LayoutError("not a DMF version: %r (expected like 1.1.154)" % (value,))
    else:
        raise LayoutError("not a DMF version: %r (expected like 1.1.154)" % (value,))
    if any(p < 0 for p in parts):
        raise LayoutError("not a DMF version: %r (expected like 1.1.154)" % (value,))
    while len(parts) < 3:
        parts.append(0)
    return (parts[0], parts[1], parts[2])


def format_dmf_version(version) -> str:
    major, minor, build = parse_dmf_version(version)
    return "%d.%d.%d" % (major, minor, build)
