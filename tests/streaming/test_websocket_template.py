"""template.yaml's WebSocket API, connections table and dispatcher are wired as the code expects, with each
function allowed only what it does."""

from __future__ import annotations

from typing import Any

import pytest

from local import websocket
from local.template import load

FUNCTIONS = {"$connect": "WsConnectFunction", "$disconnect": "WsDisconnectFunction", "$default": "WsDefaultFunction"}
# What each function does to the connections table and the Management API, and no more.
TABLE_ACTIONS = {
    "WsConnectFunction": {"dynamodb:PutItem"},
    "WsDisconnectFunction": {"dynamodb:DeleteItem"},
    "WsDefaultFunction": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    "StreamDispatcherFunction": {"dynamodb:Scan", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
}
MANAGES = {"WsDefaultFunction": {"POST"}, "StreamDispatcherFunction": {"POST", "DELETE"}}


@pytest.fixture(scope="module")
def template() -> Any:
    return load()


def _statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in function["Properties"].get("Policies", []) if isinstance(p, dict)
            for s in p.get("Statement", [])]


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_the_routes_reach_their_functions(template):
    api = websocket.load(template)
    assert api is not None and api.routes == FUNCTIONS
    assert api.selection_expression == "$request.body.action"
    props = template.resources[api.logical_id]["Properties"]
    assert props["ProtocolType"] == "WEBSOCKET"


def test_api_gateway_may_invoke_each_route_function_and_the_stage_deploys_them(template):
    permissions = template.resources_of("AWS::Lambda::Permission")
    invokable = {p["Properties"]["FunctionName"]["Ref"]: p["Properties"] for p in permissions.values()}
    for route, function in FUNCTIONS.items():
        permission = invokable[function]
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert permission["SourceArn"]["Fn::Sub"].endswith("${WebSocketApi}/*/" + route)
    stage = template.resources["WebSocketStage"]
    assert stage["Properties"]["AutoDeploy"] is True
    assert set(stage["DependsOn"]) == {"WsConnectRoute", "WsDisconnectRoute", "WsDefaultRoute"}


def test_each_function_gets_only_what_it_does(template):
    for name, actions in TABLE_ACTIONS.items():
        statements = _statements(template.resources[name])
        on_table = [s for s in statements if s["Resource"] == {"Fn::GetAtt": ["ConnectionsTable", "Arn"]}]
        assert len(on_table) == 1 and _actions(on_table[0]) == actions, name
        managing = [s for s in statements if _actions(s) == {"execute-api:ManageConnections"}]
        resources = [r for s in managing for r in (s["Resource"] if isinstance(s["Resource"], list)
                                                    else [s["Resource"]])]
        methods = {r["Fn::Sub"].split("/")[-3] for r in resources}
        assert methods == MANAGES.get(name, set()), name
        assert all("${WebSocketApi}/${Stage}/" in r["Fn::Sub"] for r in resources)
        env = template.resources[name]["Properties"]["Environment"]["Variables"]
        assert ("WS_MANAGEMENT_URL" in env) == (name in MANAGES)


def test_the_dispatcher_long_polls_once_a_minute_and_hands_over_to_the_next_run(template):
    from offerhub.events.tail import RESERVE_MS
    from offerhub.streaming.dispatcher import LOCK_WAIT_SECONDS

    fn = template.functions["StreamDispatcherFunction"]
    rate = fn.schedules[0]
    assert rate == 60.0
    # A run stops at its timeout less the reserve: about when the next one starts (and waits for the lock).
    assert rate <= fn.timeout - RESERVE_MS / 1000 < rate + LOCK_WAIT_SECONDS
    props = template.resources["StreamDispatcherFunction"]["Properties"]
    # The run ending and the run taking over, when reserving is asked for (a new account's quota refuses any).
    assert props["ReservedConcurrentExecutions"] == {"Fn::If": ["ReserveJobs", 2, {"Ref": "AWS::NoValue"}]}
    assert props["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    # The reader's lock is held on a connection outside the pool (events/tail.py): the default pool of one will do.
    assert "DB_POOL_SIZE" not in props["Environment"]["Variables"]


def test_the_connections_table_matches_the_code(template):
    from offerhub.streaming import connections

    props = template.resources["ConnectionsTable"]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "connectionId", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert template.globals_env["CONNECTIONS_TABLE"] == {"Ref": "ConnectionsTable"}
    item = connections._to_item(connections.Connection("abc=", "key_x", connections.Filters(), 1, 0, 2))
    assert item["connectionId"] == {"S": "abc="} and item["expiresAt"] == {"N": "2"}
