"""What a long job tells the person waiting: on a terminal a bar per step with the time left (tqdm), elsewhere
(a log, CI, the train function) a line when a step starts, every tenth of it, and when it ends, with the time
left; or nothing at all.

A job names its steps; how they are shown is the caller's choice:

    report = Report.for_terminal()            # bars on a TTY, lines otherwise
    with report.step("drawing uploads", total=40_000, unit="img") as progress:
        ...; progress.advance(200)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

Say = Callable[[str], None]
LINES_PER_STEP = 10  # without a terminal: a line at every tenth of a step


def duration(seconds: float) -> str:
    """Seconds as a person reads them at a glance: seconds, then minutes and seconds, then hours and minutes."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class _Lines:
    """One step's progress as lines: started, each tenth with the time left at the pace so far, done."""

    def __init__(self, name: str, total: int, unit: str, say: Say) -> None:
        self.name, self.total, self.unit, self.say = name, total, unit, say
        self.done = 0
        self.started = time.monotonic()
        self.next_line = self._tenth(1)
        say(f"{name}: {total:,} {unit}" if total else f"{name}...")

    def _tenth(self, n: int) -> int:
        """The first count at or past the n-th tenth of the step."""
        return max(1, -(-self.total * n // LINES_PER_STEP))

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self.total and self.done >= self.next_line and self.done < self.total:
            elapsed = time.monotonic() - self.started
            left = elapsed * (self.total - self.done) / self.done
            self.say(
                f"{self.name}: {self.done:,}/{self.total:,} {self.unit} ({self.done / self.total:.0%}), "
                f"{duration(elapsed)} so far, about {duration(left)} left"
            )
            self.next_line = self._tenth(self.done * LINES_PER_STEP // self.total + 1)

    def grow(self, more: int) -> None:
        self.total += more
        self.next_line = self._tenth(self.done * LINES_PER_STEP // self.total + 1)

    def close(self, finished: bool = True) -> None:
        if finished:  # an interrupted step says nothing more: the interruption says it
            self.say(f"{self.name}: done in {duration(time.monotonic() - self.started)}")


class _Bar:
    """One step's progress as a tqdm bar (its own estimate of the time left)."""

    def __init__(self, name: str, total: int, unit: str, out: TextIO) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total or None, desc=name, unit=f" {unit}" if unit else "it", file=out, dynamic_ncols=True)

    def advance(self, count: int = 1) -> None:
        self.bar.update(count)

    def grow(self, more: int) -> None:
        self.bar.total = (self.bar.total or 0) + more
        self.bar.refresh()

    def close(self, finished: bool = True) -> None:
        self.bar.close()


class Report:
    """Where a job's steps are shown: bars on ``out`` (a terminal), lines through ``say``, or nowhere."""

    def __init__(self, say: Say | None = None, out: TextIO | None = None) -> None:
        self.say, self.out = say, out

    @classmethod
    def for_terminal(cls, out: TextIO = sys.stderr) -> Report:
        """Bars when ``out`` is a terminal; one line per tenth of a step when it is a file or a pipe."""
        if out.isatty():
            return cls(out=out)
        return cls(say=lambda line: print(line, file=out, flush=True))

    @classmethod
    def silent(cls) -> Report:
        return cls()

    def line(self, text: str) -> None:
        """A step too short to measure, said as it starts."""
        if self.out is not None:
            print(text, file=self.out, flush=True)
        elif self.say is not None:
            self.say(text)

    @contextmanager
    def step(self, name: str, total: int = 0, unit: str = "") -> Iterator[_Lines | _Bar | _Silent]:
        shown: _Lines | _Bar | _Silent
        if self.out is not None:
            shown = _Bar(name, total, unit, self.out)
        elif self.say is not None:
            shown = _Lines(name, total, unit, self.say)
        else:
            shown = _Silent()
        try:
            yield shown
        except BaseException:
            shown.close(finished=False)
            raise
        shown.close()


class _Silent:
    def advance(self, count: int = 1) -> None:
        pass

    def grow(self, more: int) -> None:
        pass

    def close(self, finished: bool = True) -> None:
        pass
