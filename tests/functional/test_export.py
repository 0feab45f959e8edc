"""Exporting the prediction log: Parquet and CSV, streamed in batches, through the CLI as users run it."""

from __future__ import annotations

import base64
import csv
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from service.export import COLUMNS, ExportError, export
from service.predlog.sqlite import SqlitePredictionLog
from tests.fixtures.cli import run_cli as run
from tests.fixtures.records import record


@pytest.fixture
def filled_log(tmp_path):
    log = SqlitePredictionLog(tmp_path / "p.db")
    log.ensure_schema()
    written = [record(digit=n % 10, confidence=0.5 + (n % 50) / 100) for n in range(2500)]
    for r in written:
        log.write(r)
    log.set_label(written[10].id, 4, datetime(2026, 11, 29, 12, tzinfo=UTC))
    yield log, written
    log.close()


def today():
    return datetime.now(UTC).date()


def test_parquet_is_written_in_row_groups_of_one_batch(filled_log, tmp_path):
    log, written = filled_log
    out = tmp_path / "log.parquet"
    assert export(log.export(today(), today()), out, batch_rows=1000) == 2500
    parquet = pq.ParquetFile(out)
    assert parquet.metadata.num_row_groups == 3  # 1000 + 1000 + 500: never more than a batch in memory
    table = parquet.read()
    assert table.column_names == COLUMNS
    assert table.column("id").to_pylist() == [r.id for r in written]
    assert table.column("digit").to_pylist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert table.column("label").to_pylist()[10] == 4 and table.column("label").null_count == 2499
    assert table.column("normalised").to_pylist()[0] == written[0].normalised
    assert table.column("p9").to_pylist()[0] == pytest.approx(0.982, abs=1e-6)
    assert not (tmp_path / "log.parquet.partial").exists()


def test_csv_round_trips_through_the_standard_reader(filled_log, tmp_path):
    log, written = filled_log
    out = tmp_path / "log.csv"
    assert export(log.export(today(), today()), out) == 2500
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2500 and list(rows[0]) == COLUMNS
    assert base64.b64decode(rows[0]["normalised"]) == written[0].normalised
    assert (rows[10]["label"], rows[11]["label"]) == ("4", "")
    assert datetime.fromisoformat(rows[0]["created_at"]) == written[0].created_at


def test_an_unknown_format_is_refused_before_anything_is_written(filled_log, tmp_path):
    log, _ = filled_log
    with pytest.raises(ExportError, match=".parquet, .csv"):
        export(log.export(today(), today()), tmp_path / "log.xlsx")
    assert list(tmp_path.glob("log.*")) == []


def test_cli_summary_and_export(filled_log, tmp_path):
    env = {"PREDICTION_LOG": f"sqlite://{tmp_path / 'p.db'}"}
    summary = run("stats", "--days", "2", **env)
    assert summary.returncode == 0, summary.stderr
    assert "total" in summary.stdout and "2500" in summary.stdout.splitlines()[-1]
    done = run("stats", "--days", "1", "--export", str(tmp_path / "out" / "log.parquet"), **env)
    assert done.returncode == 0, done.stderr
    assert "wrote 2,500 predictions" in done.stdout and "rows" in done.stderr  # progress on stderr
    assert pq.ParquetFile(tmp_path / "out" / "log.parquet").metadata.num_rows == 2500
    bad = run("stats", "--export", str(tmp_path / "log.json"), **env)
    assert bad.returncode == 2 and ".parquet, .csv" in bad.stderr


def test_a_link_planted_at_the_temporary_name_is_not_followed(filled_log, tmp_path):
    log, _ = filled_log
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    out = tmp_path / "log.csv"
    (tmp_path / "log.csv.partial").symlink_to(victim)
    assert export(log.export(today(), today()), out) == 2500
    assert victim.read_text() == "keep me\n"
    assert not out.is_symlink() and out.read_text().startswith("id,created_at")
    assert out.stat().st_mode & 0o777 == 0o600  # the export holds uploads' names and images


def test_formulas_in_text_cells_are_quoted_in_csv(tmp_path):
    log = SqlitePredictionLog(tmp_path / "p.db")
    log.ensure_schema()
    names = ['=HYPERLINK("x")', "@SUM(1)", "+1+1", "-2", "\tTAB", "\rCR", "plain.png", "a=b.png"]
    for name in names:
        log.write(record(filename=name, content_type="=cmd|' /C calc'!A0", model_version="@v1"))
    log.close()
    out = tmp_path / "log.csv"
    export(SqlitePredictionLog(tmp_path / "p.db").export(today(), today()), out)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["filename"] for r in rows] == [
        '\'=HYPERLINK("x")',
        "'@SUM(1)",
        "'+1+1",
        "'-2",
        "'\tTAB",
        "'\rCR",
        "plain.png",
        "a=b.png",
    ]
    assert {r["content_type"] for r in rows} == {"'=cmd|' /C calc'!A0"}
    assert {r["model_version"] for r in rows} == {"'@v1"}
    assert rows[0]["digit"] == "7" and float(rows[0]["confidence"]) == 0.98  # numbers are left as they are


@pytest.mark.parametrize("where", ["directory", "under a file"])
def test_cli_refuses_a_target_that_cannot_be_a_file_in_one_line(filled_log, tmp_path, where):
    env = {"PREDICTION_LOG": f"sqlite://{tmp_path / 'p.db'}"}
    (tmp_path / "somefile").write_text("x")
    (tmp_path / "dir.csv").mkdir()
    target = tmp_path / ("dir.csv" if where == "directory" else "somefile/out.csv")
    done = run("stats", "--days", "1", "--export", str(target), **env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert (tmp_path / "somefile").read_text() == "x" and list((tmp_path / "dir.csv").iterdir()) == []
