"""Training on a small subset (fast), export agreement, publishing through the registry."""

from __future__ import annotations

import numpy as np
import pytest

from ml.artifacts import CONFUSION_FILE, KERAS_FILE, RELIABILITY_FILE, TFLITE_FILE
from ml.pipeline import train_and_publish
from ml.predictor import Predictor
from ml.registry import ModelRegistry
from ml.storage.filestore import FileObjectStore
from ml.training import TrainConfig, train

pytestmark = pytest.mark.training


@pytest.mark.parametrize("architecture", ["cnn", "mlp"])
def test_train_export_publish(architecture, mnist_data, tmp_path):
    registry = ModelRegistry(FileObjectStore(tmp_path))
    outcome = train_and_publish(
        TrainConfig(architecture, epochs=2, subset=6000), mnist_data, registry, min_accuracy=0.8
    )
    assert outcome.promoted and registry.latest_version() == outcome.version
    artifact = registry.load(outcome.version)
    artifact.verify(required=(TFLITE_FILE, KERAS_FILE, CONFUSION_FILE))
    meta = artifact.metadata
    assert meta["architecture"] == architecture and meta["metrics"]["test_count"] == 10000
    assert meta["export_check"]["argmax_agree"] == 10000 and meta["export_check"]["max_abs_diff"] <= 1e-4
    assert meta["data_sha256"]["t10k-images-idx3-ubyte"].startswith("0fa7898d")
    assert np.asarray(meta["metrics"]["confusion_matrix"]).sum() == 10000
    for picture in (CONFUSION_FILE, RELIABILITY_FILE):
        assert artifact.files[picture][:8] == b"\x89PNG\r\n\x1a\n"
    # calibrated on the held-out split, and served that way
    assert 0.3 < meta["calibration"]["temperature"] < 5 and meta["calibration"]["refuse_at"] == 0.5
    assert 0 <= meta["metrics"]["test_ece"] < 0.1
    predictor = Predictor(artifact)
    assert predictor.calibration.temperature == meta["calibration"]["temperature"]
    # the cnn reads each picture at five placements by default (test-time shifts); the seed's mlp at one
    from ml.export import keras_from_bytes
    from ml.models import NEIGHBOURS, ShiftedViews

    layers = keras_from_bytes(artifact.files[KERAS_FILE]).layers
    views = [layer.shifts for layer in layers if isinstance(layer, ShiftedViews)]
    assert views == ([((0, 0), *NEIGHBOURS[:4])] if architecture == "cnn" else [])
    classes = predictor.probabilities(mnist_data.x_test[:1].astype(np.float32) / 255).shape[1]
    validation = meta["metrics"]["validation"]
    if architecture == "cnn":  # the eleventh class, learned from drawn negatives and measured on held-out ones
        assert classes == 11 and validation["negatives"] > 0 and validation["negatives_refused"] > 0.5
        # two members by default, each trained in turn and scored after every epoch
        assert meta["metrics"]["config"]["members"] == 2
        assert [point[:2] for point in validation["progress"]] == [[0, 1], [0, 2], [1, 1], [1, 2]]
    else:  # the seed's model stays as it was
        assert classes == 10 and validation["negatives"] == 0 and validation["negatives_refused"] is None


def test_an_ensemble_answers_the_geometric_mean_of_its_members():
    """Averaged logits: softmax(mean logit) is each member's probabilities multiplied, renormalised."""
    from ml.models import cnn, ensemble

    members = [cnn(classes=11) for _ in range(3)]
    images = np.random.default_rng(0).random((16, 28, 28, 1)).astype(np.float32)
    each = np.stack([m.predict(images, verbose=0) for m in members])
    expected = np.exp(np.log(each).mean(axis=0))
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.allclose(ensemble(members).predict(images, verbose=0), expected, atol=1e-5)
    assert ensemble(members[:1]) is members[0]


def _moved(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``images`` moved dy rows down and dx columns right, zeros coming in (numpy, to check the layer)."""
    out = np.zeros_like(images)
    rows, cols = images.shape[1:3]
    out[:, max(dy, 0) : rows + min(dy, 0), max(dx, 0) : cols + min(dx, 0)] = images[
        :, max(-dy, 0) : rows + min(-dy, 0), max(-dx, 0) : cols + min(-dx, 0)
    ]
    return out


def test_shifted_views_move_the_picture_one_pixel_each_way():
    from ml.models import NEIGHBOURS, ShiftedViews

    images = np.zeros((2, 28, 28, 1), np.float32)
    images[0, 5, 9], images[1, 27, 0] = 1.0, 0.5  # the second in the bottom-left corner
    views = np.asarray(ShiftedViews(((0, 0), *NEIGHBOURS))(images)).reshape(9, 2, 28, 28, 1)
    for view, (dy, dx) in zip(views, ((0, 0), *NEIGHBOURS), strict=True):
        assert np.array_equal(view, _moved(images, dy, dx))
    assert views[1, 0, 5, 10] == 1.0 and views[1, 1, 27, 1] == 0.5  # moved right
    assert views[2, 1].sum() == views[3, 1].sum() == 0.0  # the corner pixel moved left or down: gone


def test_an_ensemble_with_shifts_averages_every_member_over_every_view(tmp_path):
    """Test-time augmentation in the graph: the mean logit of each member on each moved picture, the same
    from Keras, after a save and load of model.keras, and from the TFLite file predict runs."""
    from ml.models import NEIGHBOURS, cnn, ensemble

    members = [cnn(classes=11) for _ in range(2)]
    images = np.random.default_rng(1).random((5, 28, 28, 1)).astype(np.float32)
    views = [images] + [_moved(images, dy, dx) for dy, dx in NEIGHBOURS[:4]]
    each = np.stack([m.predict(v, verbose=0) for m in members for v in views])
    expected = np.exp(np.log(each).mean(axis=0))
    expected /= expected.sum(axis=1, keepdims=True)
    _answers_everywhere(ensemble(members, NEIGHBOURS[:4]), images, expected, 1e-5)


def _answers_everywhere(model, images: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    """``model`` answers ``expected`` in Keras, after a save and load of model.keras, and from its TFLite file."""
    from ai_edge_litert.interpreter import Interpreter

    from ml.export import keras_from_bytes, keras_to_bytes, to_tflite

    assert np.allclose(model.predict(images, verbose=0), expected, atol=tolerance)
    assert np.allclose(keras_from_bytes(keras_to_bytes(model)).predict(images, verbose=0), expected, atol=tolerance)
    interpreter = Interpreter(model_content=to_tflite(model))
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(images.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
    interpreter.invoke()
    assert np.allclose(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), expected, atol=tolerance)


def test_training_is_repeatable(mnist_data):
    first = train(TrainConfig("cnn", epochs=1, subset=1000, seed=7), mnist_data)
    second = train(TrainConfig("cnn", epochs=1, subset=1000, seed=7), mnist_data)
    assert np.allclose(first.test_probabilities, second.test_probabilities, atol=1e-5)


def test_corrections_join_training_and_are_reported(mnist_data, tmp_path):
    """100 zeros "corrected" to 6: the shipped model gets none of them right; after training with them
    (weighted) the new model answers 6 for most. Without the corrections it would still answer 0."""
    import shutil

    from ml.corrections import Corrections
    from tests.conftest import MODEL_STORE

    shutil.copytree(MODEL_STORE, tmp_path / "store")
    registry = ModelRegistry(FileObjectStore(tmp_path / "store"))
    before_version = registry.latest_version()
    zeros = mnist_data.x_test[mnist_data.y_test == 0][:100]
    corrections = Corrections.from_pairs((image.tobytes(), 6) for image in zeros)
    config = TrainConfig("cnn", epochs=2, subset=3000, correction_weight=10, members=1)
    outcome = train_and_publish(config, mnist_data, registry, min_accuracy=0.0, force=False, corrections=corrections)
    report = outcome.metrics["corrections"]
    assert (report["used"], report["weight"], report["model_before"]) == (100, 10, before_version)
    assert report["accuracy_before"] == 0.0
    assert report["accuracy_after"] > 0.8
    # the gate is unchanged: judged on MNIST's test set, where this model is worse than the shipped one
    assert not outcome.promoted and registry.latest_version() == before_version
    assert registry.metadata(outcome.version)["metrics"]["corrections"] == report


def test_a_picture_corrected_as_not_a_digit_is_refused_by_the_next_model(mnist_data):
    """Figures the shipped model reads as digits, corrected to "not a digit": a training with those
    corrections answers not-a-digit for most of them; the same training without them does not."""
    from ml import negatives
    from ml.corrections import Corrections
    from ml.evaluation import prepare
    from ml.labels import NOT_A_DIGIT
    from ml.predictor import Predictor
    from tests.conftest import MODEL_STORE

    shipped = ModelRegistry(FileObjectStore(MODEL_STORE))
    predictor = Predictor(shipped.load(shipped.latest_version(), files=(TFLITE_FILE,)))
    kinds = ("shapes", "symbols", "punctuation", "letters")
    drawn = [p.image for p in prepare(negatives.generate(mnist_data.x_test, 150, 11, "eval", kinds))]
    images = np.stack([image for image in drawn if image is not None])
    read_as_digits = images[np.argmax(predictor.probabilities(images), axis=1) != NOT_A_DIGIT][:60]
    assert len(read_as_digits) >= 20
    pairs = [(np.round(image * 255).astype(np.uint8).tobytes(), NOT_A_DIGIT) for image in read_as_digits]
    corrections = Corrections.from_pairs(pairs)
    config = TrainConfig("cnn", epochs=2, subset=2000, correction_weight=30, members=1, negatives=150)
    without = train(config, mnist_data)
    with_them = train(config, mnist_data, corrections=corrections)
    refused_without = corrections.accuracy(without.model.predict(read_as_digits[..., None], verbose=0))
    after = with_them.corrections["accuracy_after"]
    assert after > 0.8 and refused_without < 0.5, (after, refused_without)


def test_malformed_corrections_are_refused():
    from ml.corrections import Corrections
    from ml.errors import DataIntegrityError

    with pytest.raises(DataIntegrityError, match="783 image bytes"):
        Corrections.from_pairs([(bytes(783), 3)])
    with pytest.raises(DataIntegrityError, match="label 11"):
        Corrections.from_pairs([(bytes(784), 11)])
    ten_classes = Corrections.from_pairs([(bytes(784), 3), (bytes(784), 10)]).digits_only()
    assert ten_classes.labels.tolist() == [3]
    assert len(Corrections.from_pairs([])) == 0


def test_the_open_set_score_adds_its_odds_to_the_eleventh_class_in_keras_tflite_and_numpy():
    """The score of ml.openset inside the model: the eleventh logit of an ensemble with ``unfamiliar`` is
    log(exp(l10) + exp(lse(digits) + log_odds)) of the distance to the nearest digit, the same in Keras,
    after a save and load, in the TFLite file, and in numpy; a picture far from every digit is refused."""
    from ml import openset
    from ml.models import NEIGHBOURS, cnn, ensemble, ensemble_features

    members = [cnn(classes=11) for _ in range(2)]
    rng = np.random.default_rng(3)
    digits = rng.random((200, 28, 28, 1)).astype(np.float32) * 0.2
    features = ensemble_features(members, NEIGHBOURS[:2])
    fitted = openset.fit(
        features.predict(digits, verbose=0), rng.integers(0, 10, 200), features.predict(digits[:50], verbose=0)
    )
    assert fitted.centres.shape == (10, 256) and fitted.scale > 0
    images = np.concatenate([digits[:3], np.ones((2, 28, 28, 1), np.float32)])  # the last two unlike any
    plain = ensemble(members, NEIGHBOURS[:2])
    logits = np.log(plain.predict(images, verbose=0))
    expected = openset.combined_logits(logits, fitted.log_odds(features.predict(images, verbose=0)))
    expected = np.exp(expected - expected.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    _answers_everywhere(ensemble(members, NEIGHBOURS[:2], fitted), images, expected, 1e-4)
    assert (expected[3:, 10] > 0.99).all() and (expected[3:, 10] > plain.predict(images[3:], verbose=0)[:, 10]).all()


def test_leaving_a_family_out_answers_as_the_served_model_with_its_own_heads():
    """ml.holdout takes a model apart (view-averaged features, heads, open-set score) and answers in numpy:
    with the model's own heads it refuses exactly what the model refuses; heads refitted by logistic
    regression on features learn a family that stands apart."""
    import keras

    from ml import openset
    from ml.calibration import Calibration, answers
    from ml.holdout import Heads
    from ml.labels import NOT_A_DIGIT
    from ml.models import NEIGHBOURS, cnn, ensemble, ensemble_features

    keras.utils.set_random_seed(5)
    members = [cnn(classes=11) for _ in range(2)]
    rng = np.random.default_rng(5)
    digits = (rng.random((300, 28, 28)) * 0.3).astype(np.float32)
    features = ensemble_features(members, NEIGHBOURS[:2])
    fitted = openset.fit(
        features.predict(digits[:200, ..., None], verbose=0),
        np.arange(200) % 10,
        features.predict(digits[200:, ..., None], verbose=0),
    )
    model = ensemble(members, NEIGHBOURS[:2], fitted)
    bright = np.ones((40, 28, 28), np.float32) * rng.uniform(0.7, 1.0, (40, 1, 1)).astype(np.float32)
    images = np.concatenate([digits[:100], bright])
    calibration = Calibration(1.3, 0.5)
    heads = Heads(model, calibration)
    f = heads.features(images)
    served = answers(model.predict(images[..., None], verbose=0), calibration).refused
    assert np.array_equal(heads.refused(heads.own(), f, heads.log_odds(f)), served) and served[100:].all()
    labels = np.concatenate([np.arange(100) % 10, np.full(40, NOT_A_DIGIT)])
    p = heads.not_a_digit(heads.fit(f, labels), f, np.full(len(f), -np.inf))
    assert p[100:].min() > p[:100].max()  # the refitted heads put every bright picture above every digit
