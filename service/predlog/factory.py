"""Pick the prediction-log backend from PREDICTION_LOG."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from ml.config import Settings
from service.predlog.base import PredictionLog


def open_prediction_log(settings: Settings) -> PredictionLog:
    parsed = urlparse(settings.prediction_log)
    if parsed.scheme == "cassandra":
        from service.predlog.cassandra import CassandraPredictionLog

        return CassandraPredictionLog(
            settings.prediction_log, settings.cassandra_username, settings.cassandra_password,
            settings.cassandra_consistency,
        )
    from service.predlog.sqlite import SqlitePredictionLog

    return SqlitePredictionLog(Path(parsed.netloc + parsed.path))
