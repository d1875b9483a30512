"""Where the dumps of a batch are read: local worker processes, or a Dask cluster.

Both engines take the jobs in batch order, run each in a sandbox child (sandbox.py: time and memory
limits) and yield (position, result) as results arrive, in any order; the runner puts them back in batch
order before writing. Neither engine runs ahead of the oldest unfinished dump by more than `window` dumps,
so the results waiting for it stay bounded (a dump that hangs holds the window until its timeout).

    local   --jobs N child processes driven by this process
    dask    one Dask task per dump on a distributed cluster (--scheduler ADDRESS) or on a LocalCluster
            started for the batch; each Dask worker thread keeps one sandbox child between tasks
"""
import heapq
import queue
import threading
import time
import uuid
from typing import Any, Dict, Iterator, List, Optional, Tuple

from dmfkd.batch.sandbox import Sandbox, SandboxRunner, died_result, exit_text, timeout_result
from dmfkd.errors import DmfkdError, UsageError

Job = Tuple[int, str]                       # (position in the batch, path)
Result = Tuple[int, Dict[str, Any]]
#: with nothing finished for this long the local engine yields (None, None), so the writer can save what
#: it has (the Dask engine blocks on Dask's own stream of finished tasks)
HEARTBEAT = 1.0


class Window:
    """Which positions may start: those less than the oldest unfinished position + size."""

    def __init__(self, size: int):
        self.size = max(1, size)
        self._running = []  # type: List[int]
        self._done = set()
        self.next = 0

    def may_start(self, position: int) -> bool:
        oldest = self._running[0] if self._running else position
        return position < oldest + self.size

    def started(self, position: int) -> None:
        heapq.heappush(self._running, position)

    def finished(self, position: int) -> None:
        self._done.add(position)
        while self._running and self._running[0] in self._done:
            self._done.discard(heapq.heappop(self._running))


class LocalEngine:
    """--jobs N: N sandbox children fed from this process. They are started at once, so they load their
    code while the batch looks for its dumps, and wait for the batch's options."""

    def __init__(self, workers: int):
        self.workers = workers
        self.events = queue.Queue()
        self.boxes = [Sandbox(None, self.events, ident) for ident in range(workers)]

    def close(self) -> None:
        for box in self.boxes:
            box.kill()
        self.boxes = []

    def results(self, jobs: List[Job], init: Dict[str, Any], timeout: Optional[float],
                window: int) -> Iterator[Result]:
        """Yields (position, result) as results come, and (None, None) after HEARTBEAT seconds without one."""
        try:
            yield from self._results(jobs, init, timeout, window)
        finally:
            self.close()

    def _results(self, jobs: List[Job], init: Dict[str, Any], timeout: Optional[float],
                 window: int) -> Iterator[Result]:
        events, boxes = self.events, self.boxes
        for box in boxes:
            box.initialize(init)
        pending = list(reversed(jobs))
        limit = Window(window)
        failed_starts = 0
        done = 0
        while done < len(jobs):
            for box in boxes:
                if box.ready and box.job is None and pending and limit.may_start(pending[-1][0]):
                    position, path = pending.pop()
                    limit.started(position)
                    box.start_job(position, path, time.monotonic() + timeout if timeout else None)
            deadlines = [b.deadline for b in boxes if b.job is not None and b.deadline is not None]
            wait = min([HEARTBEAT] + [max(0.0, d - time.monotonic()) for d in deadlines])
            try:
                box, message = events.get(timeout=wait)
            except queue.Empty:
                now = time.monotonic()
                if not any(b.job is not None and b.deadline is not None and b.deadline <= now for b in boxes):
                    yield None, None
                    continue
                for box in [b for b in boxes if b.job is not None and b.deadline is not None and b.deadline <= now]:
                    position, path = box.job
                    box.kill()
                    boxes.remove(box)
                    if pending:
                        boxes.append(Sandbox(init, events, box.ident))
                    limit.finished(position)
                    done += 1
                    yield position, timeout_result(path, timeout)
                continue
            if box not in boxes:
                continue                    # the last words of a child already replaced
            if message is None:             # the child ended: after a result that asked for it, or died
                code = box.returncode()
                box.close()
                boxes.remove(box)
                if not box.ready and box.job is None and not box.retiring:
                    failed_starts += 1
                    if failed_starts > 2 * self.workers:
                        raise DmfkdError("batch worker processes cannot start (%s)" % exit_text(code))
                if pending:
                    boxes.append(Sandbox(init, events, box.ident))
                if box.job is not None:
                    position, path = box.job
                    limit.finished(position)
                    done += 1
                    yield position, died_result(path, code)
                continue
            kind = message[0]
            if kind == "ready":
                box.ready = True
                failed_starts = 0
            elif kind == "init-error":
                raise UsageError(message[1])
            elif kind == "result" and box.job is not None:
                position = box.job[0]
                box.job = box.deadline = None
                limit.finished(position)
                done += 1
                result = message[2]
                if result.pop("restart", False):
                    box.ready = False       # it exits now; its end brings a fresh one
                    box.retiring = True
                yield position, result


# -- Dask ----------------------------------------------------------------------------------------------

_RUNNERS_LOCK = threading.Lock()
_RUNNERS = {}  # type: Dict[int, SandboxRunner]   thread id -> runner, in a Dask worker process


def dask_task(position: int, path: str, init: Dict[str, Any], timeout: Optional[float], token: str) -> Result:
    """One dump, run on a Dask worker: through this worker thread's sandbox child (started on first use,
    and again for a new batch)."""
    key = threading.get_ident()
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(key)
    if runner is None or getattr(runner, "token", None) != token:
        if runner is not None:
            runner.close()
        runner = SandboxRunner(init, timeout)
        runner.token = token
        with _RUNNERS_LOCK:
            _RUNNERS[key] = runner
    return position, runner.run(position, path)


def close_dask_sandboxes() -> int:
    """Run on every Dask worker at the end of a batch: end the idle sandbox children."""
    with _RUNNERS_LOCK:
        runners = list(_RUNNERS.values())
        _RUNNERS.clear()
    for runner in runners:
        runner.close()
    return len(runners)


def worker_dmfkd_version() -> str:
    """Run on each Dask worker before the batch: the dmfkd it would read dumps with."""
    import dmfkd

    return dmfkd.__version__


def check_dask_workers(client, scheduler: str, timeout: float) -> None:
    """Workers there, each with this dmfkd: a task on a worker without it would fail dump by dump, and a
    scheduler without workers would wait forever."""
    import dmfkd

    try:
        client.wait_for_workers(1, timeout=timeout)
    except Exception:  # noqa: BLE001 - distributed raises TimeoutError of several origins
        raise DmfkdError("the Dask scheduler at %s has no workers (waited %g s)" % (scheduler, timeout))
    try:
        versions = client.run(worker_dmfkd_version)
    except Exception as exc:  # noqa: BLE001 - an ImportError raised on a worker comes back as itself
        raise DmfkdError("the Dask workers cannot run dmfkd (%s): install dmfkd where they run"
                         % (str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    other = sorted({v for v in versions.values() if v != dmfkd.__version__})
    if other:
        raise DmfkdError("the Dask workers run dmfkd %s, this machine %s: install the same version everywhere"
                         % (", ".join(other), dmfkd.__version__))


class DaskEngine:
    """A Dask client for one batch: connected (and the workers checked) before the output is touched,
    so a cluster that is not there costs one line and no files."""

    def __init__(self, scheduler: Optional[str], workers: int, connect_timeout: float = 30.0):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise UsageError("--engine dask needs Dask: pip install 'dmfkd[dask]'")
        self.cluster = None
        self.client = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="%gs" % connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise DmfkdError("cannot reach the Dask scheduler at %s: %s" % (scheduler, str(exc).splitlines()[0]))
            try:
                check_dask_workers(self.client, scheduler, connect_timeout)
            except BaseException:
                self.close()
                raise
        else:
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.client = Client(self.cluster)

    def results(self, jobs: List[Job], init: Dict[str, Any], timeout: Optional[float],
                window: int) -> Iterator[Result]:
        from distributed import as_completed

        if jobs:
            yield from _dask_results(self.client, as_completed, jobs, init, timeout, window)

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.run(close_dask_sandboxes)
            except Exception:  # noqa: BLE001 - best effort: a worker that went away has no children left
                pass
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def _dask_results(client, as_completed, jobs: List[Job], init, timeout, window: int) -> Iterator[Result]:
    token = uuid.uuid4().hex
    # the skip set of --resume can be large: sent to each worker once, not with every task (in a list:
    # scatter would take a dict for a mapping of keys to data)
    shared_init = client.scatter([init], broadcast=True, hash=False)[0]
    pending = list(reversed(jobs))
    paths = dict(jobs)
    limit = Window(window)
    running = as_completed()

    def submit_ready() -> None:
        while pending and limit.may_start(pending[-1][0]):
            position, path = pending.pop()
            limit.started(position)
            running.add(client.submit(dask_task, position, path, shared_init, timeout, token,
                                      key="dmfkd-batch-%s-%d" % (token, position), pure=False, retries=0))

    submit_ready()
    # blocking on the next finished tasks (not polling): results come back as fast as Dask hands them over
    for finished in running.batches():
        for future in finished:
            position, result = _dask_result(future, paths)
            limit.finished(position)
            submit_ready()
            yield position, result


def _dask_result(future, paths) -> Result:
    position = int(future.key.rsplit("-", 1)[1])
    try:
        position, result = future.result()
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - a lost worker, a cancelled task: this dump's error row
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        result = died_result(paths[position], None)
        result["summary"]["error"] = "the Dask task reading this dump failed: %s" % detail
    future.release()
    return position, result
