"""Write prediction records to Parquet or CSV as they stream in (memory bounded by one batch)."""

from __future__ import annotations

import base64
import csv
import os
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


def _write_parquet(rows: Iterator[dict], path: Path, batch_rows: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema()
    count = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
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


def _write_csv(rows: Iterator[dict], path: Path) -> int:
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            row["normalised"] = base64.b64encode(row["normalised"]).decode()  # CSV has no bytes: base64
            for name in ("created_at", "labelled_at"):
                row[name] = row[name].isoformat() if row[name] else ""
            writer.writerow(row)
            count += 1
    return count


def export(
    records: Iterable[PredictionRecord],
    path: Path,
    batch_rows: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Stream ``records`` into ``path`` (.parquet or .csv); written to a temporary name, renamed when complete."""
    if path.suffix.lower() not in FORMATS:
        raise ExportError(f"{path.name}: the export format is taken from the suffix, one of {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")

    def rows() -> Iterator[dict]:
        for record in records:
            if progress:
                progress(1)
            yield _row(record)

    try:
        if path.suffix.lower() == ".parquet":
            count = _write_parquet(rows(), partial, batch_rows)
        else:
            count = _write_csv(rows(), partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count
