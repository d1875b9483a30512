"""`dmfkd info DUMP`: a header summary (type, arch, build, bug check, pages, secondary data).

Uses the Target protocol; when the target is a dump file read directly it adds header fields only
the file can tell (dump type, pages, DTB, blob region, ...).
"""
import datetime

from dmfkd.commands import command
from dmfkd.errors import DmfkdError
from dmfkd.records import UNREADABLE
from dmfkd.render import Report

FILETIME_EPOCH = datetime.datetime(1601, 1, 1)


def filetime_text(value: int) -> str:
    try:
        when = FILETIME_EPOCH + datetime.timedelta(microseconds=value // 10)
    except OverflowError:
        return "0x%x (not a date)" % value
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def info_fields(target):
    """Ordered (key, title, value) triples; values are JSON-ready plain types."""
    fields = [("target", "target", target.name), ("arch", "arch", target.arch),
              ("pointer_size", "pointer size", target.pointer_size)]
    from dmfkd.targets.dumpfile import DumpFile

    dump = target if isinstance(target, DumpFile) else None
    if dump is not None:
        fields += [
            ("dump_type", "dump type", dump.dump_type),
            ("dump_type_name", "dump type name", dump.dump_type_name),
            ("build", "build", dump.build),
            ("major_version", "major version", dump.header.MajorVersion),
            ("processors", "processors", dump.header.NumberProcessors),
            ("system_time", "system time", filetime_text(dump.system_time)),
            ("system_uptime_seconds", "system uptime (s)", dump.system_uptime // 10 ** 7),
            ("directory_table_base", "DirectoryTableBase", dump.dtb),
            ("kd_debugger_data_block", "KdDebuggerDataBlock", dump.kdbg_va),
            ("pages", "pages in dump", dump.number_of_pages),
            ("file_size", "file size", dump.file_size),
            ("required_dump_space", "RequiredDumpSpace", dump.header.RequiredDumpSpace),
            # DUMP_FILE_ATTRIBUTES; None when PAGE-filled, as Windows' crash writer leaves it
            ("attributes", "attributes", dump.attribute_names()),
        ]
    check = target.bugcheck()
    if check is not None:
        fields.append(("bugcheck_code", "bug check", check.code))
        fields.append(("bugcheck_parameters", "parameters", list(check.parameters)))
    try:
        blobs = target.tagged()
        unreadable = None
    except DmfkdError as exc:
        # a broken blob region leaves the header facts above readable: say so and go on
        blobs, unreadable = [], str(exc).splitlines()[0]
    fields.append(("secondary_data", "secondary data", UNREADABLE if unreadable else bool(blobs)))
    fields.append(("blobs", "blobs", UNREADABLE if unreadable else len(blobs)))
    if dump is not None:
        fields.append(("blob_region_offset", "blob region offset", dump.blob_region_offset))
        if dump.region_problem:
            fields.append(("secondary_data_problem", "secondary data note", dump.region_problem))
    if unreadable:
        fields.append(("secondary_data_error", "secondary data error", unreadable))
    if any(b.truncated for b in blobs):
        fields.append(("truncated_blobs", "truncated blobs", sum(1 for b in blobs if b.truncated)))
    return fields


_HEX_KEYS = {"bugcheck_code", "directory_table_base", "kd_debugger_data_block", "file_size",
             "required_dump_space", "blob_region_offset"}


def _display(key, value):
    if value is None:
        return "-"
    if key == "secondary_data" and value != UNREADABLE:
        return "yes" if value else "no"
    if key == "attributes":
        return ", ".join(value) if value else "-"
    if key == "bugcheck_parameters":
        return " ".join("0x%x" % p for p in value)
    if key in _HEX_KEYS:
        return "0x%x" % value
    return str(value)


@command("info", help="summarize a dump: type, arch, build, bug check, pages, secondary data")
def info(args, session):
    fields = info_fields(session.target)
    document = {key: value for key, _, value in fields}
    if args.format == "table":
        rows = [dict(field=title, value=_display(key, value)) for key, title, value in fields]
    else:
        rows = [dict(field=key, value=value) for key, _, value in fields]
    return Report(rows=rows, columns=[("field", "field"), ("value", "value")], document=document)
