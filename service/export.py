"""Write prediction records to Parquet or CSV as they stream in (memory bounded by one batch)."""

from __future__ import annotations

import base64
import csv
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from service.errors import ExportError
from service.predlog.base import PredictionRecord

COLUMNS = (
    ["id", "created_at", "day", "filename", "content_type", "digit", "confidence"]
    + [f"p{d}" for d in range(10)]
    + ["not_a_digit", "model_version", "latency_ms", "label", "labelled_at", "image_bytes", "normalised"]
)
FORMATS = (".parquet", ".csv")
# Text a person or a client chose (an upload's filename, its declared type) or that we name: what a spreadsheet
# might read as a formula. Numbers, dates and the base64 image are not text cells a person wrote.
TEXT_COLUMNS = ("id", "filename", "content_type", "model_version")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _row(record: PredictionRecord) -> dict:
    row = {
        "id": record.id,
        "created_at": record.created_at,
        "day": record.created_at.date(),
        "filename": record.filename,
        "content_type": record.content_type,
        "digit": record.digit if record.is_digit else None,  # null: refused as not a digit
        "confidence": record.confidence,
        "model_version": record.model_version,
        "latency_ms": record.latency_ms,
        "label": record.label,
        "labelled_at": record.labelled_at,
        "image_bytes": record.image_size,
        "normalised": record.normalised,  # the 28x28 uint8 image the model saw, row by row
    }
    row.update({f"p{d}": p for d, p in enumerate(record.probabilities[:10])})
    row["not_a_digit"] = record.probabilities[10] if len(record.probabilities) > 10 else 0.0
    return row


def _parquet_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("created_at", pa.timestamp("us", tz="UTC")),
            ("day", pa.date32()),
            ("filename", pa.string()),
            ("content_type", pa.string()),
            ("digit", pa.int8()),
            ("confidence", pa.float32()),
        ]
        + [(f"p{d}", pa.float32()) for d in range(10)]
        + [
            ("not_a_digit", pa.float32()),
            ("model_version", pa.string()),
            ("latency_ms", pa.float32()),
            ("label", pa.int8()),
            ("labelled_at", pa.timestamp("us", tz="UTC")),
            ("image_bytes", pa.int64()),
            ("normalised", pa.binary()),
        ]
    )


def neutralise(cell: str) -> str:
    """A text cell a spreadsheet would run as a formula, quoted so that it shows as text (OWASP's advice on
    CSV injection: a leading ``'``; the csv module already doubles embedded quotes)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _write_parquet(rows: Iterator[dict], out, batch_rows: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema()
    count = 0
    # typed columns: a reader sees a filename as a string value, never a formula, so nothing is neutralised
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        batch: list[dict] = []
        for row in rows:
            batch.append(row)
            if len(batch) == batch_rows:
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema), row_group_size=batch_rows)
                count += len(batch)
                batch = []
        if batch or not count:
            writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema), row_group_size=batch_rows)
            count += len(batch)
    return count


def _write_csv(rows: Iterator[dict], out) -> int:
    count = 0
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        row["normalised"] = base64.b64encode(row["normalised"]).decode()  # CSV has no bytes: base64
        for name in ("created_at", "labelled_at"):
            row[name] = row[name].isoformat() if row[name] else ""
        for name in TEXT_COLUMNS:
            if isinstance(row[name], str):
                row[name] = neutralise(row[name])
        writer.writerow(row)
        count += 1
    return count


def check_target(path: Path) -> None:
    """Refuse, before anything is read or written, a path an export cannot replace with a file: an unknown
    suffix, a directory, a parent that is not a directory, a file or directory this process may not write."""
    if path.suffix.lower() not in FORMATS:
        raise ExportError(f"{path.name}: the export format is taken from the suffix, one of {', '.join(FORMATS)}")
    if path.is_dir():
        raise ExportError(f"{path} is a directory; name a file in it, e.g. {path / ('log' + path.suffix)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ExportError(f"{path}: {path.parent} is not a directory") from None
    except OSError as exc:
        raise ExportError(f"{path}: cannot create {path.parent} ({exc.strerror})") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ExportError(f"{path}: cannot write in {path.parent} (permission denied)")
    # a read-only file is kept: rename would replace it whatever its mode
    if (path.exists() or path.is_symlink()) and not os.access(path, os.W_OK, follow_symlinks=False):
        raise ExportError(f"{path} is not writable")


def export(
    records: Iterable[PredictionRecord],
    path: Path,
    batch_rows: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Stream ``records`` into ``path`` (.parquet or .csv); written to a new temporary file beside it, renamed
    over it when complete. The temporary file is created, never opened: a link planted under any name cannot
    redirect the export, and the file is readable by its owner only (it holds uploads' names and images)."""
    check_target(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write in {path.parent} ({exc.strerror})") from None
    partial = Path(name)

    def rows() -> Iterator[dict]:
        for record in records:
            if progress:
                progress(1)
            yield _row(record)

    try:
        if path.suffix.lower() == ".parquet":
            with os.fdopen(fd, "wb") as binary:
                count = _write_parquet(rows(), binary, batch_rows)
        else:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as text:
                count = _write_csv(rows(), text)
        os.replace(partial, path)
    except OSError as exc:  # the disk filled, the target became a directory...: said in one line
        raise ExportError(f"{path}: the export could not be written ({exc.strerror or exc})") from None
    finally:
        partial.unlink(missing_ok=True)
    return count
