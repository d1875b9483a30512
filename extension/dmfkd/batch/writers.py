"""The files a batch writes into its output folder, incrementally, and how --resume picks them up.

Parquet (`dmfkd[parquet]`, pyarrow):

    DIR/summary.parquet, DIR/records.parquet     the result (one schema each, columns.py)
    DIR/.dmfkd-batch/part-NNNNNN.{records,summary}.parquet
                                                 what a running batch has finished so far

A Parquet file is readable only once its footer is written, so a running batch writes its rows as small
part files (each complete, written to a temporary name and renamed; records first, then summary: a part
counts once its summary exists). At the end the parts are merged into the two result files in dump_id
order, with row groups of a fixed number of rows, so the bytes depend only on the rows - not on how the
work was split, which engine ran it, or whether it was resumed. A killed batch leaves its parts;
`--resume` counts them as done and merges them at its end.

JSON Lines: DIR/summary.jsonl and DIR/records.jsonl, appended dump by dump (a dump's records, then its
summary line) and flushed; --resume cuts a line left half-written and records whose summary line is
missing.

Nothing here reads or writes an input dump; the output folder is locked while a batch writes to it.
"""
import glob
import json
import os
import re
from typing import Any, Dict, List, Optional, Set, Tuple

from dmfkd.batch.columns import RECORD_COLUMNS, SCHEMA_VERSION, SUMMARY_COLUMNS, json_row
from dmfkd.errors import UsageError

PARTS_DIR = ".dmfkd-batch"
LOCK_NAME = ".dmfkd-batch.lock"
#: rows per row group of the merged files
SUMMARY_ROW_GROUP = 8192
RECORDS_ROW_GROUP = 131072
#: a part is written once this many dumps or records wait (or when the runner's clock says so)
PART_DUMPS = 64
PART_RECORDS = 100000
_DUMP_ID_PREFIX = re.compile(rb'^\{"dump_id":(\d+)[,}]')


def pyarrow_modules():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UsageError("Parquet output needs pyarrow: pip install 'dmfkd[parquet]' (or --format jsonl)")
    return pyarrow, pyarrow.parquet


class _Lock:
    """An exclusive lock on the output folder (released by the OS if the batch dies)."""

    def __init__(self, folder: str):
        self.path = os.path.join(folder, LOCK_NAME)
        self.handle = open(self.path, "a+b")
        try:
            import fcntl
        except ImportError:         # Windows: msvcrt's lock on the first byte
            import msvcrt

            try:
                msvcrt.locking(self.handle.fileno(), msvcrt.LK_NBLCK, 1)
            except OSError:
                self.handle.close()
                raise UsageError("another batch is writing to %s" % folder)
            return
        try:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.handle.close()
            raise UsageError("another batch is writing to %s" % folder)

    def release(self) -> None:
        try:
            os.remove(self.path)
        except OSError:
            pass
        self.handle.close()


class BatchOutput:
    """Base: the output folder, its lock, and the dumps already in it."""

    FILES = ()  # type: Tuple[str, ...]

    def __init__(self, folder: str, resume: bool, metadata: Dict[str, str]):
        self.folder = folder
        self.metadata = metadata
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise UsageError("--out %s is a file, not a folder" % folder)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise UsageError("cannot create --out %s: %s" % (folder, exc.strerror or exc))
        existing = [name for name in self.FILES + (PARTS_DIR,) if os.path.exists(os.path.join(folder, name))]
        others = [name for name in os.listdir(folder) if name in ("summary.parquet", "summary.jsonl")]
        if not resume and (existing or others):
            raise UsageError("%s already holds a batch (%s): add --resume to continue it, or give another --out"
                             % (folder, ", ".join(sorted(set(existing + others)))))
        wrong = [name for name in others if name not in self.FILES]
        if wrong:
            raise UsageError("%s holds %s: that batch was written in another --format" % (folder, wrong[0]))
        self._lock = _Lock(folder)
        self.done_hashes = set()  # type: Set[str]
        self.next_id = 0

    def paths(self) -> List[str]:
        return [os.path.join(self.folder, name) for name in self.FILES]

    def release(self) -> None:
        self._lock.release()


class ParquetOutput(BatchOutput):
    FILES = ("summary.parquet", "records.parquet")

    def __init__(self, folder: str, resume: bool, metadata: Dict[str, str]):
        self.pa, self.pq = pyarrow_modules()
        super().__init__(folder, resume, metadata)
        from dmfkd.batch.columns import arrow_schema

        self.schemas = {"summary": arrow_schema("summary", metadata), "records": arrow_schema("records", metadata)}
        self.parts_dir = os.path.join(folder, PARTS_DIR)
        self._summary = []  # type: List[Dict[str, Any]]
        self._records = []  # type: List[Dict[str, Any]]
        self.part_number = 0
        if resume:
            self._scan()

    # -- resume ------------------------------------------------------------------------------------
    def _read(self, path: str, columns: List[str]):
        try:
            return self.pq.read_table(path, columns=columns)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
            raise UsageError("cannot read %s to resume: %s" % (path, str(exc).splitlines()[0] if str(exc) else exc))

    def _scan(self) -> None:
        ids = []  # type: List[int]
        summary_final = os.path.join(self.folder, "summary.parquet")
        if os.path.exists(summary_final):
            try:
                version = (self.pq.read_schema(summary_final).metadata or {}).get(b"dmfkd.schema_version")
            except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
                raise UsageError("cannot read %s to resume: %s" % (summary_final, str(exc).splitlines()[0]
                                                                   if str(exc) else type(exc).__name__))
            if version != SCHEMA_VERSION.encode():
                raise UsageError("%s was written with another output schema (version %s, this dmfkd writes %s): "
                                 "give another --out" % (summary_final, (version or b"?").decode("ascii", "replace"),
                                                         SCHEMA_VERSION))
            table = self._read(summary_final, ["dump_id", "sha256"])
            ids.extend(table.column("dump_id").to_pylist())
            self.done_hashes.update(h for h in table.column("sha256").to_pylist() if h)
        for number, summary_part, records_part in self._parts():
            if summary_part is None:        # killed between the two files of a part: not done
                os.remove(records_part)
                continue
            table = self._read(summary_part, ["dump_id", "sha256"])
            ids.extend(table.column("dump_id").to_pylist())
            self.done_hashes.update(h for h in table.column("sha256").to_pylist() if h)
            self.part_number = max(self.part_number, number)
        for leftover in glob.glob(os.path.join(self.parts_dir, "*.tmp")):
            os.remove(leftover)
        self.next_id = max(ids) + 1 if ids else 0

    def _parts(self) -> List[Tuple[int, Optional[str], str]]:
        found = {}  # type: Dict[int, Dict[str, str]]
        for path in glob.glob(os.path.join(self.parts_dir, "part-*.parquet")):
            match = re.match(r"part-(\d+)\.(summary|records)\.parquet$", os.path.basename(path))
            if match:
                found.setdefault(int(match.group(1)), {})[match.group(2)] = path
        return [(n, found[n].get("summary"), found[n].get("records")) for n in sorted(found)
                if "records" in found[n]]

    # -- writing -----------------------------------------------------------------------------------
    def write(self, summary: Dict[str, Any], records: List[Dict[str, Any]]) -> None:
        self._summary.append(summary)
        self._records.extend(records)

    def wants_checkpoint(self) -> bool:
        return len(self._summary) >= PART_DUMPS or len(self._records) >= PART_RECORDS

    def checkpoint(self) -> None:
        """Write what waits as the next part (records first: a part is done once its summary exists)."""
        if not self._summary:
            return
        from dmfkd.batch.columns import arrow_table

        os.makedirs(self.parts_dir, exist_ok=True)
        self.part_number += 1
        for table in ("records", "summary"):
            rows = self._records if table == "records" else self._summary
            final = os.path.join(self.parts_dir, "part-%06d.%s.parquet" % (self.part_number, table))
            self._write_atomic(final, [arrow_table(table, rows, self.schemas[table])], table)
        self._summary, self._records = [], []

    def _write_atomic(self, path: str, tables, table: str, row_group: Optional[int] = None) -> None:
        temporary = path + ".tmp"
        try:
            writer = self.pq.ParquetWriter(temporary, self.schemas[table], compression="zstd")
            try:
                for batch in tables:
                    if row_group is None:
                        writer.write_table(batch)
                    else:
                        writer.write_table(batch, row_group_size=row_group)
            finally:
                writer.close()
            os.replace(temporary, path)
        except OSError as exc:
            raise UsageError("cannot write %s: %s" % (path, exc.strerror or exc))
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - rows of a part that is not this schema's (a foreign folder)
            raise UsageError("cannot write %s: %s" % (path, str(exc).splitlines()[0] if str(exc) else exc))

    def close(self) -> None:
        """Merge the finished result and the parts into summary.parquet and records.parquet."""
        self.checkpoint()
        parts = self._parts()
        summary_final, records_final = self.paths()
        final_ids = None
        if os.path.exists(summary_final):
            final_ids = self.pa.array(self._read(summary_final, ["dump_id"]).column("dump_id").to_pylist(),
                                      type=self.pa.int64())
        for table, final, row_group in (("records", records_final, RECORDS_ROW_GROUP),
                                        ("summary", summary_final, SUMMARY_ROW_GROUP)):
            sources = []
            if final_ids is not None and os.path.exists(final):
                sources.append((final, True))
            sources.extend((summary_part if table == "summary" else records_part, False)
                           for _, summary_part, records_part in parts if summary_part is not None)
            self._write_atomic(final, self._stream(sources, final_ids, row_group), table, row_group)
        for _, summary_part, records_part in parts:
            for path in (records_part, summary_part):
                if path is not None and os.path.exists(path):
                    os.remove(path)
        try:
            os.rmdir(self.parts_dir)
        except OSError:
            pass

    def _stream(self, sources, final_ids, row_group: int):
        """The rows of the sources in order, in tables of exactly `row_group` rows (the last one less).
        Rows of the result file are kept when their dump is in its summary; rows of parts when their
        dump is not (a merge killed between its two renames leaves both)."""
        if final_ids is not None:
            import pyarrow.compute as compute
        waiting, count = [], 0
        for path, is_final in sources:
            parquet = self.pq.ParquetFile(path)
            for index in range(parquet.num_row_groups):
                table = parquet.read_row_group(index)
                if final_ids is not None:
                    member = compute.is_in(table.column("dump_id"), value_set=final_ids)
                    table = table.filter(member if is_final else compute.invert(member))
                waiting.append(table)
                count += table.num_rows
                while count >= row_group:
                    merged = self.pa.concat_tables(waiting)
                    yield merged.slice(0, row_group)
                    rest = merged.slice(row_group)
                    waiting, count = [rest], rest.num_rows
        if count:
            yield self.pa.concat_tables(waiting)


class JsonlOutput(BatchOutput):
    FILES = ("summary.jsonl", "records.jsonl")

    def __init__(self, folder: str, resume: bool, metadata: Dict[str, str]):
        super().__init__(folder, resume, metadata)
        summary_path, records_path = self.paths()
        if resume:
            self._scan(summary_path, records_path)
        try:
            self._summary = open(summary_path, "ab")
            self._records = open(records_path, "ab")
        except OSError as exc:
            raise UsageError("cannot write in %s: %s" % (self.folder, exc.strerror or exc))

    def _scan(self, summary_path: str, records_path: str) -> None:
        ids = set()
        if os.path.exists(summary_path):
            good = 0
            with open(summary_path, "rb") as handle:
                for line in handle:
                    try:
                        row = json.loads(line) if line.endswith(b"\n") else None
                    except ValueError:
                        row = None
                    if not isinstance(row, dict) or not isinstance(row.get("dump_id"), int):
                        break               # a line left half-written by a killed batch, and what follows
                    ids.add(row["dump_id"])
                    if isinstance(row.get("sha256"), str):
                        self.done_hashes.add(row["sha256"])
                    good += len(line)
            _truncate(summary_path, good)
        if os.path.exists(records_path):
            good = 0
            with open(records_path, "rb") as handle:
                for line in handle:
                    match = _DUMP_ID_PREFIX.match(line)
                    if not line.endswith(b"\n") or match is None or int(match.group(1)) not in ids:
                        break               # the records of a dump whose summary line never came
                    good += len(line)
            _truncate(records_path, good)
        self.next_id = max(ids) + 1 if ids else 0

    def write(self, summary: Dict[str, Any], records: List[Dict[str, Any]]) -> None:
        try:
            for record in records:
                self._records.write(_line(RECORD_COLUMNS, record))
            self._records.flush()
            self._summary.write(_line(SUMMARY_COLUMNS, summary))
            self._summary.flush()
        except OSError as exc:
            raise UsageError("cannot write in %s: %s" % (self.folder, exc.strerror or exc))

    def wants_checkpoint(self) -> bool:
        return False

    def checkpoint(self) -> None:
        pass

    def close(self) -> None:
        self._records.close()
        self._summary.close()


def _line(columns, row: Dict[str, Any]) -> bytes:
    return (json.dumps(json_row(columns, row), separators=(",", ":"), allow_nan=False) + "\n").encode("ascii")


def _truncate(path: str, size: int) -> None:
    if os.path.getsize(path) != size:
        with open(path, "r+b") as handle:
            handle.truncate(size)


def open_output(fmt: str, folder: str, resume: bool, metadata: Dict[str, str]) -> BatchOutput:
    if fmt == "parquet":
        return ParquetOutput(folder, resume, metadata)
    return JsonlOutput(folder, resume, metadata)


def schema_metadata(options: Dict[str, Any]) -> Dict[str, str]:
    """Key-value metadata of the Parquet files: the schema version and the decoding options (never a
    time or a host: the bytes stay the same run after run)."""
    return {"dmfkd.schema_version": SCHEMA_VERSION,
            "dmfkd.decoding": json.dumps(options, sort_keys=True, separators=(",", ":"))}
