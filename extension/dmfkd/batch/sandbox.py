"""Worker processes that read dumps under a time and a memory limit.

A dump is read in a child process (`python -m dmfkd.batch.sandbox`), never in the process that writes
the output: whatever a hostile dump or a user's schema does there - loop forever, eat memory, crash the
interpreter - the parent sees a result, a missed deadline (it kills the child: a `timeout` row) or the
child's end (a `worker-died` row), starts a fresh child and goes on.

* Memory: the child limits its own address space with resource.setrlimit(RLIMIT_AS) on Linux, so a
  runaway allocation raises MemoryError (a `memory` row) instead of waking the OOM killer. Other OSes
  (macOS does not enforce RLIMIT_AS; Windows has no rlimits) run without a memory limit, and the batch
  says so once; the time limit still holds there.
* Time: the parent keeps a deadline per dump and kills the child that misses it.

A child is a plain subprocess, not a multiprocessing one, so it also works inside Dask's worker processes
(daemonic processes may not have multiprocessing children) and on every OS. Parent and child speak in
frames over the child's stdin/stdout: an 8-byte length, then a pickle of plain data only (dicts, lists,
str, int ...), unpickled with a loader that refuses every class, and no frame larger than MAX_FRAME.
"""
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from typing import Any, Dict, Optional

#: the largest frame either side accepts (a dump's rows; the memory limit keeps real ones far smaller)
MAX_FRAME = 1 << 30
_LENGTH = struct.Struct(">Q")


class FrameError(Exception):
    """A frame that is not one (too large, not plain data): the other side is not a sandbox."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):  # only built-in containers and scalars ever cross
        raise FrameError("refusing to load %s.%s from a worker" % (module, name))


def write_frame(stream, message: Any) -> None:
    payload = pickle.dumps(message, protocol=4)
    stream.write(_LENGTH.pack(len(payload)) + payload)
    stream.flush()


def _read_exact(stream, size: int) -> Optional[bytes]:
    parts, left = [], size
    while left:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_frame(stream) -> Any:
    """The next message, or None at the end of the stream."""
    head = _read_exact(stream, _LENGTH.size)
    if head is None:
        return None
    (size,) = _LENGTH.unpack(head)
    if size > MAX_FRAME:
        raise FrameError("a frame of %d bytes is larger than %d" % (size, MAX_FRAME))
    payload = _read_exact(stream, size)
    if payload is None:
        return None
    import io

    return _PlainUnpickler(io.BytesIO(payload)).load()


def memory_limit_supported() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import resource  # noqa: F401
    except ImportError:
        return False
    return True


def _limit_memory(limit: int) -> None:
    if limit and memory_limit_supported():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def exit_text(returncode: Optional[int]) -> str:
    if returncode is None:
        return "it stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "signal %d" % -returncode
        return "killed by %s" % name
    return "exit status %d" % returncode


def died_result(path: str, returncode: Optional[int]) -> Dict[str, Any]:
    return error_result(path, "the worker process reading this dump died (%s)" % exit_text(returncode),
                        "worker-died")


def timeout_result(path: str, seconds: float) -> Dict[str, Any]:
    return error_result(path, "reading this dump took longer than %g s (--timeout): stopped" % seconds, "timeout")


def error_result(path: str, text: str, kind: str) -> Dict[str, Any]:
    from dmfkd.batch.columns import empty_summary

    summary = empty_summary()
    summary.update(path=path, error=text, error_kind=kind, records=0)
    return {"skipped": False, "summary": summary, "records": []}


# -- parent side -------------------------------------------------------------------------------------

def _child_environment() -> Dict[str, str]:
    """The child imports the same dmfkd as the parent, installed or from a source checkout."""
    import dmfkd

    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(dmfkd.__file__)))
    env["PYTHONPATH"] = package_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def python_command():
    """The interpreter the workers run in: this one. Inside WinDbg (pykd) sys.executable is the debugger,
    not a Python: a batch runs from a shell."""
    from dmfkd.errors import UsageError

    name = os.path.basename(sys.executable or "").lower()
    if not name.startswith(("python", "pypy")):
        raise UsageError("dmfkd batch starts Python worker processes and cannot from here (the interpreter is "
                         "%r): run it from a shell" % (sys.executable or "embedded"))
    return [sys.executable, "-m", "dmfkd.batch.sandbox"]


class Sandbox:
    """One child process. Messages from it (and None when it ends) arrive on `events` as (sandbox,
    message), read by a thread of its own, so one parent can wait on many children at once."""

    def __init__(self, init: Optional[Dict[str, Any]], events: "queue.Queue", ident: int = 0):
        self.ident = ident
        self.events = events
        self.ready = False
        self.retiring = False      # it ends after its last result (it ran out of memory)
        self.job = None            # (index, path) being read
        self.deadline = None       # time.monotonic() by which the job must be done
        self.proc = subprocess.Popen(python_command(), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=_child_environment())
        self._reader = threading.Thread(target=self._read_loop, name="dmfkd-sandbox-%d" % ident, daemon=True)
        self._reader.start()
        if init is not None:
            self.initialize(init)

    def initialize(self, init: Dict[str, Any]) -> None:
        """The batch's options: until they come, a started child waits with its code loaded."""
        self.send(("init", init))

    def _read_loop(self) -> None:
        stream = self.proc.stdout
        try:
            while True:
                message = read_frame(stream)
                if message is None:
                    break
                self.events.put((self, message))
        except (FrameError, OSError, ValueError, EOFError, pickle.UnpicklingError, MemoryError):
            pass
        self.events.put((self, None))

    def send(self, message) -> bool:
        try:
            write_frame(self.proc.stdin, message)
            return True
        except (OSError, ValueError):   # the child is gone: its end arrives on the queue
            return False

    def start_job(self, index: int, path: str, deadline: Optional[float]) -> None:
        self.job = (index, path)
        self.deadline = deadline
        self.send(("dump", index, path))

    def returncode(self) -> Optional[int]:
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class SandboxRunner:
    """One dump at a time through one child (the Dask engine's tasks): run(path) -> result, restarting
    the child after a timeout or a death."""

    def __init__(self, init: Dict[str, Any], timeout: Optional[float]):
        self.init = init
        self.timeout = timeout
        self.events = queue.Queue()
        self.box = None  # type: Optional[Sandbox]

    def _start(self) -> Sandbox:
        from dmfkd.errors import DmfkdError

        box = Sandbox(self.init, self.events)
        _, message = self.events.get()
        if message is None:
            raise DmfkdError("a batch worker process could not start (%s)" % exit_text(box.returncode()))
        if message[0] == "init-error":
            box.close()
            from dmfkd.errors import UsageError

            raise UsageError(message[1])
        return box

    def run(self, index: int, path: str) -> Dict[str, Any]:
        if self.box is None:
            self.box = self._start()
        box = self.box
        box.start_job(index, path, None)
        try:
            _, message = self.events.get(timeout=self.timeout or None)
        except queue.Empty:
            box.kill()
            self._drain()
            self.box = None
            return timeout_result(path, self.timeout)
        if message is None:
            code = box.returncode()
            box.close()
            self._drain()
            self.box = None
            return died_result(path, code)
        if message[2].get("restart"):
            box.close()
            self._drain()
            self.box = None
        return message[2]

    def _drain(self) -> None:
        while True:
            try:
                self.events.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        if self.box is not None:
            self.box.close()
            self.box = None


# -- child side --------------------------------------------------------------------------------------

def _die_with_parent() -> None:
    """A child whose parent is gone (killed batch, lost Dask worker) ends too, even mid-dump: on Linux the
    kernel sends it SIGKILL; elsewhere a thread notices the new parent within a second."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    parent = os.getppid()

    def watch() -> None:
        import time

        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="dmfkd-parent-watch", daemon=True).start()


def child_main() -> int:
    # frames go out on the original stdout; anything else printed (a user's schema) goes to stderr
    _die_with_parent()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent handles Ctrl-C and ends its children
    except (ValueError, OSError):
        pass
    # the reading code is imported before the batch's options arrive: a child is started while the
    # parent still looks for the dumps
    from dmfkd.batch.dump_work import DumpWorker
    from dmfkd.dmf import crashdump_view  # noqa: F401
    from dmfkd.errors import DmfkdError
    from dmfkd.targets import dumpfile, isf  # noqa: F401

    first = read_frame(source)
    if not first or first[0] != "init":
        return 2
    options = first[1]
    worker = DumpWorker(options)
    try:
        worker.prepare()
    except DmfkdError as exc:
        write_frame(out, ("init-error", str(exc).splitlines()[0]))
        return 2
    skip = frozenset(options.get("skip") or ())
    _limit_memory(int(options.get("memory_limit") or 0))
    write_frame(out, ("ready",))
    while True:
        message = read_frame(source)
        if message is None:
            return 0
        _, index, path = message
        result = worker.process(path, skip)
        restart = result["summary"].get("error_kind") == "memory"
        if restart:
            result["restart"] = True    # a process that ran out of memory is not trusted with the next dump
        try:
            write_frame(out, ("result", index, result))
        except MemoryError:
            result = error_result(path, "the rows of this dump do not fit in the per-dump memory limit", "memory")
            result["restart"] = True
            write_frame(out, ("result", index, result))
            return 0
        if restart:
            return 0


if __name__ == "__main__":
    sys.exit(child_main())
