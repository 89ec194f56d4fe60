"""The webhook endpoints API: register (secret shown once), read, list, delete, rotate, enable; scopes; audit
rows and events; the secret sealed at rest."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lambda_client import call

BASE = "/api/v1/webhook-endpoints"


def _row(endpoint_id: str) -> dict[str, Any]:
    from sqlalchemy import select

    from offerhub.adapters.postgres.engine import get_engine
    from offerhub.adapters.postgres.schema import webhook_endpoints

    with get_engine().connect() as conn:
        return dict(conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
                    .mappings().one())


def test_register_shows_the_secret_once_and_seals_it(keys, receiver):
    created = call("POST", BASE, key=keys["write"], body={"url": receiver.url, "types": ["order.*", "user.created"],
                                                           "description": "marketplace backend"})
    assert created.status == 201, created.body
    data = created.data
    assert data["id"].startswith("we_") and len(data["id"]) == 3 + 32
    assert data["secret"].startswith("whsec_") and len(data["secret"]) > 30
    assert data["status"] == "ENABLED" and data["types"] == ["order.*", "user.created"]
    assert data["url"] == receiver.url and data["description"] == "marketplace backend"
    assert data["secretVersion"] == 1 and data["previousSecretExpiresAt"] is None
    assert data["createdBy"].startswith("key_")

    got = call("GET", f"{BASE}/{data['id']}", key=keys["read"])
    assert got.status == 200 and "secret" not in got.data
    assert got.data == {k: v for k, v in data.items() if k != "secret"}
    listed = call("GET", BASE, key=keys["read"])
    assert [e["id"] for e in listed.data] == [data["id"]] and "secret" not in listed.data[0]

    # At rest: sealed with KMS under a context naming the endpoint, never the plain secret.
    row = _row(data["id"])
    assert data["secret"].encode() not in bytes(row["sealed_secret"]) and row["sealed_key"]
    from offerhub.adapters.aws.kms import KmsEnvelope
    from tests.conftest import WEBHOOK_SECRETS_KEY_ALIAS

    opened = KmsEnvelope(WEBHOOK_SECRETS_KEY_ALIAS).open(
        bytes(row["sealed_key"]), bytes(row["sealed_secret"]),
        {"webhookEndpointId": data["id"], "secretVersion": "1"})
    assert opened.decode() == data["secret"]

    # Nowhere else: not in the audit row nor the event.
    audit = call("GET", "/api/v1/audit", key=keys["support"], query={"resourceId": data["id"]})
    events = call("GET", "/api/v1/events", key=keys["read"], query={"resourceId": data["id"]})
    assert [a["action"] for a in audit.data] == ["webhook_endpoint.created"]
    assert [e["type"] for e in events.data] == ["webhook_endpoint.created"]
    assert data["secret"] not in str(audit.body) + str(events.body)


def test_every_key_of_the_deployment_sees_the_endpoints(api_key, endpoint, receiver):
    made = endpoint(receiver.url)
    other = api_key("read")
    assert call("GET", f"{BASE}/{made['id']}", key=other).status == 200


def test_list_is_paginated_newest_first(keys, endpoint, receiver):
    ids = [endpoint(receiver.url)["id"] for _ in range(3)]
    first = call("GET", BASE, key=keys["read"], query={"limit": 2})
    assert [e["id"] for e in first.data] == ids[::-1][:2]
    assert first.body["meta"]["pagination"] == {"hasMore": True, "nextCursor": ids[1]}
    second = call("GET", BASE, key=keys["read"], query={"limit": 2, "cursor": ids[1]})
    assert [e["id"] for e in second.data] == [ids[0]] and second.body["meta"]["pagination"]["hasMore"] is False


def test_delete_then_gone(keys, endpoint, receiver):
    made = endpoint(receiver.url)
    deleted = call("DELETE", f"{BASE}/{made['id']}", key=keys["write"])
    assert deleted.status == 200 and deleted.data["status"] == "DELETED"
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/rotate-secret"), ("POST", "/enable"),
                         ("GET", "/deliveries")):
        gone = call(method, f"{BASE}/{made['id']}{path}", key=keys["all"])
        assert gone.status == 404 and gone.error_code == "WEBHOOK_ENDPOINT_NOT_FOUND"
    assert made["id"] not in [e["id"] for e in call("GET", BASE, key=keys["read"]).data]
    row = _row(made["id"])
    assert row["sealed_secret"] is None and row["sealed_key"] is None  # the secret is destroyed
    audit = call("GET", "/api/v1/audit", key=keys["support"], query={"resourceId": made["id"]})
    assert [a["action"] for a in audit.data] == ["webhook_endpoint.deleted", "webhook_endpoint.created"]


def test_rotate_shows_the_new_secret_once_and_keeps_the_old_for_24h(keys, endpoint, receiver):
    made = endpoint(receiver.url)
    rotated = call("POST", f"{BASE}/{made['id']}/rotate-secret", key=keys["write"])
    assert rotated.status == 200, rotated.body
    assert rotated.data["secret"].startswith("whsec_") and rotated.data["secret"] != made["secret"]
    assert rotated.data["secretVersion"] == 2 and rotated.data["previousSecretExpiresAt"]
    assert "secret" not in call("GET", f"{BASE}/{made['id']}", key=keys["read"]).data
    audit = call("GET", "/api/v1/audit", key=keys["support"], query={"resourceId": made["id"]})
    assert audit.data[0]["action"] == "webhook_endpoint.secret_rotated"
    assert rotated.data["secret"] not in str(audit.body)
    events = call("GET", "/api/v1/events", key=keys["read"], query={"resourceId": made["id"]})
    assert [e["type"] for e in events.data] == ["webhook_endpoint.created", "webhook_endpoint.secret_rotated"]


def test_enable_is_only_for_a_disabled_endpoint(keys, endpoint, receiver):
    made = endpoint(receiver.url)
    refused = call("POST", f"{BASE}/{made['id']}/enable", key=keys["write"])
    assert refused.status == 409 and refused.error_code == "INVALID_STATE"
    assert refused.body["error"]["details"]["allowedStates"] == ["DISABLED"]


def test_types_accept_exact_names_wildcards_and_star(keys, receiver):
    for types, stored in ((["order.*", "order.*"], ["order.*"]), (["*", "user.created"], ["*"]),
                          (["withdrawal.completed"], ["withdrawal.completed"]),
                          (["webhook_endpoint.*"], ["webhook_endpoint.*"])):
        created = call("POST", BASE, key=keys["write"], body={"url": receiver.url, "types": types})
        assert created.status == 201 and created.data["types"] == stored, created.body
        call("DELETE", f"{BASE}/{created.data['id']}", key=keys["write"])
    default = call("POST", BASE, key=keys["write"], body={"url": receiver.url})
    assert default.data["types"] == ["*"]


@pytest.mark.parametrize("types", [["order.nope"], ["nope.*"], ["order"], ["order.**"], ["*.created"], [""], [],
                                   ["ORDER.CREATED"], ["user.created", "bogus"]])
def test_unknown_types_are_400(keys, receiver, types):
    result = call("POST", BASE, key=keys["write"], body={"url": receiver.url, "types": types})
    assert result.status == 400 and result.error_code == "VALIDATION_ERROR", result.body


@pytest.mark.parametrize("method,path,scope", [
    ("POST", "", "write"), ("GET", "", "read"), ("GET", "/{id}", "read"), ("DELETE", "/{id}", "write"),
    ("POST", "/{id}/rotate-secret", "write"), ("POST", "/{id}/enable", "write"), ("GET", "/{id}/deliveries", "read"),
    ("POST", "/{id}/deliveries/whd_" + "0" * 32 + "/retry", "write")])
def test_scopes(api_key, endpoint, receiver, method, path, scope):
    made = endpoint(receiver.url)
    url = BASE + path.replace("{id}", made["id"])
    body = {"url": receiver.url} if (method, path) == ("POST", "") else None
    lacking = api_key(*({"read", "write", "support"} - {scope}))
    refused = call(method, url, key=lacking, body=body)
    assert refused.status == 403 and refused.error_code == "INSUFFICIENT_SCOPE"
    assert call(method, url, body=body).status == 401
    allowed = call(method, url, key=api_key(scope), body=body)
    assert allowed.status < 400 or allowed.error_code in ("WEBHOOK_DELIVERY_NOT_FOUND", "INVALID_STATE"), allowed.body


def test_a_deployment_has_at_most_16_endpoints(keys, endpoint, receiver):
    from offerhub.outbound.service import MAX_ENDPOINTS

    for _ in range(MAX_ENDPOINTS):
        endpoint(receiver.url)
    over = call("POST", BASE, key=keys["write"], body={"url": receiver.url})
    assert over.status == 422 and over.error_code == "WEBHOOK_ENDPOINT_LIMIT"


def test_idempotent_registration_replays_the_same_endpoint(keys, receiver):
    headers = {"idempotency-key": "register-" + receiver.url}
    first = call("POST", BASE, key=keys["write"], body={"url": receiver.url}, headers=headers)
    again = call("POST", BASE, key=keys["write"], body={"url": receiver.url}, headers=headers)
    assert first.status == again.status == 201 and again.data["id"] == first.data["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    assert len(call("GET", BASE, key=keys["read"]).data) == 1
