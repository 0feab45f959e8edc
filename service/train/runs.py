"""A training as the service runs it: its declared parameters, one at a time per machine, corrections
from the prediction log. Shared by the train function and the CLI (``python -m service train``)."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.parameters import Parameter, Parameters
from ml.pipeline import GATE, Outcome
from ml.progress import Report
from ml.training import TRAINING, TrainConfig
from service.errors import TrainingInProgress
from service.settings import Settings

logger = logging.getLogger("digits.train")

FULL_MNIST = 60_000  # MNIST's training images, which an epoch without a subset goes through
# Everything a caller may choose: the training's and the gate's (declared in ml/), and the service's own.
PARAMETERS = (
    TRAINING
    + GATE
    + Parameters(
        Parameter(
            "include_corrections", bool, False, "add the corrections stored in PREDICTION_LOG to the training data"
        ),
    )
)


@dataclass(frozen=True)
class TrainRequest:
    config: TrainConfig
    min_accuracy: float
    force: bool
    include_corrections: bool

    def seconds_needed(self, per_epoch: float, fixed: float) -> float:
        """About how long this training takes where one epoch of one member over all of MNIST takes
        ``per_epoch`` seconds and the rest (drawing, calibrating, exporting, publishing) ``fixed``."""
        share = (self.config.subset or FULL_MNIST) / FULL_MNIST
        return fixed + per_epoch * self.config.resolved_epochs() * self.config.resolved_members() * share

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> TrainRequest:
        """From checked values of every name in PARAMETERS (``PARAMETERS.from_json`` or the CLI's flags)."""
        return cls(
            TrainConfig(**{name: values[name] for name in TRAINING.names()}),
            values["min_accuracy"],
            values["force"],
            values["include_corrections"],
        )


_HELD: set[Path] = set()  # the lock files this process holds: a record lock does not keep out its own threads
_HELD_GUARD = threading.Lock()


class TrainLock:
    """One training at a time per machine: a POSIX record lock across processes, ``_HELD`` across threads.

    A record lock, not flock: it belongs to this process alone. A process forked during a training (a
    rendering worker) does not inherit it, and it is gone the moment this process ends, however it ends,
    so a killed or stopped function never leaves the next training refused."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> TrainLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = self.path.resolve()
        with _HELD_GUARD:
            if key in _HELD:
                raise _in_progress()
            _HELD.add(key)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EACCES, errno.EAGAIN):
                    raise _in_progress() from None
                raise
        except BaseException:
            with _HELD_GUARD:
                _HELD.discard(key)
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the record lock
            self._fd = None
            with _HELD_GUARD:
                _HELD.discard(self.path.resolve())


def _in_progress() -> TrainingInProgress:
    return TrainingInProgress("a training run is already in progress; try again when it ends")


def run_training(settings: Settings, request: TrainRequest, report: Report | None = None) -> Outcome:
    """Train, publish, and promote if the gate passes: under the machine's training lock. ``report`` shows
    each step (the CLI's bars or lines; the function's log lines)."""
    from ml import mnist
    from ml.pipeline import train_and_publish
    from ml.registry import ModelRegistry
    from ml.storage import open_object_store

    with TrainLock(settings.train_lock_file):
        corrections = None
        if request.include_corrections:
            from service.predlog.factory import load_corrections

            corrections = load_corrections(settings)
            (report or Report.silent()).line(
                f"{len(corrections)} corrections from {settings.without_secrets()['prediction_log']} "
                "join the training data"
            )
        registry = ModelRegistry(open_object_store(settings.model_store))
        outcome = train_and_publish(
            request.config,
            mnist.load(mnist.source_for(settings)),
            registry,
            request.min_accuracy,
            request.force,
            report=report,
            corrections=corrections,
        )
    logger.info("trained %s: promoted=%s (%s)", outcome.version, outcome.promoted, outcome.reason)
    return outcome
