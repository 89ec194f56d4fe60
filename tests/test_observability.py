"""Failures are seen (issue 13.4): each metric the alarms watch is emitted as EMF by the flow that causes it, an
HTTP invocation's log lines carry X-Request-ID and API Gateway's request id, and tracing stays off (and costs
next to nothing) outside Lambda."""

from __future__ import annotations

import contextvars
import json
import timeit
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from local.functions import LambdaContext
from offerhub import observability
from offerhub.core.errors import ProviderError, ProviderTimeout
from offerhub.observability import (
    DEPOSITS_CREDITED,
    METRICS,
    MONITOR_LAG_SECONDS,
    PAYOUTS_COMPLETED,
    PROVIDER_ERRORS,
    RECONCILIATION_DISCREPANCIES,
    STEP_RETRIES,
    count,
    instrumented,
    logger,
    traced,
)
from tests.crypto import conftest as crypto
from tests.lambda_client import call, http_event, load_function

# The crypto suite's fixtures (a real deposit on the sandbox chain, credited by the monitor; an order in escrow).
key, funded_user, order_in = crypto.key, crypto.funded_user, crypto.order_in

EMF_PREFIX = '{"_aws"'


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[[], list[dict[str, Any]]]:
    """Metrics on (as in Lambda), default namespace; returns the EMF documents printed since the last call."""
    monkeypatch.setattr(observability, "metrics_on", True)  # what POWERTOOLS_METRICS_DISABLED=false gives at init
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    capsys.readouterr()

    def documents() -> list[dict[str, Any]]:
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.startswith(EMF_PREFIX)]

    return documents


def totals(documents: list[dict[str, Any]]) -> dict[str, float]:
    summed: dict[str, float] = {}
    for doc in documents:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "OfferHub"
        assert directive["Dimensions"] == [[]]  # no dimensions: the alarms match on the name alone
        for metric in directive["Metrics"]:
            value = doc[metric["Name"]]
            summed[metric["Name"]] = summed.get(metric["Name"], 0) + sum(value if isinstance(value, list) else [value])
    return summed


def test_a_credited_deposit_counts_and_the_monitor_reports_its_lag(emf, funded_user):
    funded_user("3.00")  # a real deposit on the sandbox chain, credited by the monitor function
    documents = emf()
    monitor = [d for d in documents if d.get("function_name") == "monitor"]
    assert monitor, documents
    seen = totals(monitor)
    assert seen[DEPOSITS_CREDITED] >= 1
    assert seen[MONITOR_LAG_SECONDS] >= 0
    assert all(d["service"] == "offerhub-test" and d["function_request_id"] for d in monitor)
    lag = next(m for d in monitor for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
               if m["Name"] == MONITOR_LAG_SECONDS)
    assert lag["Unit"] == "Seconds"


def test_a_completed_withdrawal_counts_a_payout(emf, funded_user, key):
    user = funded_user("12.00")
    made = call("POST", "/api/v1/test-helpers/stellar-accounts", key=key, body={"trustUsdc": True})
    assert made.status == 201, made.body
    emf()
    created = call("POST", "/api/v1/withdrawals", key=key, body={
        "userId": user["id"], "amount": "12.00", "destinationType": "crypto", "destinationRef": made.data["address"],
        "commit": True})
    assert created.status == 201 and created.data["status"] == "WITHDRAWAL_COMPLETED", created.body
    # Counted on the HTTP path: the route runs on FastAPI's thread pool, in a copy of the invocation's context.
    assert totals(emf()) == {PAYOUTS_COMPLETED: 1}


def test_a_provider_failure_and_the_resumed_step_are_counted(emf, order_in, key):
    setup = order_in("IN_PROGRESS", amount="10.00")
    order_id = setup["order"]["id"]
    armed = call("POST", "/api/v1/test-helpers/faults", key=key,
                 body={"target": "send-transaction", "mode": "timeout", "count": 3})
    assert armed.status == 200, armed.body
    emf()
    timed_out = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order_id})
    assert timed_out.status == 504 and timed_out.error_code == "TRUSTLESS_WORK_TIMEOUT"
    failed = totals(emf())
    assert failed[PROVIDER_ERRORS] >= 1 and STEP_RETRIES not in failed
    retried = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order_id})
    assert retried.status == 200, retried.body
    assert totals(emf())[STEP_RETRIES] >= 1  # the SUBMITTED step was resumed with its recorded envelope


def test_a_reconciliation_discrepancy_is_counted(emf, funded_user, key):
    user = funded_user()
    adjusted = call("POST", f"/api/v1/balance/{user['id']}/credit", key=key,
                    body={"amount": "5.00", "reason": "goodwill"})  # the ledger now says more than the chain
    assert adjusted.status in (200, 201), adjusted.body
    reconciliation = load_function("reconciliation").handler
    emf()
    flagged = False
    for _ in range(40):  # the balance check walks the wallets in batches; one pass reaches every wallet
        result = reconciliation({"id": "test"}, LambdaContext(function_name="reconciliation"))
        if user["id"] in (result.get("balances") or {}).get("flagged", []):
            flagged = True
            break
    assert flagged
    assert totals(emf())[RECONCILIATION_DISCREPANCIES] >= 1


def test_metrics_are_quiet_locally_and_once_per_invocation_in_lambda(monkeypatch, capsys):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    assert not observability.metrics_enabled()  # make run, tests: nothing printed
    assert not observability.metrics_on

    @instrumented
    def handler(event: dict, context: Any) -> str:
        count(PROVIDER_ERRORS)
        count(PROVIDER_ERRORS, 2)
        count(STEP_RETRIES)
        return "done"

    capsys.readouterr()
    assert handler({}, LambdaContext(function_name="monitor")) == "done"
    assert EMF_PREFIX not in capsys.readouterr().out

    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")  # in Lambda, on by default
    assert observability.metrics_enabled()
    monkeypatch.setattr(observability, "metrics_on", observability.metrics_enabled())  # as at init there
    handler({}, LambdaContext(function_name="monitor"))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(EMF_PREFIX)]
    assert len(lines) == 1  # one document per invocation
    assert totals([json.loads(lines[0])]) == {PROVIDER_ERRORS: 3, STEP_RETRIES: 1}
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    assert not observability.metrics_enabled()


def test_a_failing_handler_still_flushes_and_a_count_outside_an_invocation_is_written_at_once(emf):
    @instrumented
    def handler(event: dict, context: Any) -> None:
        with traced("airtm", provider=True):
            raise ProviderTimeout("Airtm did not answer in time")

    with pytest.raises(ProviderTimeout):
        handler({}, LambdaContext(function_name="webhook_worker"))
    assert totals(emf()) == {PROVIDER_ERRORS: 1}
    count(STEP_RETRIES)
    assert totals(emf()) == {STEP_RETRIES: 1}
    with pytest.raises(ValueError, match="unknown metric"):
        count("DepositCredited")  # a typo would silently miss its alarm
    assert set(METRICS) == {"DepositsCredited", "PayoutsCompleted", "ProviderErrors", "StepRetries",
                            "ReconciliationDiscrepancies", "MonitorLagSeconds"}


def test_only_provider_edges_count_provider_failures(emf):
    @instrumented
    def handler(event: dict, context: Any) -> None:
        for name, provider, error in (("postgres", False, ProviderError("x")), ("horizon", True, KeyError("x")),
                                      ("trustless_work", True, ProviderError("x"))):
            with pytest.raises(type(error)), traced(name, provider=provider):
                raise error

    handler({}, LambdaContext(function_name="escrow"))
    assert totals(emf()) == {PROVIDER_ERRORS: 1}


def test_an_http_invocation_logs_both_request_ids(db, log_lines):
    app = FastAPI()

    @app.get("/api/v1/work")
    def work() -> dict:
        logger.warning("working")
        return {"ok": True}

    event = http_event("GET", "/api/v1/work", headers={"X-Request-ID": "req-observed-1"})
    apigw_request_id = event["requestContext"]["requestId"]
    from offerhub.http.lambda_entry import make_handler

    response = make_handler(app)(event, LambdaContext(function_name="UsersFunction"))
    assert response["statusCode"] == 200
    (line,) = [line for line in log_lines() if line["message"] == "working"]
    assert line["correlation_id"] == "req-observed-1"
    assert line["apigw_request_id"] == apigw_request_id
    assert line["function_name"] == "UsersFunction"


def test_tracing_is_off_outside_lambda_and_costs_next_to_nothing(monkeypatch):
    import importlib.util

    assert importlib.util.find_spec("aws_xray_sdk") is not None  # the Tracer can be built where it is enabled
    assert observability.tracer is None
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    assert not observability.tracing_enabled()  # not in Lambda: off even when not disabled explicitly
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    assert observability.tracing_enabled()
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert not observability.tracing_enabled()
    assert traced("postgres") is traced("kms")  # one shared do-nothing context manager

    def span() -> None:
        with traced("postgres"):
            pass

    def bare() -> None:
        pass

    calls = 20_000
    added = min(timeit.repeat(span, number=calls, repeat=5)) - min(timeit.repeat(bare, number=calls, repeat=5))
    assert added / calls < 2e-6, f"{added / calls * 1e6:.2f} µs per disabled span"


class _Recorder:
    """Stands in for the X-Ray recorder: the subsegments opened and what left them."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str | None]] = []
        self.annotations: dict[str, Any] = {}

    def in_subsegment(self, name: str) -> Any:
        recorder = self

        class Span:
            def __enter__(self) -> None:
                return None

            def __exit__(self, kind: Any, error: Any, tb: Any) -> bool:
                recorder.spans.append((name, kind.__name__ if kind else None))
                return False

        return Span()


class _FakeTracer:
    def __init__(self) -> None:
        self.provider = _Recorder()

    def put_annotation(self, name: str, value: Any) -> None:
        self.provider.annotations[name] = value


def test_when_tracing_is_on_each_edge_is_a_subsegment_and_the_request_ids_are_annotations(emf, monkeypatch):
    fake = _FakeTracer()
    monkeypatch.setattr(observability, "tracer", fake)
    with traced("postgres"):
        pass
    with pytest.raises(ProviderError), traced("horizon", provider=True):
        raise ProviderError("the Stellar network failed")
    assert fake.provider.spans == [("## postgres", None), ("## horizon", "ProviderError")]
    assert totals(emf()) == {PROVIDER_ERRORS: 1}
    # In a copy of the context, so the log keys it appends do not follow the other tests on this thread.
    contextvars.copy_context().run(observability.correlate, "req-1", {"requestContext": {"requestId": "apigw-1"}})
    assert fake.provider.annotations == {"request_id": "req-1", "apigw_request_id": "apigw-1"}

