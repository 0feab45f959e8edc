"""What gzip costs and saves, per kind of answer: the static assets (compressed once), a history read (per
request), and a prediction's JSON answer (never compressed: the figure says why).

    python -m benchmarks.compression
"""

from __future__ import annotations

import gzip
import json
import timeit

from service.http.compression import ANSWER_LEVEL, compress_answer
from service.http.messages import Request, json_response
from service.http.pages import _assets

RECORD = {
    "id": "a" * 32,
    "created_at": "2026-01-01T00:00:00Z",
    "filename": "4_chalk.png",
    "digit": 4,
    "is_digit": True,
    "confidence": 0.99,
    "probabilities": [0.001] * 10,
    "model_version": "20261207T134255Z-caaae0",
    "label": None,
    "latency_ms": 3.1,
}


def per_call(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def main() -> None:
    post = Request("POST", "/", {"accept-encoding": "gzip, deflate, br"}, {}, b"")
    answer = json_response(200, {**RECORD, "probabilities": [0.1] * 10})
    decide = per_call(lambda: compress_answer(post, answer), 100_000)
    packed = gzip.compress(answer.body, ANSWER_LEVEL, mtime=0)
    would = per_call(lambda: gzip.compress(answer.body, ANSWER_LEVEL, mtime=0), 10_000)
    print(f"POST / answer, {len(answer.body)} B: left as it is, decided in {decide * 1e9:.0f} ns")
    print(f"  gzipped it would be {len(packed)} B, for {would * 1e6:.1f} us of CPU per prediction")
    listing = json.dumps({"predictions": [RECORD] * 20, "low_confidence_below": 0.9}).encode()
    cost = per_call(lambda: gzip.compress(listing, ANSWER_LEVEL, mtime=0), 2_000)
    size = len(gzip.compress(listing, ANSWER_LEVEL, mtime=0))
    print(f"GET /predictions (20 records), {len(listing)} B -> {size} B in {cost * 1e6:.0f} us")
    for name, asset in sorted(_assets().items()):
        print(f"  {name}: {len(asset.body)} B -> {len(asset.gzip) if asset.gzip else 'sent as it is'}")


if __name__ == "__main__":
    main()
