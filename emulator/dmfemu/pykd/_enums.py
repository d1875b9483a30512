"""pykd's boost.python enums (CPUType, dumpType, outputFlag): int subclasses with `.name`, `str()` =
name, `repr()` = "pykd.pykd.<Enum>.<Name>", class dicts `values` / `names`, dbgeng's values.
"""


class _BoostEnum(int):
    name = ""

    def __repr__(self) -> str:
        # boost.python registers the enums in the extension module pykd.pykd (observed repr)
        return "pykd.pykd.%s.%s" % (type(self).__name__, self.name)

    def __str__(self) -> str:
        return self.name


def _enum(type_name: str, doc: str, members):
    cls = type(type_name, (_BoostEnum,), {"__doc__": doc, "__module__": "pykd.pykd", "values": {}, "names": {}})
    for name, value in members:
        item = int.__new__(cls, value)
        item.name = name
        setattr(cls, name, item)
        cls.values[value] = item
        cls.names[name] = item
    return cls


CPUType = _enum("CPUType", "type of CPU", [("I386", 0), ("AMD64", 1), ("ARM64", 2), ("ARM", 3)])
# dbgeng's DEBUG_DUMP_* / DEBUG_KERNEL_*_DUMP qualifiers; user and kernel names share values, and
# `values` maps each value to the kernel name (observed on the real 0.3.4.15)
dumpType = _enum("dumpType", "Dump type", [("Small", 1024), ("Default", 1025), ("Full", 1026), ("Image", 1027),
                                           ("KernelSmall", 1024), ("Kernel", 1025), ("KernelFull", 1026)])
outputFlag = _enum("outputFlag", "Output flags", [("Normal", 1), ("Error", 2), ("Warning", 4),
                                                  ("Verbose", 8), ("Prompt", 16), ("PromptRegister", 32),
                                                  ("ExtensionWarning", 64), ("Debuggee", 128),
                                                  ("DebuggeePrompt", 256), ("Symbols", 512),
                                                  ("Status", 1024), ("All", 2047)])

CPU_BY_ARCH = {"x64": CPUType.AMD64, "x86": CPUType.I386, "arm64": CPUType.ARM64}
# DUMP_HEADER DumpType -> dbgeng debuggee qualifier as pykd names it (spec/real-pykd-under-wine.md:
# full and bitmap dumps are KernelFull, triage dumps KernelSmall)
DUMP_TYPE_BY_HEADER = {1: dumpType.KernelFull, 2: dumpType.Kernel, 4: dumpType.KernelSmall,
                       5: dumpType.KernelFull, 6: dumpType.KernelFull}
