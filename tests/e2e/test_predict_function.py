"""The predict function over real sockets under scripts/serve.sh: a few checks that keep the wiring
honest (the whole contract runs in-process in tests/functional/test_predict_contract.py)."""

from __future__ import annotations

import requests

from scripts.servers import function_server, raw_exchange
from tests.conftest import GOLDEN, golden_images
from tests.fixtures.images import costly_parts


def test_golden_images_a_record_and_a_refused_length_over_real_sockets(tmp_path, predict_env):
    with function_server("predict", predict_env, tmp_path) as url:
        files = [("file", (path.name, path.read_bytes())) for path in golden_images()]
        answer = requests.post(url, files=files, timeout=60)
        assert answer.status_code == 200, answer.text
        digits = [p["digit"] for p in answer.json()]
        assert digits == [int(path.name[0]) for path in golden_images()]
        first = answer.json()[0]
        image = requests.get(f"{url}/predictions/{first['id']}/image", timeout=10)
        assert image.content == golden_images()[0].read_bytes()
        # refused by its Content-Length before a byte of the body is read
        refused = raw_exchange(
            url, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 99999999\r\n\r\n"
        )
        assert refused.startswith(b"HTTP/1.1 413 ") and b'"payload_too_large"' in refused
        assert requests.get(url + "/healthz", timeout=10).json()["status"] == "ok"
        raw = requests.post(
            url, data=(GOLDEN / "9_paper.jpg").read_bytes(), headers={"Content-Type": "image/jpeg"}, timeout=30
        )
        assert raw.json()["digit"] == 9


def test_a_costly_request_does_not_hold_up_an_ordinary_upload(tmp_path, predict_env):
    """One worker: the costly request decodes in the costly lane while the event loop answers the ordinary
    upload sent after it, which used to wait for it to end."""
    import threading
    import time

    with function_server("predict", {**predict_env, "WORKERS": "1"}, tmp_path) as url:
        costly_done = threading.Event()
        answers = {}

        def send_costly() -> None:
            answers["costly"] = requests.post(url, files=costly_parts(), timeout=120)
            costly_done.set()

        threading.Thread(target=send_costly, daemon=True).start()
        time.sleep(0.2)  # its body has arrived and it decodes
        ordinary = requests.post(url, files={"file": ("3.png", (GOLDEN / "3_canvas.png").read_bytes())}, timeout=60)
        assert ordinary.status_code == 200 and ordinary.json()["digit"] == 3
        assert not costly_done.is_set(), "the ordinary upload waited for the costly request"
        assert costly_done.wait(120)
        assert answers["costly"].status_code in (200, 422), answers["costly"].text
