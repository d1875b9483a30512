"""What the emulated drivers do, start to end, and the files that come out of it.

    crashdump_replay   replays a scenario document (a CrashDump driver's config, its clients'
                       operations, the crash) into MEMORY.DMP + driver.isf.json + expected.json
    crashdump_demo     the reference CrashDump scenario (`dmfemu demo`, the bundled sample)
    live_dump_demo     the reference DMF_LiveKernelDump driver and its live dump (`dmfemu livedump`)
"""
