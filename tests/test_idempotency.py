"""Idempotency-Key on POST (CONVENTIONS §3): Powertools idempotency on DynamoDB (moto)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.lambda_client import call, http_event, invoke


def _post_user(key: str, idem: str, external_id: str, **extra):
    return call("POST", "/api/v1/users", key=key, headers={"Idempotency-Key": idem},
                body={"externalUserId": external_id, **extra})


def test_replay_returns_the_stored_status_and_body(api_key):
    key = api_key()
    first = _post_user(key, "create-1", "idem-user-1")
    second = _post_user(key, "create-1", "idem-user-1")
    assert first.status == second.status == 201  # without idempotency the second would be a 200
    assert second.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.body == first.body
    assert second.headers["x-request-id"] != first.headers["x-request-id"]


def test_same_key_with_another_request_is_refused(api_key):
    key = api_key()
    assert _post_user(key, "create-2", "idem-user-2").status == 201
    other_body = _post_user(key, "create-2", "idem-user-2", email="changed@example.com")
    assert other_body.status == 422 and other_body.error_code == "IDEMPOTENCY_KEY_REUSED"
    other_path = call("POST", "/api/v1/auth/api-keys", key=key, headers={"Idempotency-Key": "create-2"},
                      body={"externalUserId": "idem-user-2"})
    assert other_path.status in (403, 422)  # a non-master key: 403 is not stored, fingerprint differs anyway


def test_keys_are_scoped_to_the_api_key(api_key):
    first = _post_user(api_key(), "shared-key", "idem-user-3")
    second = _post_user(api_key(), "shared-key", "idem-user-3")
    assert first.status == 201
    assert second.status == 200 and "idempotent-replayed" not in second.headers  # executed, not replayed


def test_business_errors_are_replayed_but_auth_failures_are_not(api_key, new_user):
    key = api_key()
    user = new_user()["id"]
    body = {"amount": "5.00", "reason": "idem"}
    refused = call("POST", f"/api/v1/balance/{user}/debit", key=key, headers={"Idempotency-Key": "d1"}, body=body)
    assert refused.status == 422
    replay = call("POST", f"/api/v1/balance/{user}/debit", key=key, headers={"Idempotency-Key": "d1"}, body=body)
    assert replay.status == 422 and replay.headers.get("idempotent-replayed") == "true"
    read_only = api_key("read")
    assert call("POST", f"/api/v1/balance/{user}/credit", key=read_only, headers={"Idempotency-Key": "c1"},
                body=body).status == 403
    assert call("POST", f"/api/v1/balance/{user}/credit", key=read_only, headers={"Idempotency-Key": "c1"},
                body=body).headers.get("idempotent-replayed") is None
    bad = call("POST", "/api/v1/users", key=key, headers={"Idempotency-Key": "x" * 256},
               body={"externalUserId": "too-long-key"})
    assert bad.status == 400 and bad.error_code == "VALIDATION_ERROR"


def test_a_concurrent_request_with_the_same_key_gets_in_progress(api_key, monkeypatch):
    key = api_key()
    from offerhub.users import service

    entered, release = threading.Event(), threading.Event()
    original = service.create_user

    def slow_create_user(*args, **kwargs):
        entered.set()
        assert release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(service, "create_user", slow_create_user)
    event = http_event("POST", "/api/v1/users", body={"externalUserId": "idem-concurrent"},
                       headers={"authorization": f"Bearer {key}", "idempotency-key": "race"})
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(invoke, "users", event)
        assert entered.wait(10)
        second = invoke("users", http_event("POST", "/api/v1/users", body={"externalUserId": "idem-concurrent"},
                                            headers={"authorization": f"Bearer {key}", "idempotency-key": "race"}))
        release.set()
        assert first.result().status == 201
    assert second.status == 409 and second.error_code == "IDEMPOTENCY_KEY_IN_PROGRESS"
    assert second.headers.get("retry-after") == "1"
    again = _post_user(key, "race", "idem-concurrent")
    assert again.status == 201 and again.headers.get("idempotent-replayed") == "true"
