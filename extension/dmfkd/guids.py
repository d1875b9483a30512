"""GUID text and byte forms used across dmfkd.

Windows stores a GUID as Data1 (LE u32), Data2 (LE u16), Data3 (LE u16), Data4[8] = Python's
``uuid.UUID(bytes_le=...)`` (spec/dump-format.md §3.1). dmfkd prints GUIDs lower-case without
braces (the form pykd's enumTagged returns, spec/pykd.md §5) and accepts them with or without
braces, in any case.
"""
import re
import uuid

from dmfkd.errors import UsageError

_GUID_RE = re.compile(
    r"^\{?([0-9a-fA-F]{8})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{12})\}?$"
)

ZERO_GUID = uuid.UUID(int=0)


def parse_guid(text) -> uuid.UUID:
    """Accept a uuid.UUID or text like '{F4A58486-FD91-4BF9-96BC-DDA5CF571EDF}' (braces optional, any case)."""
    if isinstance(text, uuid.UUID):
        return text
    match = _GUID_RE.match(str(text).strip())
    if not match or (str(text).strip().startswith("{") != str(text).strip().endswith("}")):
        raise UsageError("not a GUID: %r (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)" % (text,))
    return uuid.UUID("".join(match.groups()))


def guid_text(guid: uuid.UUID) -> str:
    """Lower-case, hyphenated, no braces: the form of pykd.enumTagged() and of dmfkd's JSON."""
    return str(guid)


def guid_from_le(raw: bytes) -> uuid.UUID:
    return uuid.UUID(bytes_le=bytes(raw))


def guid_to_le(guid: uuid.UUID) -> bytes:
    return guid.bytes_le


def crashdump_key(guid: uuid.UUID) -> bytes:
    """DMF_CrashDump's XOR key for a data source (spec/dmf.md §2.7, §2.11): upper-case hex of
    Data1 (8 digits), Data2 (4), Data3 (4), Data4[0..7] (2 each) formatted from the numeric
    field values, i.e. the canonical GUID text without braces and hyphens - 32 ASCII bytes."""
    return guid.hex.upper().encode("ascii")
