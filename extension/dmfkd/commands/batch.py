"""`dmfkd batch` and `dmfkd batch-report`: many dumps at once, and what a week of them says.

    batch PATH|GLOB|@LIST ... --out DIR [--format parquet|jsonl] [--jobs N | --engine dask [--scheduler A]]
    batch-report DIR [--last N] [--group-by F,...] [--section NAME] [--chart FILE | --no-chart]

The work is dmfkd/batch/'s (discovery, per-dump work in sandboxed workers, writers, engines, report);
these shells parse, call it and present its result.
"""
import os
import sys

from dmfkd.commands import command
from dmfkd.errors import UsageError
from dmfkd.render import Column, Link, Report


@command("batch", help="read many dumps (files, folders, patterns, @LIST) into summary and record tables "
         "(Parquet or JSON Lines), locally or on a Dask cluster", takes_dump=False, own_format=True)
def batch(args, session):
    from dmfkd.batch.runner import BatchOptions, run_batch

    options = BatchOptions(
        args.inputs, args.out, fmt=args.file_format, jobs=args.jobs, engine=args.engine, scheduler=args.scheduler,
        timeout=args.timeout, memory_limit_mib=args.memory_limit, resume=args.resume, progress=args.progress,
        types=args.type, schemas=args.schema, type_size_mismatch=args.type_size_mismatch, isf=args.isf,
        driver=args.driver, dmf_version=args.dmf_version, scheduler_timeout=args.scheduler_timeout,
        symbols=args.symbols, pdb=args.pdb, allow_mismatched_pdb=args.allow_mismatched_pdb)
    facts = run_batch(options, sys.stderr)
    rows = [{"file": path, "bytes": os.path.getsize(path) if os.path.exists(path) else None}
            for path in facts["files"]]
    title = ("%d dump(s): %d written to %s (%d with an error), %d record(s); %d skipped as already in the "
             "output, %d duplicate(s); %.1f s" % (
                 facts["inputs"], facts["written"], args.out, facts["errors"], facts["records"],
                 facts["skipped"], facts["duplicates"], facts["seconds"]))
    notes = []
    if facts["errors"]:
        notes.append("the error rows say why each of those dumps could not be read (column error)")
    return Report(rows=rows, columns=[Column("file", "file"), Column("bytes", "bytes")], title=title,
                  warnings=facts.get("argument_warnings") or [], notes=notes,
                  next_steps=[Link("report", "batch-report %s" % _quote(args.out))])


def _quote(path: str) -> str:
    return '"%s"' % path if any(c in path for c in " \t'\"") else path


@batch.arguments
def _batch_arguments(p):
    p.add_argument("inputs", nargs="+", metavar="PATH|GLOB|@LIST",
                   help="dump files, folders (searched for *.dmp), shell patterns, or @FILE listing them")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the tables (created if missing)")
    p.add_argument("--format", dest="file_format", choices=("parquet", "jsonl"), default="parquet",
                   help="summary.parquet + records.parquet (needs pyarrow: dmfkd[parquet]), or summary.jsonl + "
                   "records.jsonl (default: parquet)")
    p.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: the number of cores); with "
                   "--engine dask and no --scheduler, the workers of the local cluster")
    p.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="local worker processes, or Dask distributed (dmfkd[dask]) (default: local)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler to send the work to (e.g. "
                   "tcp://10.0.0.5:8786); without it --engine dask starts a local cluster")
    p.add_argument("--scheduler-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long to wait for the Dask scheduler to answer (default: 30)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="time limit per dump; a dump over it becomes an error row (default: 60, 0: none)")
    p.add_argument("--memory-limit", type=int, default=2048, metavar="MIB",
                   help="memory limit per worker process on Linux; a dump over it becomes an error row "
                   "(default: 2048, 0: none)")
    p.add_argument("--resume", action="store_true", help="continue the batch in DIR: dumps whose sha256 is "
                   "already there are skipped")
    p.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                   help="on stderr: a bar on a terminal, a line every 10 s otherwise (default: auto)")
    p.add_argument("--type", metavar="[GUID=]MODULE!TYPE", action="append",
                   help="decode records as this type of each dump's symbols; GUID=TYPE for one source "
                   "(repeatable)")
    p.add_argument("--schema", metavar="[GUID=]FILE.py:NAME", action="append",
                   help="decode records with a construct Struct from your own Python file (run as Python code "
                   "in every worker); GUID=FILE.py:NAME for one source (repeatable)")
    p.add_argument("--type-size-mismatch", choices=("refuse", "decode"), default="refuse",
                   help="a type whose size differs from the record size: refuse it for that source "
                   "(default) or decode anyway with a warning")
    p.add_argument("--driver", metavar="NAME", help="symbol module of the driver (default: the one that has "
                   "g_DmfModuleCrashDump)")
    p.add_argument("--dmf-version", metavar="V", help="DMF version of the driver when symbols do not say")


@command("batch-report", help="what a batch's tables say: crashes per bug check and per driver version, the "
         "last records before each crash by event, the sources most often truncated or orphaned",
         takes_dump=False)
def batch_report(args, session):
    from dmfkd.batch.report import SECTIONS, build_report

    if args.last < 1:
        raise UsageError("--last must be at least 1")
    if args.top < 1:
        raise UsageError("--top must be at least 1")
    sections = [args.section] if args.section else list(SECTIONS)
    group_by = [f.strip() for f in args.group_by.split(",") if f.strip()] if args.group_by else None
    chart = None if args.no_chart else (args.chart or os.path.join(args.dir, "report.png"))
    result = build_report(args.dir, last=args.last, group_by=group_by, top=args.top, sections=sections,
                          chart=chart)
    return result.as_report(session.output.width, session.output.wide)


@batch_report.arguments
def _report_arguments(p):
    p.add_argument("dir", metavar="DIR", help="the --out folder of a batch")
    p.add_argument("--last", type=int, default=10, metavar="N",
                   help="records before each crash taken per source (default: 10)")
    p.add_argument("--group-by", metavar="F,...", help="decoded fields the records are grouped by (default: "
                   "fields named like an event type or level, e.g. EventId, Level)")
    p.add_argument("--top", type=int, default=15, metavar="N", help="rows per table (default: 15)")
    p.add_argument("--section", choices=("bugchecks", "drivers", "events", "sources", "errors"),
                   help="only this table")
    p.add_argument("--chart", metavar="FILE", help="where the chart goes (.png, .svg, .pdf; default: "
                   "DIR/report.png; needs matplotlib: dmfkd[plot])")
    p.add_argument("--no-chart", action="store_true", help="no chart file")
