"""Secondary (tagged) data (enumTagged, loadTaggedBuffer; kdlib tagged.cpp), output (dprint,
dprintln) and the debugger commands dbgCommand knows (`||`, `.enumtag`, `x`, `.bugcheck`, `.echo`,
aliases).
"""
import re
import sys
import uuid
from typing import Dict

from dmfkd.errors import SymbolError

from dmfemu.pykd._errors import (DBG_E_EXECUTE, DbgException, E_INVALIDARG, E_NOINTERFACE, E_NOTIMPL, ERROR_READ_FAULT,
                                 hresult_error, RPC_S_INVALID_STRING_UUID)
from dmfemu.pykd._enums import outputFlag
from dmfemu.pykd._session import counted, current_target, hex_address, state, System
from dmfemu.pykd._targets import bugCheckData
from dmfemu.pykd._modules import loaded_modules


_UUID_STRING = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


def _blobs():
    target = current_target("IDebugDataSpaces3::StartEnumTagged")
    if target.is_live:
        raise hresult_error("IDebugDataSpaces3::StartEnumTagged", E_NOTIMPL)
    return target.tagged()


@counted
def enumTagged():
    """Return the list of secondary callback data IDs (as a strings)"""
    # UuidToString: lower-case, hyphenated, no braces; every block in file order, repeats included
    return [str(blob.guid) for blob in _blobs()]


@counted
def loadTaggedBuffer(id):
    """Read the buffer of secondary callback data by ID"""
    if not isinstance(id, str) or not _UUID_STRING.match(id):
        # RPC UuidFromString takes exactly the bare 36-character form (braces are refused)
        raise DbgException("Call UuidFromString failed\nRPC_STATUS 0x%x" % RPC_S_INVALID_STRING_UUID)
    target = current_target()
    if target.is_live:
        raise hresult_error("IDebugDataSpaces4::ReadTagged", E_NOTIMPL)
    wanted = uuid.UUID(id)
    for blob in target.tagged():
        if blob.guid != wanted:
            continue
        # ReadTagged answers the FIRST block with this GUID (spec/dump-format.md §3.3)
        if blob.declared_size == 0:
            raise hresult_error("IDebugDataSpaces4::ReadTagged", E_INVALIDARG)
        if getattr(blob, "truncated", False):
            raise hresult_error("IDebugDataSpaces4::ReadTagged", ERROR_READ_FAULT)
        return list(target.read_blob(blob))
    raise hresult_error("IDebugDataSpaces4::ReadTagged", E_NOINTERFACE)


@counted
def dprint(str, dml=False):
    """Print out string. If dml = True string is printed with dml highlighting ( only for windbg )"""
    if dml and hasattr(sys.stdout, "writedml"):
        sys.stdout.writedml(str)
    else:
        sys.stdout.write(str)


@counted
def dprintln(str, dml=False):
    """Print out string and insert end of line symbol. If dml = True string is printed with dml highlighting ( only for windbg )"""
    text = str + "\n"
    if dml and hasattr(sys.stdout, "writedml"):
        sys.stdout.writedml(text)
    else:
        sys.stdout.write(text)


def _enumtag_guid(guid: uuid.UUID) -> str:
    # dbgeng prints the last two groups joined (spec/dbgeng-oracle.md): {XXXXXXXX-XXXX-XXXX-XXXXXXXXXXXXXXXX}
    text = str(guid).upper()
    return "{%s%s}" % (text[:23], text[24:])


# bytes `.enumtag` prints as "." (observed on the real 0.3.4.15 over every byte value): the C0
# controls except TAB, DEL, and 0x80 0x81 0x8D 0x8F 0x90 0x98 0x99 0x9D
_ENUMTAG_DOT = frozenset([b for b in range(0x20) if b != 0x09] + [0x7F, 0x80, 0x81, 0x8D, 0x8F, 0x90, 0x98, 0x99, 0x9D])


def _enumtag_text() -> str:
    target = current_target()
    if target.is_live:
        return ""
    lines = []
    firsts = {}  # type: Dict[uuid.UUID, Any]
    for blob in target.tagged():
        lines.append("%s - 0x%x bytes" % (_enumtag_guid(blob.guid), blob.declared_size))
        # each block's header, but the bytes dbgeng reads by GUID: a repeated GUID shows the FIRST
        # block's bytes again (observed on triage_arm64.dmp's repeats, spec/dump-format.md §3.3)
        first = firsts.setdefault(blob.guid, blob)
        data = b"" if blob.declared_size == 0 or first.declared_size == 0 else \
            target.read_blob(first)[:blob.declared_size]
        for pos in range(0, len(data), 16):
            chunk = data[pos:pos + 16]
            hex_part = " ".join("%02X" % b for b in chunk)
            # pykd hands dbgeng's text over as Latin-1 characters; which bytes dbgeng shows as "."
            # was read off the real one's output for all 256 values (_ENUMTAG_DOT)
            text = "".join("." if b in _ENUMTAG_DOT else chr(b) for b in chunk)
            lines.append("  %-47s  %s" % (hex_part, text))
    # no blank line between blocks (observed)
    return "\n".join(lines) + ("\n" if lines else "")


_DUMP_KIND = {1: "Full kernel dump", 2: "Kernel summary dump", 4: "Kernel triage dump",
              5: "Kernel bitmap dump", 6: "Kernel bitmap dump"}


def _system_line(system_id: int, system: System) -> str:
    target = system.target
    bits = "64-bit" if int(target.pointer_size) == 8 else "32-bit"
    # "." marks the current system, "#" the one of the last event (the dump loaded last) when it is
    # not current any more (observed after closeDump(id) of another system)
    mark = "." if system_id == state.current else "#" if system_id == state.event else " "
    if target.is_live:
        return "%s%3d %s Local kernel\n" % (mark, system_id, bits)
    kind = _DUMP_KIND.get(getattr(target, "dump_type", None), "Kernel dump")
    return "%s%3d %s %s: %s\n" % (mark, system_id, bits, kind, system.path or getattr(target, "name", ""))


def _systems_text() -> str:
    # every open system, by id (observed: ".  0 64-bit Full kernel dump: Z:\\...\\demo-x64.dmp")
    return "".join(_system_line(i, system) for i, system in sorted(state.systems.items()))


def _x_text(pattern: str) -> str:
    """`x [mod!]glob`: nothing found is no output (dbgCommand -> None); a module part without
    wildcards naming a module that is not loaded makes the command fail (observed)."""
    module, bang, _ = pattern.partition("!")
    if bang and module and not any(c in module for c in "*?[") and module.lower() not in loaded_modules():
        raise hresult_error("IDebugControl::ExecuteWide", DBG_E_EXECUTE)
    symbols = state.symbols
    if symbols is None or not bang:
        # without "mod!" x lists the current scope's locals - none in a dump without frames
        # (observed: `x g_Dmf*` prints nothing even with the driver's PDB loaded)
        return ""
    try:
        found = symbols.search(pattern)
    except (SymbolError, NotImplementedError, AttributeError):
        return ""
    return "".join("%s %s = <no type information>\n" % (hex_address(addr), name) for name, addr in found)


def _bugcheck_text() -> str:
    code, a1, a2, a3, a4 = bugCheckData.__wrapped__()
    return "Bugcheck code %08X\nArguments %s %s %s %s\n" % (code, hex_address(a1), hex_address(a2), hex_address(a3),
                                                            hex_address(a4))


def _run_command(command: str) -> str:
    text = command.strip()
    word, _, rest = text.partition(" ")
    rest = rest.strip()
    if text == "||":
        return _systems_text()
    if word == ".enumtag":
        return _enumtag_text()
    if word == "x":
        return _x_text(rest) if rest else ""
    if word == ".bugcheck":
        current_target()
        return _bugcheck_text()
    if word == ".echo":
        return rest + "\n"
    if word in ("as", "aS"):
        name, _, value = rest.partition(" ")
        value = value.strip()
        if word == "aS" and value.startswith('"') and value.count('"') >= 2:
            value = value[1:value.index('"', 1)]  # aS Name "Phrase": the phrase ends at its quote
        if name:
            state.aliases[name] = value
        return ""
    if word == "ad":
        for name in ([n for n in state.aliases] if rest in ("*", "/q *") else [rest]):
            state.aliases.pop(name, None)
        return ""
    if word == "al":
        # dbgeng's text, trailing blanks included (observed on the real one)
        if not state.aliases:
            return "No aliases\n"
        lines = ["  Alias            Value  ", " -------          ------- "]
        lines += [" %-16s %s " % (k, v) for k, v in state.aliases.items()]
        return "\n".join(lines) + "\n"
    raise hresult_error("IDebugControl::ExecuteWide", DBG_E_EXECUTE)


@counted
def dbgCommand(command, suppressOutput=True, outputMask=outputFlag.Normal):
    """Run a debugger's command and return it's result as a string"""
    if str(command).strip() == "||" and state.initialized:
        text = _systems_text()  # answers with no system open too (observed: None)
    else:
        current_target()
        text = _run_command(str(command))
    if not suppressOutput and text:
        sys.stdout.write(text)
    # pydbgeng.h debugCommand: an empty output comes back as None, not ""
    return text if text else None


def aliases() -> Dict[str, str]:
    """Aliases defined through dbgCommand("as ...") (test helper, not a pykd function)."""
    return dict(state.aliases)
