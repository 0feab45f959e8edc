"""The model registry on the embedded file store: what it writes, in which order and with which content types,
how promotion and rollback edit LATEST and HISTORY, and what each failure says.

The store is the real FileObjectStore. ``Watched`` adds only a record of the writes (the file store keeps no
content type; S3 does, tests/e2e/test_s3_store.py), and ``Racing`` a second writer that changes HISTORY
between this writer's read and its write, try after try: a race a test cannot otherwise time."""

from __future__ import annotations

import json

import pytest

from ml.artifacts import METADATA_FILE, TFLITE_FILE, Artifact
from ml.errors import ArtifactError
from ml.registry import HISTORY, HISTORY_RETRIES, LATEST, ModelRegistry, Pointer, PromotionConflict
from ml.storage.base import PreconditionFailed
from ml.storage.filestore import FileObjectStore

V1, V2, V3 = (f"2026010{i}T000000Z-aaaaaa" for i in (1, 2, 3))


def make(version: str = V1) -> Artifact:
    payload = {TFLITE_FILE: b"model bytes", "confusion.png": b"png", "notes.json": b"{}", "extra.bin": b"x"}
    return Artifact.create(version, payload, {"metrics": {"test_accuracy": 0.99}})


class Watched(FileObjectStore):
    """The file store, keeping (key, content type) of every write in order."""

    def __init__(self, root):
        super().__init__(root)
        self.writes: list[tuple[str, str]] = []

    def put(self, key, data, content_type="application/octet-stream"):
        self.writes.append((key, content_type))
        super().put(key, data, content_type)


class Racing(FileObjectStore):
    """Another trainer appends to HISTORY just before each of this writer's conditional writes of it, ``races``
    times."""

    def __init__(self, root, races: int):
        super().__init__(root)
        self.races, self.raced = races, 0
        self.put(HISTORY, b"[]")

    def put_if(self, key, data, token, content_type="application/octet-stream"):
        if key == HISTORY and self.raced < self.races:
            self.raced += 1
            self.put(HISTORY, json.dumps([*json.loads(self.get(HISTORY)), f"other-{self.raced}"]).encode())
        super().put_if(key, data, token, content_type)


def published(store, *versions: str, promote: bool = True) -> ModelRegistry:
    registry = ModelRegistry(store)
    for version in versions:
        registry.publish(make(version))
        if promote:
            registry.promote(version)
    return registry


def test_publish_writes_the_payload_first_and_metadata_last_each_with_its_content_type(tmp_path):
    store = Watched(tmp_path)
    published(store, V1, promote=False)
    assert store.writes[-1] == (f"models/{V1}/{METADATA_FILE}", "application/json")
    assert sorted(store.writes[:-1]) == [
        (f"models/{V1}/confusion.png", "image/png"),
        (f"models/{V1}/extra.bin", "application/octet-stream"),
        (f"models/{V1}/{TFLITE_FILE}", "application/octet-stream"),
        (f"models/{V1}/notes.json", "application/json"),
    ]
    store.writes.clear()
    ModelRegistry(store).promote(V1)
    assert store.writes == [(LATEST, "text/plain"), (HISTORY, "application/json")]


def test_the_pointer_and_latest_version_read_what_latest_holds(tmp_path):
    store = FileObjectStore(tmp_path)
    registry = ModelRegistry(store)
    assert registry.pointer() == Pointer(None, None) and registry.latest_version() is None
    store.put(LATEST, f" {V1}\n".encode())
    pointer = registry.pointer()
    assert pointer.version == V1 == registry.latest_version()
    assert pointer.token == store.get_with_token(LATEST)[1]
    store.put(LATEST, b"\n")  # an emptied pointer is no version
    assert registry.pointer().version is None and registry.latest_version() is None


def test_promotion_moves_a_version_to_the_end_of_history_once(tmp_path):
    registry = published(FileObjectStore(tmp_path), V1, V2)
    registry.promote(V1)
    assert registry.history() == [V2, V1] and registry.latest_version() == V1


def test_a_promotion_that_lost_the_race_says_who_moved_latest_and_changes_nothing(tmp_path):
    store = FileObjectStore(tmp_path)
    registry = published(store, V1)
    seen = registry.pointer()
    published(store, V2)  # another trainer promotes meanwhile
    registry.publish(make(V3))
    with pytest.raises(PromotionConflict) as caught:
        registry.promote(V3, seen)
    assert str(caught.value) == f"models/LATEST moved from {V1} to {V2} while this writer worked; {V3} was not promoted"
    assert registry.latest_version() == V2 and registry.history() == [V1, V2]


def test_history_keeps_every_racing_writers_entry(tmp_path):
    store = Racing(tmp_path, races=3)
    registry = published(store, V1)
    assert registry.history() == ["other-1", "other-2", "other-3", V1]


def test_history_gives_up_when_it_never_stops_changing(tmp_path):
    store = Racing(tmp_path, races=HISTORY_RETRIES)
    registry = ModelRegistry(store)
    registry.publish(make(V1))
    with pytest.raises(PreconditionFailed) as caught:
        registry.promote(V1)
    assert str(caught.value) == f"models/HISTORY kept changing; gave up after {HISTORY_RETRIES} tries"
    assert store.raced == HISTORY_RETRIES
    assert registry.latest_version() == V1  # LATEST moved; only the history entry is missing, and it says so


def test_history_is_empty_before_any_promotion(tmp_path):
    assert ModelRegistry(FileObjectStore(tmp_path)).history() == []


def test_rollback_drops_the_current_and_the_incomplete_versions_it_passed_over_from_history(tmp_path):
    store = FileObjectStore(tmp_path)
    registry = published(store, V1, V2, V3)
    store.put(f"models/{V2}/{TFLITE_FILE}", b"model bytez")  # V2 no longer matches its checksum
    assert registry.rollback() == (V3, V1)
    assert registry.latest_version() == V1 and registry.history() == [V1]


def test_rollback_to_the_version_before_keeps_the_older_history(tmp_path):
    registry = published(FileObjectStore(tmp_path), V1, V2, V3)
    assert registry.rollback() == (V3, V2)
    assert registry.history() == [V1, V2]


def test_rollback_that_lost_the_race_is_a_conflict(tmp_path):
    store = FileObjectStore(tmp_path)
    published(store, V1, V2)

    class Moving(FileObjectStore):  # another writer moves LATEST after the rollback has read it
        def get(self, key):
            data = super().get(key)
            if key == f"models/{V1}/{METADATA_FILE}":
                store.put(LATEST, V1.encode())
            return data

    with pytest.raises(PromotionConflict, match=f"moved from {V2} to {V1}"):
        ModelRegistry(Moving(tmp_path)).rollback()


def test_rollback_with_nothing_promoted_before_says_so(tmp_path):
    registry = published(FileObjectStore(tmp_path), V1)
    with pytest.raises(ArtifactError, match="^there is no earlier complete promoted version to roll back to$"):
        registry.rollback()
    with pytest.raises(ArtifactError, match="no earlier"):
        ModelRegistry(FileObjectStore(tmp_path / "empty")).rollback()


def test_metadata_reads_only_the_metadata_and_load_reads_what_is_asked(tmp_path):
    store = FileObjectStore(tmp_path)
    registry = published(store, V1, promote=False)
    store.delete(f"models/{V1}/{TFLITE_FILE}")
    assert registry.metadata(V1) == make(V1).metadata
    assert set(registry.load(V1, files=("extra.bin", METADATA_FILE)).files) == {"extra.bin", METADATA_FILE}
    with pytest.raises(ArtifactError) as caught:
        registry.load(V1)
    assert str(caught.value) == f"model version {V1!r} is incomplete: {TFLITE_FILE} is missing"


def test_a_version_without_metadata_is_named_as_missing_or_incomplete(tmp_path):
    with pytest.raises(ArtifactError) as caught:
        ModelRegistry(FileObjectStore(tmp_path)).metadata(V1)
    assert str(caught.value) == f"model version {V1!r} has no {METADATA_FILE} (missing or incomplete)"


def test_versions_are_those_with_metadata_oldest_first(tmp_path):
    store = FileObjectStore(tmp_path)
    registry = published(store, V3, V1)
    store.put(f"models/{V2}/{TFLITE_FILE}", b"half-published")
    store.put("models/elsewhere.json", b"{}")
    assert registry.versions() == [V1, V3]


def test_a_metadata_file_that_lists_no_files_loads_alone_and_fails_verification(tmp_path):
    store = FileObjectStore(tmp_path)
    store.put(f"models/{V1}/{METADATA_FILE}", json.dumps({"version": V1, "format": 1}).encode())
    loaded = ModelRegistry(store).load(V1)
    assert list(loaded.files) == [METADATA_FILE]
    with pytest.raises(ArtifactError):
        loaded.verify()


def test_rollback_without_a_current_version_goes_to_the_last_promoted(tmp_path):
    store = FileObjectStore(tmp_path)
    registry = published(store, V1, V2)
    store.delete(LATEST)  # an operator removed the pointer
    assert registry.rollback() == ("", V2)
    assert registry.latest_version() == V2 and registry.history() == [V1, V2]
