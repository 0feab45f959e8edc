"""A bare ASGI app on stock uvicorn workers, the baseline for our server's own overhead:

.venv/bin/python -m gunicorn -w 2 -k uvicorn_worker.UvicornWorker benchmarks.peers.bare_asgi:app
"""

from __future__ import annotations

import io

from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from benchmarks.peers.work import answer, load_predictor, read_body

PREDICTOR = load_predictor()


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    headers = dict(scope["headers"])
    mimetype, options = parse_options_header(headers.get(b"content-type", b"").decode("latin-1"))
    _, _, files = FormDataParser().parse(io.BytesIO(body), mimetype, len(body), options)
    payload = answer(PREDICTOR, files["file"].read())
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
