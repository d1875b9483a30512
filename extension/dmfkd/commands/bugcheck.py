"""`dmfkd bugcheck`: the bug check of a dump (code, parameters), with DMF's own explained: 0xDEADDEAD is
DMF_CrashDump's private bug check, raised on request with P1 = the CrashDump DMFMODULE handle."""
from dmfkd.commands import command
from dmfkd.commands.shared import step
from dmfkd.dmf.bugcheck import BUG_CHECK_PRIVATE, check_private_p1
from dmfkd.render import Column, Hex, Link, Report

# a few codes worth a name (public bug check reference)
KNOWN = {
    0x0000001E: "KMODE_EXCEPTION_NOT_HANDLED", 0x0000003B: "SYSTEM_SERVICE_EXCEPTION",
    0x00000050: "PAGE_FAULT_IN_NONPAGED_AREA", 0x0000007E: "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED",
    0x1000007E: "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M", 0x0000009F: "DRIVER_POWER_STATE_FAILURE",
    0x000000C4: "DRIVER_VERIFIER_DETECTED_VIOLATION", 0x000000D1: "DRIVER_IRQL_NOT_LESS_OR_EQUAL",
    0x000000E2: "MANUALLY_INITIATED_CRASH", 0x000000EF: "CRITICAL_PROCESS_DIED",
    0x00000133: "DPC_WATCHDOG_VIOLATION", 0x00000139: "KERNEL_SECURITY_CHECK_FAILURE",
    0x000001C8: "MANUALLY_INITIATED_POWER_BUTTON_HOLD", 0x00000161: "LIVE_SYSTEM_DUMP",
    BUG_CHECK_PRIVATE: "DMF CrashDump BUG_CHECK_PRIVATE",
}


@command("bugcheck", help="bug check code and parameters; DMF's 0xDEADDEAD explained")
def bugcheck(args, session):
    target = session.target
    bc = target.bugcheck()
    if bc is None or (target.is_live and not bc.code):
        line = "no bug check: %s is a live target" % target.name if target.is_live else \
            "no bug check recorded in %s" % target.name
        return Report(text=line, document={"code": None, "message": line})
    code = bc.code
    params = list(bc.parameters)
    rows = [{"field": "code", "value": Hex(code, 8), "meaning": KNOWN.get(code, "")}]
    meanings = ["", "", "", ""]
    notes, warnings, next_steps = [], [], []
    if code == BUG_CHECK_PRIVATE:
        meanings = ["CrashDump DMFMODULE handle", "0", "0", "0"]
        notes.append("0xDEADDEAD: the driver's DMF_CrashDump crashed the machine on request "
                     "(IOCTL_CRASH_DRIVER, DEBUG builds only); P1 is its DMFMODULE")
        more_notes, more_warnings = check_private_p1(target, params[0], getattr(args, "dmf_version", None))
        notes.extend(more_notes)
        warnings.extend(more_warnings)
        next_steps = [step("module tree", "modules 0x%x" % params[0]), step("crash dump data", "crashdump")]
    for i, value in enumerate(params):
        cell = Hex(value)
        if code == BUG_CHECK_PRIVATE and i == 0:
            cell = Link(cell, "modules 0x%x" % value)
        rows.append({"field": "P%d" % (i + 1), "value": cell, "meaning": meanings[i]})
    document = {"code": code, "name": KNOWN.get(code), "parameters": params,
                "dmf_private": code == BUG_CHECK_PRIVATE, "notes": notes, "warnings": warnings}
    return Report(rows=rows, columns=[Column("field", "field"), Column("value", "value"),
                                      Column("meaning", "meaning", wrap=True)],
                  title="bug check 0x%08x%s" % (code, " (%s)" % KNOWN[code] if code in KNOWN else ""),
                  notes=notes, warnings=warnings, next_steps=next_steps, document=document)


@bugcheck.arguments
def _arguments(p):
    p.add_argument("--dmf-version", metavar="V", help="DMF version of the driver when symbols do not say")
