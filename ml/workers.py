"""Jobs spread over forked worker processes where that is safe, run here otherwise.

Rendering and preprocessing uploads cost milliseconds each and are pure numpy and Pillow, so a training's
rendering and an evaluation's dev set share both cores (an evaluation is then bound by its slowest category).
A fork is safe only while TensorFlow is not loaded (it would copy its threads half-way); a spawned worker
would re-run the caller's main module. AWS Lambda has no /dev/shm for a pool's semaphores: there the jobs run
in process.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

logger = logging.getLogger(__name__)

Job = tuple[Callable[[Any], Any], Any]  # a module-level function and its one argument
Progress = Callable[[int], None]

_PR_SET_PDEATHSIG = 1  # prctl(2)
_heard: Progress | None = None  # where ``tick`` reports: a worker's queue, or the caller's progress in process


def tick(count: int = 1) -> None:
    """Called by a job as it goes (a sample done): heard by ``run_jobs``'s ``progress``, so that a long job
    moves a progress bar before it ends. Nothing happens outside ``run_jobs``."""
    if _heard is not None:
        _heard(count)


def _listen(queue, parent: int) -> None:
    global _heard
    _die_with(parent)
    # Ctrl-C reaches the whole process group: the parent alone hears it and stops the pool, so that one line
    # says it was interrupted instead of a traceback per worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _heard = queue.put


def _die_with(parent: int) -> None:
    """A worker is killed when the process that forked it ends, however it ends (SIGKILL, a stall timeout, the
    OOM killer): left alive it would wait on a pipe nobody reads, holding whatever that process had open."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the pool's own shutdown is all there is
        return
    if os.getppid() != parent:  # it ended before the request took effect
        os._exit(1)


def run_jobs(jobs: Sequence[Job], workers: int, progress: Progress | None = None) -> list[Any]:
    """Each job's result, in the jobs' order; ``progress`` hears every ``tick`` of the jobs."""
    if workers > 1 and len(jobs) > 1 and "tensorflow" not in sys.modules:
        context = multiprocessing.get_context("fork")
        try:
            ticks = context.SimpleQueue()
            processes = min(workers, len(jobs))  # no idle process forked for want of a job
            executor = ProcessPoolExecutor(processes, context, initializer=_listen, initargs=(ticks, os.getpid()))
            try:
                futures = {executor.submit(fn, args): n for n, (fn, args) in enumerate(jobs)}
                results: list[Any] = [None] * len(jobs)
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    _relay(ticks, progress)
                    for future in finished:
                        results[futures[future]] = future.result()
                _relay(ticks, progress)
                executor.shutdown()
                return results
            except BaseException:  # Ctrl-C, SIGTERM's exit, a failed job: no worker goes on rendering for nobody
                _kill(executor)
                raise
        except OSError as exc:
            logger.info("running jobs in process (no worker processes: %s)", exc)
    global _heard
    _heard = progress
    try:
        return [fn(args) for fn, args in jobs]
    finally:
        _heard = None


def _kill(executor: ProcessPoolExecutor) -> None:
    processes = list((executor._processes or {}).values())  # the pool has no public way to stop a running job
    for process in processes:
        process.kill()
    executor.shutdown(wait=True, cancel_futures=True)


def _relay(ticks, progress: Progress | None) -> None:
    while not ticks.empty():
        count = ticks.get()
        if progress is not None:
            progress(count)
