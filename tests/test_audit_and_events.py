"""The audit log is immutable and secret-free; the event log is transactional and replayable in order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from offerhub.adapters.postgres.engine import get_engine
from offerhub.adapters.postgres.unit_of_work import transaction
from offerhub.core.context import RequestContext
from offerhub.ledger import service
from tests.lambda_client import call


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_logs SET action = 'x'", "DELETE FROM audit_logs", "TRUNCATE audit_logs",
     "UPDATE events SET data = '{}'", "DELETE FROM events", "TRUNCATE events CASCADE",
     "UPDATE ledger_entries SET amount = 1", "DELETE FROM ledger_entries"],
)
def test_append_only_tables_refuse_changes_in_the_database(new_user, statement):
    user = new_user()["id"]  # at least one audit row, event and ledger line exist
    with transaction(RequestContext(request_id="append-only")) as uow:
        service.credit(uow, user, Decimal("1.00"))
    with pytest.raises(DBAPIError, match="append-only"), get_engine().begin() as conn:
        conn.execute(text(statement))


def test_audit_rows_never_hold_secrets(master_key, api_key):
    token = api_key("read")
    with get_engine().connect() as conn:
        dumped = conn.execute(text("SELECT coalesce(string_agg(t::text, ''), '') FROM audit_logs t")).scalar_one()
        events = conn.execute(text("SELECT coalesce(string_agg(t::text, ''), '') FROM events t")).scalar_one()
        hashes = [r[0] for r in conn.execute(text("SELECT secret_hash FROM api_keys"))]
    secret = token.rsplit("_", 1)[1]
    assert secret not in dumped and secret not in events
    assert master_key not in dumped
    assert not any(h in dumped or h in events for h in hashes)


def test_audit_search_filters_and_pages(api_key, new_user):
    key = api_key()
    user = new_user()["id"]
    for amount in ("1.00", "2.00", "3.00"):
        assert call("POST", f"/api/v1/balance/{user}/credit", key=key,
                    body={"amount": amount, "reason": "audit test"}).status == 200
    first = call("GET", "/api/v1/audit", key=key, query={"resourceId": user, "action": "balance.credited",
                                                          "limit": 2})
    assert first.status == 200 and len(first.data) == 2
    assert first.body["meta"]["pagination"]["hasMore"] is True
    second = call("GET", "/api/v1/audit", key=key, query={"resourceId": user, "action": "balance.credited",
                                                           "limit": 2,
                                                           "cursor": first.body["meta"]["pagination"]["nextCursor"]})
    amounts = [row["after"]["amount"] for row in first.data + second.data]
    assert amounts == ["3.00", "2.00", "1.00"]  # newest first, nothing repeated
    row = call("GET", f"/api/v1/audit/{first.data[0]['id']}", key=key)
    assert row.status == 200 and row.data["actorType"] == "api_key" and row.data["result"] == "SUCCESS"
    assert row.data["requestId"]
    assert call("GET", "/api/v1/audit/aud_" + "0" * 32, key=key).error_code == "AUDIT_LOG_NOT_FOUND"
    future = call("GET", "/api/v1/audit", key=key, query={"resourceId": user, "from": "2999-01-01T00:00:00Z"})
    assert future.status == 200 and future.data == []


def test_events_are_written_with_the_change_or_not_at_all(new_user):
    user = new_user()["id"]
    with pytest.raises(RuntimeError), transaction(RequestContext(request_id="rolled-back")) as uow:
        service.credit(uow, user, Decimal("1.00"))
        raise RuntimeError("abort")
    with get_engine().connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM events WHERE request_id = 'rolled-back'")).scalar_one()
    assert count == 0


@pytest.mark.parametrize("with_event", [True, False])
def test_a_unit_of_works_audit_rows_and_events_are_one_statement_before_its_commit(new_user, with_event):
    """Audit rows wait for the commit and ride with the events' append (or go alone): one round trip, whatever their
    number, and the rows are as an immediate insert writes them (a missing before/after/error is a JSON null)."""
    from sqlalchemy import event

    from offerhub.audit.service import record
    from offerhub.audit.store import insert_row

    user = new_user()["id"]
    ctx = RequestContext(request_id="rides-with-events-" + str(with_event))
    statements: list[str] = []
    with transaction(ctx) as uow:
        if with_event:
            uow.emit("user.updated", "User", user, {"userId": user})
        ids = [record(uow, "user.updated", "User", user, after={"n": n}) for n in range(3)]
        event.listen(uow.conn, "before_cursor_execute", lambda *a: statements.append(a[2]))
        ids.append(insert_row(uow.conn, ctx, action="user.updated", resource_type="User", resource_id=user,
                              result="SUCCESS", after={"n": 3}))  # immediate: the shape to match
    assert len(statements) == 2 and "audit_logs" in statements[1] and ("events" in statements[1]) is with_event
    with get_engine().connect() as conn:
        rows = conn.execute(text(
            "SELECT id, jsonb_typeof(before) AS before, jsonb_typeof(error) AS error, after, actor_type, result, "
            "request_id, occurred_at FROM audit_logs WHERE request_id = :r ORDER BY occurred_at"),
            {"r": ctx.request_id}).mappings().all()
    assert [r["id"] for r in rows] == ids
    assert [r["after"] for r in rows] == [{"n": n} for n in range(4)]
    assert {(r["before"], r["error"], r["actor_type"], r["result"]) for r in rows} == {("null", "null", "system",
                                                                                         "SUCCESS")}


def test_event_replay_is_in_order_and_resumable(api_key, new_user):
    key = api_key("read", "support")
    user = new_user()["id"]
    for amount in ("1.00", "2.00"):
        call("POST", f"/api/v1/balance/{user}/credit", key=key, body={"amount": amount, "reason": "r"})
    everything = call("GET", "/api/v1/events", key=key, query={"resourceId": user})
    types = [e["type"] for e in everything.data]
    assert types == ["user.created", "balance.credited", "balance.credited"]
    sequences = [e["sequence"] for e in everything.data]
    assert sequences == sorted(sequences)
    credited = everything.data[1]
    assert credited["data"]["amount"] == "1.00" and credited["aggregateType"] == "Balance"
    assert set(credited) == {"id", "type", "occurredAt", "aggregateType", "aggregateId", "sequence", "data",
                             "requestId"}
    # Resume after the first event: only what came later.
    rest = call("GET", "/api/v1/events", key=key, query={"resourceId": user, "cursor": everything.data[0]["id"]})
    assert [e["id"] for e in rest.data] == [e["id"] for e in everything.data[1:]]
    only = call("GET", "/api/v1/events", key=key,
                query=[("resourceId", user), ("type", "user.created"), ("type", "balance.debited")])
    assert [e["type"] for e in only.data] == ["user.created"]
    paged = call("GET", "/api/v1/events", key=key, query={"resourceId": user, "limit": 1})
    assert paged.body["meta"]["pagination"] == {"hasMore": True, "nextCursor": everything.data[0]["id"]}
    assert call("GET", "/api/v1/events", key=key, query={"type": "no.such"}).status == 400
    assert call("GET", "/api/v1/events", key=key, query={"cursor": "evt_unknown"}).status == 400


def test_a_reader_resuming_after_its_last_sequence_never_misses_an_event(new_user):
    """Sequences follow commit order, so polling `sequence > last_seen` while writers race sees everything."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    users = [new_user()["id"] for _ in range(8)]
    with get_engine().connect() as conn:
        start = conn.execute(text("SELECT value FROM event_sequence")).scalar_one()
    seen: list[int] = []
    done = threading.Event()

    def read_new() -> None:
        last = seen[-1] if seen else start
        with get_engine().connect() as conn:
            seen.extend(r[0] for r in conn.execute(
                text("SELECT sequence FROM events WHERE sequence > :last ORDER BY sequence"), {"last": last}))

    def reader() -> None:
        while not done.is_set():
            read_new()

    def credit(user_id: str) -> None:
        with transaction(RequestContext(request_id="concurrent")) as uow:
            service.credit(uow, user_id, Decimal("1.00"))

    polling = threading.Thread(target=reader)
    polling.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(credit, users * 5))
    done.set()
    polling.join()
    read_new()
    with get_engine().connect() as conn:
        written = [r[0] for r in conn.execute(
            text("SELECT sequence FROM events WHERE sequence > :s ORDER BY sequence"), {"s": start})]
    assert len(written) == 40
    assert seen == written
