"""The Open Inference Protocol spoken to a running predict function by clients no one here wrote: Triton's
``tritonclient.http`` (JSON and binary tensors, single and batch, health, metadata, refusals) and KServe's REST
client (in its own venv), every answer compared with the upload API's on the same pictures."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess

import numpy as np
import pytest
import requests
from PIL import Image

from scripts.servers import function_server
from tests.conftest import ROOT, golden_images

KSERVE_PYTHON = ROOT / "var" / "bench" / "kserve" / "bin" / "python"
BATCH = 64  # MAX_FILES_PER_REQUEST


def _required(module: str, hint: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        message = f"{module} is not installed ({hint})"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: its absence there is a failure, not a skip
        pytest.skip(message)


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def uploaded(url: str, pictures: list[bytes]) -> list[dict]:
    """The upload API's answers, in order (a refused picture's answer carries its error code)."""
    answers: list[dict] = []
    for start in range(0, len(pictures), BATCH):
        files = [("file", (f"{i}.png", p)) for i, p in enumerate(pictures[start : start + BATCH], start)]
        answer = requests.post(url, files=files, timeout=120)
        assert answer.status_code == 200, answer.text[:300]
        answers += answer.json()
    return answers


def expected(answers: list[dict]) -> tuple[list[int], np.ndarray]:
    """What the protocol must answer for these uploads: -1 where refused, and the same probabilities."""
    digits = [-1 if a.get("error") else a["digit"] for a in answers]
    return digits, np.array([a.get("probabilities", [0.0] * 10) for a in answers])


def triton_infer(client, triton, name: str, array: np.ndarray, datatype: str, binary: bool = True):
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("digit", "probabilities", "not_a_digit")]
    return client.infer("digits", [tensor], outputs=outputs)


def test_tritonclient_reads_the_golden_set_as_the_upload_api_does_and_its_records_are_in_history(tmp_path, predict_env):
    triton = _required("tritonclient.http", "make install-dev installs it")
    pictures = [path.read_bytes() for path in golden_images()]
    with function_server("predict", predict_env, tmp_path) as url:
        client = triton.InferenceServerClient(url.removeprefix("http://"))
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("digits")
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
        metadata = client.get_model_metadata("digits")
        assert [i["name"] for i in metadata["inputs"]] == ["image", "pixels"] and metadata["versions"]
        digits, probabilities = expected(uploaded(url, pictures))
        for binary in (True, False):  # binary tensors both ways, then JSON (BYTES as base64 there)
            elements = pictures if binary else [base64.b64encode(p) for p in pictures]
            result = triton_infer(client, triton, "image", np.array(elements, dtype=object), "BYTES", binary)
            assert result.as_numpy("digit").tolist() == digits
            np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, atol=1e-6)
        single = triton_infer(client, triton, "image", np.array([pictures[0]], dtype=object), "BYTES")
        assert single.as_numpy("digit").tolist() == digits[:1]
        ids = result.get_response()["parameters"]["prediction_ids"].split(",")
        record = requests.get(f"{url}/predictions/{ids[0]}", timeout=10).json()
        assert record["filename"] == "image[0]" and record["digit"] == digits[0]
        assert requests.get(f"{url}/predictions/{ids[0]}/image", timeout=10).content == pictures[0]
        corrected = requests.post(f"{url}/predictions/{ids[0]}/label", json={"label": 3}, timeout=10)
        assert corrected.status_code == 200 and corrected.json()["label"] == 3
        total = requests.get(f"{url}/stats", timeout=10).json()["total"]
        assert (total["count"], total["corrected"]) == (3 * len(pictures) + 1, 1), total


def test_tritonclient_is_refused_a_wrong_shape_and_a_wrong_datatype_with_the_code(tmp_path, predict_env):
    triton = _required("tritonclient.http", "make install-dev installs it")
    from tritonclient.utils import InferenceServerException

    with function_server("predict", predict_env, tmp_path) as url:
        client = triton.InferenceServerClient(url.removeprefix("http://"))
        cases = {
            "invalid_shape": (np.zeros((1, 27, 29), np.uint8), "UINT8"),
            "invalid_datatype": (np.zeros((1, 28, 28), np.int64), "INT64"),
        }
        for code, (array, datatype) in cases.items():
            with pytest.raises(InferenceServerException) as refused:
                triton_infer(client, triton, "pixels", array, datatype)
            assert refused.value.status() == "400" and refused.value.message().startswith(f"{code}: ")
        with pytest.raises(InferenceServerException) as unknown:
            client.get_model_metadata("mnist")
        assert unknown.value.status() == "404" and "unknown_model" in unknown.value.message()


@pytest.mark.training  # MNIST-based
def test_a_thousand_mnist_digits_as_pixels_answer_as_their_pngs_uploaded(tmp_path, predict_env, mnist_data):
    triton = _required("tritonclient.http", "make install-dev installs it")
    images = mnist_data.x_test[:1000]
    with function_server("predict", predict_env, tmp_path) as url:
        digits, probabilities = expected(uploaded(url, [png(image) for image in images]))
        client = triton.InferenceServerClient(url.removeprefix("http://"))
        got_digits: list[int] = []
        got: list[np.ndarray] = []
        for start in range(0, len(images), BATCH):
            batch = images[start : start + BATCH]
            result = triton_infer(client, triton, "pixels", batch, "UINT8")
            got_digits += result.as_numpy("digit").tolist()
            got.append(result.as_numpy("probabilities"))
        as_floats = triton_infer(client, triton, "pixels", (images[:BATCH] / 255).astype(np.float32), "FP32", False)
    assert got_digits == digits
    np.testing.assert_allclose(np.concatenate(got), probabilities, atol=1e-6)
    assert as_floats.as_numpy("digit").tolist() == digits[:BATCH]


def test_kserves_rest_client_gets_the_upload_apis_answers(tmp_path, predict_env, mnist_data):
    if not KSERVE_PYTHON.exists():
        message = f"KServe's client is not installed in {KSERVE_PYTHON.parent.parent} (make kserve-client)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    encoded = [path.read_bytes() for path in golden_images()]
    pixels = mnist_data.x_test[:BATCH]
    np.savez(tmp_path / "pictures.npz", encoded=np.array(encoded, dtype=object), pixels=pixels)
    with function_server("predict", predict_env, tmp_path) as url:
        run = subprocess.run(
            [str(KSERVE_PYTHON), str(ROOT / "tests" / "e2e" / "kserve_client.py"), url, str(tmp_path / "pictures.npz")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        found = json.loads(run.stdout.splitlines()[-1])
        answers = {
            "encoded": expected(uploaded(url, encoded)),
            "pixels": expected(uploaded(url, [png(p) for p in pixels])),
        }
    assert found["live"] and found["ready"] and found["model_ready"]
    for name, (digits, probabilities) in answers.items():
        assert found[name]["digit"] == digits, name
        np.testing.assert_allclose(found[name]["probabilities"], probabilities, atol=1e-6)
        assert len(found[name]["parameters"]["prediction_ids"].split(",")) == len(digits)
