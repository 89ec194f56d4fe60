"""moto's DynamoDB items outlive a restart of the local stack (local/dynamodb_state.py): an idempotency record
written before a SIGKILL is there after the restart, and the retried request is replayed, not applied twice."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from moto.dynamodb.models import DynamoDBBackend

from local import dynamodb_state
from local import template as tpl
from local.aws import connection_tables
from tests.e2e.test_local_stack import MASTER, Stack

TABLE = "IdempotencyTable"  # the template's table, under its logical id as the local stack names it
HOUR = 3600


def backend_with_the_templates_tables() -> DynamoDBBackend:
    """A fresh moto DynamoDB backend (its own, not the process-wide one) with the tables template.yaml
    declares, as local/aws.provision creates them."""
    backend = DynamoDBBackend("us-east-1", "123456789012")
    tables = tpl.load().resources_of("AWS::DynamoDB::Table")
    assert TABLE in tables
    for logical_id, resource in tables.items():
        props = resource["Properties"]
        backend.create_table(logical_id, schema=props["KeySchema"], throughput=None,
                             attr=props["AttributeDefinitions"], global_indexes=None, indexes=None, streams=None,
                             billing_mode="PAY_PER_REQUEST", sse_specification=None, tags=[],
                             deletion_protection_enabled=None, warm_throughput=None)
        if "TimeToLiveSpecification" in props:
            backend.update_time_to_live(logical_id, props["TimeToLiveSpecification"])
    return backend


def record(key: str, *, expires_in: float, status: str = "COMPLETED") -> dict[str, Any]:
    """An item shaped like a Powertools idempotency record."""
    import time

    return {"id": {"S": f"offerhub-http#{key}"}, "expiration": {"N": str(int(time.time() + expires_in))},
            "status": {"S": status}, "data": {"S": json.dumps({"statusCode": 200, "body": key})}}


def items(backend: DynamoDBBackend) -> dict[str, dict[str, Any]]:
    return {item.to_json()["Attributes"]["id"]["S"]: item.to_json()["Attributes"]
            for item in backend.tables[TABLE].all_items()}


@pytest.fixture
def restart(tmp_path: Path) -> Callable[[], tuple[DynamoDBBackend, dynamodb_state.DynamoDBState]]:
    """Each call: "restart" — the previous keeper lets go of the directory (as a killed process would: it
    writes nothing on the way out) and a new, empty backend is loaded from it."""
    keepers: list[dynamodb_state.DynamoDBState] = []

    def start() -> tuple[DynamoDBBackend, dynamodb_state.DynamoDBState]:
        for keeper in keepers:
            keeper.close()
        backend = backend_with_the_templates_tables()
        keeper = dynamodb_state.keep_across_restarts(backend, tmp_path / "dynamodb",
                                                     transient=connection_tables(tpl.load()))
        assert keeper is not None
        keepers.append(keeper)
        return backend, keeper

    yield start
    for keeper in keepers:
        keeper.close()


def test_every_kind_of_write_survives_a_restart_and_expired_records_are_dropped(restart):
    backend, _ = restart()
    backend.put_item(TABLE, record("kept", expires_in=HOUR))
    backend.put_item(TABLE, record("expired", expires_in=-1))
    backend.put_item(TABLE, record("updated", expires_in=HOUR, status="INPROGRESS"))
    backend.update_item(TABLE, {"id": {"S": "offerhub-http#updated"}}, "SET #s = :s", {"#s": "status"},
                        {":s": {"S": "COMPLETED"}})
    backend.put_item(TABLE, record("deleted", expires_in=HOUR))
    backend.delete_item(TABLE, {"id": {"S": "offerhub-http#deleted"}})
    backend.transact_write_items([{"Put": {"TableName": TABLE, "Item": record("in-a-transaction", expires_in=HOUR)}}])
    before = items(backend)

    backend, keeper = restart()

    assert items(backend) == {k: v for k, v in before.items() if k != "offerhub-http#expired"}
    assert items(backend)["offerhub-http#updated"]["status"] == {"S": "COMPLETED"}
    assert (keeper.restored, keeper.dropped_expired) == (3, 1)


def test_a_refused_conditional_write_changes_nothing_and_writes_no_line(restart, tmp_path: Path):
    from moto.dynamodb.exceptions import ConditionalCheckFailed

    backend, _ = restart()
    backend.put_item(TABLE, record("first", expires_in=HOUR))
    journal = tmp_path / "dynamodb" / dynamodb_state.JOURNAL
    size = journal.stat().st_size
    with pytest.raises(ConditionalCheckFailed):  # what Powertools does when the key is seen again
        backend.put_item(TABLE, record("first", expires_in=2 * HOUR, status="INPROGRESS"),
                         condition_expression="attribute_not_exists(id)")
    assert journal.stat().st_size == size

    backend, _ = restart()
    assert items(backend)["offerhub-http#first"]["status"] == {"S": "COMPLETED"}


def test_a_line_torn_by_a_kill_is_skipped_and_the_lines_before_it_are_kept(restart, tmp_path: Path):
    backend, _ = restart()
    backend.put_item(TABLE, record("whole", expires_in=HOUR))
    with (tmp_path / "dynamodb" / dynamodb_state.JOURNAL).open("ab") as journal:
        journal.write(b'{"table":"IdempotencyTable","key":[{"S":"offerhub-http#torn"},null],"item":{"id"')

    backend, _ = restart()
    assert set(items(backend)) == {"offerhub-http#whole"}


def test_compaction_keeps_the_journal_short(restart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(dynamodb_state, "COMPACT_AFTER_LINES", 3)
    journal = tmp_path / "dynamodb" / dynamodb_state.JOURNAL
    backend, _ = restart()
    for version in range(20):
        backend.put_item(TABLE, record("counter", expires_in=HOUR, status=f"v{version}"))
        assert len(journal.read_bytes().splitlines()) <= 1 + 3 + 2  # header + the threshold + twice the items

    backend, _ = restart()
    assert items(backend)["offerhub-http#counter"]["status"] == {"S": "v19"}


def kill_between_the_renames(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make the next compactions write their snapshot but not their journal, as if the process died (or the
    disk filled) in between; returns what puts things back."""
    real_write = dynamodb_state._atomic_write

    def snapshot_only(path: Path, content: bytes) -> None:
        if path.name == dynamodb_state.JOURNAL:
            raise OSError("killed between the snapshot's rename and the journal's")
        real_write(path, content)

    monkeypatch.setattr(dynamodb_state, "_atomic_write", snapshot_only)
    return lambda: monkeypatch.setattr(dynamodb_state, "_atomic_write", real_write)


def test_a_journal_older_than_the_snapshot_is_not_replayed(restart, monkeypatch: pytest.MonkeyPatch):
    backend, _ = restart()
    backend.put_item(TABLE, record("gone", expires_in=HOUR))
    heal = kill_between_the_renames(monkeypatch)
    backend.delete_table(TABLE)  # a change no journal line names: it is saved by a new snapshot
    heal()

    backend, _ = restart()  # the table comes back from the template, and the old journal's put must not
    assert items(backend) == {}


def test_a_compaction_that_failed_is_retried_by_the_next_write(restart, monkeypatch: pytest.MonkeyPatch):
    backend, _ = restart()
    backend.put_item(TABLE, record("before", expires_in=HOUR))
    heal = kill_between_the_renames(monkeypatch)
    backend.delete_table("ConnectionsTable")  # any call that compacts
    heal()
    backend.put_item(TABLE, record("after", expires_in=HOUR))  # not only journalled: the old journal is stale

    backend, _ = restart()
    assert set(items(backend)) == {"offerhub-http#before", "offerhub-http#after"}


def test_websocket_connections_are_not_kept_they_end_with_the_local_gateway(restart, tmp_path: Path):
    assert connection_tables(tpl.load()) == {"ConnectionsTable"}
    backend, _ = restart()
    journal = tmp_path / "dynamodb" / dynamodb_state.JOURNAL
    size = journal.stat().st_size
    backend.put_item("ConnectionsTable", {"connectionId": {"S": "abc="}, "expiresAt": {"N": "9999999999"}})
    assert journal.stat().st_size == size

    backend, _ = restart()
    assert backend.tables["ConnectionsTable"].all_items() == []


def test_a_second_keeper_of_the_same_directory_is_refused(restart, tmp_path: Path):
    restart()
    assert dynamodb_state.keep_across_restarts(backend_with_the_templates_tables(), tmp_path / "dynamodb") is None


@pytest.mark.e2e
def test_a_credit_retried_after_the_stack_was_killed_is_replayed_not_applied_twice(fresh_database_url,
                                                                                   tmp_path: Path):
    env = {"DATABASE_URL": fresh_database_url(), "OFFERHUB_DATA_DIR": str(tmp_path)}
    first = Stack(env)
    try:
        with httpx.Client(base_url=first.base, timeout=30) as client:
            key = client.post("/auth/api-keys", headers={"Authorization": f"Bearer {MASTER}"},
                              json={"name": "restart", "scopes": ["read", "write", "support"]}).json()["data"]["key"]
            auth = {"Authorization": f"Bearer {key}"}
            user = client.post("/users", headers=auth, json={"externalUserId": "restart-1"}).json()["data"]["id"]
            credit = client.post(f"/balance/{user}/credit", headers={**auth, "Idempotency-Key": "credit-after-restart"},
                                 json={"amount": "25.00", "reason": "manual"})
            assert credit.status_code == 200, credit.text
            assert "idempotent-replayed" not in credit.headers
    finally:
        first.process.kill()  # SIGKILL: nothing runs on the way out
        first.process.wait(timeout=30)

    second = Stack(env)
    try:
        with httpx.Client(base_url=second.base, timeout=30) as client:
            retried = client.post(f"/balance/{user}/credit",
                                  headers={**auth, "Idempotency-Key": "credit-after-restart"},
                                  json={"amount": "25.00", "reason": "manual"})
            assert retried.status_code == 200, retried.text
            assert retried.headers["idempotent-replayed"] == "true"
            assert retried.json()["data"] == credit.json()["data"]
            balance = client.get(f"/balance/{user}", headers=auth).json()["data"]
            assert balance["available"] == "25.00"
            entries = client.get(f"/balance/{user}/entries", headers=auth).json()["data"]
            assert [e["amount"] for e in entries] == ["25.00"]
    finally:
        assert second.stop() == 0, "".join(second.output)
