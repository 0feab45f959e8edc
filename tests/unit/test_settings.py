"""Settings from the environment: every bad value is refused at start, naming the variable and what it
accepts; the ML core's settings are read by the same code whether the service or `python -m ml` asks."""

from __future__ import annotations

import pytest

from ml.settings import MLSettings
from service.settings import ConfigError, Settings


@pytest.mark.parametrize(
    "env, words",
    [
        ({"MAX_UPLOAD_BYTES": "5"}, "MAX_UPLOAD_BYTES='5': MAX_UPLOAD_BYTES must be a whole number from 1024 to"),
        ({"MAX_IMAGE_PIXELS": "lots"}, "MAX_IMAGE_PIXELS='lots'"),
        ({"LOW_CONFIDENCE": "nan"}, "LOW_CONFIDENCE must be a number from 0 to 1"),
        ({"READ_TIMEOUT_SECONDS": "0.1"}, "READ_TIMEOUT_SECONDS must be a number from 0.5 to 300"),
        ({"MODEL_STORE": "ftp://example/models"}, "MODEL_STORE='ftp://example/models'"),
        ({"PREDICTION_LOG": "cassandra:///digits"}, "names no host"),
        ({"TRAIN_DATA": "cloud"}, "TRAIN_DATA='cloud': must be one of local, store"),
        ({"PREDICTIONS_READ": "token"}, "PREDICTIONS_READ=token needs PREDICTIONS_TOKEN"),
        ({"PREDICTION_LOG": "cassandra://db1/digits"}, "CASSANDRA_LOCAL_DC is required with a Cassandra log"),
        (
            {"PREDICTION_LOG": "cassandra://db1/digits", "CASSANDRA_LOCAL_DC": "dc1", "CASSANDRA_CONSISTENCY": "ONE"},
            "CASSANDRA_CONSISTENCY is no longer read: writes are always LOCAL_QUORUM",
        ),
        ({"CASSANDRA_READ_CONSISTENCY": "ALL"}, "must be one of LOCAL_QUORUM, LOCAL_ONE, QUORUM, ONE"),
        ({"CASSANDRA_TLS_CA": "/no/such/ca.pem"}, "CASSANDRA_TLS_CA='/no/such/ca.pem': no such file"),
        ({"CASSANDRA_PROTOCOL_VERSION": "9"}, "CASSANDRA_PROTOCOL_VERSION must be a whole number from 0 to 5"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(env, words):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    assert words in str(refused.value)


def test_defaults_and_the_ml_core_reading_the_same_variables(tmp_path):
    env = {"MODEL_STORE": str(tmp_path), "MAX_IMAGE_PIXELS": "1000", "READ_TIMEOUT_SECONDS": "2.5", "WORKERS": ""}
    settings = Settings.from_env(env)
    assert settings.model_store == f"file://{tmp_path}" and settings.max_image_pixels == 1000
    assert settings.read_timeout_seconds == 2.5 and settings.workers == 0 and settings.max_files_per_request == 64
    core = MLSettings.from_env(env)
    assert (core.model_store, core.max_image_pixels, core.train_data) == (settings.model_store, 1000, "local")


def test_what_healthz_shows_of_a_cassandra_log_names_every_endpoint_and_no_credentials():
    settings = Settings.from_env(
        {
            "PREDICTION_LOG": "cassandra://reader:s3cret@db1:9142,db2:9043/digits?ssl=1",
            "CASSANDRA_LOCAL_DC": "dc1",
            "CASSANDRA_PASSWORD": "other",
        }
    )
    shown = settings.without_secrets()["prediction_log"]
    assert shown == "cassandra://db1:9142,db2:9043/digits"
    assert "s3cret" not in str(settings.without_secrets()) and "other" not in str(settings.without_secrets())
