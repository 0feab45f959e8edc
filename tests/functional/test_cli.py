"""The command line, run as a user runs it."""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from tests.conftest import GOLDEN, MODEL_STORE
from tests.fixtures.cli import run_cli as run


def test_predict_prints_one_json_line_per_file(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    done = run(
        "predict",
        str(GOLDEN / "2_canvas.png"),
        str(GOLDEN / "7_chalk.png"),
        str(bad),
        MODEL_STORE=f"file://{MODEL_STORE}",
    )
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line.get("digit") for line in lines] == [2, 7, None]
    assert lines[2]["error"] == "unsupported_media_type"
    assert done.returncode == 1  # one file failed


def test_predict_without_a_model_says_what_to_do(tmp_path):
    done = run("predict", str(GOLDEN / "2_canvas.png"), MODEL_STORE=f"file://{tmp_path}")
    assert done.returncode == 2 and "python -m ml train" in done.stderr


def test_bad_configuration_is_refused_at_start(tmp_path):
    done = run("predict", "x.png", MODEL_STORE="ftp://example/models")
    assert done.returncode == 2 and "MODEL_STORE" in done.stderr


@pytest.mark.training  # renders and scores the dev set on MNIST
def test_eval_reports_every_category(mnist_data, tmp_path):
    sheet = tmp_path / "misses.png"
    done = run(
        "eval", "--per-category", "3", "--negatives", "3", "--misses", str(sheet), MODEL_STORE=f"file://{MODEL_STORE}"
    )
    assert done.returncode == 0, done.stderr
    for category in ("mnist_png", "phone_photo", "uci_digits", "overall", "typefaces", "shapes", "shadows"):
        assert category in done.stdout
    assert f"wrong answers, as the model saw them: {sheet}" in done.stdout
    assert sheet.read_bytes().startswith(b"\x89PNG")
    # every rate with how far 3 uploads a category can be trusted: 3 of 3 right is still 43.85-100.00 %
    assert "95 % interval" in done.stdout and "43.85%-100.00%" in done.stdout


@pytest.mark.training
def test_train_with_the_corrections_in_the_log(tmp_path):
    import shutil
    from datetime import datetime

    from service.predlog.sqlite import SqlitePredictionLog
    from tests.fixtures.records import record

    shutil.copytree(MODEL_STORE, tmp_path / "store")
    log = SqlitePredictionLog(tmp_path / "p.db")
    log.ensure_schema()
    for label in (1, 2):
        written = record(digit=7)
        log.write(written)
        log.set_label(written.id, label, datetime.now(UTC))
    log.close()
    done = run(
        "train",
        "--subset",
        "500",
        "--members",
        "1",
        "--epochs",
        "1",
        "--min-accuracy",
        "0",
        "--no-fail",
        "--include-corrections",
        "--correction-weight",
        "3",
        MODEL_STORE=f"file://{tmp_path / 'store'}",
        PREDICTION_LOG=f"sqlite://{tmp_path / 'p.db'}",
    )
    assert done.returncode == 0, done.stderr
    assert "2 corrections from sqlite://" in done.stderr  # said as it goes, with the progress; results on stdout
    assert "corrections: 2 used x3; accuracy on them before" in done.stdout
    refused = run("train", "--include-corrections", "--correction-weight", "0")
    assert refused.returncode == 2 and "correction-weight" in refused.stderr


def test_the_ml_core_cli_runs_without_importing_the_service():
    """`python -m ml` is the ML core on its own: it predicts without a single service module loaded."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = (
        "import runpy, sys\n"
        f"sys.argv = ['ml', 'predict', {str(GOLDEN / '5_canvas.png')!r}]\n"
        "try:\n    runpy.run_module('ml', run_name='__main__')\nexcept SystemExit as exit:\n    assert not exit.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('service', 'functions'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MODEL_STORE": f"file://{MODEL_STORE}"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["digit"] == 5


def test_stats_defaults_to_the_http_window_and_its_total_is_what_an_export_holds(tmp_path):
    from datetime import datetime, timedelta

    import pyarrow.parquet as pq

    from ml.labels import NOT_A_DIGIT
    from service.predict.status import STATS_QUERY
    from service.predlog import new_prediction_id
    from service.predlog.sqlite import SqlitePredictionLog
    from tests.fixtures.records import record

    log = SqlitePredictionLog(tmp_path / "p.db")
    log.ensure_schema()
    now = datetime.now(UTC)
    for n in range(9):  # today: 5 digits and 4 refusals; two days ago: 9 and 0
        for days_back in (0, 2):
            pid = new_prediction_id(at=now - timedelta(days=days_back, seconds=n))
            refused = days_back == 0 and n % 2 == 1
            log.write(record(id=pid, digit=NOT_A_DIGIT if refused else 7))
    log.close()
    env = {"PREDICTION_LOG": f"sqlite://{tmp_path / 'p.db'}"}
    summary = run("stats", **env)
    assert summary.returncode == 0, summary.stderr
    window, header, *days, total = summary.stdout.splitlines()
    days_shown = STATS_QUERY["days"].default
    assert window.endswith(f"2 of {days_shown} days had uploads")  # the days without any are not listed
    assert header.split()[:4] == ["day", "uploads", "digits", "not"]
    assert [d.split()[1:4] for d in days] == [["9", "9", "0"], ["9", "5", "4"]]
    assert total.split()[1:4] == ["18", "14", "4"]
    done = run("stats", "--export", str(tmp_path / "log.parquet"), **env)
    assert done.returncode == 0, done.stderr
    assert pq.ParquetFile(tmp_path / "log.parquet").metadata.num_rows == 18


def test_help_names_the_program_as_it_was_called_in_plain_text():
    import subprocess

    from tests.conftest import ROOT

    as_module = run("--help")
    assert as_module.stdout.startswith("usage: python -m service ") and "``" not in as_module.stdout
    script = ROOT / ".venv" / "bin" / "digits"
    if script.exists():  # the console script `make install` puts in the venv
        done = subprocess.run([str(script), "stats", "--help"], capture_output=True, text=True, timeout=60)
        assert done.stdout.startswith("usage: digits stats ") and "`" not in done.stdout


def test_log_tail_prints_the_newest_records_oldest_first_one_line_each(tmp_path):
    from datetime import datetime, timedelta

    from ml.labels import NOT_A_DIGIT
    from service.predlog import new_prediction_id
    from service.predlog.sqlite import SqlitePredictionLog
    from tests.fixtures.records import record

    log = SqlitePredictionLog(tmp_path / "p.db")
    log.ensure_schema()
    now = datetime.now(UTC)
    ids = [new_prediction_id(at=now - timedelta(seconds=10 - n)) for n in range(4)]
    for n, pid in enumerate(ids):
        log.write(record(id=pid, digit=NOT_A_DIGIT if n == 3 else n, filename="a\x1b[31mred.png", label=None))
    log.set_label(ids[2], 5, now)
    log.close()
    done = run("log", "tail", "-n", "3", PREDICTION_LOG=f"sqlite://{tmp_path / 'p.db'}")
    assert done.returncode == 0, done.stderr
    title, header, *rows = done.stdout.splitlines()
    assert "the newest 3 records" in title and header.split()[:2] == ["created", "(UTC)"]
    assert [row.split()[2] for row in rows] == ["1", "2", "not"]  # oldest first; the refusal said in words
    assert [pid for pid in ids[1:] if pid in done.stdout] == ids[1:]
    assert rows[1].split()[4] == "5"  # the correction
    assert "\x1b" not in done.stdout  # a filename cannot write to the operator's terminal
