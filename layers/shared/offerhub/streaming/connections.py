"""The connections table (DynamoDB): one item per open WebSocket connection.

Item: `connectionId` (key), `keyId` (the API key that opened it), `types` (list of patterns), `resourceId`
(absent = any), `position` (every event with a sequence at or below it has been handled for this connection:
sent, or not matching), `connectedAt` (epoch ms), `expiresAt` (epoch s, the table's TTL attribute).

Writers never overwrite each other's attributes: `$connect` puts the item, `$default` updates only the filters,
the dispatcher updates only `position`, `$disconnect` deletes. Updates are conditional on the item existing, so
a late write never brings a closed connection back. DynamoDB's TTL deletes an item up to days late, so reads
skip expired items themselves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from offerhub.streaming.config import stream_settings
from offerhub.streaming.filters import Filters


@dataclass
class Connection:
    connection_id: str
    key_id: str
    filters: Filters
    position: int
    connected_at_ms: int
    expires_at: int
    extra: dict[str, str] = field(default_factory=dict)  # domainName, stage: informational

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at <= (time.time() if now is None else now)


@cache
def _dynamodb() -> Any:
    import boto3

    return boto3.client("dynamodb")


class ConnectionStore:
    def __init__(self, table: str | None = None, client: Any | None = None):
        self._table = table
        self._client = client

    @property
    def table(self) -> str:
        return self._table or stream_settings().table()

    @property
    def client(self) -> Any:
        return self._client or _dynamodb()

    def put(self, connection: Connection) -> None:
        self.client.put_item(TableName=self.table, Item=_to_item(connection))

    def get(self, connection_id: str) -> Connection | None:
        item = self.client.get_item(TableName=self.table, Key=_key(connection_id), ConsistentRead=True).get("Item")
        if item is None:
            return None
        connection = _from_item(item)
        return None if connection.expired() else connection

    def update_filters(self, connection_id: str, filters: Filters) -> bool:
        """False when the connection is gone."""
        names = {"#t": "types", "#r": "resourceId"}
        values: dict[str, Any] = {":t": {"L": [{"S": p} for p in sorted(filters.types)]}}
        if filters.resource_id is None:
            expression = "SET #t = :t REMOVE #r"
        else:
            expression = "SET #t = :t, #r = :r"
            values[":r"] = {"S": filters.resource_id}
        return self._update(connection_id, expression, names, values)

    def save_position(self, connection_id: str, position: int) -> bool:
        """Only forward: a slower writer never moves a connection back (that would mean duplicates)."""
        return self._update(connection_id, "SET #p = :p", {"#p": "position"}, {":p": {"N": str(position)}},
                            condition="#p < :p")

    def delete(self, connection_id: str) -> None:
        self.client.delete_item(TableName=self.table, Key=_key(connection_id))

    def scan(self) -> list[Connection]:
        """Every live connection (paged scan, eventually consistent: a connection made a moment ago may show
        up on the next scan, which its stored position makes harmless)."""
        found: list[Connection] = []
        now = time.time()
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table):
            for item in page.get("Items", []):
                connection = _from_item(item)
                if not connection.expired(now):
                    found.append(connection)
        return found

    def _update(self, connection_id: str, expression: str, names: dict[str, str], values: dict[str, Any],
                condition: str | None = None) -> bool:
        exists = "attribute_exists(connectionId)"
        try:
            self.client.update_item(
                TableName=self.table, Key=_key(connection_id), UpdateExpression=expression,
                ConditionExpression=f"{exists} AND {condition}" if condition else exists,
                ExpressionAttributeNames=names, ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _key(connection_id: str) -> dict[str, Any]:
    return {"connectionId": {"S": connection_id}}


def _to_item(c: Connection) -> dict[str, Any]:
    item: dict[str, Any] = {
        "connectionId": {"S": c.connection_id},
        "keyId": {"S": c.key_id},
        "types": {"L": [{"S": p} for p in sorted(c.filters.types)]},
        "position": {"N": str(c.position)},
        "connectedAt": {"N": str(c.connected_at_ms)},
        "expiresAt": {"N": str(c.expires_at)},
    }
    if c.filters.resource_id is not None:
        item["resourceId"] = {"S": c.filters.resource_id}
    for name, value in c.extra.items():
        item[name] = {"S": value}
    return item


def _from_item(item: dict[str, Any]) -> Connection:
    resource = item.get("resourceId", {}).get("S")
    return Connection(
        connection_id=item["connectionId"]["S"],
        key_id=item["keyId"]["S"],
        filters=Filters(types=frozenset(v["S"] for v in item.get("types", {}).get("L", [])), resource_id=resource),
        position=int(item["position"]["N"]),
        connected_at_ms=int(item["connectedAt"]["N"]),
        expires_at=int(item["expiresAt"]["N"]),
        extra={k: item[k]["S"] for k in ("domainName", "stage") if k in item},
    )
