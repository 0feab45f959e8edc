"""A long job's progress without a terminal (a line per tenth, with the time left), and Ctrl-C held while a
block that must finish whole runs (a real SIGINT sent to this process)."""

from __future__ import annotations

import os
import signal

import pytest

from ml.interrupts import deferred, interrupted_status
from ml.progress import Report, duration


def test_without_a_terminal_a_step_says_itself_once_per_tenth_with_the_time_left():
    said: list[str] = []
    report = Report(say=said.append)
    with report.step("drawing", 134, "images") as progress:
        for _ in range(120):
            progress.advance()
        progress.grow(32)  # a second round the step found it needed
        for _ in range(46):
            progress.advance()
    assert said[0] == "drawing: 134 images"
    tenths = said[1:-1]
    before_growing = [int(line.split("(")[1].split("%")[0]) // 10 for line in tenths if "/134 " in line]
    assert before_growing == list(range(1, 9)), said  # a line per tenth, never one twice
    assert 9 <= len(tenths) <= 11 and all("about" in line and "left" in line for line in tenths), said
    assert said[-1].startswith("drawing: done in ")


def test_an_interrupted_step_does_not_say_it_is_done():
    said: list[str] = []
    with pytest.raises(KeyboardInterrupt), Report(say=said.append).step("training", 10, "batches") as progress:
        progress.advance(5)
        raise KeyboardInterrupt
    assert not any("done" in line for line in said)


def test_a_silent_report_says_nothing_and_durations_read_at_a_glance(capsys):
    with Report.silent().step("x", 3) as progress:
        progress.advance(3)
    Report.silent().line("nothing")
    assert capsys.readouterr() == ("", "")
    assert [duration(s) for s in (0.4, 59, 61, 3725)] == ["0 s", "59 s", "1 min 01 s", "1 h 02 min"]


def test_ctrl_c_inside_a_deferred_block_waits_for_its_end():
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with deferred():
            os.kill(os.getpid(), signal.SIGINT)  # the real signal, delivered while the block runs
            finished.append("published")
    assert finished == ["published"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is given back


def test_a_held_ctrl_c_is_raised_where_the_block_checks_for_it_and_not_before():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with deferred() as stop_if_asked:
            stop_if_asked()  # nothing heard yet: goes on
            steps.append("first batch")
            os.kill(os.getpid(), signal.SIGINT)  # delivered here, inside (as in TensorFlow's tracing): only held
            steps.append("rest of the batch")
            stop_if_asked()
            steps.append("second batch")
    assert steps == ["first batch", "rest of the batch"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_status_after_ctrl_c_is_130_except_under_make(monkeypatch):
    monkeypatch.delenv("MAKELEVEL", raising=False)
    assert interrupted_status() == 130
    monkeypatch.setenv("MAKELEVEL", "1")
    assert interrupted_status() == 0
