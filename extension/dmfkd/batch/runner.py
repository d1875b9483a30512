"""One batch from start to end: find the dumps, check the options, run them on an engine, write the rows
in batch order, keep the run's own facts (times, engine, counts) in DIR/run.json - never in the tables.

Results arrive in any order; they are written in batch order (a result waits for the ones before it), so
dump_id is the dump's rank in the output whichever engine ran it. A dump whose sha256 is already in the
output - from an earlier run (--resume) or earlier in this one (the same file under another name) - is
skipped and counted.
"""
import datetime
import json
import os
import time
from typing import Any, Dict, List, Optional

from dmfkd.batch.engines import LocalEngine
from dmfkd.batch.inputs import discover
from dmfkd.batch.progress import Progress
from dmfkd.batch.sandbox import memory_limit_supported
from dmfkd.batch.writers import open_output, schema_metadata
from dmfkd.errors import DmfkdError, UsageError
from dmfkd.guids import guid_text, parse_guid

RUN_FILE = "run.json"
#: how far the engines may run ahead of the oldest unfinished dump, per worker
WINDOW_PER_WORKER = 32
#: a running Parquet batch writes a part at least this often (seconds), so a kill loses little
CHECKPOINT_SECONDS = 5.0


class BatchOptions:
    """What `dmfkd batch` was asked to do (the command fills it from its arguments)."""

    def __init__(self, inputs: List[str], out: str, fmt: str = "parquet", jobs: Optional[int] = None,
                 engine: str = "local", scheduler: Optional[str] = None, timeout: float = 60.0,
                 memory_limit_mib: int = 2048, resume: bool = False, progress: str = "auto",
                 types: Optional[List[str]] = None, schemas: Optional[List[str]] = None,
                 type_size_mismatch: str = "refuse", isf: Optional[str] = None, driver: Optional[str] = None,
                 dmf_version: Optional[str] = None, checkpoint_seconds: float = CHECKPOINT_SECONDS,
                 scheduler_timeout: float = 30.0, symbols: Optional[List[str]] = None, pdb: Optional[str] = None,
                 allow_mismatched_pdb: bool = False):
        self.inputs = list(inputs)
        self.out = out
        self.format = fmt
        self.jobs = jobs if jobs is not None else default_jobs()
        self.engine = engine
        self.scheduler = scheduler
        self.scheduler_timeout = scheduler_timeout
        self.timeout = timeout
        self.memory_limit_mib = memory_limit_mib
        self.resume = resume
        self.progress = progress
        self.types = list(types or [])
        self.schemas = list(schemas or [])
        self.type_size_mismatch = type_size_mismatch
        self.isf = isf
        self.symbols = list(symbols or [])
        self.pdb = pdb
        self.allow_mismatched_pdb = allow_mismatched_pdb
        self.driver = driver
        self.dmf_version = dmf_version
        #: how often a running Parquet batch saves what it finished (tests make it short)
        self.checkpoint_seconds = checkpoint_seconds


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _full_guid_pairs(values: List[str], option: str) -> List[str]:
    """GUID=SPEC pairs with the GUID in full (a prefix means nothing across thousands of dumps)."""
    out = []
    for value in values:
        head, sep, tail = value.partition("=")
        if sep:
            try:
                head = guid_text(parse_guid(head))
            except DmfkdError:
                raise UsageError("--%s %s: give the data source's full GUID before '=' in a batch" % (option, value))
            if option == "schema":
                tail = _absolute_schema(tail)
            out.append("%s=%s" % (head, tail.strip()))
        else:
            out.append(_absolute_schema(value) if option == "schema" else value)
    return out


def _absolute_schema(spec: str) -> str:
    # workers may run elsewhere (another folder, a Dask worker): the file is named absolutely
    path, sep, name = spec.strip().rpartition(":")
    if not sep or not path or not name:
        raise UsageError("--schema expects FILE.py:NAME (got %r)" % spec)
    if not os.path.isfile(path):
        raise UsageError("--schema: no such file %r" % path)
    return "%s:%s" % (os.path.abspath(path), name)


def check_numbers(options: BatchOptions) -> None:
    if options.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if options.timeout < 0:
        raise UsageError("--timeout must be >= 0 (0: no limit)")
    if options.memory_limit_mib and options.memory_limit_mib < 256:
        raise UsageError("--memory-limit must be at least 256 MiB (0: no limit)")
    if options.scheduler_timeout <= 0:
        raise UsageError("--scheduler-timeout must be > 0")
    if options.scheduler and options.engine != "dask":
        raise UsageError("--scheduler needs --engine dask")


def check_options(options: BatchOptions) -> Dict[str, Any]:
    """The decoding options every worker gets, checked once here (one line and status 2 when wrong)."""
    from dmfkd.driver_symbols import SymbolOptions

    isf = None
    if options.isf and options.pdb:
        raise UsageError("give --isf FILE or --pdb FILE, not both")
    if options.isf:
        from dmfkd.targets.isf import IsfSymbols

        isf = os.path.abspath(options.isf)
        IsfSymbols.load(isf)            # a broken file: one line now, not an error row per dump
    pdb = None
    if options.pdb:
        pdb = os.path.abspath(options.pdb)
        if not os.path.isfile(pdb):
            raise UsageError("--pdb %s: no such file" % options.pdb)
    # the symbol path as this machine has it, so every worker (a Dask worker too) searches the same one
    nt_symbol_path = os.environ.get("_NT_SYMBOL_PATH", "")
    symbol_options = SymbolOptions(None, tuple(options.symbols), pdb, options.allow_mismatched_pdb,
                                   options.driver, {"_NT_SYMBOL_PATH": nt_symbol_path})
    if symbol_options.has_symbol_path():
        symbol_options.symbol_path()    # a malformed element: one line now
    decoding = {"types": _full_guid_pairs(options.types, "type"),
                "schemas": _full_guid_pairs(options.schemas, "schema"),
                "type_size_mismatch": options.type_size_mismatch, "isf": isf, "pdb": pdb,
                "symbols": list(options.symbols), "nt_symbol_path": nt_symbol_path,
                "allow_mismatched_pdb": options.allow_mismatched_pdb, "driver": options.driver,
                "dmf_version": options.dmf_version}
    from dmfkd.decoder_choice import DecoderChoice

    DecoderChoice(decoding["types"], decoding["schemas"], None)     # one default decoder at most
    return decoding


def _protect_inputs(paths: List[str], out: str) -> None:
    """The output folder never holds an input: writing there could replace a dump."""
    folder = os.path.realpath(out)
    names = {"summary.parquet", "records.parquet", "summary.jsonl", "records.jsonl", RUN_FILE}
    for path in paths:
        real = os.path.realpath(path)
        if os.path.dirname(real) == folder and os.path.basename(real) in names or \
                real.startswith(os.path.join(folder, ".dmfkd-batch") + os.sep):
            raise UsageError("refusing to write %s: %s is an input of this batch" % (out, path))


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_runs(path: str) -> List[Dict[str, Any]]:
    try:
        with open(path, "r", encoding="utf-8") as handle:
            document = json.load(handle)
        runs = document.get("runs") if isinstance(document, dict) else None
        return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []
    except (OSError, ValueError):
        return []


def _write_runs(path: str, runs: List[Dict[str, Any]]) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"runs": runs}, handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


def run_batch(options: BatchOptions, stderr=None) -> Dict[str, Any]:
    """Run the batch; returns this run's facts (also appended to DIR/run.json)."""
    from dmfkd.batch.sandbox import python_command

    python_command()                    # inside WinDbg there is no Python to start workers with: say so now
    check_numbers(options)
    # local workers start now and load their code while the dumps are looked for
    engine = LocalEngine(options.jobs) if options.engine == "local" else None
    try:
        paths, warnings = discover(options.inputs)
        decoding = check_options(options)
        _protect_inputs(paths, options.out)
        if options.engine == "dask":
            from dmfkd.batch.engines import DaskEngine

            engine = DaskEngine(options.scheduler, options.jobs, options.scheduler_timeout)
        return _run(options, paths, warnings, decoding, engine, stderr)
    finally:
        if engine is not None:
            engine.close()


def _run(options: BatchOptions, paths: List[str], warnings: List[str], decoding: Dict[str, Any], engine,
         stderr) -> Dict[str, Any]:
    output = open_output(options.format, options.out, options.resume, schema_metadata(decoding))
    run_path = os.path.join(options.out, RUN_FILE)
    progress = None
    try:
        runs = _read_runs(run_path) if options.resume else []
        if runs and runs[-1].get("decoding") not in (None, decoding):
            raise UsageError("--resume with other decoding options (--type, --schema, --isf, --pdb, --symbols, "
                             "--driver, --dmf-version) than %s was written with" % options.out)
        memory_limit = options.memory_limit_mib * 1024 * 1024
        enforced = bool(memory_limit) and (options.engine == "dask" or memory_limit_supported())
        facts = {"started": _now(), "status": "running", "engine": options.engine,
                 "jobs": options.jobs, "scheduler": options.scheduler, "format": options.format,
                 "timeout": options.timeout, "memory_limit_mib": options.memory_limit_mib,
                 "memory_limit_enforced": enforced if options.engine == "local" else None,
                 "inputs": len(paths), "decoding": decoding, "argument_warnings": warnings}
        runs.append(facts)
        _write_runs(run_path, runs)
        progress = Progress(len(paths), stderr, options.progress)
        for warning in warnings:
            progress.note(warning)
        if memory_limit and options.engine == "local" and not memory_limit_supported():
            progress.note("the per-dump memory limit is not enforced on this OS (only the time limit is)")
        init = dict(decoding, memory_limit=memory_limit, skip=sorted(output.done_hashes))
        started = time.monotonic()
        counts = _write_in_order(options, paths, init, output, progress, engine)
        output.close()
        progress.finish()
        facts.update(counts, status="complete", finished=_now(),
                     seconds=round(time.monotonic() - started, 3))
    except KeyboardInterrupt:
        facts_status(run_path, "interrupted")
        output.release()
        if progress is not None:
            progress.note("interrupted: what was finished is in %s; the same command with --resume goes on"
                          % options.out)
        raise
    except BaseException:
        output.release()
        raise
    _write_runs(run_path, runs)
    output.release()
    facts["files"] = output.paths()
    return facts


def facts_status(run_path: str, status: str) -> None:
    runs = _read_runs(run_path)
    if runs:
        runs[-1]["status"] = status
        runs[-1]["finished"] = _now()
        _write_runs(run_path, runs)


def _write_in_order(options: BatchOptions, paths: List[str], init: Dict[str, Any], output,
                    progress: Progress, engine) -> Dict[str, int]:
    jobs = list(enumerate(paths))
    window = WINDOW_PER_WORKER * options.jobs
    timeout = options.timeout or None
    results = engine.results(jobs, init, timeout, window)
    counts = {"written": 0, "errors": 0, "skipped": 0, "duplicates": 0, "records": 0}
    # when the first and the last result came (seconds after the workers were asked to start): the
    # rate between them is the batch's steady pace, without start-up and merge
    started = time.monotonic()
    first = last = None
    seen = set(output.done_hashes)
    waiting = {}  # type: Dict[int, Dict[str, Any]]
    next_position = 0
    last_checkpoint = time.monotonic()
    try:
        for position, result in results:
            if position is not None:
                waiting[position] = result
                progress.update(bool(result["summary"].get("error")))
                last = time.monotonic() - started
                first = last if first is None else first
            while next_position in waiting:
                result = waiting.pop(next_position)
                next_position += 1
                summary = result["summary"]
                if result.get("skipped"):
                    counts["skipped"] += 1
                    continue
                sha = summary.get("sha256")
                if sha and sha in seen:
                    counts["duplicates"] += 1
                    continue
                if sha:
                    seen.add(sha)
                summary["dump_id"] = output.next_id
                for record in result["records"]:
                    record["dump_id"] = output.next_id
                output.next_id += 1
                output.write(summary, result["records"])
                counts["written"] += 1
                counts["records"] += len(result["records"])
                counts["errors"] += 1 if summary.get("error") else 0
            if output.wants_checkpoint() or time.monotonic() - last_checkpoint >= options.checkpoint_seconds:
                output.checkpoint()
                last_checkpoint = time.monotonic()
    except KeyboardInterrupt:
        results.close()         # the children end now; what was written is kept
        output.close()
        raise
    counts["first_result_seconds"] = None if first is None else round(first, 3)
    counts["last_result_seconds"] = None if last is None else round(last, 3)
    return counts
