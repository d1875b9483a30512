"""The project's exceptions. Every error a user can cause derives from DmfkdError and carries a
one-line message; the CLI prints it as `dmfkd: <message>` and exits with status 2."""
from typing import Optional


class DmfkdError(Exception):
    """Base of every error dmfkd reports to the user (one line, no traceback)."""

    def __str__(self) -> str:
        # one line whatever went into it: a path, a name or an option value the user (or a hostile file)
        # supplied may hold a newline or a terminal control character; they read as \xNN
        text = super().__str__()
        if text.isprintable():
            return text
        return "".join(c if c.isprintable() else "\\x%02x" % ord(c) if ord(c) < 0x100 else "\\u%04x" % ord(c)
                       for c in text)


class UsageError(DmfkdError):
    """Wrong or contradictory command-line options."""


class FormatError(DmfkdError):
    """A file or structure is not what it claims to be (bad signature, size past EOF, ...)."""

    def __init__(self, source: str, what: str, offset: Optional[int] = None):
        self.source = source
        self.what = what
        self.offset = offset
        where = "" if offset is None else " at offset 0x%x" % offset
        super().__init__("%s: %s%s" % (source, what, where))


class MemoryReadError(DmfkdError):
    """A target read that cannot be satisfied (not in the dump, paged out, unmapped)."""

    def __init__(self, address: int, size: int = 0, physical: bool = False, reason: str = ""):
        self.address = address
        self.size = size
        self.physical = physical
        self.reason = reason
        kind = "physical" if physical else "virtual"
        text = "cannot read %d bytes at %s address 0x%x" % (size, kind, address)
        if reason:
            text += " (%s)" % reason
        super().__init__(text)


class TagNotFoundError(DmfkdError):
    """No secondary-data blob carries the requested GUID."""


class SymbolError(DmfkdError):
    """A symbol or type is unknown to the target's symbol source."""


class LayoutError(DmfkdError):
    """A DMF structure has a size/version dmfkd does not know; said plainly, never guessed."""


class OutputError(DmfkdError):
    """The output could not be written (a full disk, a closed terminal)."""
