"""`dmfkd info DUMP`: a header summary (type, arch, build, bug check, pages, secondary data).

Uses the Target protocol only: the header facts a dump file gives (dump_header()), the bug check and
the blob list; a live target shows what it has.
"""
from dmfkd.commands import command
from dmfkd.errors import DmfkdError
from dmfkd.records import hex_or
from dmfkd.render import UNREADABLE, Column, FileTime, Flag, Report


def info_fields(target):
    """Ordered (key, title, value) triples of typed cells."""
    fields = [("target", "target", target.name), ("arch", "arch", target.arch),
              ("pointer_size", "pointer size", target.pointer_size)]
    header = target.dump_header()
    if header is not None:
        fields += [
            ("dump_type", "dump type", header.dump_type),
            ("dump_type_name", "dump type name", header.dump_type_name),
            ("build", "build", header.build),
            ("major_version", "major version", header.major_version),
            ("processors", "processors", header.processors),
            ("system_time", "system time", FileTime(header.system_time)),
            ("system_uptime_seconds", "system uptime (s)", header.system_uptime // 10 ** 7),
            ("directory_table_base", "DirectoryTableBase", hex_or(header.directory_table_base)),
            ("kd_debugger_data_block", "KdDebuggerDataBlock", hex_or(header.kd_debugger_data_block)),
            ("pages", "pages in dump", header.pages),
            ("file_size", "file size", hex_or(header.file_size)),
            ("required_dump_space", "RequiredDumpSpace", hex_or(header.required_dump_space)),
            # DUMP_FILE_ATTRIBUTES; None when PAGE-filled, as Windows' crash writer leaves it
            ("attributes", "attributes", header.attribute_names),
        ]
    check = target.bugcheck()
    if check is not None:
        fields.append(("bugcheck_code", "bug check", hex_or(check.code)))
        fields.append(("bugcheck_parameters", "parameters", [hex_or(p) for p in check.parameters]))
    try:
        blobs = target.tagged()
        unreadable = None
    except DmfkdError as exc:
        # a broken blob region leaves the header facts above readable: say so and go on
        blobs, unreadable = [], str(exc).splitlines()[0]
    fields.append(("secondary_data", "secondary data", UNREADABLE if unreadable else Flag(bool(blobs))))
    fields.append(("blobs", "blobs", UNREADABLE if unreadable else len(blobs)))
    if header is not None:
        fields.append(("blob_region_offset", "blob region offset", hex_or(header.blob_region_offset)))
        if header.region_problem:
            fields.append(("secondary_data_problem", "secondary data note", header.region_problem))
    if unreadable:
        fields.append(("secondary_data_error", "secondary data error", unreadable))
    if any(b.truncated for b in blobs):
        fields.append(("truncated_blobs", "truncated blobs", sum(1 for b in blobs if b.truncated)))
    return fields


def _table_value(key, value):
    if value is None:
        return "-"
    if key == "attributes":
        return ", ".join(value) if value else "-"
    if key == "bugcheck_parameters":
        return " ".join(p.text() for p in value)
    return value


@command("info", help="summarize a dump: type, arch, build, bug check, pages, secondary data")
def info(args, session):
    fields = info_fields(session.target)
    rows = [dict(title=title, shown=_table_value(key, value), field=key, value=value) for key, title, value in fields]
    columns = [Column("title", "field", where="table"), Column("shown", "value", where="table", wrap=True),
               Column("field", "field", where="data"), Column("value", "value", where="data")]
    return Report(rows=rows, columns=columns, document={key: value for key, _, value in fields})
