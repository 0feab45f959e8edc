"""Prometheus metrics of both functions, correct across gunicorn workers; CloudWatch EMF on Lambda.

prometheus_client's multiprocess mode: every worker writes its values to memory-mapped files in
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics``, whichever worker answers it, sums them all. The
directory must be chosen before prometheus_client is imported and shared by the workers of one
server only, so ``choose_directory`` creates a fresh one (the launcher calls it in gunicorn's master,
before the workers fork; any other process on its first use) unless the variable is already set. The metric objects are
made once per process on first use (``prometheus()``: prometheus_client registers each name once per
process, so they are a module-level singleton); nothing else here holds state.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import time
from bisect import bisect_left
from pathlib import Path

from ml.labels import NOT_A_DIGIT
from service.telemetry import RequestTelemetry

_OWNER_VAR = "DIGITS_METRICS_DIR_OWNER"  # "<pid> <directory>" when one of our processes made the directory


def _own_metrics_dir() -> None:
    """A fresh directory for this server, unless the operator chose one.

    A directory we created for another process (inherited through exec, e.g. a test run that
    started this server) is not ours to share: its counts would add to ours. One the operator names
    is theirs even beside such an inherited mark (the mark names the directory it is about)."""
    current = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    pid, _, made = os.environ.get(_OWNER_VAR, "").partition(" ")
    if current and (made != current or pid == str(os.getpid())):
        return
    directory = tempfile.mkdtemp(prefix=f"digits-metrics-{os.getpid()}-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    os.environ[_OWNER_VAR] = f"{os.getpid()} {directory}"
    owner = os.getpid()

    def remove_if_owner() -> None:
        if os.getpid() == owner:
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(remove_if_owner)


# Every Lambda runtime sets AWS_LAMBDA_FUNCTION_NAME. There the figures leave as CloudWatch EMF lines
# (emf_line), and prometheus_client, a large part of a cold start, is never imported: nothing scrapes a
# Lambda instance.
LAMBDA = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
_directory_chosen = False  # inherited by forked workers: they share their master's directory


def choose_directory() -> None:
    """This server's metrics directory, chosen once per server before prometheus_client is imported."""
    global _directory_chosen
    if not _directory_chosen and not LAMBDA:
        _own_metrics_dir()
        _directory_chosen = True


# The methods HTTP defines. functions-framework hands any well-formed token on as a method: each made-up one
# would be a label value, a series kept in this process and in every scrape for good, so they count as "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Prometheus:
    """The metric objects, created on first use (a server's workers: at their warm-up after the fork)."""

    def __init__(self) -> None:
        choose_directory()
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "digits_requests_total", "HTTP requests answered", ["function", "route", "method", "status"]
        )
        self.request_seconds = Histogram(
            "digits_request_duration_seconds",
            "Whole request, as the handler saw it",
            ["function", "route"],
            buckets=_LATENCY_BUCKETS,
        )
        self.stage_seconds = Histogram(  # stages: preprocess, inference, original_write, log_write
            "digits_stage_duration_seconds",
            "Time per stage of a prediction request",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
        )
        self.predictions = Counter(
            "digits_predictions_total", "Answered predictions by digit (not_a_digit: refused as not a digit)", ["digit"]
        )
        self.confidence = Histogram(
            "digits_prediction_confidence",
            "Confidence of answered predictions",
            buckets=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0),
        )
        self.low_confidence = Counter("digits_low_confidence_predictions_total", "Predictions below LOW_CONFIDENCE")
        self.model_reloads = Counter(
            "digits_model_reloads_total", "Models loaded by a predict process (the first included)"
        )
        self.models_refused = Counter(
            "digits_models_refused_total", "Promoted models a process refused to load (bad checksum...)"
        )
        # Gauges count only live workers ("live" modes): the server's master drops a worker's values when it
        # exits (process_exited), so a replaced worker's model version does not stay at 1 beside the new one.
        self.model_serving = Gauge(
            "digits_model_serving",
            "1 for the model version this function serves (two while its workers move to a new one)",
            ["version"],
            multiprocess_mode="livemax",
        )

        def state(name: str, description: str) -> Gauge:  # set by the worker answering a scrape, just before
            return Gauge(name, description, multiprocess_mode="livemostrecent")

        self.model_loaded = state("digits_model_loaded", "1 when a model can be served, 0 when none can yet")
        self.spool_records = state("digits_spool_records", "Records waiting in the local spool for the prediction log")
        self.log_up = state("digits_prediction_log_up", "1 when the prediction log answers")
        self.store_up = state("digits_model_store_up", "1 when the model store answers")
        self.training_runs = Counter("digits_training_runs_total", "Trainings by outcome", ["outcome"])
        self.training_seconds = Histogram(
            "digits_training_duration_seconds", "Whole trainings", buckets=(10, 30, 60, 120, 180, 300, 600, 1200)
        )
        self._children: dict[tuple, object] = {}

    def child(self, metric, *labels: str):
        """``metric.labels(*labels)``, looked up once: the per-request path then skips its lock and checks."""
        key = (metric._name, *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found


_metrics: Prometheus | None = None


def prometheus() -> Prometheus | None:
    """The metric objects of this process, or None in a Lambda runtime."""
    global _metrics
    if LAMBDA:
        return None
    if _metrics is None:
        _metrics = Prometheus()
    return _metrics


class _Direct:
    """Updates written as they come (each a locked write to this worker's file)."""

    @staticmethod
    def inc(counter, amount: float = 1.0) -> None:
        counter.inc(amount)

    @staticmethod
    def observe(histogram, value: float) -> None:
        histogram.observe(value)


class Tally:
    """Updates summed in memory and written in one go by ``flush``: the requests of one turn of a worker's
    event loop (16 clients: about 3 at a time) share one write per value instead of one each (12 a request).
    Histograms are summed as prometheus_client's own ``observe`` does (the first bucket whose bound is >=
    the value, and the sum); a test compares the two expositions. One thread only: the event loop's."""

    def __init__(self) -> None:
        self._counts: dict = {}
        self._sums: dict = {}
        self._buckets: dict = {}

    def inc(self, counter, amount: float = 1.0) -> None:
        self._counts[counter] = self._counts.get(counter, 0.0) + amount

    def observe(self, histogram, value: float) -> None:
        self._sums[histogram] = self._sums.get(histogram, 0.0) + value
        key = (histogram, bisect_left(histogram._upper_bounds, value))
        self._buckets[key] = self._buckets.get(key, 0) + 1

    def flush(self) -> None:
        counts, sums, buckets = self._counts, self._sums, self._buckets
        self._counts, self._sums, self._buckets = {}, {}, {}
        for counter, amount in counts.items():
            counter.inc(amount)
        for histogram, total in sums.items():
            histogram._sum.inc(total)
        for (histogram, index), n in buckets.items():
            histogram._buckets[index].inc(n)


_tally = Tally()


def tally() -> Tally:
    """This process's pending updates (``observe(..., into=tally())``, then ``tally().flush()``)."""
    return _tally


_DIRECT = _Direct()


def observe(t: RequestTelemetry, low_confidence: float, into: Tally | _Direct = _DIRECT) -> None:
    """Count one finished request, now or ``into`` a tally."""
    p = prometheus()
    if p is None:
        return
    method = t.method if t.method in _METHODS else "other"
    into.inc(p.child(p.requests, t.function, t.route, method, str(t.status)))
    into.observe(p.child(p.request_seconds, t.function, t.route), t.seconds)
    for stage, seconds in t.stages.items():
        into.observe(p.child(p.stage_seconds, stage), seconds)
    for digit, confidence in t.predictions:
        if digit == NOT_A_DIGIT:  # a refusal: counted, but its confidence is not an answer's
            into.inc(p.child(p.predictions, "not_a_digit"))
            continue
        into.inc(p.child(p.predictions, str(digit)))
        into.observe(p.confidence, confidence)
        if confidence < low_confidence:
            into.inc(p.low_confidence)
    if t.training_outcome:
        into.inc(p.child(p.training_runs, t.training_outcome))
        into.observe(p.training_seconds, t.seconds)


def model_loaded(version: str, previous: str | None) -> None:
    """A predict process now serves ``version`` (counted, and the serving gauge moved)."""
    p = prometheus()
    if p is not None:
        p.model_reloads.inc()
    set_state(model_version=version, previous_versions=(previous,) if previous else (), model_loaded=True)


def model_refused() -> None:
    """A promoted model failed its checks and was not loaded."""
    p = prometheus()
    if p is not None:
        p.models_refused.inc()


def set_state(
    *,
    model_version: str | None = None,
    previous_versions: tuple[str, ...] = (),
    model_loaded: bool | None = None,
    log_up: bool | None = None,
    store_up: bool | None = None,
    spooled: int | None = None,
) -> None:
    """Gauges read at scrape time (the serving model, what is reachable, the spool's depth)."""
    p = prometheus()
    if p is None:
        return
    for old in previous_versions:
        p.model_serving.labels(old).set(0)
    if model_version:
        p.model_serving.labels(model_version).set(1)
    if model_loaded is not None:
        p.model_loaded.set(int(model_loaded))
    if log_up is not None:
        p.log_up.set(int(log_up))
    if store_up is not None:
        p.store_up.set(int(store_up))
    if spooled is not None:
        p.spool_records.set(spooled)


def process_exited(pid: int) -> None:
    """A worker of this server exited (the master's hook, at once, before its pid can be reused): its gauges no
    longer count. Its counters still do: what it counted happened."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and not LAMBDA:
        for path in Path(directory).glob(f"gauge_live*_{pid}.db"):
            path.unlink(missing_ok=True)  # another worker's sweep may have been first


def _forget_dead_workers() -> None:
    """The gauges of workers gone without the master's hook (a server whose master is not ours, such as
    functions-framework's, or a hook that never ran): dropped at the next scrape."""
    for path in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("gauge_live*_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            process_exited(pid)
        except PermissionError:
            pass  # alive, another user's


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition of every worker of this server, and its content type."""
    choose_directory()
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    prometheus()  # this process's own metrics exist (at zero) even before its first request
    _tally.flush()  # and hold what its requests of this turn counted
    _forget_dead_workers()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def emf_line(t: RequestTelemetry, low_confidence: float) -> str:
    """The same figures as one CloudWatch embedded-metric-format log line (Lambda: no extra calls)."""
    metrics = {
        "Requests": 1,
        "Latency": round(t.seconds * 1000, 3),
        "ServerErrors": int(t.status >= 500),
        "ClientErrors": int(400 <= t.status < 500),
        "Predictions": len(t.predictions),
        "LowConfidence": sum(1 for _, c in t.predictions if c < low_confidence),
    }
    units = {"Latency": "Milliseconds"}
    for stage, seconds in t.stages.items():
        name = "".join(part.title() for part in stage.split("_")) + "Latency"
        metrics[name] = round(seconds * 1000, 3)
        units[name] = "Milliseconds"
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": "Digits",
                    "Dimensions": [["Function", "Route"]],
                    "Metrics": [{"Name": name, "Unit": units.get(name, "Count")} for name in metrics],
                }
            ],
        },
        "Function": t.function,
        "Route": t.route,
        "Status": t.status,
        "request_id": t.request_id,
        **metrics,
    }
    if t.predictions:
        document["Digits"] = [d for d, _ in t.predictions]
    if t.model_version:
        document["ModelVersion"] = t.model_version
    if t.training_outcome:
        document["TrainingOutcome"] = t.training_outcome
    return json.dumps(document, separators=(",", ":"))
