"""Jobs spread over forked worker processes where that is safe, run here otherwise.

Rendering and preprocessing uploads cost milliseconds each and are pure numpy and Pillow, so two processes
halve a training's rendering and an evaluation. A fork is safe only while TensorFlow is not loaded (it would
copy its threads half-way); a spawned worker would re-run the caller's main module. AWS Lambda has no
/dev/shm for a pool's semaphores: there the jobs run in process.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

logger = logging.getLogger(__name__)

Job = tuple[Callable[[Any], Any], Any]  # a module-level function and its one argument


def run_jobs(jobs: Sequence[Job], workers: int, done: Callable[[Any], None] | None = None) -> list[Any]:
    """Each job's result, in the jobs' order; ``done`` is called with each result as it comes (progress)."""
    if workers > 1 and len(jobs) > 1 and "tensorflow" not in sys.modules:
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as executor:
                futures = {executor.submit(fn, args): n for n, (fn, args) in enumerate(jobs)}
                results: list[Any] = [None] * len(jobs)
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    if done is not None:
                        done(results[futures[future]])
                return results
        except OSError as exc:
            logger.info("running jobs in process (no worker processes: %s)", exc)
    results = []
    for fn, args in jobs:
        results.append(fn(args))
        if done is not None:
            done(results[-1])
    return results
