"""template.yaml passes cfn-lint as written and after an offline SAM transform, and matches the code."""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"

ROUTES = {
    ("GET", "/api/v1/health"): "HealthFunction",
    ("GET", "/api/v1/openapi.json"): "HealthFunction",
    ("POST", "/api/v1/auth/api-keys"): "AuthFunction",
    ("GET", "/api/v1/auth/api-keys"): "AuthFunction",
    ("DELETE", "/api/v1/auth/api-keys/{id}"): "AuthFunction",
    ("GET", "/api/v1/auth/me"): "AuthFunction",
    ("POST", "/api/v1/users"): "UsersFunction",
    ("GET", "/api/v1/users"): "UsersFunction",
    ("GET", "/api/v1/users/{id}"): "UsersFunction",
    ("GET", "/api/v1/balance/{userId}"): "BalanceFunction",
    ("POST", "/api/v1/balance/{userId}/credit"): "BalanceFunction",
    ("POST", "/api/v1/balance/{userId}/debit"): "BalanceFunction",
    ("GET", "/api/v1/balance/{userId}/entries"): "BalanceFunction",
    ("GET", "/api/v1/audit"): "AuditFunction",
    ("GET", "/api/v1/audit/{id}"): "AuditFunction",
    ("GET", "/api/v1/events"): "EventsFunction",
    ("POST", "/api/v1/balance/{userId}/sync"): "BalanceFunction",
    ("GET", "/api/v1/users/{userId}/wallet"): "WalletFunction",
    ("GET", "/api/v1/users/{userId}/wallet/deposit"): "WalletFunction",
    ("POST", "/api/v1/orders"): "OrdersFunction",
    ("GET", "/api/v1/orders"): "OrdersFunction",
    ("GET", "/api/v1/orders/{id}"): "OrdersFunction",
    ("POST", "/api/v1/orders/{id}/reserve"): "OrdersFunction",
    ("POST", "/api/v1/orders/{id}/cancel"): "OrdersFunction",
    ("GET", "/api/v1/orders/{id}/milestones"): "OrdersFunction",
    ("POST", "/api/v1/orders/{id}/milestones/{ref}/complete"): "OrdersFunction",
    ("POST", "/api/v1/escrow"): "EscrowFunction",
    ("POST", "/api/v1/escrow/{id}/fund"): "EscrowFunction",
    ("GET", "/api/v1/escrow/{id}"): "EscrowFunction",
    ("POST", "/api/v1/resolution/release"): "ResolutionFunction",
    ("POST", "/api/v1/resolution/refund"): "ResolutionFunction",
    ("POST", "/api/v1/resolution/resolve"): "ResolutionFunction",
    ("POST", "/api/v1/disputes"): "DisputesFunction",
    ("GET", "/api/v1/disputes"): "DisputesFunction",
    ("GET", "/api/v1/disputes/{id}"): "DisputesFunction",
    ("POST", "/api/v1/disputes/{id}/resolve"): "DisputesFunction",
    ("POST", "/api/v1/disputes/{id}/comments"): "DisputesFunction",
    ("POST", "/api/v1/test-helpers/deposits"): "TestHelpersFunction",
    ("POST", "/api/v1/test-helpers/faults"): "TestHelpersFunction",
    ("POST", "/api/v1/test-helpers/topups/{topupId}/complete"): "TestHelpersFunction",
    ("POST", "/api/v1/test-helpers/withdrawals/{withdrawalId}/complete"): "TestHelpersFunction",
    ("POST", "/api/v1/test-helpers/stellar-accounts"): "TestHelpersFunction",
    ("GET", "/api/v1/test-helpers/stellar-accounts/{address}"): "TestHelpersFunction",
    ("POST", "/api/v1/users/{id}/airtm/link"): "UsersFunction",
    ("POST", "/api/v1/topups"): "TopupsFunction",
    ("GET", "/api/v1/topups"): "TopupsFunction",
    ("GET", "/api/v1/topups/{id}"): "TopupsFunction",
    ("POST", "/api/v1/topups/{id}/cancel"): "TopupsFunction",
    ("POST", "/api/v1/topups/{id}/refresh"): "TopupsFunction",
    ("POST", "/api/v1/withdrawals"): "WithdrawalsFunction",
    ("GET", "/api/v1/withdrawals"): "WithdrawalsFunction",
    ("GET", "/api/v1/withdrawals/{id}"): "WithdrawalsFunction",
    ("POST", "/api/v1/withdrawals/{id}/commit"): "WithdrawalsFunction",
    ("POST", "/api/v1/withdrawals/{id}/cancel"): "WithdrawalsFunction",
    ("POST", "/api/v1/withdrawals/{id}/refresh"): "WithdrawalsFunction",
    ("POST", "/api/v1/webhooks/airtm"): "WebhooksFunction",
    ("POST", "/api/v1/webhooks/trustless-work"): "WebhooksFunction",
    ("POST", "/api/v1/webhook-endpoints"): "WebhookEndpointsFunction",
    ("GET", "/api/v1/webhook-endpoints"): "WebhookEndpointsFunction",
    ("GET", "/api/v1/webhook-endpoints/{id}"): "WebhookEndpointsFunction",
    ("DELETE", "/api/v1/webhook-endpoints/{id}"): "WebhookEndpointsFunction",
    ("POST", "/api/v1/webhook-endpoints/{id}/rotate-secret"): "WebhookEndpointsFunction",
    ("POST", "/api/v1/webhook-endpoints/{id}/enable"): "WebhookEndpointsFunction",
    ("GET", "/api/v1/webhook-endpoints/{id}/deliveries"): "WebhookEndpointsFunction",
    ("POST", "/api/v1/webhook-endpoints/{id}/deliveries/{deliveryId}/retry"): "WebhookEndpointsFunction",
    # Upstream compatibility (docs/migrating-from-upstream.md): its paths on the functions that serve ours, and the
    # routes we lacked.
    ("GET", "/api/v1/users/{userId}/balance"): "BalanceFunction",
    ("POST", "/api/v1/users/{userId}/balance/credit"): "BalanceFunction",
    ("POST", "/api/v1/users/{userId}/balance/debit"): "BalanceFunction",
    ("POST", "/api/v1/users/{userId}/balance/sync"): "BalanceFunction",
    ("GET", "/api/v1/users/{userId}/balance/verify"): "BalanceFunction",
    ("POST", "/api/v1/users/{userId}/balance/reserve"): "BalanceFunction",
    ("POST", "/api/v1/users/{userId}/balance/cancel-reservation"): "BalanceFunction",
    ("POST", "/api/v1/users/{userId}/balance/release"): "BalanceFunction",
    ("POST", "/api/v1/users/{userId}/balance/deduct-reserved"): "BalanceFunction",
    ("GET", "/api/v1/audit/logs"): "AuditFunction",
    ("POST", "/api/v1/orders/{id}/escrow"): "EscrowFunction",
    ("POST", "/api/v1/orders/{id}/escrow/fund"): "EscrowFunction",
    ("POST", "/api/v1/orders/{id}/resolution/release"): "ResolutionFunction",
    ("POST", "/api/v1/orders/{id}/resolution/refund"): "ResolutionFunction",
    ("POST", "/api/v1/orders/{id}/resolution/dispute"): "DisputesFunction",
    ("GET", "/api/v1/topups/{id}/callback"): "TopupsFunction",
    ("POST", "/api/v1/disputes/{id}/assign"): "DisputesFunction",
    ("GET", "/api/v1/users/{userId}/wallet/transactions"): "WalletFunction",
    ("GET", "/api/v1/config"): "HealthFunction",
    ("GET", "/api/v1/health/detailed"): "HealthFunction",
    ("POST", "/api/v1/auth/api-keys/{id}/token"): "AuthFunction",
}


def load_template() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    template, matches = decode_str(TEMPLATE.read_text())
    assert not matches, matches
    return template


def lint(path: Path) -> list[str]:
    from cfnlint.api import lint_file

    return [str(m) for m in lint_file(path) if m.rule.id.startswith("E")]


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_template_passes_cfn_lint_as_written():
    assert lint(TEMPLATE) == []


def test_template_passes_cfn_lint_after_an_offline_sam_transform(tmp_path):
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(load_template())
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for field in ("CodeUri", "ContentUri"):
            if isinstance(props.get(field), str):
                props[field] = f"s3://offerhub-artifacts/{props[field].strip('/')}.zip"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    translated = transform(template, {"DatabaseSecretArn": "arn:aws:secretsmanager:us-east-1:1:secret:db",
                                      "DatabaseHost": "db.local"}, NoManagedPolicies(), Parser())
    assert "AWS::Serverless::Function" not in json.dumps(translated)
    out = tmp_path / "translated.json"
    out.write_text(json.dumps(translated, default=str))
    assert lint(out) == []


def test_every_function_points_at_a_handler_that_exists():
    for name, fn in functions(load_template()).items():
        code = ROOT / fn["Properties"]["CodeUri"] / "app.py"
        assert fn["Properties"]["Handler"] == "app.handler", name
        tree = ast.parse(code.read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)} | {
            t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
        }
        assert "handler" in defined, f"{code} defines no handler"


def test_routes_are_exactly_the_documented_ones():
    seen: dict[tuple[str, str], str] = {}
    for name, fn in functions(load_template()).items():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            route = (event["Properties"]["Method"], event["Properties"]["Path"])
            assert route not in seen, f"{route} routed twice"
            seen[route] = name
    assert seen == ROUTES


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_route_is_served_by_its_function_code(route):
    """The FastAPI app of the routed function declares the path (so API Gateway never hits a 404 inside)."""
    method, path = route
    source = (ROOT / functions(load_template())[ROUTES[route]]["Properties"]["CodeUri"] / "app.py").read_text()
    prefix = re.search(r'APIRouter\((?:prefix="([^"]*)")?\)', source)
    decorated = re.findall(r'@router\.(\w+)\("([^"]*)"\)', source)
    paths = {(m.upper(), "/api/v1" + (prefix.group(1) or "" if prefix else "") + p) for m, p in decorated}
    normalised = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for m, p in paths}
    assert (method, re.sub(r"\{[^}]+\}", "{}", path)) in normalised


@pytest.mark.parametrize(("worker", "queue", "dlq", "env"), [
    ("WebhookWorkerFunction", "WebhookQueue", "WebhookDeadLetterQueue", "WEBHOOK_QUEUE_URL"),
    ("WalletActivatorFunction", "WalletActivationQueue", "WalletActivationDeadLetterQueue",
     "WALLET_ACTIVATION_QUEUE_URL"),
])
def test_every_queue_has_its_worker_with_partial_batch_failures_and_a_dead_letter_queue(worker, queue, dlq, env):
    template = load_template()
    resources = template["Resources"]
    events = [e for e in resources[worker]["Properties"]["Events"].values() if e["Type"] == "SQS"]
    assert [e["Properties"]["Queue"] for e in events] == [{"Fn::GetAtt": [queue, "Arn"]}]
    assert events[0]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    props = resources[queue]["Properties"]
    assert props["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq, "Arn"]}
    # AWS's advice for a Lambda event source: a visibility timeout of at least six times the function's timeout.
    assert props["VisibilityTimeout"] >= 6 * resources[worker]["Properties"]["Timeout"]
    assert template["Globals"]["Function"]["Environment"]["Variables"][env] == {"Ref": queue}


def test_the_activation_relay_and_sign_up_may_queue_wallet_activations():
    """The relay queues new wallets; POST /users (and every function that can find a wallet still CREATED) queues
    one again from the request."""
    resources = load_template()["Resources"]
    send = {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["WalletActivationQueue", "QueueName"]}}}
    for function in ("ActivationRelayFunction", "UsersFunction"):
        assert send in resources[function]["Properties"]["Policies"], function
