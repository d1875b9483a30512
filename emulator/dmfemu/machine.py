"""An emulated Windows machine: physical memory, kernel address space, pool, images, symbols, and
the glue that turns its memory into a dump file. No DMF knowledge lives here.

Before memory is captured for a dump (``snapshot``, ``write_dump``), ``dmfemu.kernel.prepare_dump``
builds the kernel structures a debugger needs in the machine's memory (KDBG, PsLoadedModuleList
entries for ``machine.images``, ...) and returns extra keyword arguments for
``dmfemu.dumpwriter.write_dump`` (``kdbg_va``, ``ps_loaded_module_list``,
``ps_active_process_head``, ``context``, ...). Keyword arguments given to ``write_dump``
override those.
"""
from typing import Dict, Optional, Tuple

from dmfkd.errors import SymbolError
from dmfkd.targets.symbols import Symbols, TypeLayout

from dmfemu import dumpwriter
from dmfemu import kernel
from dmfemu.memory import AddressSpace, PhysicalMemory, PhysicalSnapshot
from dmfemu.pool import KernelPool


class MachineSymbols(Symbols):
    """Addresses the emulator knows: "image!name" -> VA. No type information (that is the ISF
    file's job, dmfemu.isf); `type_layout` raises SymbolError."""

    def __init__(self):
        self._by_image = {}   # type: Dict[str, Dict[str, int]]

    def add(self, image: str, name: str, va: int) -> None:
        self._by_image.setdefault(image.lower(), {})[name] = va

    def address_of(self, name: str) -> int:
        if "!" in name:
            image, bare = name.split("!", 1)
            table = self._by_image.get(image.lower(), {})
            if bare in table:
                return table[bare]
            raise SymbolError("unknown symbol %s" % name)
        hits = [(image, table[name]) for image, table in sorted(self._by_image.items()) if name in table]
        if len(hits) == 1:
            return hits[0][1]
        if not hits:
            raise SymbolError("unknown symbol %s" % name)
        raise SymbolError("ambiguous symbol %s (in %s); qualify it as image!name"
                          % (name, ", ".join(image for image, _ in hits)))

    def type_layout(self, name: str) -> TypeLayout:
        raise SymbolError("the emulator's symbol registry has no type information (%s)" % name)

    def items(self):
        """[("image!name", va)] sorted by name."""
        return sorted(("%s!%s" % (image, name), va)
                      for image, table in self._by_image.items() for name, va in table.items())


class MachineSnapshot(object):
    """Frozen physical memory plus dmfemu.kernel's dump arguments computed just before it."""

    def __init__(self, phys: PhysicalSnapshot, dump_kwargs: Dict[str, object]):
        self.phys = phys
        self.dump_kwargs = dump_kwargs

    # PhysicalSnapshot's read side, so a MachineSnapshot can be passed as `pages` directly
    def present_pfns(self):
        return self.phys.present_pfns()

    def page(self, pfn: int) -> bytes:
        return self.phys.page(pfn)

    def read(self, pa: int, size: int) -> bytes:
        return self.phys.read(pa, size)


class _ZeroCopyPages(object):
    """What Machine.write_dump hands the dump writer as `pages`: page(pfn) is a read-only
    memoryview instead of a 4 KiB bytes copy (the writer streams it straight to the file; this
    halves the Python-side cost of a 256 MiB dump, scripts/bench_dumpwrite.py), and chunks()
    offers whole contiguous stretches for a writer that can use them."""

    def __init__(self, phys):
        self.source = phys      # the PhysicalMemory or PhysicalSnapshot the pages come from
        self._phys = phys

    def present_pfns(self):
        return self._phys.present_pfns()

    def page(self, pfn: int) -> memoryview:
        return self._phys.page_view(pfn)

    def present_runs(self):
        return self._phys.present_runs()

    def chunks(self):
        for first_pfn, view in self._phys.chunks():
            yield first_pfn, view.toreadonly()


DEFAULT_BUILD = {"x64": 19041, "x86": 19041, "arm64": 22000}


class Machine:
    def __init__(self, arch: str = "x64", build: Optional[int] = None, large_pages: bool = False):
        if arch not in ("x64", "x86", "arm64"):
            raise ValueError("Machine: arch must be 'x64', 'x86' or 'arm64', got %r" % (arch,))
        self.arch = arch
        # the builds whose kernel offsets dmfemu.kernel uses: 19041 (x64, x86), 22000 (ARM64)
        self.build = build if build is not None else DEFAULT_BUILD[arch]
        self.large_pages = large_pages
        self.phys = PhysicalMemory()
        self.space = AddressSpace(self.phys, arch)
        self.pool = KernelPool(self.space, large_pages=large_pages)
        self.pointer_size = self.space.pointer_size
        # name -> (base, size); the pool's own table, so images mapped with pool.map_image count too
        self.images = self.pool.images    # type: Dict[str, Tuple[int, int]]
        self.symbols = MachineSymbols()
        #: what dmfemu.kernel built in this machine's memory for dumps (a KernelState; None until
        #: the first snapshot or dump)
        self.kernel_state = None

    # -- images and symbols -------------------------------------------------------------------
    def add_image(self, name: str, size: int) -> int:
        return self.pool.map_image(name, size)

    def add_symbol(self, image: str, name: str, va: int) -> None:
        self.symbols.add(image, name, va)

    def symbol(self, name: str) -> int:
        """VA of "image!name" or of a bare name that only one image defines (SymbolError)."""
        return self.symbols.address_of(name)

    # -- dumps --------------------------------------------------------------------------------
    def _kernel_dump_kwargs(self) -> Dict[str, object]:
        return dict(kernel.prepare_dump(self))

    def snapshot(self) -> MachineSnapshot:
        """Freeze memory as the primary dump image (spec/dmf.md Q-CD-9), after dmfemu.kernel has
        put its structures in memory, so they are part of the image."""
        kwargs = self._kernel_dump_kwargs()
        return MachineSnapshot(self.phys.snapshot(), kwargs)

    def write_dump(self, path: str, dump_type: str, bugcheck: Tuple[int, int, int, int, int],
                   blobs=(), snapshot=None, **kw) -> int:
        """Write a dump of this machine through dmfemu.dumpwriter.write_dump; returns its size.

        `snapshot`: a MachineSnapshot from `self.snapshot()` (or a bare `phys.snapshot()`) to take
        the pages from instead of current memory; `kw` goes to write_dump unchanged (overriding
        what dmfemu.kernel returns)."""
        if isinstance(snapshot, MachineSnapshot):
            extra = dict(snapshot.dump_kwargs)
            pages = snapshot.phys
        else:
            # current memory, or a bare phys.snapshot(): dmfemu.kernel's arguments are computed now, but
            # structures it writes now are not in a snapshot taken earlier - use Machine.snapshot()
            extra = self._kernel_dump_kwargs()
            pages = self.phys if snapshot is None else snapshot
        args = dict(arch=self.arch, dump_type=dump_type, pages=_ZeroCopyPages(pages), dtb=self.space.dtb,
                    bugcheck=tuple(bugcheck), blobs=tuple(blobs), build=self.build)
        args.update(extra)
        args.update(kw)
        return dumpwriter.write_dump(path, **args)

    def __repr__(self) -> str:
        return "<Machine %s build %d, %d pages, dtb 0x%x>" % (
            self.arch, self.build, len(self.phys.present_pfns()), self.space.dtb)
