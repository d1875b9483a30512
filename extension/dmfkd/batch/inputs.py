"""Which files a batch reads: `PATH`, `GLOB` and `@LIST` arguments turned into one ordered list.

    PATH    a file is taken whatever its name; a folder is walked (sub-folders too, symbolic links to
            folders are not followed) for files named *.dmp in any case (MEMORY.DMP, LIVEDUMP.DMP ...)
    GLOB    a shell pattern (`**` crosses folders): the *.dmp files it matches, and the folders it matches
            walked as above
    @LIST   a text file with one PATH or GLOB a line (blank lines and lines starting with # skipped)

The order is the arguments' order; in a folder, its files by name, then its sub-folders by name. The same
arguments give the same order (and the same output) on every run and engine. A file reached twice (two arguments, a symbolic link)
is read once. A path that does not exist stays in the list: it becomes an error row, so a dump named in a
list is never silently lost.
"""
import glob
import os
from typing import List, Tuple

from dmfkd.errors import UsageError

#: a @LIST file larger than this is not a list of paths
MAX_LIST_BYTES = 64 * 1024 * 1024
_GLOB_CHARS = set("*?[")


def is_dump_name(name: str) -> bool:
    return name.lower().endswith(".dmp")


def _walk(folder: str) -> List[str]:
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        found.extend(os.path.join(root, name) for name in sorted(files) if is_dump_name(name))
    return found


def _read_list(spec: str) -> List[str]:
    path = spec[1:]
    if not path:
        raise UsageError("@LIST needs a file name after the @")
    try:
        size = os.path.getsize(path)
        if size > MAX_LIST_BYTES:
            raise UsageError("%s: %d bytes is too large for a list of dump paths" % (path, size))
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise UsageError("cannot read the list %s: %s" % (path, exc.strerror or exc))
    entries = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            if line.startswith("@"):
                raise UsageError("%s: a list cannot name another list (%s)" % (path, line))
            entries.append(line)
    return entries


def _expand(spec: str, warnings: List[str]) -> List[str]:
    if os.path.isdir(spec):
        files = _walk(spec)
        if not files:
            warnings.append("no *.dmp file under %s" % spec)
        return files
    if os.path.lexists(spec) or not (_GLOB_CHARS & set(spec)):
        return [spec]           # a file, or a missing path: the latter becomes an error row
    matches = sorted(glob.glob(spec, recursive=True))
    if not matches:
        warnings.append("nothing matches %s" % spec)
    found = []
    for match in matches:
        if os.path.isdir(match):
            found.extend(_walk(match))
        elif is_dump_name(os.path.basename(match)):
            found.append(match)
    return found


def discover(specs: List[str]) -> Tuple[List[str], List[str]]:
    """(absolute paths in batch order, warnings about arguments that found nothing)."""
    if not specs:
        raise UsageError("give the dumps to read: files, folders, shell patterns or @LIST")
    warnings = []  # type: List[str]
    paths, seen = [], set()
    for spec in specs:
        entries = _read_list(spec) if spec.startswith("@") else [spec]
        for entry in entries:
            for found in _expand(entry, warnings):
                absolute = os.path.abspath(found)
                try:
                    key = os.path.realpath(absolute)
                except (OSError, ValueError):
                    key = absolute
                if key not in seen:
                    seen.add(key)
                    paths.append(absolute)
    if not paths:
        raise UsageError("no dump found in %s%s" % (", ".join(specs), "; " + "; ".join(warnings) if warnings else ""))
    return paths, warnings
