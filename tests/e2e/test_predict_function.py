"""The predict function over real sockets under scripts/serve.sh: a few checks that keep the wiring
honest (the whole contract runs in-process in tests/functional/test_predict_contract.py)."""

from __future__ import annotations

import requests

from scripts.servers import function_server, raw_exchange
from tests.conftest import GOLDEN, golden_images


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
