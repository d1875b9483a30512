"""Typed cells: what a value IS, so each renderer can decide how it LOOKS (volatility3's format hints).

Readers and commands put these in rows and documents; they never format numbers themselves.

    Hex(0x1234)              an address, handle or code: "0x1234" in a table, 4660 in JSON/CSV
    Unreadable("why")        a value the target could not give: "unreadable" everywhere, the reason kept
    Link(text, command)      a DML link inside WinDbg, plain text elsewhere; JSON keeps the text's value
    FileTime(filetime)       a Windows FILETIME: ISO-8601 UTC in a table, the raw integer in JSON
    Seconds(1.5)             a time difference: "1.500s" in a table, 1.5 in JSON
    EnumValue(value, name)   an enum's value with its name: the name in a table, the value in JSON
    Flag(bool)               "yes"/"no" in a table, true/false in JSON

Hex, FileTime and EnumValue are int subclasses and Unreadable a str subclass, so code that compares or
does arithmetic on a value keeps working whatever the cell type.
"""
import datetime
from typing import Any, Optional

FILETIME_EPOCH = datetime.datetime(1601, 1, 1)
_EMPTY = ""


class Hex(int):
    """An integer best read in hexadecimal (addresses, handles, codes, offsets)."""

    def __new__(cls, value: int, width: int = 0):
        self = int.__new__(cls, value)
        self.width = width
        return self

    def text(self) -> str:
        if self < 0:
            return "-0x%x" % -int(self)
        return "0x%0*x" % (self.width, int(self))

    def __repr__(self) -> str:
        return "Hex(%s)" % self.text()


class Unreadable(str):
    """A value the target could not give (not in the dump, paged out, corrupt); `reason` says why."""

    def __new__(cls, reason: Optional[str] = None):
        self = str.__new__(cls, "unreadable")
        self.reason = reason
        return self

    def __repr__(self) -> str:
        return "Unreadable(%r)" % (self.reason,)


#: the reason-less unreadable value readers use as a sentinel (== "unreadable" like the old string)
UNREADABLE = Unreadable()


class Link:
    """A cell that is a DML link inside WinDbg and plain text everywhere else."""

    __slots__ = ("text", "cmd")

    def __init__(self, text, cmd: str):
        self.text = text
        self.cmd = cmd

    def __str__(self) -> str:
        return display(self.text)

    def __repr__(self) -> str:
        return "Link(%r, %r)" % (self.text, self.cmd)

    def __eq__(self, other) -> bool:
        return isinstance(other, Link) and (self.text, self.cmd) == (other.text, other.cmd)

    def __hash__(self) -> int:
        return hash((Link, self.cmd))


class FileTime(int):
    """A Windows FILETIME (100 ns ticks since 1601-01-01 UTC)."""

    def datetime(self) -> Optional[datetime.datetime]:
        if self <= 0:
            return None
        try:
            return FILETIME_EPOCH + datetime.timedelta(microseconds=int(self) // 10)
        except OverflowError:
            return None

    def text(self) -> str:
        when = self.datetime()
        if when is None:
            return "0x%x (not a date)" % int(self) if self else "-"
        return when.strftime("%Y-%m-%d %H:%M:%S.") + "%03dZ" % (when.microsecond // 1000)

    def iso(self) -> Optional[str]:
        when = self.datetime()
        return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (when.microsecond // 1000)

    def __repr__(self) -> str:
        return "FileTime(%d)" % int(self)


class EnumValue(int):
    """An enum constant: its value, and its name when the symbols know it."""

    def __new__(cls, value: int, name: Optional[str] = None):
        self = int.__new__(cls, value)
        self.name = name
        return self

    def text(self) -> str:
        return self.name if self.name else str(int(self))

    def __repr__(self) -> str:
        return "EnumValue(%d, %r)" % (int(self), self.name)


class Seconds(float):
    """A time difference in seconds: "0.217s", "3m05.000s", "-2h04m", "1d03h" in a table, the float in JSON."""

    def text(self) -> str:
        value = float(self)
        sign = "-" if value < 0 else ""
        left = abs(value)
        if left < 60:
            return "%s%.3fs" % (sign, left)
        if left < 3600:
            return "%s%dm%06.3fs" % (sign, left // 60, left % 60)
        if left < 86400:
            return "%s%dh%02dm" % (sign, left // 3600, left % 3600 // 60)
        return "%s%dd%02dh" % (sign, left // 86400, left % 86400 // 3600)

    def __repr__(self) -> str:
        return "Seconds(%r)" % float(self)


class Flag:
    """A yes/no fact."""

    __slots__ = ("value",)

    def __init__(self, value: bool):
        self.value = bool(value)

    def __bool__(self) -> bool:
        return self.value

    def __eq__(self, other) -> bool:
        return bool(other) == self.value if isinstance(other, (bool, Flag)) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return "Flag(%r)" % self.value


def display(value: Any) -> str:
    """How a value reads in a text table (and in DML, before escaping)."""
    if value is None:
        return _EMPTY
    if isinstance(value, (Hex, FileTime, EnumValue, Seconds)):
        return value.text()
    if isinstance(value, Link):
        return display(value.text)
    if isinstance(value, Flag):
        return "yes" if value.value else "no"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return str(value)


def plain(value: Any) -> Any:
    """The machine value of a cell for JSON / CSV: ints stay ints, text stays text."""
    if isinstance(value, Link):
        return plain(value.text)
    if isinstance(value, (Hex, FileTime, EnumValue)):
        return int(value)
    if isinstance(value, Seconds):
        return round(float(value), 7)
    if isinstance(value, Unreadable):
        return "unreadable"
    if isinstance(value, Flag):
        return value.value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return value
