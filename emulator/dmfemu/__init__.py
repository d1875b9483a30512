"""dmfemu: a byte-exact emulator of DMF's RingBuffer, CrashDump and LiveKernelDump modules, of the
kernel memory they live in, of the bug-check secondary-data protocol and of the dump files Windows
writes - so every dmfkd command is tested offline, on Linux."""

__version__ = "0.1.0"
