"""Ctrl-C, said once: a block that must finish whole, and the exit status a stopped command returns."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def deferred() -> Iterator[Callable[[], None]]:
    """A Ctrl-C (SIGINT) arriving inside the block is held until it ends, then raised as KeyboardInterrupt: what
    the block writes (a model published and promoted) is there whole or not at all.

    The block gets a check to call where stopping is safe: it raises the held Ctrl-C there. Training checks after
    every batch: raised wherever the interpreter happened to be, inside TensorFlow's C++ tracing a function, a
    KeyboardInterrupt came out as another error, with a traceback instead of one line."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield lambda: None
        return
    heard: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: heard.append(signum))

    def check() -> None:
        if heard and previous is not signal.SIG_IGN:
            raise KeyboardInterrupt

    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)
    check()


def interrupted_status() -> int:
    """A command's exit status once Ctrl-C stopped it: 130, as a shell reports a process SIGINT ended. Under make
    0: make heard the same SIGINT from the terminal and ends with it (the shell sees 130 all the same), where a
    130 from its recipe would add make's own "Error 130" line to the one the command printed."""
    return 0 if "MAKELEVEL" in os.environ else 130
