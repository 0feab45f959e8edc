"""Pick the prediction-log backend from PREDICTION_LOG."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from ml.corrections import Corrections
from service.predlog.base import PredictionLog
from service.settings import Settings


def open_prediction_log(settings: Settings) -> PredictionLog:
    parsed = urlparse(settings.prediction_log)
    if parsed.scheme == "cassandra":
        from service.predlog.cassandra import CassandraPredictionLog

        return CassandraPredictionLog(
            settings.prediction_log,
            settings.cassandra_username,
            settings.cassandra_password,
            settings.cassandra_read_consistency,
            settings.cassandra_local_dc or "datacenter1",
            str(settings.cassandra_tls_ca) if settings.cassandra_tls_ca else None,
            settings.cassandra_protocol_version or None,
        )
    from service.predlog.sqlite import SqlitePredictionLog

    return SqlitePredictionLog(Path(parsed.netloc + parsed.path))


def load_corrections(settings: Settings) -> Corrections:
    """Every correction in the configured log, as training data."""
    prediction_log = open_prediction_log(settings)
    try:
        prediction_log.ensure_schema()
        return Corrections.from_pairs((c.normalised, c.label) for c in prediction_log.corrections())
    finally:
        prediction_log.close()
