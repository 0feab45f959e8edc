"""The OpenAPI documents: valid 3.1, and exactly the routes the code declares (both directions)."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from service.http.observability import openapi
from service.predict_app import ROUTES as PREDICT_ROUTES
from service.train_app import ROUTES as TRAIN_ROUTES

FUNCTIONS = {"predict": PREDICT_ROUTES, "train": TRAIN_ROUTES}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_document_is_valid_openapi_3_1(function):
    document = openapi(function)
    assert document["openapi"].startswith("3.1")
    validate(document)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_route_in_code_is_documented_and_every_documented_route_exists(function):
    documented = {(method, path) for path, item in openapi(function)["paths"].items() for method in item}
    declared = FUNCTIONS[function].openapi_operations()
    assert declared - documented == set(), "routes in code but not in the document"
    assert documented - declared == set(), "routes in the document but not in code"


def test_every_error_code_of_the_readme_is_in_the_predict_document():
    """README's error table and the document name the same statuses."""
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| status | codes |") :].split("\n\n")[0]
    statuses = {code for line in table.splitlines()[2:] for code in line.split("|")[1].replace("/", " ").split()}
    document = openapi("predict")
    documented = {code for item in document["paths"].values() for op in item.values() for code in op["responses"]}
    # 405 answers a method no operation declares, so no operation lists it; the description says it
    assert statuses - {"405"} <= documented
    assert "405" in document["info"]["description"]


def test_every_error_answer_and_the_main_answers_carry_an_example():
    for function in FUNCTIONS:
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
