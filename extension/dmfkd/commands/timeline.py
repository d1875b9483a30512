"""`dmfkd timeline DUMP -o FILE.svg|.png|.html`: every source's records on one time axis, a lane per
source, the bug check marked - a person looks at it rather than reads a thousand rows. The records are
decoded as for `crashdump --merge-by` (--type / --schema per source); the time is each record's FILETIME
field (found by name, or --time-field)."""
from dmfkd.bounded_input import int_option
from dmfkd.commands import command
from dmfkd.commands.shared import (MAX_ENTRY_SIZE, add_record_options, check_record_options, crash_time,
                                   decode_sources, step)
from dmfkd.dmf.crashdump_view import read_crashdump
from dmfkd.errors import UsageError
from dmfkd.render import FileTime, Report, same_file
from dmfkd.render.timeline import Lane, draw_timeline, picture_format


@command("timeline", help="draw every source's records on a time axis, one lane per source (.svg .png .html)")
def timeline(args, session):
    target = session.target
    check_record_options(args)
    picture_format(args.output)
    if target.path and same_file(args.output, target.path):
        raise UsageError("refusing to overwrite %s: it is an input of this command" % args.output)
    view = read_crashdump(target, args.driver, args.dmf_version)
    if not view.source_guids():
        raise UsageError("no DMF ring data in %s: nothing to draw" % target.name)
    decoded = decode_sources(view, args)
    lanes, skipped = [], []
    for guid, rows in decoded.per_source:
        field = args.time_field[0] if args.time_field else next(
            (k for row in rows for k, v in row.items() if isinstance(v, FileTime)), None)
        times = sorted(row[field] for row in rows if field and isinstance(row.get(field), FileTime))
        if not times:
            skipped.append("%s (%s): no time field in its records%s" % (
                decoded.lanes[guid], guid, "" if rows else ", no records"))
            continue
        lanes.append(Lane(decoded.lanes[guid], guid, times))
    if not lanes:
        raise UsageError("no source has records with a time: decode them with --type / --schema (GUID=TYPE per "
                         "source), or name the field with --time-field")
    bugcheck = target.bugcheck()
    crash = crash_time(target)
    label = "bug check 0x%08x" % bugcheck.code if bugcheck is not None else "crash"
    title = "%s: %d record(s) of %d source(s)" % (target.name, sum(len(l.times) for l in lanes), len(lanes))
    note = draw_timeline(args.output, lanes, title, crash, label)
    rows = [{"lane": l.name, "guid": l.guid, "records": len(l.times), "first": FileTime(l.times[0]),
             "last": FileTime(l.times[-1])} for l in lanes]
    notes = ["written to %s" % args.output] + ([note] if note else [])
    return Report(rows=rows, columns=[("lane", "lane"), ("guid", "GUID"), ("records", "records"), ("first", "first"),
                                      ("last", "last")],
                  title="timeline of %s" % target.name, warnings=decoded.warnings + skipped, notes=notes,
                  document={"path": args.output, "lanes": rows, "skipped": skipped, "note": note or None},
                  next_steps=[step("the same as a table", "crashdump --merge-by %s" % (
                      args.time_field[0] if args.time_field else "Timestamp"), args)])


@timeline.arguments
def _arguments(p):
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the picture to write (.svg .png .html)")
    p.add_argument("--entry-size", type=int_option("--entry-size", 1, MAX_ENTRY_SIZE), metavar="S",
                   help="record size (when no symbols give it)")
    p.add_argument("--force", action="store_true", help="use --entry-size even where memory gives another size")
    add_record_options(p)
    p.add_argument("--driver", metavar="NAME", help="symbol module of the driver")
    p.add_argument("--dmf-version", metavar="V", help="DMF version of the driver when symbols do not say")
