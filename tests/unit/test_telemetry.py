"""Request ids, the access line, EMF, through the real entry point and Lambda handler (in process)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from service import applog, telemetry
from tests.conftest import GOLDEN
from tests.fixtures.events import load_predict_handler, url_event
from tests.fixtures.records import record


@pytest.mark.parametrize(
    "given, kept",
    [
        ("abc-123", True),
        ("a" * 128, True),
        ("trace:1.2_x", True),
        ("", False),
        ("a" * 129, False),
        ("has space", False),
        ('quote"s', False),
        ("new\nline", False),
        ("-lead", False),
    ],
)
def test_a_client_request_id_is_kept_only_when_it_is_sane(given, kept):
    got = telemetry.request_id_from(given)
    assert (got == given) is kept
    assert len(got) <= 128 and "\n" not in got


def test_json_lines_carry_the_request_id_and_fields():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(applog.JsonFormatter())
    logger = logging.getLogger("digits.test")
    logger.addHandler(handler)
    try:
        with applog.request_context("rid-1"):
            logger.warning("inside %s", "a request", extra={"fields": {"status": 200}})
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert inside["request_id"] == "rid-1" and inside["message"] == "inside a request" and inside["status"] == 200
    assert "request_id" not in outside


def test_the_access_line_written_directly_is_the_line_logging_would_write():
    """The access line skips logging's machinery when nothing but our JSON handler listens; the line must
    not differ from the one JsonFormatter writes for the same fields (checked with a second listener on,
    which sends it through logging)."""
    fields = {"request_id": "rid-2", "method": "POST", "route": "/", "status": 503, "latency_ms": 1.5, "ids": ["a"]}
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    direct, through_logging = io.StringIO(), io.StringIO()
    try:
        applog.configure("json", "INFO")
        root.handlers[0].stream = direct
        applog.access(fields)
        listener = logging.StreamHandler(io.StringIO())
        root.addHandler(listener)
        root.handlers[0].stream = through_logging
        applog.access(fields)
    finally:
        root.handlers[:], root.level = saved, level
    first, second = json.loads(direct.getvalue()), json.loads(through_logging.getvalue())
    assert first.pop("time")[:10] == second.pop("time")[:10]
    assert list(first.items()) == list(second.items())
    assert first["level"] == "ERROR" and first["message"] == "POST / 503" and first["logger"] == "digits.access"


def test_lambda_invocations_write_one_emf_line_and_echo_the_request_id(monkeypatch, tmp_path, capsys):
    handler = load_predict_handler(monkeypatch, tmp_path)
    image = (GOLDEN / "3_canvas.png").read_bytes()
    answer = handler(
        url_event("POST", "/", image, {"content-type": "image/png", "x-request-id": "from-the-page-1"}), None
    )
    assert answer["statusCode"] == 200 and answer["headers"]["x-request-id"] == "from-the-page-1"
    body = json.loads(answer["body"])
    assert body["request_id"] == "from-the-page-1"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert len(emf) == 1
    line = emf[0]
    names = {m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"Requests", "Latency", "Predictions", "PreprocessLatency", "InferenceLatency", "LogWriteLatency"} <= names
    assert all(name in line for name in names)  # every declared metric has its value on the line
    assert (line["Route"], line["Status"], line["Digits"], line["request_id"]) == ("/", 200, [3], "from-the-page-1")


def test_a_refused_body_is_logged_and_counted_with_an_id_too(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1024")
    handler = load_predict_handler(monkeypatch, tmp_path)
    answer = handler(url_event("POST", "/", b"x" * 5000, {"content-type": "image/png"}), None)
    assert answer["statusCode"] == 413 and len(answer["headers"]["x-request-id"]) == 32
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [(e["Status"], e["ClientErrors"]) for e in emf] == [(413, 1)]


def _samples() -> dict[str, float]:
    from service import monitoring

    body, _ = monitoring.render()
    lines = [line.rsplit(" ", 1) for line in body.decode().splitlines() if line and not line.startswith("#")]
    return {name: float(value) for name, value in lines if "digits_model" not in name and "_up" not in name}


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: value - before.get(name, 0.0) for name, value in after.items() if value != before.get(name, 0.0)}


def test_a_tallied_turn_writes_what_counting_each_request_writes():
    """The ASGI entry counts a turn's requests in memory and writes them once (monitoring.Tally, which sums
    histograms itself); the exposition must move exactly as it does when each request is counted alone."""
    from service import monitoring

    requests = []
    for n, (digit, confidence, seconds) in enumerate([(7, 0.99, 0.0004), (3, 0.42, 0.03), (10, 0.97, 0.0011)]):
        t = telemetry.RequestTelemetry("predict", f"tally-{n}", "POST", "/", 10)
        t.route = "/tally-test"
        t.stages = {"preprocess": seconds / 3, "inference": seconds / 4, "log_write": 0.0025}  # one on a bound
        t.recorded([record(digit=digit, confidence=confidence, model_version="v1")])
        t.finish(200 if digit != 10 else 422, 10)
        t.seconds = seconds
        requests.append(t)
    start = _samples()
    for t in requests:
        monitoring.observe(t, 0.5)
    direct = _delta(start, middle := _samples())
    for t in requests:
        monitoring.observe(t, 0.5, into=monitoring.tally())
    monitoring.tally().flush()
    tallied = _delta(middle, _samples())
    assert direct and set(tallied) == set(direct)
    for name, value in direct.items():
        assert tallied[name] == pytest.approx(value, rel=1e-12), name
    assert direct['digits_predictions_total{digit="not_a_digit"}'] == 1
