"""Jobs on forked worker processes: results in the jobs' order, every tick of progress heard, and the jobs
still run where no worker process can be started."""

import os

import pytest

from ml import workers


def _squares(n: int) -> tuple[int, int]:
    """n * n, after ticking n times; and the process that did it."""
    for _ in range(n):
        workers.tick()
    return n * n, os.getpid()


def test_results_come_back_in_the_jobs_order_from_other_processes():
    heard = []
    results = workers.run_jobs([(_squares, n) for n in range(6)], 2, heard.append)
    assert [r[0] for r in results] == [n * n for n in range(6)]
    assert {pid for _, pid in results} - {os.getpid()}  # forked workers did them
    assert heard == [1] * 15  # every tick of every job, 0 + 1 + ... + 5


def test_one_worker_runs_the_jobs_here_and_still_ticks():
    heard = []
    assert workers.run_jobs([(_squares, n) for n in range(3)], 1, heard.append) == [
        (n * n, os.getpid()) for n in range(3)
    ]
    assert sum(heard) == 3
    workers.tick()  # outside run_jobs a tick goes nowhere
    assert sum(heard) == 3


def test_without_worker_processes_the_jobs_run_here(monkeypatch):
    """AWS Lambda has no /dev/shm, so a pool's semaphores fail with OSError. Mocked: this machine has one."""

    class NoSemaphores:
        def __init__(self, *args, **kwargs):
            raise OSError(38, "Function not implemented")

    monkeypatch.setattr(workers, "ProcessPoolExecutor", NoSemaphores)
    heard = []
    assert workers.run_jobs([(_squares, n) for n in range(3)], 2, heard.append) == [
        (n * n, os.getpid()) for n in range(3)
    ]
    assert sum(heard) == 3


def test_a_failing_job_fails_the_run():
    with pytest.raises(ZeroDivisionError):
        workers.run_jobs([(_squares, 1), (lambda n: 1 // n, 0)], 1)
    with pytest.raises(ValueError):
        workers.run_jobs([(_squares, 1), (int, "x")], 2)
