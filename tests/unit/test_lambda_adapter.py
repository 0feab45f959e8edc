"""Lambda function-URL events (payload format 2.0), as AWS sends them, through the real handler."""

from __future__ import annotations

import base64
import gzip
import json

from urllib3 import encode_multipart_formdata

from tests.conftest import GOLDEN
from tests.fixtures.events import load_predict_handler as load_handler
from tests.fixtures.events import url_event


def test_base64_multipart_event_is_predicted(monkeypatch, tmp_path):
    handler = load_handler(monkeypatch, tmp_path)
    body, content_type = encode_multipart_formdata(
        {"file": ("4.png", (GOLDEN / "4_canvas.png").read_bytes(), "image/png")}
    )
    result = handler(url_event("POST", "/", body, {"content-type": content_type}), None)
    assert result["statusCode"] == 200 and not result["isBase64Encoded"]
    answer = json.loads(result["body"])
    assert answer["digit"] == 4 and answer["filename"] == "4.png"
    image = handler(url_event("GET", f"/predictions/{answer['id']}/image"), None)
    assert image["isBase64Encoded"] and base64.b64decode(image["body"]) == (GOLDEN / "4_canvas.png").read_bytes()


def test_raw_binary_event_and_errors(monkeypatch, tmp_path):
    handler = load_handler(monkeypatch, tmp_path)
    raw = handler(url_event("POST", "/", (GOLDEN / "9_paper.jpg").read_bytes(), {"content-type": "image/jpeg"}), None)
    assert json.loads(raw["body"])["digit"] == 9
    text = handler(url_event("POST", "/", b"hello", {"content-type": "text/plain"}), None)
    assert text["statusCode"] == 415 and json.loads(text["body"])["error"] == "unsupported_content_type"
    listed = handler(url_event("GET", "/predictions", query={"limit": "5"}), None)
    assert listed["statusCode"] == 200 and len(json.loads(listed["body"])["predictions"]) == 1


def test_the_page_its_assets_a_correction_and_stats_through_a_function_url(monkeypatch, tmp_path):
    handler = load_handler(monkeypatch, tmp_path)
    page = handler(url_event("GET", "/", headers={"accept": "text/html"}), None)
    assert page["statusCode"] == 200 and not page["isBase64Encoded"] and 'id="pad"' in page["body"]
    script = handler(url_event("GET", "/assets/app.js"), None)
    assert script["headers"]["content-type"].startswith("text/javascript") and "fetchJSON" in script["body"]
    revalidated = handler(
        url_event("GET", "/assets/app.js", headers={"if-none-match": script["headers"]["etag"]}), None
    )
    assert revalidated["statusCode"] == 304
    packed = handler(url_event("GET", "/assets/app.js", headers={"accept-encoding": "gzip"}), None)
    assert packed["headers"]["content-encoding"] == "gzip" and packed["isBase64Encoded"]  # bytes, not text
    assert gzip.decompress(base64.b64decode(packed["body"])).decode() == script["body"]
    answer = json.loads(
        handler(url_event("POST", "/", (GOLDEN / "0_chalk.png").read_bytes(), {"content-type": "image/png"}), None)[
            "body"
        ]
    )
    label = handler(
        url_event("POST", f"/predictions/{answer['id']}/label", b'{"label": 6}', {"content-type": "application/json"}),
        None,
    )
    assert label["statusCode"] == 200 and json.loads(label["body"])["label"] == 6
    stats = json.loads(handler(url_event("GET", "/stats", query={"days": "1"}), None)["body"])
    assert (stats["total"]["count"], stats["total"]["corrected"], stats["total"]["corrected_accuracy"]) == (1, 1, 0.0)


def test_any_declared_type_is_answered_without_raising(monkeypatch, tmp_path):
    """An upload declared text/* whose bytes are binary: the Lambda answer is base64, never an exception."""
    handler = load_handler(monkeypatch, tmp_path)
    png = (GOLDEN / "3_canvas.png").read_bytes()
    body, content_type = encode_multipart_formdata({"file": ("3.txt", png, "text/plain")})
    answer = json.loads(handler(url_event("POST", "/", body, {"content-type": content_type}), None)["body"])
    served = handler(url_event("GET", f"/predictions/{answer['id']}/image"), None)
    assert served["statusCode"] == 200 and served["isBase64Encoded"]
    assert served["headers"]["content-type"] == "image/png" and base64.b64decode(served["body"]) == png
    from service.http.adapters import to_lambda
    from service.http.messages import Response

    odd = to_lambda(Response(200, b"\xff\xfe\x00 not utf-8", "text/plain"))
    assert odd["isBase64Encoded"] and base64.b64decode(odd["body"]) == b"\xff\xfe\x00 not utf-8"


def test_an_event_whose_body_is_not_base64_is_400(monkeypatch, tmp_path):
    handler = load_handler(monkeypatch, tmp_path)
    event = url_event("POST", "/", b"x", {"content-type": "image/png"})
    event["body"] = "***not base64***"
    result = handler(event, None)
    assert result["statusCode"] == 400 and json.loads(result["body"])["error"] == "invalid_body"


def test_a_lambda_runtime_reports_by_emf_lines_and_never_imports_prometheus(tmp_path):
    """A fresh process with AWS_LAMBDA_FUNCTION_NAME set, as every Lambda runtime has: a prediction
    prints its EMF line, /metrics says where the figures are, and prometheus_client stays unimported."""
    import os
    import subprocess
    import sys

    from tests.conftest import MODEL_STORE, ROOT

    script = f"""
import importlib.util, json, sys
sys.path.insert(0, {str(ROOT)!r})
from tests.fixtures.events import url_event
spec = importlib.util.spec_from_file_location("main", {str(ROOT / "functions/predict/main.py")!r})
main = importlib.util.module_from_spec(spec)
spec.loader.exec_module(main)
png = open({str(GOLDEN / "4_canvas.png")!r}, "rb").read()
answer = main.lambda_handler(url_event("POST", "/", png, {{"content-type": "image/png"}}), None)
scrape = main.lambda_handler(url_event("GET", "/metrics"), None)
print(json.dumps([answer["statusCode"], scrape["statusCode"], "prometheus_client" in sys.modules]))
"""
    env = {
        **os.environ,
        "AWS_LAMBDA_FUNCTION_NAME": "predict",
        "MODEL_STORE": f"file://{MODEL_STORE}",
        "PREDICTION_LOG": f"sqlite://{tmp_path / 'p.db'}",
        "SPOOL_DIR": str(tmp_path / "spool"),
        "INLINE_IMAGE_BYTES": "1048576",  # the shipped store is read, never written: the original stays inline
    }
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == [200, 404, False]
    emf = [json.loads(line) for line in lines if line.startswith('{"_aws"')]
    assert emf[0]["Function"] == "predict" and emf[0]["Digits"] == [4], emf


class Context:
    """The two members of the Lambda runtime's context object (awslambdaric's LambdaContext) a handler reads."""

    def __init__(self, request_id: str, remaining_ms: int) -> None:
        self.aws_request_id, self.remaining_ms = request_id, remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_on_lambda_the_invocations_request_id_is_the_requests_everywhere(monkeypatch, tmp_path):
    handler = load_handler(monkeypatch, tmp_path)
    lambda_id = "3f1c2b9e-8d4a-4c1e-9a7b-5e6f7a8b9c0d"
    body, content_type = encode_multipart_formdata({"file": ("4.png", (GOLDEN / "4_canvas.png").read_bytes())})
    headers = {"content-type": content_type, "x-request-id": "the-clients-own"}
    result = handler(url_event("POST", "/", body, headers), Context(lambda_id, 10_000))
    assert result["statusCode"] == 200 and result["headers"]["x-request-id"] == lambda_id
    record = handler(url_event("GET", f"/predictions/{json.loads(result['body'])['id']}"), None)
    assert json.loads(record["body"])["request_id"] == lambda_id


def test_with_too_little_time_left_nothing_is_recorded_and_the_answer_says_so(monkeypatch, tmp_path):
    from service.predlog.cql_connect import WORST_WRITE_S

    handler = load_handler(monkeypatch, tmp_path)
    body, content_type = encode_multipart_formdata({"file": ("4.png", (GOLDEN / "4_canvas.png").read_bytes())})
    late = handler(url_event("POST", "/", body, {"content-type": content_type}), Context("a", int(WORST_WRITE_S * 500)))
    assert late["statusCode"] == 503 and json.loads(late["body"])["error"] == "out_of_time"
    assert "retry-after" in late["headers"]
    listed = handler(url_event("GET", "/predictions"), None)
    assert json.loads(listed["body"])["predictions"] == []  # nothing written that a time limit could cut short
    in_time = handler(url_event("POST", "/", body, {"content-type": content_type}), Context("b", 15_000))
    assert in_time["statusCode"] == 200


def test_on_lambda_a_training_that_cannot_end_in_the_time_left_is_refused_at_once(tmp_path):
    import subprocess
    import sys

    from service.http.entry import train_function
    from service.settings import Settings

    settings = Settings.from_env(
        {
            "TRAIN_TOKEN": "t0ken-with-enough-entropy",
            "TRAIN_LOCK_FILE": str(tmp_path / "train.lock"),
            "MODEL_STORE": f"file://{tmp_path / 'store'}",
            "TRAIN_SECONDS_PER_EPOCH": "30",
            "TRAIN_SECONDS_FIXED": "60",
        }
    )
    app = train_function(settings)
    auth = {"authorization": "Bearer t0ken-with-enough-entropy", "content-type": "application/json"}

    def train(params: dict, seconds_left: int) -> dict:
        event = url_event("POST", "/", json.dumps(params).encode(), auth)
        return app.serve_lambda(event, Context("r", seconds_left * 1000))

    default = train({}, 600)  # 10 epochs x 2 members x 30 s + 60 s: 660 s
    assert default["statusCode"] == 422 and json.loads(default["body"])["error"] == "training_too_long"
    assert "about 660 s" in json.loads(default["body"])["message"]
    # one that fits goes on to the training itself: here it meets the lock another process holds
    hold = "import fcntl, sys, time; f = open(sys.argv[1], 'w'); fcntl.lockf(f, fcntl.LOCK_EX); print(1, flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path / "train.lock")], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline()
        small = train({"epochs": 2, "members": 1, "subset": 6000}, 900)
    finally:
        holder.kill()
        holder.wait()
    assert small["statusCode"] == 409, small["body"]
