"""Every binary structure once (ARCHITECTURE.md); the emulator builds with the same definitions the
extension parses with.

    engine          the MSVC layout engine (Spec -> Layout: offsets, construct Struct, fast pack/unpack)
    windows         NT and WDF structures and constants (NTSTATUS, CTL_CODE, bug-check records, ...)
    debugger_data   what a debugger walks a kernel dump with (KDDEBUGGER_DATA64, KLDR_DATA_TABLE_ENTRY)
    dmf_versions    DMF version parsing and the releases at which a layout changes
    dmf_structures  DMF's structures per architecture and DMF version, and DMF's constants
    dump_format     dump-file headers (DUMP_HEADER32/64, bitmap/triage headers, blob headers)
"""
