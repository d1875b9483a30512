"""Every binary structure once, as construct definitions (ARCHITECTURE.md): dump-file headers in
layouts.dumpfile, DMF structures per architecture and DMF version in layouts.dmf. The emulator
builds with the same definitions the extension parses with."""
