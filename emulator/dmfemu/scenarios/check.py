"""`dmfemu check DIR`: run dmfkd on a replay's output and compare what it shows with DIR/expected.json.

dmfkd runs in-process (dmfkd.cli.run, JSON output) on DIR/MEMORY.DMP or DIR/LIVEDUMP.DMP with the
driver.isf.json beside it. Checked for a crash dump: the bug check; every secondary-data blob (GUID,
size, bytes, file order); for every data source expected.json lists, N, S, P and whether it is
orphaned (summary), and its records oldest first as hex, and - when the source has a record type -
decoded with `--type DRIVER!TYPE` as the writer's field values (enum fields also by name). For a live
dump: the live dump code and parameters, the DMF triage blocks in order, the secondary data, and the
client ring's records when the dump holds its memory.

dmfkd shows an array of more than 64 integers as hex, and an array of 16-bit integers as UTF-16 text;
a field compares equal when it is the same bytes shown that way.
"""
import io
import json
import os
from typing import Any, Dict, List, Optional

from dmfkd import cli
from dmfkd.errors import DmfkdError
from dmfkd.render import Output

LIVE_DUMP_NAME = "LIVEDUMP.DMP"
CRASH_DUMP_NAME = "MEMORY.DMP"


class Difference(DmfkdError):
    """dmfkd shows something else than expected.json says (exit status 1)."""
    exit_status = 1


def run_dmfkd(argv: List[str]) -> Any:
    """`dmfkd ARGV --format json` in-process; the parsed document."""
    buffer = io.StringIO()
    cli.run([str(a) for a in argv] + ["--format", "json"], output=Output(buffer))
    return json.loads(buffer.getvalue())


def _same(expected, shown, field_bytes: Optional[bytes] = None) -> bool:
    if expected == shown:
        return True
    if isinstance(expected, list) and isinstance(shown, str) and field_bytes is not None:
        # more than 64 elements: dmfkd shows the bytes; 16-bit elements: UTF-16 text
        if shown == field_bytes.hex():
            return True
        return shown == field_bytes.decode("utf-16-le", "replace").split("\0", 1)[0]
    return False


class Checker(object):
    """Compares dmfkd's view of one replay directory with its expected.json; `checks` counts what matched."""

    def __init__(self, directory: str):
        self.directory = directory
        path = os.path.join(directory, "expected.json")
        try:
            with open(path, "r", encoding="utf-8") as handle:
                self.expected = json.load(handle)
        except (OSError, ValueError) as exc:
            raise DmfkdError("cannot read %s: %s" % (path, getattr(exc, "strerror", None) or exc))
        live = os.path.join(directory, LIVE_DUMP_NAME)
        self.live = "data_buffers" in self.expected
        self.dump = live if self.live else os.path.join(directory, CRASH_DUMP_NAME)
        if not os.path.exists(self.dump):
            raise DmfkdError("%s: no such dump (replay a scenario into %s first)" % (self.dump, directory))
        self.checks = 0

    def equal(self, where: str, expected, shown) -> None:
        if expected != shown:
            raise Difference("%s: expected %s, dmfkd shows %s" % (where, _text(expected), _text(shown)))
        self.checks += 1

    def run(self) -> int:
        """Every check; raises Difference at the first that fails; returns the number of checks."""
        if self.live:
            self._live()
        else:
            self._crash()
        return self.checks

    # -- crash dumps -------------------------------------------------------------------------------
    def _crash(self) -> None:
        expected, dump = self.expected, self.dump
        bugcheck = run_dmfkd(["bugcheck", dump])
        self.equal("bugcheck.code", expected["bugcheck"]["code"], bugcheck["code"])
        self.equal("bugcheck.parameters", expected["bugcheck"]["parameters"], bugcheck["parameters"])
        tags = run_dmfkd(["tags", dump])
        self.equal("blobs (GUID, size) in file order", [(b["guid"], b["length"]) for b in expected["blobs"]],
                   [(t["guid"], t["size"]) for t in tags])
        for index, blob in enumerate(expected["blobs"]):
            shown = run_dmfkd(["tags", dump, "--hex", blob["guid"]])
            self.equal("blobs[%d].hex" % index, blob["hex"], shown["hex"])
        summary = run_dmfkd(["crashdump", dump])
        rows = {}  # type: Dict[str, List[Dict[str, Any]]]   GUID -> dmfkd's rows, in slot order
        for row in summary.get("data_sources", []):
            if row.get("guid"):
                rows.setdefault(row["guid"], []).append(row)
        blobs = {blob["guid"] for blob in expected["blobs"]}
        for index, source in enumerate(expected["sources"]):
            where = "sources[%d] (%s)" % (index, source["guid"])
            argv = ["crashdump", dump, "--guid", source["guid"]]
            candidates = rows.get(source["guid"], [])
            if not candidates:
                if expected["dump_type"] != "triage":
                    raise Difference("%s: dmfkd shows no data source with this GUID" % where)
                # a triage dump holds no driver data pages: the ring is known from its blob alone
                if source["guid"] not in blobs:
                    self.equal(where + " records (no blob, no memory)", [], source["records"])
                    continue
                argv += ["--entry-size", str(source["entry_size"])]
                # nothing in a blob says how many records it holds: trailing all-zero records read as empty
                # slots (the ring's N/S/P are in memory, which a triage dump does not hold)
                records = list(source["records"])
                while records and not bytes.fromhex(records[-1]["hex"]).strip(b"\0"):
                    records.pop()
                source = dict(source, records=records)
                if source["blob_length"] % source["entry_size"] == 0:
                    # a blob cut at a record boundary looks like a whole ring of fewer records
                    source.pop("truncated")
                else:
                    source["capacity"] = source["blob_length"] // source["entry_size"] + 1
                self._records(where, source, argv)
                continue
            geometry = (source["capacity"], source["entry_size"], source["present"], source["orphaned"])
            shown = [(r["capacity"], r["entry_size"], r["present"], r["writer"] == "orphan") for r in candidates]
            if geometry not in shown:
                self.equal(where + " (N, S, P, orphaned)", list(geometry), list(shown[0]) if len(shown) == 1
                           else [list(g) for g in shown])
            self.checks += 1
            # two live data sources with one GUID (DMF allows it while the first one's writer is open): a
            # blob names only the GUID, so which source a blob is cannot be told - their records are not
            # compared (the blobs' bytes are, above)
            if len(candidates) == 1:
                self._records(where, source, argv)

    def _records(self, where: str, source: Dict[str, Any], argv: List[str]) -> None:
        document = run_dmfkd(argv)
        # a record the blob cuts short (MaximumAllowed) is shown as partial; expected.json lists whole ones
        records = [r for r in document["records"] if not r.get("partial")]
        self.equal(where + " record count", len(source["records"]), len(records))
        if "truncated" in source:
            # dmfkd says "truncated" when the blob is shorter than the ring (N*S), expected.json when a live
            # record did not fit: the blob's cut, and the records it cost
            length = source.get("blob_length", 0)
            cut = bool(length) and (length < source["capacity"] * source["entry_size"] or
                                    length % source["entry_size"] != 0)
            self.equal(where + " blob cut by MaximumAllowed", cut, document["truncated"])
            if document.get("present_known") and length:
                present = source.get("present", len(source["records"]))
                # a record the cut goes through is partly there: dmfkd shows it as partial, not as lost
                in_blob = min(present, -(-length // source["entry_size"]))
                self.equal(where + " records cut off the blob", present - in_blob, document["lost"])
        for record, shown in zip(source["records"], records):
            self.equal("%s.records[%d].hex" % (where, record["index"]), record["hex"], shown["hex"])
        if "record_type" not in source:
            return
        typed = run_dmfkd(argv + ["--type", "%s!%s" % (self.expected["module"], source["record_type"])])
        for record, shown in zip(source["records"], [r for r in typed["records"] if not r.get("partial")]):
            at = "%s.records[%d]" % (where, record["index"])
            data = bytes.fromhex(record["hex"])
            for name, value in record["fields"].items():
                if name not in shown:
                    raise Difference("%s.fields.%s: dmfkd shows no such field" % (at, name))
                if not _same(value, shown[name], self._field_bytes(source["record_type"], name, data)):
                    raise Difference("%s.fields.%s: expected %s, dmfkd shows %s" % (at, name, _text(value),
                                                                                  _text(shown[name])))
                self.checks += 1
            for name, constant in record.get("enum_names", {}).items():
                self.equal("%s.enum_names.%s" % (at, name), constant, shown.get(name + "_name"))

    def _field_bytes(self, record_type: str, name: str, data: bytes) -> Optional[bytes]:
        """The bytes of a field as the record holds them (its offset and size from expected.json)."""
        field = self.expected.get("record_types", {}).get(record_type, {}).get("fields", {}).get(name)
        if field is None:
            return None
        return data[field["offset"]:field["offset"] + field["size"]]

    # -- live dumps --------------------------------------------------------------------------------
    def _live(self) -> None:
        expected, dump = self.expected, self.dump
        document = run_dmfkd(["livedump", dump])
        live = document.get("live_dump") or {}
        self.equal("bugcheck.code", expected["bugcheck"]["code"], live.get("code"))
        self.equal("bugcheck.parameters", expected["bugcheck"]["parameters"], live.get("parameters"))
        rows = document.get("data_buffers", [])
        if document.get("source") == "triage blocks":
            # a triage live dump: the blocks DMF inserted (valid entries, then the client structures), in order
            shown = [(row["address"], row["size"]) for row in rows]
            wanted = [(block["address"], block["size"]) for block in expected["triage_blocks"]]
            if not any(shown[i:i + len(wanted)] == wanted for i in range(len(shown) - len(wanted) + 1)):
                raise Difference("triage_blocks: expected the %d block(s) %s in this order, dmfkd shows %s" % (
                    len(wanted), _text(wanted[:4]), _text(shown[:6])))
            self.checks += 1
        else:
            # the whole DataBufferSource list from memory, oldest first, removed entries invalid
            self.equal("data_buffers (address, size, valid)",
                       [[e["address"], e["size"], e["valid"]] for e in expected["data_buffers"]],
                       [[row["address"], row["size"], row["valid"]] for row in rows])
        secondary = expected.get("secondary")
        if secondary is not None and not expected["exclude_dmf_data"]:
            self.equal("secondary", {"guid": secondary["guid"], "size": len(secondary["hex"]) // 2},
                       document.get("secondary_data"))
        ring = expected.get("ring")
        if ring is not None and expected.get("dump_type") in ("full", "bitmap-kernel"):
            source = dict(ring, truncated=False)
            self._records("ring (%s)" % ring["instance_name"], source, ["ringbuffer", dump, "0x%x" % ring["handle"]])


def _text(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 100 else text[:97] + "..."


def check_directory(directory: str) -> int:
    """Run every check on DIR; returns the number of checks (raises Difference at the first failure)."""
    return Checker(directory).run()


__all__ = ["Checker", "Difference", "check_directory", "run_dmfkd"]
