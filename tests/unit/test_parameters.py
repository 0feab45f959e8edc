"""Declared parameters: the one declaration checks JSON, query strings and flags the same way."""

from __future__ import annotations

import argparse

import pytest

from ml.parameters import Parameter, ParameterError, Parameters
from ml.pipeline import GATE
from ml.training import TRAINING, TrainConfig
from service.train.runs import PARAMETERS

EPOCHS = Parameter("epochs", int, None, "passes", 1, 50)
RATE = Parameter("rate", float, 0.5, "share", 0.0, 1.0)
FLAG = Parameter("force", bool, False, "promote anyway")
KIND = Parameter("kind", str, "cnn", "model", choices=("cnn", "mlp"))


@pytest.mark.parametrize(
    "parameter, value, expected",
    [(EPOCHS, 7, 7), (EPOCHS, 7.0, 7), (RATE, 1, 1.0), (FLAG, True, True), (KIND, "mlp", "mlp")],
)
def test_json_values_that_fit_are_taken(parameter, value, expected):
    assert parameter.validate(value) == expected and type(parameter.validate(value)) is type(expected)


@pytest.mark.parametrize(
    "parameter, value",
    [
        (EPOCHS, 0),
        (EPOCHS, 51),
        (EPOCHS, 7.5),
        (EPOCHS, True),
        (EPOCHS, "7"),
        (RATE, float("nan")),
        (RATE, 1.5),
        (FLAG, 1),
        (KIND, "rnn"),
        (KIND, 3),
    ],
)
def test_json_values_that_do_not_fit_name_the_parameter_and_what_it_accepts(parameter, value):
    with pytest.raises(ParameterError) as raised:
        parameter.validate(value)
    assert raised.value.name == parameter.name and parameter.accepts() in str(raised.value)


def test_text_values_from_queries_and_flags():
    assert EPOCHS.parse_text(" 12 ") == 12 and RATE.parse_text("0.25") == 0.25
    assert FLAG.parse_text("yes") is True and FLAG.parse_text("") is False
    for parameter, raw in ((EPOCHS, "twelve"), (EPOCHS, "99"), (FLAG, "maybe"), (KIND, "rnn")):
        with pytest.raises(ParameterError):
            parameter.parse_text(raw)


def test_an_object_gets_defaults_and_refuses_unknown_names():
    declared = Parameters(EPOCHS, RATE)
    assert declared.from_json({"rate": 1}) == {"epochs": None, "rate": 1.0}
    with pytest.raises(ParameterError, match="unknown parameter.*epoch"):
        declared.from_json({"epoch": 3})
    with pytest.raises(ParameterError, match="JSON object"):
        declared.from_json([3])
    assert declared.from_query({"epochs": "3", "utm_source": "x"}) == {"epochs": 3, "rate": 0.5}


def test_flags_are_generated_with_bounds_and_defaults():
    parser = argparse.ArgumentParser(exit_on_error=False)
    Parameters(EPOCHS, FLAG, KIND).add_flags(parser)
    assert vars(parser.parse_args([])) == {"epochs": None, "force": False, "kind": "cnn"}
    assert vars(parser.parse_args(["--epochs", "3", "--force", "--kind", "mlp"])) == {
        "epochs": 3,
        "force": True,
        "kind": "mlp",
    }
    with pytest.raises(argparse.ArgumentError, match="from 1 to 50"):
        parser.parse_args(["--epochs", "0"])


def test_training_defaults_come_from_the_declaration():
    config = TrainConfig()
    assert {name: getattr(config, name) for name in TRAINING.names()} == TRAINING.defaults()
    assert PARAMETERS.names() == [*TRAINING.names(), *GATE.names(), "include_corrections"]


def test_the_train_document_describes_exactly_the_declared_parameters():
    from service.train.app import DOCUMENT

    body = DOCUMENT["paths"]["/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == PARAMETERS.json_schema()


def test_query_values_are_taken_only_in_the_forms_the_api_document_gives():
    assert (EPOCHS.parse_query("12"), RATE.parse_query("0.25"), RATE.parse_query("25e-2")) == (12, 0.25, 0.25)
    assert FLAG.parse_query("yes") is True and FLAG.parse_query("") is False and KIND.parse_query("mlp") == "mlp"
    for parameter, raw in (
        (EPOCHS, " 12"),
        (EPOCHS, "1_2"),
        (EPOCHS, "+12"),
        (EPOCHS, "\u0661\u0662"),
        (EPOCHS, "12\n"),
        (RATE, ".5"),
        (RATE, "0.5 "),
        (RATE, "nan"),
        (FLAG, "True"),
        (FLAG, " no"),
        (KIND, " mlp"),
    ):
        with pytest.raises(ParameterError):
            parameter.parse_query(raw)
