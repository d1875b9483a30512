"""`dmfkd batch`: the per-dump work of `info`, `bugcheck` and `crashdump --all` mapped over many dumps.

    inputs.py     which files (PATH, GLOB, @LIST)            dump_work.py  one dump -> summary row + record rows
    columns.py    the two tables' columns and types          sandbox.py    worker processes with time/memory limits
    engines.py    local workers or Dask, results streamed    writers.py    Parquet parts + merge, JSON Lines, resume
    runner.py     one batch start to end, run.json           progress.py   the bar / lines on stderr
    report.py     `batch-report`'s tables                    chart.py      its chart (matplotlib)

Heavy libraries (pyarrow, dask/distributed, matplotlib) are imported where they are used, so dmfkd runs
without them and says which extra is missing when a command needs one.
"""
