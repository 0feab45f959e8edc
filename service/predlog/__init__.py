"""The prediction log: one interface, SQLite (embedded default) and Cassandra side by side."""

from __future__ import annotations

from service.predlog.base import PredictionLog, PredictionRecord, new_prediction_id
from service.predlog.factory import open_prediction_log

__all__ = ["PredictionLog", "PredictionRecord", "new_prediction_id", "open_prediction_log"]
