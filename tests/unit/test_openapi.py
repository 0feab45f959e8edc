"""The OpenAPI documents: written from the route declarations, valid 3.1, exactly the declared routes, and
equal to the snapshots committed under tests/snapshots (so a change to the API shows in review:
``python -m tests.snapshots`` rewrites them)."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from service.http.routes import routes_of
from service.predict.app import DOCUMENT as PREDICT_DOCUMENT
from service.predict.app import RESOURCES as PREDICT_RESOURCES
from service.train.app import DOCUMENT as TRAIN_DOCUMENT
from service.train.app import RESOURCES as TRAIN_RESOURCES
from tests.fixtures.events import http, inprocess_function
from tests.snapshots import SNAPSHOTS

DOCUMENTS = {"predict": PREDICT_DOCUMENT, "train": TRAIN_DOCUMENT}
RESOURCES = {"predict": PREDICT_RESOURCES, "train": TRAIN_RESOURCES}


def openapi(function: str) -> dict:
    return DOCUMENTS[function]


@pytest.mark.parametrize("function", DOCUMENTS)
def test_the_document_is_valid_openapi_3_1(function):
    document = openapi(function)
    assert document["openapi"].startswith("3.1")
    validate(document)


@pytest.mark.parametrize("function", DOCUMENTS)
def test_the_document_is_the_committed_snapshot(function):
    committed = json.loads((SNAPSHOTS / f"openapi-{function}.json").read_text())
    assert openapi(function) == committed, "the API changed: review it, then run python -m tests.snapshots"


@pytest.mark.parametrize("function", DOCUMENTS)
def test_every_declared_route_is_documented_and_nothing_else(function):
    documented = {(method, path) for path, item in openapi(function)["paths"].items() for method in item}
    declared = {(r.method.lower(), r.openapi_path) for r in routes_of(*RESOURCES[function])}
    assert documented == declared


@pytest.mark.parametrize("function", DOCUMENTS)
def test_the_served_document_is_the_generated_one(function, tmp_path, predict_env):
    with inprocess_function(function, predict_env, tmp_path) as url:
        answer = http.get(url + "/openapi.json")
    assert answer.status_code == 200 and answer.json() == DOCUMENTS[function]


def test_every_error_code_of_the_readme_is_in_the_predict_document():
    """docs/api.md's predict error table and the document name the same statuses."""
    from tests.conftest import ROOT

    api = (ROOT / "docs" / "api.md").read_text()
    table = api[api.index("| status | codes |") :].split("\n\n")[0]
    statuses = {code for line in table.splitlines()[2:] for code in line.split("|")[1].replace("/", " ").split()}
    document = openapi("predict")
    documented = {code for item in document["paths"].values() for op in item.values() for code in op["responses"]}
    # 405 answers a method no operation declares, so no operation lists it; the description says it
    assert statuses - {"405"} <= documented
    assert "405" in document["info"]["description"]


def test_every_error_answer_and_the_main_answers_carry_an_example():
    for function in DOCUMENTS:
        for path, item in openapi(function)["paths"].items():
            for method, operation in item.items():
                for status, response in operation["responses"].items():
                    body = response.get("content", {}).get("application/json", {})
                    if body.get("schema") == {"$ref": "#/components/schemas/Error"}:
                        example = body.get("example")
                        assert example and set(example) == {"error", "message"}, (function, method, path, status)
    operations = {
        op["operationId"]: op
        for doc in (openapi("predict"), openapi("train"))
        for item in doc["paths"].values()
        for op in item.values()
    }
    assert operations["predict"]["responses"]["200"]["content"]["application/json"]["example"]["digit"] == 3
    assert operations["getPrediction"]["responses"]["200"]["content"]["application/json"]["example"]
    assert operations["train"]["responses"]["200"]["content"]["application/json"]["example"]["promoted"] is True
    assert operations["predict"]["requestBody"]["content"]["application/json"]["example"]["image"]
