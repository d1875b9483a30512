"""EmulatorTarget: the running emulated machine as a dmfkd Target (the "live debugging" host).

Reads go through the machine's page tables exactly like a kernel debugger's memory reads; there
is no secondary data (it only exists in a dump) and no bug check.
"""
from dmfkd.targets.base import Target


class EmulatorTarget(Target):
    name = "emulator (live)"
    is_live = True

    def __init__(self, machine, symbols=None):
        self.machine = machine
        self.arch = machine.arch
        self.pointer_size = machine.pointer_size
        # default: the machine's own address registry; callers may set an ISF-backed Symbols
        self.symbols = symbols if symbols is not None else machine.symbols

    def read(self, address: int, size: int) -> bytes:
        """Kernel VA read, all or nothing; MemoryReadError names the address."""
        return self.machine.space.read(address, size)

    def read_physical(self, address: int, size: int) -> bytes:
        return self.machine.phys.read(address, size)

    def tagged(self):
        return []

    def bugcheck(self):
        return None
