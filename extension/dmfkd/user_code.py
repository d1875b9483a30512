"""Running a user's Python file (`--schema FILE.py:NAME`) so that whatever it does stays one line.

The file is user code: dmfkd runs it, as the --help says. It can raise anything (SystemExit included),
loop, or hand back objects whose methods do either. What dmfkd guarantees around it:

* loading - reading the source (a regular file, at most MAX_SCHEMA_BYTES), compiling and running it,
  looking NAME up and asking the object for its size and fields - happens in a daemon worker thread
  that the caller waits for at most IMPORT_SECONDS. The caller always gets control back: on any host
  (WinDbg's embedded Python has no SIGALRM, and a signal handler only runs on the main thread) and
  whatever the file does, a blocking call included. A worker still running at the deadline is sent an
  asynchronous exception (CPython's PyThreadState_SetAsyncExc), which stops a Python-level loop; being
  a daemon, it never keeps the process alive;
* decoding a record runs on the caller's thread (a worker per record would double the cost of a
  million-record ring) under a Watchdog: a record that takes longer than RECORD_SECONDS gets the same
  asynchronous exception, which ends a Python-level loop in an adapter (a call blocked inside C code
  ends when that call returns);
* every exception out of user code except KeyboardInterrupt (Ctrl-C stays Ctrl-C: exit 130) becomes a
  SchemaError naming the file, the schema and - when decoding - the record index: one line, exit 2.
  Even the text of the exception is computed under the guard (its __str__ is user code too).
"""
import itertools
import sys
import threading
import time
from typing import Any, Callable, Optional

from dmfkd import bounded_input
from dmfkd.errors import DmfkdError, UsageError
from dmfkd.render.cells import EnumValue

#: how long loading a schema file may take
IMPORT_SECONDS = 10.0
#: how long decoding one record may take
RECORD_SECONDS = 5.0
#: the largest schema source file read
MAX_SCHEMA_BYTES = 4 * 1024 * 1024
#: how often the watchdog looks, and how long it idles before its thread ends
_POLL_SECONDS = 0.05
_IDLE_SECONDS = 2.0
_TEXT_LIMIT = 200


class SchemaError(UsageError):
    """Something a --schema file did: one line naming the file, the schema and the record."""


class SchemaOutOfMemory(SchemaError):
    """A --schema ran out of memory decoding a record: the machine's or a batch worker's limit speaking
    (a batch makes it that dump's `memory` row, not an options error)."""


class UserCodeTimeout(BaseException):
    """Raised asynchronously into a thread running user code past its deadline (a BaseException, so
    that the user's own `except Exception` cannot swallow it)."""


def _set_async_exception(thread_id: int, exception) -> bool:
    """Raise `exception` in the thread `thread_id` at its next bytecode (None: clear a pending one).
    False where the interpreter cannot (not CPython)."""
    try:
        import ctypes

        set_async = ctypes.pythonapi.PyThreadState_SetAsyncExc
    except (ImportError, AttributeError):
        return False
    # no argtypes: None must reach C as NULL (clear), not as the None object
    try:
        return set_async(ctypes.c_ulong(thread_id),
                         None if exception is None else ctypes.py_object(exception)) == 1
    except (ctypes.ArgumentError, OverflowError, SystemError):  # pragma: no cover - defensive
        return False


def safe_text(value: Any, limit: int = _TEXT_LIMIT) -> str:
    """str(value) as an exact, single-line, bounded str; "<unprintable>" when str() itself fails.
    Call it where user code is guarded: value.__str__ may be the user's."""
    try:
        text = str.__str__(str(value))
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: B902 - the user's __str__ may raise anything
        return "<unprintable %s>" % type_name(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def type_name(value: Any) -> str:
    """The class name of `value`, read from the type itself (a metaclass cannot fake it)."""
    try:
        name = type.__dict__["__name__"].__get__(type(value))
        return str.__str__(name)
    except Exception:  # pragma: no cover - type.__name__ is always a str
        return "object"


def describe(exc: BaseException) -> str:
    """`Type: text` of an exception raised by user code (SystemExit(7) -> "SystemExit: 7")."""
    text = safe_text(exc)
    return "%s: %s" % (type_name(exc), text) if text else type_name(exc)


# -- loading ------------------------------------------------------------------------------------------

def run_in_worker(work: Callable[[], Any], seconds: float, on_timeout: Callable[[], BaseException]) -> Any:
    """work() in a daemon thread; its result, or the BaseException it raised re-raised here (with
    KeyboardInterrupt kept as such), or on_timeout() raised when it runs past `seconds`."""
    box = {}

    def body():
        try:
            box["result"] = work()
        except BaseException as exc:  # noqa: B902 - everything crosses back to the caller
            box["error"] = exc

    worker = threading.Thread(target=body, name="dmfkd-user-code", daemon=True)
    worker.start()
    try:
        worker.join(seconds)
    except BaseException:
        # Ctrl-C (or any error) while waiting: stop the worker's Python code, then let it propagate
        _set_async_exception(worker.ident, UserCodeTimeout)
        raise
    if worker.is_alive():
        _set_async_exception(worker.ident, UserCodeTimeout)
        raise on_timeout()
    if "error" in box:
        raise box["error"]
    return box["result"]


class LoadedSchema:
    """What a schema file defines under NAME, asked once under the guard: the object, its fixed size
    (None: variable) and the names of its fields (exact strs)."""

    def __init__(self, struct, size: Optional[int], columns):
        self.struct = struct
        self.size = size
        self.columns = columns


def load_schema(path: str, name: str, spec: str) -> LoadedSchema:
    """Run the schema file `path` (see the module docstring) and return what NAME is; SchemaError."""
    source = read_source(path, spec)

    def work() -> LoadedSchema:
        try:
            code = compile(source, path, "exec", dont_inherit=True)
            namespace = {"__name__": "__dmfkd_schema__", "__file__": path, "__builtins__": __builtins__}
            exec(code, namespace)  # noqa: S102 - the user's own file, run as the --help says
            return _inspect(namespace, path, name, spec)
        except (SchemaError, UserCodeTimeout, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: B902 - SystemExit, SyntaxError, anything
            raise SchemaError("--schema %s: loading %s raised %s" % (spec, path, describe(exc)))

    return run_in_worker(work, IMPORT_SECONDS, lambda: SchemaError(
        "--schema %s: %s did not finish loading within %g s (a loop or a wait at import?)"
        % (spec, path, IMPORT_SECONDS)))


def read_source(path: str, spec: str) -> bytes:
    try:
        return bounded_input.read_file(path, MAX_SCHEMA_BYTES, "schema file")
    except DmfkdError as exc:
        raise SchemaError("--schema %s: %s" % (spec, str(exc).splitlines()[0]))


def _inspect(namespace, path: str, name: str, spec: str) -> LoadedSchema:
    struct = namespace.get(name)
    if struct is None or not callable(getattr(struct, "parse", None)):
        raise SchemaError("--schema %s: %s defines no construct %r" % (spec, path, name))
    try:
        size = struct.sizeof()
    except Exception:  # a variable-size construct has no fixed size: any record size goes
        size = None
    if type(size) is not int or size < 0:
        size = None
    columns = []
    for sub in itertools.islice(getattr(struct, "subcons", None) or (), 1024):  # never list() a user iterable
        field = getattr(sub, "name", None)
        if isinstance(field, str) and field and not field.startswith("_"):
            columns.append(safe_text(field, 128))
    return LoadedSchema(struct, size, columns)


# -- decoding --------------------------------------------------------------------------------------------

class Watchdog:
    """Bounds how long one call into user code on the current thread may run (see the module docstring).

        dog.arm(); try: ... finally: late = dog.disarm()

    A call past `seconds` gets UserCodeTimeout raised inside it - again after each further `seconds`
    while it still runs: one that lands in a finaliser or a weakref callback cannot propagate (Python
    reports it as unraisable and drops it; that report is kept off stderr) and the loop would go on.
    (A loop that spends nearly all its time in finalisers may take many tries.) disarm() clears
    one that was sent but not yet raised and returns True when the watchdog fired, so the caller
    reports a timeout either way. The watchdog's thread starts on the first arm() and ends after
    _IDLE_SECONDS without one."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._armed_at = None  # type: Optional[float]
        self._thread_id = None  # type: Optional[int]
        self._fired = False
        self._running = False

    def arm(self) -> None:
        _quiet_dropped_timeouts()
        with self._lock:
            self._armed_at = time.monotonic()
            self._thread_id = threading.get_ident()
            self._fired = False
            if not self._running:
                self._running = True
                threading.Thread(target=self._watch, name="dmfkd-watchdog", daemon=True).start()

    def disarm(self) -> bool:
        with self._lock:
            fired = self._fired
            self._armed_at = None
            self._fired = False
            if fired:
                _set_async_exception(self._thread_id, None)
        return fired

    def _watch(self) -> None:
        idle_since = time.monotonic()
        while True:
            time.sleep(_POLL_SECONDS)
            now = time.monotonic()
            with self._lock:
                if self._armed_at is None:
                    if now - idle_since > _IDLE_SECONDS:
                        self._running = False
                        return
                    continue
                idle_since = now
                if now - self._armed_at > self.seconds:
                    if _set_async_exception(self._thread_id, UserCodeTimeout):
                        self._fired = True
                    self._armed_at = now  # the next try after another `seconds`, should this one be dropped


def _quiet_dropped_timeouts() -> None:
    """A UserCodeTimeout that landed where Python cannot raise it (a finaliser, a weakref callback) is
    dropped with an "Exception ignored" report on stderr: keep that report off the one-line output (the
    watchdog sends the timeout again). Every other unraisable exception still goes to the hook there was.
    (Sending it again from the hook itself would not do: the hook is Python code, the exception would be
    raised - and dropped - inside it.)"""
    hook = getattr(sys, "unraisablehook", None)
    if hook is None or getattr(hook, "dmfkd_filter", False):
        return

    def filtered(unraisable, previous=hook):
        if not isinstance(getattr(unraisable, "exc_value", None), UserCodeTimeout):
            previous(unraisable)
    filtered.dmfkd_filter = True
    sys.unraisablehook = filtered


# -- what user code returns -------------------------------------------------------------------------------

#: bounds on one record's decoded value: nesting, values (containers + leaves), text, integer size. The
#: values and the text also scale with the record: a 64-byte record has no business decoding to more
#: than 64 + 8 * 64 values (a value per bit) or 4096 + 64 * 64 characters, so a ring's decoded records
#: stay proportional to its bytes, whatever the schema returns.
MAX_VALUE_DEPTH = 32
MAX_VALUE_NODES = 100000
MAX_TEXT_CHARS = 65536
MAX_INT_BITS = 4096
CYCLE = "<cycle>"
TOO_DEEP = "<too deep>"
TOO_MANY = "<more values than shown>"


class _Budget(object):
    __slots__ = ("values", "chars")

    def __init__(self, values: int, chars: int):
        self.values = values
        self.chars = chars


def plain_result(value: Any, record_size: Optional[int] = None) -> Any:
    """What a schema's parse returned (construct Containers/ListContainers, bytes, UUIDs, anything the
    user's adapters made) as exact built-in JSON-ready values: dict (str keys), list, str, int, float,
    bool, None - and a construct Enum's value as an EnumValue (its number and its name). Bounded (see
    above): nesting, values and text (per record of `record_size` bytes), integer
    size (a larger one becomes its hex text); a container met again on its own path is CYCLE. Nothing
    returned keeps a user type, so rendering it later runs no user code. Call it under the guard."""
    if record_size is None:
        budget = _Budget(MAX_VALUE_NODES, MAX_TEXT_CHARS)
    else:
        budget = _Budget(min(MAX_VALUE_NODES, 64 + 8 * record_size), min(1 << 20, 4096 + 64 * record_size))
    return _plain(value, 0, (), budget)


def _text(value: str, budget: _Budget) -> str:
    text = str.__str__(value)
    limit = max(0, min(MAX_TEXT_CHARS, budget.chars))
    budget.chars -= min(len(text), limit)
    return text if len(text) <= limit else text[:limit] + "..."


def _plain(value: Any, depth: int, path: tuple, budget: _Budget) -> Any:
    budget.values -= 1
    if budget.values < 0:
        return TOO_MANY
    if value is None or value is True or value is False:
        return value
    if isinstance(value, int):
        number = int.__add__(value, 0)  # the exact int, without the subclass's own methods
        if number.bit_length() > MAX_INT_BITS:
            return _text(("-0x%x" if number < 0 else "0x%x") % abs(number), budget)
        return number
    if isinstance(value, float):
        number = float.__add__(value, 0.0)
        return number if number == number else None  # NaN is not JSON
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _text(bytes(value[:max(0, min(MAX_TEXT_CHARS, budget.chars)) // 2 + 1]).hex(), budget)
    if isinstance(value, str):
        number = getattr(value, "int", None)
        if type(number) is int:  # construct's EnumIntegerString: the constant's name, with its number
            return EnumValue(number, _text(value, budget))
        return _text(value, budget)
    if isinstance(value, dict):
        if id(value) in path:
            return CYCLE
        if depth >= MAX_VALUE_DEPTH:
            return TOO_DEEP
        inner = path + (id(value),)
        out = {}
        for key, item in value.items():
            if budget.values <= 0:
                out[TOO_MANY] = True
                break
            name = _strict_text(key, 256)
            if not name.startswith("_"):  # construct's private keys (_io, ...)
                out[name] = _plain(item, depth + 1, inner, budget)
        return out
    if isinstance(value, (list, tuple)):
        if id(value) in path:
            return CYCLE
        if depth >= MAX_VALUE_DEPTH:
            return TOO_DEEP
        inner = path + (id(value),)
        out = []
        for item in value:
            if budget.values <= 0:
                out.append(TOO_MANY)
                break
            out.append(_plain(item, depth + 1, inner, budget))
        return out
    return _text(_strict_text(value, MAX_TEXT_CHARS), budget)


def _strict_text(value: Any, limit: int) -> str:
    """str(value), exact and bounded; what the user's __str__ raises propagates (it is a decode error)."""
    text = str.__str__(str(value))
    return text if len(text) <= limit else text[:limit] + "..."
