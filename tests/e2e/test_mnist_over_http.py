"""MNIST's test set, all 10,000, sent as PNG uploads to a real predict function: every answer is the
model's own in-process answer (pictures already in MNIST's form reach the model unchanged)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests
from PIL import Image

from ml.evaluation import mnist_answers
from scripts.servers import function_server

pytestmark = pytest.mark.training  # MNIST-based, ~30 s


def png(digit: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(digit).save(out, "PNG")
    return out.getvalue()


def test_mnist_test_set_over_http_scores_exactly_what_the_model_scores_in_process(
    tmp_path, predict_env, mnist_data, shipped_predictor
):
    images, labels = mnist_data.x_test, mnist_data.y_test
    served = mnist_answers(shipped_predictor, images)  # calibrated; None where refused as not a digit
    in_process = [None if refused else int(d) for d, refused in zip(served.digit, served.refused, strict=True)]
    over_http: list[int] = []
    with function_server("predict", predict_env, tmp_path) as url, requests.Session() as session:
        for start in range(0, len(images), 64):  # MAX_FILES_PER_REQUEST
            batch = range(start, min(start + 64, len(images)))
            answer = session.post(url, files=[("file", (f"{i}.png", png(images[i]))) for i in batch], timeout=120)
            assert answer.status_code == 200, answer.text[:300]
            over_http.extend(p["digit"] for p in answer.json())
    assert over_http == in_process
    right = [d == label for d, label in zip(over_http, labels.tolist(), strict=True)]
    assert float(np.mean(right)) == float(((served.digit == labels) & ~served.refused).mean())
