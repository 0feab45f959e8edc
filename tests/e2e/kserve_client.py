"""KServe's own REST client against a running predict function, run in KServe's venv (var/bench/kserve: its
dependencies would not fit the project's lock). Reads pictures from a .npz, prints what the client got as JSON.

``python kserve_client.py URL PICTURES.npz``: ``encoded`` (an object array of image files) and ``pixels``
(uint8 [N, 28, 28]); answers {"live", "ready", "model_ready", "encoded": {...}, "pixels": {...}}."""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig


def _answer(response) -> dict:
    outputs = {output.name: output.as_numpy() for output in response.outputs}
    return {
        "digit": outputs["digit"].tolist(),
        "probabilities": outputs["probabilities"].tolist(),
        "not_a_digit": outputs["not_a_digit"].tolist(),
        "parameters": dict(response.parameters or {}),
    }


async def main(url: str, pictures: str) -> dict:
    data = np.load(pictures, allow_pickle=True)
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=1, timeout=60))
    try:
        found = {
            "live": await client.is_server_live(url),
            "ready": await client.is_server_ready(url),
            "model_ready": await client.is_model_ready(url, "digits"),
        }
        encoded = InferInput("image", [len(data["encoded"])], "BYTES")
        encoded.set_data_from_numpy(data["encoded"], binary_data=True)
        request = InferRequest("digits", [encoded], parameters={"binary_data_output": True})
        found["encoded"] = _answer(await client.infer(url, request, model_name="digits"))
        pixels = InferInput("pixels", list(data["pixels"].shape), "UINT8")
        pixels.set_data_from_numpy(data["pixels"], binary_data=False)
        found["pixels"] = _answer(await client.infer(url, InferRequest("digits", [pixels]), model_name="digits"))
    finally:
        await client.close()
    return found


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
