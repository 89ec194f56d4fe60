"""The HTTP layer's input rules (offerhub.http): the strict JSON parse, amounts, the API key headers, bodies on
routes that take none, and what a logged database error may say."""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from offerhub.http.body import InvalidBody, StrictJsonRoute, parse_json
from offerhub.http.security import token_from_headers
from offerhub.observability import logger
from tests.lambda_client import ROOT, call, function_for, http_event, invoke, load_function
from tests.test_bad_input import NO_BODY_ROUTES, UNKNOWN, assert_clean

# Every API function but the webhooks (which read their raw bytes): each folder whose app is made by create_api.
HTTP_FUNCTIONS = sorted(d.name for d in (ROOT / "functions").iterdir()
                        if "create_api(" in (d / "app.py").read_text() and d.name != "webhooks")


@pytest.fixture
def keys(api_key) -> dict[str, str]:
    from tests.conftest import MASTER_KEY

    return {"master": MASTER_KEY, "all": api_key()}


def _problem(result) -> dict[str, Any]:
    return result.body["error"]["details"]["validationErrors"][0]


# --- JSON that Postgres cannot store, in the fields that store it ------------------------------------------


@pytest.fixture
def order_body(new_user) -> Callable[[str], str]:
    buyer, seller = new_user(), new_user()

    def make(metadata: str, title: str = '"t"') -> str:
        return (f'{{"buyerId": "{buyer["id"]}", "sellerId": "{seller["id"]}", "amount": "1.00", "title": {title}, '
                f'"metadata": {metadata}}}')

    return make


@pytest.mark.parametrize("metadata,field", [
    ('{"x": NaN}', "metadata.x"), ('{"x": Infinity}', "metadata.x"), ('{"x": -Infinity}', "metadata.x"),
    ('{"x": 1e400}', "metadata.x"), ('{"x": "\\ud800"}', "metadata.x"), ('{"\\ud800": 1}', "metadata"),
    ('{"x": "a\\u0000"}', "metadata.x"), ('{"a\\u0000": 1}', "metadata"), ('{"x": [{"y": NaN}]}', "metadata.x.0.y"),
])
def test_order_metadata_postgres_cannot_store_is_a_400_naming_the_field(keys, order_body, metadata, field):
    result = call("POST", "/api/v1/orders", key=keys["all"], raw_body=order_body(metadata))
    assert_clean(result)
    assert result.status == 400 and result.error_code == "VALIDATION_ERROR", result.body
    assert _problem(result)["field"] == field
    assert result.body["error"]["message"].startswith(f"{field}: ")


def test_string_fields_refuse_nul_and_lone_surrogates(keys, order_body, new_user):
    title = call("POST", "/api/v1/orders", key=keys["all"], raw_body=order_body("null", title='"a\\udfffb"'))
    user = call("POST", "/api/v1/users", key=keys["all"], raw_body='{"externalUserId": "x\\u0000"}')
    reason = call("POST", f"/api/v1/balance/{new_user()['id']}/credit", key=keys["all"],
                  raw_body='{"amount": "1.00", "reason": "\\ud83d"}')
    for result, field in ((title, "title"), (user, "externalUserId"), (reason, "reason")):
        assert result.status == 400 and _problem(result)["field"] == field, result.body


def test_raw_surrogate_bytes_and_bytes_that_are_not_utf8_are_400(keys):
    for raw in (b'{"externalUserId": "\xed\xa0\x80"}', b'{"externalUserId": "\xff"}'):
        event = http_event("POST", "/api/v1/users", headers={"authorization": f"Bearer {keys['all']}"})
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
        result = invoke(function_for("/api/v1/users"), event)
        assert_clean(result)
        assert result.status == 400 and result.error_code == "VALIDATION_ERROR", result.body


def test_json_that_postgres_stores_is_still_accepted(keys, order_body):
    metadata = ('{"emoji": "\\ud83d\\ude00", "word": "NaN", "big": 1e300, "small": -0.5, "int": 123456789012345678901,'
                ' "nested": [{"a": null, "b": true}], "text": "caf\\u00e9"}')
    result = call("POST", "/api/v1/orders", key=keys["all"], raw_body=order_body(metadata))
    assert result.status == 201, result.body
    assert result.data["metadata"]["emoji"] == "\U0001f600"
    assert result.data["metadata"]["word"] == "NaN" and float(result.data["metadata"]["big"]) == 1e300


def test_parse_json_walks_without_recursion_and_names_deep_fields():
    deep = '{"a": ' * 400 + "NaN" + "}" * 400
    with pytest.raises(InvalidBody) as caught:
        parse_json(deep.encode())
    assert caught.value.field.startswith("a.a.a") and len(caught.value.field) <= 200
    with pytest.raises(InvalidBody) as caught:
        parse_json(b"[" * 100_000 + b"]" * 100_000)
    assert caught.value.field == "body" and caught.value.kind == "json_invalid"
    with pytest.raises(InvalidBody):
        parse_json(b'{"n": ' + b"1" * 5000 + b"}")  # longer than Python converts to an int
    assert parse_json(b'{"a": [1, 2.5, "\\ud83d\\ude00"]}') == {"a": [1, 2.5, "\U0001f600"]}


# --- Amounts --------------------------------------------------------------------------------------------


def test_an_amount_error_with_another_error_is_a_validation_error(keys, new_user):
    user = new_user()["id"]
    only_amount = call("POST", f"/api/v1/balance/{user}/credit", key=keys["all"], body={"amount": 10.5, "reason": "x"})
    assert only_amount.error_code == "INVALID_AMOUNT_FORMAT"
    assert only_amount.body["error"]["message"].startswith("amount: must be a string")
    both = call("POST", f"/api/v1/balance/{user}/credit", key=keys["all"], body={"amount": 10.5, "reason": 5})
    assert both.status == 400 and both.error_code == "VALIDATION_ERROR"
    assert {p["field"] for p in both.body["error"]["details"]["validationErrors"]} == {"amount", "reason"}


def test_a_milestone_amount_error_names_the_milestone(keys, new_user):
    buyer, seller = new_user(), new_user()
    result = call("POST", "/api/v1/orders", key=keys["all"], body={
        "buyerId": buyer["id"], "sellerId": seller["id"], "amount": "2.00", "title": "t",
        "milestones": [{"ref": "a", "title": "a", "amount": "1.00"}, {"ref": "b", "title": "b", "amount": 1}]})
    assert result.error_code == "INVALID_AMOUNT_FORMAT"
    assert result.body["error"]["details"]["field"] == "milestones.1.amount"


# --- API key headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", ["", " ", "Bearer", "Bearer ", "bearer    ", "Bearer \t"])
def test_a_blank_authorization_falls_back_to_x_api_key(keys, authorization):
    result = call("GET", "/api/v1/auth/me", headers={"authorization": authorization, "x-api-key": keys["all"]})
    assert result.status == 200, result.body


def test_a_non_empty_bearer_token_wins_over_x_api_key(keys):
    result = call("GET", "/api/v1/auth/me", headers={"authorization": "Bearer ohk_test_nope", "x-api-key": keys["all"]})
    assert result.status == 401
    assert token_from_headers("Bearer  abc ", "other") == "abc"
    assert token_from_headers("Basic abc", "other") is None
    assert token_from_headers(None, "other") == "other"


# --- Bodies on routes that take none -------------------------------------------------------------------


@pytest.mark.parametrize("method,path", NO_BODY_ROUTES)
@pytest.mark.parametrize("raw", [None, "", "  \n", "{}", " { } "])
def test_no_body_routes_accept_nothing_or_an_empty_object(keys, method, path, raw):
    key = keys["master"] if "api-keys" in path else keys["all"]
    result = call(method, path.replace("{id}", UNKNOWN), key=key, raw_body=raw)
    assert_clean(result)
    assert result.status == 404, result.body


@pytest.mark.parametrize("method,path", NO_BODY_ROUTES)
@pytest.mark.parametrize("raw,field", [("null", "body"), ("[]", "body"), ('"x"', "body"), ("1", "body"),
                                       ("{bad", "body"), ("x", "body"), ('{"reason": "x"}', "reason"),
                                       ('{"x": NaN}', "x")])
def test_no_body_routes_refuse_anything_else(keys, method, path, raw, field):
    key = keys["master"] if "api-keys" in path else keys["all"]
    result = call(method, path.replace("{id}", UNKNOWN), key=key, raw_body=raw)
    assert_clean(result)
    assert result.status == 400 and result.error_code == "VALIDATION_ERROR", result.body
    assert _problem(result)["field"] == field


@pytest.mark.parametrize("name", HTTP_FUNCTIONS)
def test_every_route_of_every_api_function_parses_strictly(name):
    routes = [r for r in load_function(name).router.routes if hasattr(r, "endpoint")]
    assert routes and all(isinstance(r, StrictJsonRoute) for r in routes), name


def test_the_webhooks_read_their_raw_bytes():
    routes = [r for r in load_function("webhooks").router.routes if hasattr(r, "endpoint")]
    assert routes and not any(isinstance(r, StrictJsonRoute) for r in routes)


def test_every_no_body_route_is_listed(db):
    """NO_BODY_ROUTES is what the tests above cover: it must hold every route that declares no body."""
    listed = {(m, p.replace("{id}", "{x}").replace("/m1/", "/{x}/")) for m, p in NO_BODY_ROUTES}
    found = set()
    for name in HTTP_FUNCTIONS:
        for route in load_function(name).router.routes:
            for method in getattr(route, "methods", set()) & {"POST", "PUT", "PATCH", "DELETE"}:
                if route.body_field is None:
                    path = "/api/v1" + route.path
                    found.add((method, _generic(path)))
    assert found == listed, "add new routes that take no body to NO_BODY_ROUTES in tests/test_bad_input.py"


def _generic(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{x}", path)


# --- What a logged database error may say ---------------------------------------------------------------


@pytest.fixture
def log_text() -> Iterator[Callable[[], str]]:
    handler = logger.registered_handler
    captured = io.StringIO()
    previous = handler.setStream(captured)
    try:
        yield captured.getvalue
    finally:
        handler.setStream(previous)


def test_a_database_error_is_logged_without_its_parameters(keys, monkeypatch, log_text):
    from sqlalchemy import text

    from offerhub.adapters.postgres.engine import get_engine
    from offerhub.users import service

    secret = "usr_" + secrets.token_hex(16)

    def failing_get_user(user_id: str) -> dict:
        with get_engine().connect() as conn:  # Postgres quotes the value in its message: 'invalid input syntax'
            conn.execute(text("SELECT CAST(:id AS integer)"), {"id": user_id})
        raise AssertionError("unreachable")

    monkeypatch.setattr(service, "get_user", failing_get_user)
    result = call("GET", f"/api/v1/users/{secret}", key=keys["all"])
    assert result.status == 500 and result.error_code == "INTERNAL_ERROR"
    logged = log_text()
    assert secret not in logged
    line = next(json.loads(x) for x in logged.splitlines() if "unhandled database error" in x)
    assert line["sqlstate"] == "22P02" and "CAST(%(id)s AS integer)" in line["statement"]
    assert line["dbError"] == "DataError(InvalidTextRepresentation)" and line["request_id"] == result.body[
        "error"]["requestId"]
    assert any("test_http_input.py" in frame for frame in line["stack"])


def test_another_unhandled_error_is_logged_with_its_stack(keys, monkeypatch, log_text):
    from offerhub.users import service

    def failing_get_user(user_id: str) -> dict:
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "get_user", failing_get_user)
    result = call("GET", f"/api/v1/users/{UNKNOWN}", key=keys["all"])
    assert result.status == 500
    assert "RuntimeError: boom" in log_text()


def test_the_engine_hides_parameters_from_error_messages(database_url):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from offerhub.adapters.postgres.engine import build_engine

    secret = "secret-" + secrets.token_hex(8)
    engine = build_engine(database_url)
    try:
        with pytest.raises(DBAPIError) as caught, engine.connect() as conn:
            conn.execute(text("SELECT 1 / 0 WHERE CAST(:v AS text) IS NOT NULL"), {"v": secret})
    finally:
        engine.dispose()
    assert secret not in str(caught.value)
    assert "hidden" in str(caught.value)
