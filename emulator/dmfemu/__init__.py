"""dmfemu: a byte-exact emulator of DMF's RingBuffer, CrashDump and LiveKernelDump modules, of the
kernel memory they live in, of the bug-check secondary-data protocol and of the dump files Windows
writes - so every dmfkd command is tested offline, on Linux.

Built top-down, each layer importing only its own and lower ones (tests/emulator/test_import_layers.py
holds the table and checks it):

    memory, pool                      emulated RAM, page tables, the kernel pool
    kernel, dumpwriter, bugcheck,     what nt keeps for debuggers, dump files, the bug-check flow,
    wdf, native_image                 WDF objects, a built PE image read back
    machine, target, pykd             the machine, the live-debugging target, the pykd stand-in
    modules/                          DMF_OBJECT, RingBuffer, CrashDump, LiveKernelDump
    driver, isf, native_build         the emulated client driver, its ISF, its PE image + PDB
    scenarios/                        replays and demos, start to end
    cli, pdb                          `dmfemu ...`, `python -m dmfemu.pdb demo`
"""

__version__ = "0.1.0"
