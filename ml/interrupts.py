"""Ctrl-C, said once: a block that must finish whole, and the exit status a stopped command returns."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def deferred() -> Iterator[None]:
    """A Ctrl-C (SIGINT) arriving inside the block is held until it ends, then raised as KeyboardInterrupt: what
    the block writes (a model published and promoted) is there whole or not at all."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    heard: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: heard.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if heard and previous is not signal.SIG_IGN:
        raise KeyboardInterrupt


def interrupted_status() -> int:
    """A command's exit status once Ctrl-C stopped it: 130, as a shell reports a process SIGINT ended. Under make
    0: make heard the same SIGINT from the terminal and ends with it (the shell sees 130 all the same), where a
    130 from its recipe would add make's own "Error 130" line to the one the command printed."""
    return 0 if "MAKELEVEL" in os.environ else 130
