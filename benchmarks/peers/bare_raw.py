"""The least a prediction over HTTP can cost here, the peer our own overhead is measured against: the raw body
decoded by Pillow to 28x28 grey, the shipped model through LiteRT, JSON out. No prediction log, metrics, access
lines, limits or checks.

.venv/bin/python -m gunicorn -w 2 -k uvicorn_worker.UvicornWorker benchmarks.peers.bare_raw:app
"""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from benchmarks.peers.work import load_predictor, read_body

PREDICTOR = load_predictor()
HEADERS = [(b"content-type", b"application/json")]


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    image = Image.open(io.BytesIO(await read_body(receive))).convert("L")
    pixels = np.asarray(image if image.size == (28, 28) else image.resize((28, 28)), dtype=np.float32) / 255.0
    prediction = PREDICTOR.predict(pixels[None])[0]
    payload = json.dumps({"digit": prediction.digit, "confidence": round(prediction.confidence, 6)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*HEADERS, (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
