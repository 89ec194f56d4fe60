"""$connect and $disconnect through their functions: the key, the filters, where the stream starts."""

from __future__ import annotations

import json

import pytest

from offerhub.adapters.postgres.unit_of_work import read_only
from offerhub.auth.keys import key_id_of
from offerhub.events import tail
from tests.streaming.helpers import emit, invoke_ws, marker, new_connection_id, ws_event


def _connect(headers=None, **query):
    connection_id = new_connection_id()
    response = invoke_ws("ws_connect", ws_event("$connect", connection_id, headers=headers, query=query or None))
    return connection_id, response


def _head() -> int:
    with read_only() as conn:
        return tail.head(conn)


def test_a_key_in_the_authorization_header_opens_a_connection_at_the_head(connections, api_key):
    key = api_key("read")
    emit(1, marker())
    connection_id, response = _connect(headers={"Authorization": f"Bearer {key}"})
    assert response == {"statusCode": 200}
    stored = connections.get(connection_id)
    assert stored.key_id == key_id_of(key)
    assert stored.position == _head()  # nothing committed after the connect can be missed
    assert stored.filters.types == frozenset({"*"}) and stored.filters.resource_id is None
    assert stored.expires_at > stored.connected_at_ms // 1000 + 3600


@pytest.mark.parametrize("where", ["x-api-key", "query"])
def test_the_key_may_come_in_x_api_key_or_the_query_string(connections, api_key, where):
    key = api_key("read")
    if where == "query":
        connection_id, response = _connect(apiKey=key)  # browsers cannot set headers on a WebSocket
    else:
        connection_id, response = _connect(headers={"X-API-Key": key})
    assert response["statusCode"] == 200
    assert connections.get(connection_id) is not None


@pytest.mark.parametrize("token", [None, "ohk_test_nope", "not-a-key"])
def test_a_missing_or_bad_key_is_refused_with_401(connections, token):
    connection_id, response = _connect(**({"apiKey": token} if token else {}))
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "UNAUTHORIZED"
    assert connections.get(connection_id) is None


def test_a_revoked_key_is_refused(connections, api_key, master_key):
    from tests.lambda_client import call

    key = api_key("read")
    assert call("DELETE", f"/api/v1/auth/api-keys/{key_id_of(key)}", key=master_key).status == 200
    assert _connect(apiKey=key)[1]["statusCode"] == 401


def test_a_key_without_the_read_scope_is_refused_with_403(connections, api_key):
    connection_id, response = _connect(apiKey=api_key("write"))
    assert response["statusCode"] == 403
    assert json.loads(response["body"])["error"]["code"] == "INSUFFICIENT_SCOPE"
    assert connections.get(connection_id) is None


def test_type_filters_take_exact_names_and_family_wildcards(connections, api_key):
    connection_id, response = _connect(apiKey=api_key("read"), types="order.*,escrow.funded, user.created",
                                       resourceId="ord_123")
    assert response["statusCode"] == 200
    filters = connections.get(connection_id).filters
    assert filters.types == frozenset({"order.*", "escrow.funded", "user.created"})
    assert filters.resource_id == "ord_123"
    assert filters.matches({"type": "order.canceled", "aggregateId": "ord_123"})
    assert not filters.matches({"type": "order.canceled", "aggregateId": "ord_999"})
    assert not filters.matches({"type": "escrow.created", "aggregateId": "ord_123"})


def test_repeated_types_parameters_add_up(connections, api_key):
    connection_id = new_connection_id()
    event = ws_event("$connect", connection_id, query={"apiKey": api_key("read"), "types": "escrow.funded"})
    event["multiValueQueryStringParameters"] = {"apiKey": [event["queryStringParameters"]["apiKey"]],
                                                "types": ["order.created", "escrow.funded"]}
    assert invoke_ws("ws_connect", event)["statusCode"] == 200
    assert connections.get(connection_id).filters.types == frozenset({"order.created", "escrow.funded"})


@pytest.mark.parametrize("types", ["order.nope", "nope.*", "order", "order.created,bogus"])
def test_an_unknown_type_is_refused_with_400(connections, api_key, types):
    connection_id, response = _connect(apiKey=api_key("read"), types=types)
    assert response["statusCode"] == 400
    body = json.loads(response["body"])["error"]
    assert body["code"] == "VALIDATION_ERROR" and body["details"]["field"] == "types"
    assert connections.get(connection_id) is None


def test_after_an_event_id_starts_the_stream_after_that_event(connections, api_key):
    from offerhub.core.pagination import PageRequest
    from offerhub.events.service import list_events

    m = marker()
    emit(3, m)
    first = list_events(PageRequest(limit=1), resource_id=f"{m}-0").items[0]
    connection_id, response = _connect(apiKey=api_key("read"), after=first["id"])
    assert response["statusCode"] == 200
    assert connections.get(connection_id).position == first["sequence"]


def test_an_unknown_after_is_refused_with_400(connections, api_key):
    connection_id, response = _connect(apiKey=api_key("read"), after="evt_" + "0" * 32)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["details"] == {"field": "after"}
    assert connections.get(connection_id) is None


def test_disconnect_forgets_the_connection(connections, open_connection):
    connection_id = open_connection()
    assert connections.get(connection_id) is not None
    assert invoke_ws("ws_disconnect", ws_event("$disconnect", connection_id)) == {"statusCode": 200}
    assert connections.get(connection_id) is None
    # $disconnect may come twice (or for a connection the dispatcher already dropped): still fine
    assert invoke_ws("ws_disconnect", ws_event("$disconnect", connection_id)) == {"statusCode": 200}
