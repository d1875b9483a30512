"""DMF's own bug check: 0xDEADDEAD is DMF_CrashDump's BUG_CHECK_PRIVATE, raised by IOCTL_CRASH_DRIVER
in DEBUG builds with P1 = the CrashDump DMFMODULE handle (spec/dmf.md §2.14)."""
from typing import List, Tuple

from dmfkd.dmf.objects import ObjectReader
from dmfkd.errors import DmfkdError, SymbolError
from dmfkd.layouts.dmf_structures import BUG_CHECK_PRIVATE  # noqa: F401  (re-exported for commands)


def check_private_p1(target, handle: int, dmf_version=None) -> Tuple[List[str], List[str]]:
    """(notes, warnings) on whether P1 of a 0xDEADDEAD leads to a CrashDump module."""
    notes, warnings = [], []
    try:
        obj = ObjectReader(target, dmf_version).read(handle)
        if obj.module_name == "CrashDump":
            notes.append("P1 0x%x -> DMF_OBJECT 0x%x, module %s: confirmed" % (handle, obj.address, obj.module_name))
        else:
            warnings.append("P1 0x%x leads to module %r, not CrashDump" % (handle, obj.module_name))
    except DmfkdError as exc:
        notes.append("P1 0x%x: DMF_OBJECT not readable here (%s)" % (handle, str(exc).splitlines()[0]))
    if target.symbols is not None:
        try:
            for name, address in target.symbols.search("*!g_DmfModuleCrashDump"):
                value = target.read_pointer(address)
                if value == handle:
                    notes.append("P1 == %s" % name)
                else:
                    warnings.append("P1 0x%x != %s (0x%x)" % (handle, name, value))
        except (SymbolError, DmfkdError, NotImplementedError, AttributeError):
            pass
    return notes, warnings
