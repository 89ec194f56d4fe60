"""The OpenAPI document: built from the code (contract/build.py), committed, served, and in step with both."""

from __future__ import annotations

import json

import pytest

from contract import build
from tests.lambda_client import call

ROOT = build.ROOT


@pytest.fixture(scope="module")
def built() -> dict:
    return build.build()


def test_the_committed_document_is_what_the_code_builds(built: dict):
    # Fails when a route, a body or a response description changed without `make openapi`.
    assert build.OPENAPI_FILE.read_text() == build.render(built), "run `make openapi` and commit the document"


def test_docs_openapi_json_is_the_served_document():
    assert (ROOT / "docs" / "openapi.json").read_bytes() == build.OPENAPI_FILE.read_bytes()


def test_every_template_route_is_documented_with_its_errors(built: dict):
    from local import template

    for route in template.load().routes:
        operation = built["paths"][route.path][route.method.lower()]
        statuses = set(operation["responses"])
        assert "429" in statuses, route.route_key
        if operation["security"]:  # a key is needed: a missing or weak one is documented
            assert {"401", "403"} <= statuses, route.route_key
        for response in operation["responses"].values():
            if "x-error-codes" in response:  # (GET /health's 503 is its report, not an error)
                codes = response["x-error-codes"]
                assert codes and response["content"]["application/json"]["example"]["error"]["code"] in codes


def test_the_document_is_valid_openapi_3_1(built: dict):
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    OPENAPI_31_VALIDATOR.validate(json.loads(build.render(built)))  # plain str keys (template paths are not)


def test_amounts_are_documented_as_the_wire_format(built: dict):
    credit = built["paths"]["/api/v1/balance/{userId}/credit"]["post"]
    ref = credit["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    amount = built["components"]["schemas"][ref]["properties"]["amount"]
    assert amount["pattern"] == r"^(0|[1-9][0-9]{0,12})\.[0-9]{2}$"


def test_the_document_is_served_without_a_key(db):
    served = call("GET", "/api/v1/openapi.json")
    assert served.status == 200
    assert served.body == json.loads(build.OPENAPI_FILE.read_text())
    assert served.body["openapi"] == "3.1.0"
