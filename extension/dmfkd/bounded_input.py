"""Reading the files and options a user hands dmfkd, with every bound checked before it can bite.

Everything besides the dump's own bytes goes through here: the dump file's open, ISF JSON (plain,
.gz, .xz), --schema source files, numeric options. The rules (ARCHITECTURE.md "Rules of the house"):

* only a regular file is opened for reading: a FIFO, a device, a socket or a directory is one line.
  The path is stat()ed first and refused without an open() (opening a FIFO for reading blocks until
  a writer comes); what is opened is opened non-blocking and fstat()ed again, so a file swapped for a
  FIFO between the two still cannot hang the read;
* at most `limit` bytes are read, and a compressed file is inflated to at most `limit` bytes (a gzip
  of a few MB can inflate to GBs): one more byte than the limit is asked for, and its presence is the
  error - never a whole-file read first;
* JSON nests at most MAX_JSON_DEPTH levels and holds at most MAX_JSON_VALUES values - both measured on
  the text before json.loads, whose C scanner recurses once per level and spends 50-200 bytes per value
  (a 32 MiB text of `[],` would be 11 million lists, 700 MB) - and an integer literal has at most
  MAX_INT_DIGITS digits, checked by the parse_int hook before int() sees the digits (given to json.loads
  only when the text has such a run of digits at all; Python 3.9 has no
  int_max_str_digits; int() of 10^6 digits is quadratic there, and 3.11 raises a bare ValueError past
  4,300);
* a numeric option is parsed from a bounded number of digits and range-checked against what it can
  mean, as an argparse type, so a bad value is the usual one-line usage error.

Errors are FormatError (a file) or UsageError (an option): one line, exit status 2 on the CLI.
"""
import errno
import gzip
import itertools
import json
import lzma
import os
import re
import stat
import zlib
from typing import Any, Callable, Optional

from dmfkd.errors import FormatError, UsageError

#: nesting a JSON document may have (an ISF nests about 8 levels; json.loads recurses per level)
MAX_JSON_DEPTH = 100
#: values a JSON document may hold (an ISF spends 15-25 bytes of text per value: 2,000,000 values is a
#: 30-50 MB ISF of some 25,000 types, more than a driver has; a parsed document stays under ~150 MB at worst)
MAX_JSON_VALUES = 2000000
#: digits of one JSON integer (an ISF holds 64-bit values: 20 digits; 2^128 has 39)
MAX_INT_DIGITS = 40
#: digits of a numeric command-line option (2^64 has 20)
MAX_OPTION_DIGITS = 24

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _not_regular(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "something else"


def _strerror(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    return exc.strerror or str(exc) or type(exc).__name__


def open_regular(path: str):
    """`path` opened for binary reading, after making sure it is a regular file (see the module
    docstring); FormatError(path, ...) otherwise. The caller closes the returned file object."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise FormatError(path, "cannot open (%s)" % _strerror(exc))
    except ValueError:  # an embedded NUL in the path (an in-process caller's argv can hold one)
        raise FormatError(path, "cannot open (a NUL byte in the path)")
    if not stat.S_ISREG(mode):
        raise FormatError(path, "is %s, not a regular file" % _not_regular(mode))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FormatError(path, "cannot open (%s)" % _strerror(exc))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FormatError(path, "is %s, not a regular file" % _not_regular(mode))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_output(path: str, text: bool = False, encoding: str = "ascii"):
    """`path` created or truncated for writing (--out, --save), without blocking: an existing FIFO with no
    reader is one line (the open fails at once instead of waiting for a reader); a FIFO with a reader, a
    device or a regular file is written as usual. UsageError when it cannot be opened."""
    flags = (os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
             | getattr(os, "O_BINARY", 0))
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno == getattr(errno, "ENXIO", None):
            raise UsageError("cannot write %s: it is a FIFO (named pipe) nobody reads" % path)
        raise UsageError("cannot write %s: %s" % (path, _strerror(exc)))
    except ValueError:  # an embedded NUL in the path
        raise UsageError("cannot write %s: a NUL byte in the path" % path)
    try:
        if flags & getattr(os, "O_NONBLOCK", 0):
            import fcntl  # POSIX only, as O_NONBLOCK is: writes block normally again

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        if text:
            return os.fdopen(fd, "w", encoding=encoding, errors="backslashreplace", newline="")
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(handle, limit: int, path: str, what: str) -> bytes:
    """At most `limit` bytes of an open (possibly decompressing) stream; FormatError when it has more."""
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise FormatError(path, "%s larger than %d MiB: refused" % (what, limit >> 20) if limit >= 1 << 20
                          else "%s larger than %d bytes: refused" % (what, limit))
    return data


def read_file(path: str, limit: int, what: str = "file", compression: Optional[str] = None) -> bytes:
    """The bytes of a regular file, at most `limit` of them - after decompression when `compression` is
    "gzip" or "xz" (the compressed bytes are bounded by the same limit)."""
    handle = open_regular(path)
    try:
        if compression is None:
            return read_limited(handle, limit, path, what)
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise FormatError(path, "compressed %s larger than %d MiB: refused" % (what, limit >> 20))
        stream = gzip.GzipFile(fileobj=handle, mode="rb") if compression == "gzip" else lzma.LZMAFile(handle, "rb")
        with stream:
            return read_limited(stream, limit, path, "%s (decompressed)" % what)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise FormatError(path, "cannot read %s (%s)" % (what, exc))
    finally:
        handle.close()


def compression_of(path: str) -> Optional[str]:
    """"gzip" / "xz" by the file's extension (as volatility3 names its ISF files), else None."""
    lower = path.lower()
    if lower.endswith(".gz"):
        return "gzip"
    if lower.endswith(".xz"):
        return "xz"
    return None


# -- JSON ------------------------------------------------------------------------------------------------

#: every byte but a quote and the JSON structure ([ ] { } ,): deleted by bytes.translate, at memchr speed
_NOT_STRUCTURE_OR_QUOTE = bytes(sorted(set(range(256)) - set(b'"[]{},')))
#: a string literal once everything but quotes and structure is gone: only structure can be left inside
_REDUCED_STRING = re.compile(rb'"[^"]*"')
#: digits stay, every other byte becomes a space: a run of too many digits is then one bytes.find
_DIGITS_ONLY = bytes((0x30 if 0x30 <= byte <= 0x39 else 0x20) for byte in range(256))
#: [ and { become (, ] and } become ): depth does not care which kind a bracket is
_ONE_KIND = bytes.maketrans(b"[{]}", b"(())")
_STEP = {0x28: 1, 0x29: -1}
_CHUNK = 1 << 16


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _structure(raw: bytes) -> bytes:
    """The structure characters ([ ] { } ,) of a JSON text that lie outside its string literals, found
    with a few whole-text passes at C speed (a regex over every string of a 20 MB ISF took longer than
    json.loads itself). Escaped backslashes, then escaped quotes, are dropped first (left to right, as
    JSON reads them), so every quote left opens or closes a string; once everything but quotes and
    structure is gone, an adjacent pair of quotes has nothing outside strings between them (an empty
    string, or the end of one and the start of the next) and is dropped at memchr speed; what is left
    are the few strings holding a structure character. Text outside strings is only ever JSON that
    json.loads also reads, up to the first error it stops at, so for what it would build the counts are
    exact."""
    reduced = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE_OR_QUOTE)
    reduced = reduced.replace(b'""', b"")
    if b'"' in reduced:
        reduced = _REDUCED_STRING.sub(b"", reduced).translate(None, b'"')
    return reduced


def _shape(structure: bytes, nonblank: bool, depth_limit: Optional[int], value_limit: Optional[int]):
    if not structure:
        return 0, 1 if nonblank else 0
    # each container holds one more value than its commas (an empty one none: counted anyway, so this is
    # an upper bound, at most twice the true count), and the document itself is one
    values = 1 + structure.count(b",") + structure.count(b"[") + structure.count(b"{")
    if value_limit is not None and values > value_limit:
        return 0, values
    return _depth(structure.translate(None, b","), depth_limit), values


def json_shape(text: str, depth_limit: Optional[int] = None, value_limit: Optional[int] = None):
    """(deepest nesting of [ and {, number of values) of a JSON text, both counted outside string
    literals at C speed - no per-character Python loop, no recursion. Unbalanced text still gets numbers
    (json.loads reports the syntax error afterwards; a depth here is then an upper bound). With
    `depth_limit`, the depth is only measured up to one past it; past `value_limit` values it is not
    measured at all (0): the count alone refuses the text."""
    raw = _utf8(text)
    return _shape(_structure(raw), bool(raw.strip()), depth_limit, value_limit)


def _has_long_digit_run(raw: bytes) -> bool:
    """Whether any run of digits - in a number or in a string - is longer than an integer may be. Only
    then does json.loads get the integer hook, which costs a Python call per integer."""
    return raw.translate(_DIGITS_ONLY).find(b"0" * (MAX_INT_DIGITS + 1)) >= 0


def _depth(brackets: bytes, limit: Optional[int]) -> int:
    """Each pass removes every innermost pair (an opener followed by a closer of either kind: a
    mismatched pair is one json.loads refuses) with one bytes.replace over the text as it was - which
    never removes a pair that the removal itself brings together, so a pass is exactly one level: the
    passes a balanced text takes are its depth. What stays unbalanced is measured by a running sum,
    chunk by chunk, stopping once past the limit."""
    brackets = brackets.translate(_ONE_KIND)
    depth = 0
    while b"()" in brackets:
        brackets = brackets.replace(b"()", b"")
        depth += 1
        if limit is not None and depth > limit:
            return depth
    level = deepest = 0
    for start in range(0, len(brackets), _CHUNK):
        sums = list(itertools.accumulate(map(_STEP.__getitem__, brackets[start:start + _CHUNK]), initial=level))
        deepest, level = max(deepest, max(sums)), sums[-1]
        if limit is not None and depth + deepest > limit:
            break
    return depth + deepest


def json_depth(text: str) -> int:
    return json_shape(text)[0]


class _JsonBound(ValueError):
    """Raised from inside json.loads by the integer hook."""


def _bounded_int(digits: str) -> int:
    if len(digits) - digits.startswith("-") > MAX_INT_DIGITS:
        raise _JsonBound("an integer of %d digits (at most %d)" % (len(digits), MAX_INT_DIGITS))
    return int(digits)


def parse_json(text: str, source: str, what: str = "JSON") -> Any:
    """json.loads with the depth and integer bounds of the module docstring; FormatError(source, ...)."""
    raw = _utf8(text)
    depth, values = _shape(_structure(raw), bool(raw.strip()), MAX_JSON_DEPTH, MAX_JSON_VALUES)
    if values > MAX_JSON_VALUES:
        raise FormatError(source, "%s holds more than %d values (%d): refused" % (what, MAX_JSON_VALUES, values))
    if depth > MAX_JSON_DEPTH:
        raise FormatError(source, "%s nests deeper than %d levels: refused" % (what, MAX_JSON_DEPTH))
    try:
        # the hook only where a long enough run of digits is in the text at all (it costs a call per integer)
        return json.loads(text, parse_int=_bounded_int if _has_long_digit_run(raw) else None)
    except _JsonBound as exc:
        raise FormatError(source, "%s holds %s: refused" % (what, exc))
    except json.JSONDecodeError as exc:
        raise FormatError(source, "not JSON (%s at line %d column %d)" % (exc.msg, exc.lineno, exc.colno), exc.pos)
    except (RecursionError, MemoryError, ValueError) as exc:  # belt and braces: bounded above
        raise FormatError(source, "cannot parse %s (%s)" % (what, type(exc).__name__))


def read_json(path: str, limit: int, what: str = "JSON") -> Any:
    """A bounded JSON file (plain, .gz or .xz by extension), UTF-8 (a BOM is tolerated)."""
    raw = read_file(path, limit, what, compression_of(path))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(path, "%s is not UTF-8 (%s)" % (what, exc.reason), exc.start)
    return parse_json(text, path, what)


# -- numeric options ---------------------------------------------------------------------------------------

def option_int(text: str, name: str, minimum: int, maximum: int) -> int:
    """A numeric option's value: decimal or 0x-hex, at most MAX_OPTION_DIGITS digits, in
    [minimum, maximum]; UsageError naming the option otherwise."""
    cleaned = text.strip()
    body = cleaned[1:] if cleaned[:1] in ("+", "-") else cleaned
    hexadecimal = body[:2].lower() == "0x"
    digits = body[2:] if hexadecimal else body
    allowed = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
    if not digits or len(digits) > MAX_OPTION_DIGITS or any(c not in allowed for c in digits):
        raise UsageError("%s: %r is not a number of at most %d digits" % (name, text[:40], MAX_OPTION_DIGITS))
    value = int(digits, 16 if hexadecimal else 10)
    if cleaned.startswith("-"):
        value = -value
    if not minimum <= value <= maximum:
        raise UsageError("%s must be between %d and %d (got %s)" % (name, minimum, maximum, cleaned))
    return value


def int_option(name: str, minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse `type=` for a bounded integer option; its error is the option's one-line usage error."""
    def parse(text: str) -> int:
        return option_int(text, name, minimum, maximum)
    parse.__name__ = "integer"  # argparse names the type in its own messages
    return parse
