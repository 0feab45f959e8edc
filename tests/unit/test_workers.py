"""Jobs on forked worker processes: results in the jobs' order, every tick of progress heard, and the jobs
still run where no worker process can be started."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml import workers
from tests.fixtures.processes import alive

ROOT = Path(__file__).resolve().parents[2]


def _squares(n: int) -> tuple[int, int]:
    """n * n, after ticking n times; and the process that did it."""
    for _ in range(n):
        workers.tick()
    return n * n, os.getpid()


FORKED_RUN = """
import json, os
from ml import workers
from tests.fixtures.processes import alive
from tests.unit.test_workers import _squares
heard = []
results = workers.run_jobs([(_squares, n) for n in range(6)], 2, heard.append)
print(json.dumps({"results": results, "heard": heard, "pid": os.getpid()}))
"""


def test_results_come_back_in_the_jobs_order_from_other_processes():
    """In a fresh interpreter: a test process that has loaded TensorFlow (as the suite's do) never forks."""
    done = subprocess.run([sys.executable, "-c", FORKED_RUN], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert [r[0] for r in run["results"]] == [n * n for n in range(6)]
    assert {pid for _, pid in run["results"]} - {run["pid"]}  # forked workers did them
    assert run["heard"] == [1] * 15  # every tick of every job, 0 + 1 + ... + 5


def test_with_tensorflow_loaded_the_jobs_run_here(monkeypatch):
    """A fork would copy TensorFlow's threads half-way: with it imported, nothing is forked."""
    monkeypatch.setitem(sys.modules, "tensorflow", sys)
    heard = []
    assert workers.run_jobs([(_squares, n) for n in range(3)], 2, heard.append) == [
        (n * n, os.getpid()) for n in range(3)
    ]
    assert sum(heard) == 3


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


def _forever(path: str) -> None:
    """Writes its own pid to ``path``, then waits for nothing, ignoring SIGTERM (as a worker stuck on a pipe)."""
    import signal
    import time

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Path(path).write_text(str(os.getpid()))
    while True:
        time.sleep(1)


TRAINING_RUN = """
import sys
from pathlib import Path
from ml import workers
from tests.fixtures.processes import alive
from service.train.runs import TrainLock
from tests.unit.test_workers import _forever
with TrainLock(Path(sys.argv[1])):
    workers.run_jobs([(_forever, sys.argv[2] + "/a"), (_forever, sys.argv[2] + "/b")], 2)
"""


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_no_worker_outlives_its_training_and_the_lock_goes_with_it(tmp_path, how):
    """Killed or stopped mid-render, a training left its forked workers running (SIGTERM ignored, a pipe nobody
    reads) and holding the machine's training lock: every later training was refused until someone killed them."""
    import signal
    import time

    from service.train.runs import TrainLock

    lock = tmp_path / "train.lock"
    training = subprocess.Popen([sys.executable, "-c", TRAINING_RUN, str(lock), str(tmp_path)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not ((tmp_path / "a").exists() and (tmp_path / "b").exists()):
            assert time.monotonic() < deadline and training.poll() is None, "the workers never started"
            time.sleep(0.05)
        forked = [int((tmp_path / name).read_text()) for name in "ab"]
        training.send_signal(getattr(signal, how))
        training.wait(30)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in forked) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in forked), "a worker outlived the training that forked it"
        with TrainLock(lock):  # the next training is not refused
            pass
    finally:
        training.kill()
        for name in "ab":
            if (tmp_path / name).exists():
                try:
                    os.kill(int((tmp_path / name).read_text()), signal.SIGKILL)
                except ProcessLookupError:
                    pass
