"""What the emulated drivers do, start to end, and the files that come out of it.

    scenario_format    scenario format v1: reading, checking (the JSON Schema scenario-v1.schema.json
                       through schema_validation) and the defaults; docs/scenarios.md describes it
    record_types       a scenario's own record types and enums: layout, records from field values, ISF
    crashdump_replay   replays a crash-dump scenario into MEMORY.DMP + driver.isf.json + expected.json
    client_model       which handle writes and reads which data source, from the clients' side
    live_dump_replay   replays a live-dump scenario (DMF_LiveKernelDump) into LIVEDUMP.DMP + ...
    replay             either replay, with or without the driver's PDB
    check              `dmfemu check DIR`: dmfkd's view of a replay against its expected.json
    examples           the example scenarios shipped in examples/ (`dmfemu scenario --list`)
    crashdump_demo     the reference CrashDump scenario (`dmfemu demo`, the bundled sample)
    live_dump_demo     the reference DMF_LiveKernelDump driver and its live dump (`dmfemu livedump`)
"""
