"""DMF_CrashDump (kernel mode), byte-exact in emulated memory (spec/dmf.md §2).

    module        CrashDump: creation, Open, Close, the client driver's calls
    config        CrashDumpConfig, the client's callbacks, the IOCTL input buffers
    state         the config copy, context, DATA_SOURCE and record arrays in memory
    data_sources  the SELF ring and client data sources (create, write, read, capture, destroy)
    slots         which user-mode handle writes / reads which data source (FileObject slots)
    ioctls        CreateFile / CloseHandle / DeviceIoControl from user mode
    callbacks     the bug-check callbacks

The names a client of the emulator needs are importable from this package.
"""
from dmfemu.modules.crashdump.config import (AccessDenied, AdditionalDataRequest, CrashDumpConfig,
                                             pack_data_source_create, unpack_data_source_open)
from dmfemu.modules.crashdump.module import CrashDump

__all__ = ["AccessDenied", "AdditionalDataRequest", "CrashDump", "CrashDumpConfig", "pack_data_source_create",
           "unpack_data_source_open"]
