"""Parsing and rendering on every core: worker processes that a run hands the feeds it
fetched, and the files it publishes.

feedparser is pure Python and takes most of a cold run's time on one core.  A run that
fetched many changed feeds hands their bodies to :class:`Workers`, and stores the results
in the order of its sources while the workers parse the next ones: what is stored is the
same as when everything runs in one process, only sooner.  Small batches (the scheduler's
one source, a run where a few feeds changed) are parsed in the caller's process, where
starting workers would cost more than it saves, until they add up to MIN_BATCH jobs.
A publish that renders many files (the first one, above all) has the workers render
them while it writes the ones rendered (:meth:`Workers.imap`), in the same order and
with the same bytes.

A worker that dies (killed by the kernel for memory, or crashing on some input) takes the
jobs it held with it: each of those is tried again, alone, in a fresh process, so that
the one that kills its process again is the only one to fail (:class:`WorkerDied`).
Workers that cannot start at all (a script that runs the pipeline without
``if __name__ == "__main__":``, whose workers run it again and die) are noticed the first
time a job fails so, before any succeeded: an empty job then dies too, and from there on
every job runs in the caller's process, with a warning that says why.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import Any, Generic, TypeVar

__all__ = ["MIN_BATCH", "Job", "WorkerDied", "Workers", "default_processes"]

log = logging.getLogger(__name__)
T = TypeVar("T")
#: A job: a module-level function and its (picklable) arguments.
Job = tuple[Callable[..., T], tuple[Any, ...]]

#: The fewest jobs, in one batch or in several, for worker processes to start (once
#: started, they take every batch of the run).
MIN_BATCH = 8
#: Modules the workers need, imported once in the process they are forked from (not the
#: store or the HTTP client: a worker holds only what parsing and rendering need).
_PRELOAD = ["coopfeed.prepare", "coopfeed.publish"]


class WorkerDied(Exception):
    """A job's worker process died twice while running it."""


def default_processes() -> int:
    """Worker processes by default: one per core this process may run on, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


class Result(Generic[T]):
    """A submitted job's result, waited for by :meth:`get`."""

    def __init__(
        self,
        workers: Workers,
        job: Job[T],
        future: Future[T] | None = None,
        value: T | None = None,
    ) -> None:
        self._workers = workers
        self._job = job
        self._future = future
        self._value = value

    def get(self) -> T:
        """The job's return value (it raises what the job raised, or WorkerDied)."""
        if self._future is None:
            return self._value  # type: ignore[return-value]
        try:
            value = self._future.result()
        except BrokenProcessPool:
            function, args = self._job
            return self._workers.retry(function, *args)
        self._workers.worked = True
        return value


class Workers:
    """Runs jobs (module-level functions and picklable arguments) in worker processes,
    or in this process when there are no workers or a batch is small."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._single: ProcessPoolExecutor | None = None  # for jobs tried again
        self._asked = 0  # jobs asked for before any worker started
        self.worked = False  # a job has run in a worker process

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def started(self) -> bool:
        return self._pool is not None

    def submit_all(self, jobs: Sequence[Job[T]]) -> list[Result[T]]:
        """Start every job; a job run here (a small batch) has run when this returns."""
        if self._runs_here(len(jobs)):
            return [Result(self, job, value=job[0](*job[1])) for job in jobs]
        return [self._submit(job) for job in jobs]

    def imap(self, jobs: Iterable[Job[T]], ahead: int, count: int) -> Iterator[T]:
        """Each of the ``count`` jobs' results, in order, as it is asked for.  Jobs are
        taken from ``jobs`` as they are handed over: in worker processes, at most
        ``ahead`` jobs are under way (or done and waiting to be asked for), so the jobs
        and results held at once stay bounded; a small batch runs here, each job when
        its result is asked for."""
        if self._runs_here(count):
            for function, args in jobs:
                yield function(*args)
            return
        under_way: deque[Result[T]] = deque()
        for job in jobs:
            under_way.append(self._submit(job))
            if len(under_way) >= max(1, ahead):
                yield under_way.popleft().get()
        while under_way:
            yield under_way.popleft().get()

    def _runs_here(self, batch: int) -> bool:
        """Whether a batch of ``batch`` jobs runs in this process: no workers wanted, or
        none started yet and fewer than MIN_BATCH jobs asked for so far, this batch's
        included (a run's small batches add up)."""
        if self._pool is not None:
            return False
        self._asked += batch
        return self.processes < 1 or self._asked < MIN_BATCH

    def _submit(self, job: Job[T]) -> Result[T]:
        for _ in range(2):
            if self._pool is None:
                self._pool = _pool(self.processes)
            try:
                return Result(self, job, future=self._pool.submit(job[0], *job[1]))
            except BrokenProcessPool:  # a worker died since the last batch: start afresh
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
        if self._start_failed():
            return Result(self, job, value=job[0](*job[1]))
        raise WorkerDied("cannot start worker processes")

    def retry(self, function: Callable[..., T], *args: Any) -> T:
        """Run a job whose worker died again, alone in a process of its own."""
        if self._pool is not None:  # broken: later batches go to a fresh pool
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self.processes < 1:  # worker processes cannot start here
            return function(*args)
        if self._single is None:
            self._single = _pool(1)
        try:
            value = self._single.submit(function, *args).result()
        except BrokenProcessPool:
            self._single.shutdown(wait=False, cancel_futures=True)
            self._single = None
            if self._start_failed():
                return function(*args)
            raise WorkerDied("its worker process died twice (out of memory?)") from None
        self.worked = True
        return value

    def _start_failed(self) -> bool:
        """After jobs died with their workers: True (and every job from now on runs in
        this process) when no job ever ran in a worker and an empty one dies too, so that
        the workers, not the jobs, are what fails."""
        if self.worked or self.processes < 1:
            return False
        with _pool(1) as probe:
            try:
                probe.submit(os.getpid).result()
                return False
            except BrokenProcessPool:
                pass
        log.warning(
            "worker processes die as they start, so this run parses and renders in its own"
            " process; a script that runs coopfeed's pipeline needs"
            " 'if __name__ == \"__main__\":' (or [fetch] processes = 0)"
        )
        self.processes = 0
        return True

    def close(self) -> None:
        for pool in (self._pool, self._single):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._single = None


def _pool(processes: int) -> ProcessPoolExecutor:
    # forkserver: workers are forked from a clean process that imported coopfeed once,
    # never from this one (which may run threads: forking those is unsafe).
    context: BaseContext
    if "forkserver" not in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("spawn")
    else:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
    return ProcessPoolExecutor(
        processes, mp_context=context, initializer=_end_with, initargs=(os.getpid(),)
    )


#: How much less of the CPU a worker asks for than the run (see _end_with).
NICENESS = 10


def _end_with(parent: int) -> None:
    """Each worker's initializer: the worker ends when the process that started it does.
    A run killed with SIGKILL cannot tell its workers to stop; they would wait for jobs
    for good (each holds both ends of its job queue) and keep their forkserver alive.

    Workers also yield the CPU to the run: it stores one source after another, by
    itself, while they parse the next ones, so it is what a run waits for.  On two
    cores, with the run and two workers at the same priority, a cold run of the bench
    took 30.0-35.6 s; with the workers at NICENESS 10, 29.0 s."""
    if os.name == "posix":  # on Windows os.kill(pid, 0) would end the process
        threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True).start()
        with contextlib.suppress(OSError):
            os.nice(NICENESS)


def _watch(parent: int) -> None:
    try:
        handle = os.pidfd_open(parent)  # Linux: readable once the process has ended
    except (AttributeError, OSError):  # elsewhere, or it has ended already
        handle = None
    if handle is not None:
        select.select([handle], [], [])
        os._exit(1)
    while True:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # alive, as another user (after a pid was reused)
            pass
        time.sleep(1.0)
