"""Bad input on every webhook endpoints route: a 4xx in the error envelope, never a 500."""

from __future__ import annotations

import pytest

from tests.lambda_client import call, http_event, invoke
from tests.test_bad_input import PATH_IDS, QUERIES, RAW_BODIES, UNSTORABLE, assert_clean

BASE = "/api/v1/webhook-endpoints"
ROUTES = [("POST", ""), ("GET", ""), ("GET", "/{id}"), ("DELETE", "/{id}"), ("POST", "/{id}/rotate-secret"),
          ("POST", "/{id}/enable"), ("GET", "/{id}/deliveries"), ("POST", "/{id}/deliveries/{delivery}/retry")]
NO_BODY = [r for r in ROUTES if r[0] in ("POST", "DELETE") and r[1]]
DELIVERY = "whd_" + "0" * 32


@pytest.fixture
def live(endpoint, receiver) -> dict:
    return endpoint(receiver.url)


def _path(path: str, endpoint_id: str, delivery_id: str = DELIVERY) -> str:
    return BASE + path.replace("{id}", endpoint_id).replace("{delivery}", delivery_id)


@pytest.mark.parametrize("raw", [*RAW_BODIES,
    '{"url": 5}', '{"url": null}', '{"url": ["http://127.0.0.1/"]}', '{"url": {"$ne": 1}}', '{"url": true}',
    '{"url": "http://127.0.0.1:1/", "types": "order.*"}', '{"url": "http://127.0.0.1:1/", "types": [1, 2]}',
    '{"url": "http://127.0.0.1:1/", "types": [null]}',
    '{"url": "http://127.0.0.1:1/", "types": ["' + "x" * 500 + '"]}',
    '{"url": "http://127.0.0.1:1/", "types": ' + str(["user.created"] * 500).replace("'", '"') + "}",
    '{"url": "http://127.0.0.1:1/", "description": 3}', '{"url": "http://127.0.0.1:1/", "description": ""}',
    '{"url": "http://127.0.0.1:1/", "description": "' + "d" * 5000 + '"}',
    '{"url": "http://127.0.0.1:1/' + "p" * 100_000 + '"}', '{"url": "http://127.0.0.1:1/", "extra": 1}',
    '{"url": "http://127.0.0.1:1/", "secret": "whsec_mine"}', '{"url": NaN}', '{"url": "http://127.0.0.1:1/", '
    '"types": [NaN]}', '{"url": ""}', '{"url": "\\u0000"}', '{"url": "http://127.0.0.1:1/\\ud800"}',
])
def test_malformed_registrations(keys, raw):
    result = invoke("webhook_endpoints", http_event("POST", BASE, raw_body=raw,
                                                    headers={"authorization": f"Bearer {keys['write']}"}))
    assert_clean(result)
    assert 400 <= result.status < 500, (raw[:80], result.body)


@pytest.mark.parametrize("raw,field", UNSTORABLE)
def test_json_postgres_cannot_store_is_a_400(keys, raw, field):
    result = invoke("webhook_endpoints", http_event("POST", BASE, raw_body=raw,
                                                    headers={"authorization": f"Bearer {keys['write']}"}))
    assert result.status == 400 and result.body["error"]["details"]["validationErrors"][0]["field"] == field


@pytest.mark.parametrize("method,path", NO_BODY)
@pytest.mark.parametrize("raw", ['{"x": 1}', "[1]", "{bad", '"s"', '{"url": "http://127.0.0.1:1/"}'])
def test_bodies_on_routes_that_take_none(keys, live, method, path, raw):
    result = invoke("webhook_endpoints", http_event(method, _path(path, live["id"]), raw_body=raw,
                                                    headers={"authorization": f"Bearer {keys['all']}"}))
    assert_clean(result)
    assert result.status == 400, result.body


@pytest.mark.parametrize("method,path", [r for r in ROUTES if "{id}" in r[1]])
@pytest.mark.parametrize("value", [*PATH_IDS, "we_" + "0" * 32, "we_" + "0" * 31 + "!", "WE_" + "A" * 32])
def test_odd_endpoint_ids_are_404(keys, method, path, value):
    result = call(method, _path(path, value), key=keys["all"])
    assert_clean(result)
    assert result.status in (400, 404), result.body
    if result.status == 404:
        assert result.error_code == "WEBHOOK_ENDPOINT_NOT_FOUND"


@pytest.mark.parametrize("value", [*PATH_IDS, "whd_" + "0" * 32, "we_" + "0" * 32])
def test_odd_delivery_ids_are_404(keys, live, value):
    result = call("POST", _path("/{id}/deliveries/{delivery}/retry", live["id"], value), key=keys["all"])
    assert_clean(result)
    assert result.status in (400, 404) and result.error_code in ("WEBHOOK_DELIVERY_NOT_FOUND", "VALIDATION_ERROR",
                                                                 "NOT_FOUND"), result.body


@pytest.mark.parametrize("path", ["", "/{id}/deliveries"])
@pytest.mark.parametrize("query", [*QUERIES, {"status": "pending"}, {"cursor": "whd_" + "0" * 32},
                                             {"cursor": "we_" + "0" * 32}, {"limit": "NaN"}])
def test_odd_query_strings(keys, live, path, query):
    result = call("GET", _path(path, live["id"]), key=keys["all"], query=query)
    assert_clean(result)
    assert result.status < 500


def test_unknown_query_values_are_400(keys, live):
    bad_status = call("GET", _path("/{id}/deliveries", live["id"]), key=keys["read"], query={"status": "NOPE"})
    assert bad_status.status == 400 and bad_status.body["error"]["details"]["allowed"] == [
        "PENDING", "SUCCEEDED", "FAILED"]
    for path in ("", "/{id}/deliveries"):
        bad_cursor = call("GET", _path(path, live["id"]), key=keys["read"], query={"cursor": "we_" + "1" * 32})
        assert bad_cursor.status == 400 and bad_cursor.body["error"]["details"]["field"] == "cursor"


def test_wrong_types_name_the_field(keys):
    result = call("POST", BASE, key=keys["write"], body={"url": "http://127.0.0.1:1/", "types": "order.*"})
    assert result.status == 400
    assert result.body["error"]["details"]["validationErrors"][0]["field"] == "types"
    unknown = call("POST", BASE, key=keys["write"], body={"url": "http://127.0.0.1:1/", "types": ["order.nope"]})
    assert unknown.status == 400 and unknown.body["error"]["details"]["unknown"] == ["order.nope"]
    assert "order.*" in unknown.body["error"]["details"]["known"]
