"""The event stream's fixtures: the connections table (as template.yaml declares it) in moto, the stream's
settings, a recording pusher, and connections opened through the $connect function."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.streaming.helpers import MANAGEMENT_URL, TABLE, FakePusher, invoke_ws, new_connection_id, ws_event


@pytest.fixture(autouse=True)
def stream_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from offerhub.streaming.config import stream_settings

    monkeypatch.setenv("CONNECTIONS_TABLE", TABLE)
    monkeypatch.setenv("WS_MANAGEMENT_URL", MANAGEMENT_URL)
    stream_settings.cache_clear()
    yield
    stream_settings.cache_clear()


@pytest.fixture
def connections(db: str) -> Any:
    """The connections table, empty, built from template.yaml's own definition."""
    import boto3

    from local.template import load
    from offerhub.streaming.connections import ConnectionStore

    client = boto3.client("dynamodb")
    if TABLE not in client.list_tables()["TableNames"]:
        props = load().resources["ConnectionsTable"]["Properties"]
        client.create_table(TableName=TABLE, KeySchema=props["KeySchema"],
                            AttributeDefinitions=props["AttributeDefinitions"], BillingMode=props["BillingMode"])
        client.update_time_to_live(TableName=TABLE, TimeToLiveSpecification=props["TimeToLiveSpecification"])
    for page in client.get_paginator("scan").paginate(TableName=TABLE):
        for item in page["Items"]:
            client.delete_item(TableName=TABLE, Key={"connectionId": item["connectionId"]})
    return ConnectionStore(TABLE)


@pytest.fixture
def pusher() -> FakePusher:
    return FakePusher()


@pytest.fixture
def open_connection(connections: Any, api_key: Callable[..., str]) -> Callable[..., str]:
    """Factory: a connection opened through the $connect function (query parameters as given); returns its id."""

    def make(key: str | None = None, **query: str) -> str:
        connection_id = new_connection_id()
        response = invoke_ws("ws_connect", ws_event("$connect", connection_id,
                                                   query={"apiKey": key or api_key("read"), **query}))
        assert response["statusCode"] == 200, response
        return connection_id

    return make


