"""Metrics, structured logs and the API description, on real functions-framework processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
import requests

from scripts.servers import function_server
from tests.conftest import GOLDEN, ROOT, SHIPPED_VERSION


def sample(metrics_text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text format (0 when it is absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics_text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name and ",".join(sorted((match[2] or "").split(","))) == wanted:
            return float(match[3])
    return 0.0


@pytest.fixture
def two_workers(tmp_path, predict_env):
    """WORKERS=2: the counts must be the sum of both workers, whichever answers /metrics."""
    with function_server("predict", {**predict_env, "WORKERS": "2", "THREADS": "1"}, tmp_path) as url:
        yield url, tmp_path


def test_a_burst_of_good_and_bad_requests_shows_exact_counts(two_workers):
    url, _ = two_workers
    session = requests.Session()
    for name in ("3_canvas.png", "7_paper.jpg", "3_chalk.png", "0_canvas.png"):
        assert session.post(url, files={"file": (name, (GOLDEN / name).read_bytes())}, timeout=30).status_code == 200
    for _ in range(3):
        assert session.post(url, files={"file": ("a.txt", b"not an image")}, timeout=30).status_code == 415
    assert session.get(url + "/predictions/not-an-id", timeout=10).status_code == 404
    assert session.get(url + "/nowhere", timeout=10).status_code == 404
    assert session.delete(url + "/healthz", timeout=10).status_code == 405
    for _ in range(2):
        session.get(url + "/healthz", timeout=10)
    text = session.get(url + "/metrics", timeout=10).text
    count = lambda **labels: sample(text, "digits_requests_total", function="predict", **labels)  # noqa: E731
    assert count(route="/", method="POST", status="200") == 4
    assert count(route="/", method="POST", status="415") == 3
    assert count(route="/predictions/<prediction_id>", method="GET", status="404") == 1
    assert count(route="other", method="GET", status="404") == 1
    assert count(route="/healthz", method="DELETE", status="405") == 0  # unmatched method: route "other"
    assert count(route="other", method="DELETE", status="405") == 1
    assert count(route="/healthz", method="GET", status="200") == 3  # 2 + the readiness probe of function_server
    assert {d: sample(text, "digits_predictions_total", digit=str(d)) for d in (0, 3, 7)} == {0: 1, 3: 2, 7: 1}
    assert sample(text, "digits_prediction_confidence_count") == 4
    assert sample(text, "digits_stage_duration_seconds_count", stage="inference") == 4
    assert sample(text, "digits_stage_duration_seconds_count", stage="preprocess") == 7  # 4 read, 3 refused
    assert sample(text, "digits_stage_duration_seconds_count", stage="log_write") == 4
    assert sample(text, "digits_request_duration_seconds_count", function="predict", route="/") == 7
    assert sample(text, "digits_model_serving", version=SHIPPED_VERSION) == 1
    assert sample(text, "digits_prediction_log_up") == 1 and sample(text, "digits_model_store_up") == 1
    assert sample(text, "digits_spool_records") == 0
    assert sample(text, "digits_model_reloads_total") >= 1


def test_every_log_line_of_a_request_is_json_with_its_id_which_is_echoed_and_stored(two_workers):
    url, tmp_path = two_workers
    answer = requests.post(
        url,
        files={"file": ("3.png", (GOLDEN / "3_canvas.png").read_bytes())},
        headers={"X-Request-Id": "page-7f3a"},
        timeout=30,
    )
    assert answer.headers["X-Request-Id"] == "page-7f3a" and answer.json()["request_id"] == "page-7f3a"
    stored = requests.get(f"{url}/predictions/{answer.json()['id']}", timeout=10).json()
    assert stored["request_id"] == "page-7f3a"
    hostile = requests.get(url + "/healthz", headers={"X-Request-Id": "x" * 300}, timeout=10)
    generated = hostile.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    log_text = "".join(p.read_text() for p in tmp_path.glob("predict-*.log"))
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == "page-7f3a"]
    access = [line for line in mine if line["logger"] == "digits.access"]
    assert len(access) == 1
    assert access[0] | {"latency_ms": 0} == access[0] | {
        "method": "POST",
        "route": "/",
        "status": 200,
        "prediction_ids": [answer.json()["id"]],
        "model_version": SHIPPED_VERSION,
        "latency_ms": 0,
    }
    assert access[0]["bytes_in"] > 1000 and access[0]["bytes_out"] > 100
    assert any(line.get("request_id") == generated and line["logger"] == "digits.access" for line in lines)
    assert "x" * 300 not in log_text


def test_metrics_follow_the_history_read_rule(tmp_path, predict_env):
    env = {**predict_env, "PREDICTIONS_READ": "token", "PREDICTIONS_TOKEN": "reader-secret"}
    with function_server("predict", env, tmp_path) as url:
        assert requests.get(url + "/metrics", timeout=10).status_code == 401
        ok = requests.get(url + "/metrics", headers={"Authorization": "Bearer reader-secret"}, timeout=10)
        assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("text/plain")
        assert requests.get(url + "/openapi.json", timeout=10).json()["openapi"].startswith("3.1")


def schemathesis(url: str, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    """One schemathesis run; its "N generated" line is appended to test-artifacts/schemathesis.txt,
    which .ci/run prints (pytest hides a passing test's output)."""
    st = shutil.which("st", path=str(ROOT / ".venv" / "bin")) or shutil.which("schemathesis")
    assert st, "schemathesis is not installed (make install installs it)"
    run = subprocess.run(
        [
            st,
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path / "st"),
            "--no-color",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        # first on the path: the hooks module is ours, and a wheel installed here ships a top-level ``tests``
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
    )
    generated = re.findall(r"(\d+) generated.*", run.stdout)
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with open(artifacts / "schemathesis.txt", "a") as out:
        out.write(
            f"{url}/openapi.json {' '.join(extra)}: {generated[-1] if generated else '?'} test cases generated, "
            f"exit {run.returncode}\n"
        )
    return run


def test_schemathesis_finds_nothing_in_the_predict_function(tmp_path, predict_env):
    # operation by operation; the chains along the document's links are the stateful test's below
    phases = ("--phases", "examples,coverage,fuzzing")
    with function_server("predict", predict_env, tmp_path) as url:
        pictures = ("predict", "infer", "inferVersion")
        every_check = schemathesis(url, tmp_path, *phases, *(f"--exclude-operation-id={o}" for o in pictures))
        # POST / and /v2 infer: any bytes sent as an image (any tensor) are schema-valid, but only real pictures
        # are accepted (415, 400 or 422 name the problem); JSON Schema cannot say "a decodable image", so for
        # these operations the positive-data check is off and every other check stays on
        upload = schemathesis(
            url,
            tmp_path,
            *phases,
            *(f"--include-operation-id={o}" for o in pictures),
            "--exclude-checks",
            "positive_data_acceptance",
        )
    for run in (every_check, upload):
        print(run.stdout[-1500:])
        assert run.returncode == 0, run.stdout[-6000:]


def test_schemathesis_follows_an_upload_to_its_record_and_its_correction(tmp_path, predict_env, monkeypatch):
    """The stateful phase: schemathesis chains operations along the document's links (an upload's id to its
    record, its images and its correction), every check on. Its uploads carry a real picture (the hooks say
    why), so the chains reach records that exist."""
    monkeypatch.setenv("SCHEMATHESIS_HOOKS", "tests.fixtures.schemathesis_hooks")
    with function_server("predict", predict_env, tmp_path) as url:
        # /v2 infer is no link of a chain, and its bodies would need real pictures too: the test above covers it
        skip = ("--exclude-operation-id=infer", "--exclude-operation-id=inferVersion")
        run = schemathesis(url, tmp_path, "--phases", "stateful", "--max-examples", "20", *skip)
        labelled = [
            p for p in requests.get(f"{url}/predictions?limit=500", timeout=10).json()["predictions"] if p["label"]
        ]
    print(run.stdout[-1500:])
    assert run.returncode == 0, run.stdout[-6000:]
    # the links the document declares (schemathesis infers others from names alone), each followed
    links = re.search(r"API Links:\s+(\d+) covered / \d+ selected / (\d+) total \((\d+) inferred\)", run.stdout)
    assert links and int(links[2]) - int(links[3]) == 4 and int(links[1]) >= 4, run.stdout[-3000:]
    assert labelled, "no chain reached a correction of an uploaded record"


def test_schemathesis_finds_nothing_in_the_train_function(tmp_path, predict_env):
    # with a token, every generated valid body would start a real training: the run covers auth,
    # routing and the error contract; parameter validation is covered by the train tests
    with function_server("train", {**predict_env, "TRAIN_TOKEN": "st-token"}, tmp_path) as url:
        run = schemathesis(url, tmp_path)
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-6000:]


def test_what_schemathesis_found_stays_fixed(tmp_path, predict_env):
    """Each was a finding of the runs above; kept as plain requests so they cannot come back."""
    seven = __import__("base64").b64encode((GOLDEN / "7_paper.jpg").read_bytes()).decode()
    with function_server("predict", predict_env, tmp_path) as url:
        # a path Flask cannot route (newline) answered Flask's HTML 404: now ours, JSON with an id
        lost = requests.get(url + "/predictions/abc%0A", timeout=10)
        assert lost.status_code == 404 and lost.json()["error"] == "not_found" and lost.headers["X-Request-Id"]
        # both "image" and "images", a field that is not ours, a filename that is not a string: named, not ignored
        for body, words in (
            ({"image": seven, "images": [seven]}, "not both"),
            ({"image": seven, "imgae": 1}, "'imgae'"),
            ({"image": seven, "filename": {}}, '"filename" must be a string'),
        ):
            refused = requests.post(url, json=body, timeout=30)
            assert refused.status_code == 400 and words in refused.json()["message"], refused.text
        # 7.0 is the JSON number 7: a correction with it is accepted
        pid = requests.post(url, json={"image": seven}, timeout=30).json()["id"]
        corrected = requests.post(f"{url}/predictions/{pid}/label", json={"label": 7.0}, timeout=10)
        assert corrected.status_code == 200 and corrected.json()["label"] == 7


def test_every_dashboard_query_names_a_metric_the_service_exports(two_workers):
    """infra/grafana/dashboards/digits.json against a live /metrics (after one prediction and one error)."""
    url, _ = two_workers
    requests.post(url, files={"file": ("3.png", (GOLDEN / "3_canvas.png").read_bytes())}, timeout=30)
    exported = set(re.findall(r"^# TYPE (\w+) ", requests.get(url + "/metrics", timeout=10).text, re.MULTILINE))
    # the train function's own appear once it has trained (tests/e2e/test_train_function.py reads them there)
    from service import monitoring

    exported |= {monitoring.prometheus().training_runs._name + "_total", monitoring.prometheus().training_seconds._name}
    dashboard = json.loads((ROOT / "infra" / "grafana" / "dashboards" / "digits.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        for name in re.findall(r"\bdigits_\w+", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in exported or base in exported, f"{expr}: {name} is not exported"
    panels = {p["title"] for p in dashboard["panels"]}
    assert any("Requests per second" in t for t in panels) and any("p99" in t for t in panels)
    assert any("Digit mix" in t for t in panels) and any("Spool" in t for t in panels)
    assert any("Model version" in t for t in panels) and any("onfidence" in t for t in panels)
