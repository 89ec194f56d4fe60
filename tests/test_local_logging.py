"""Log lines name the function that wrote them when handlers run at once on threads of one process, as in
`make run` (the Powertools keys are per context, offerhub.observability)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from local.functions import LambdaContext
from offerhub.http.lambda_entry import make_handler
from offerhub.observability import logger
from tests.lambda_client import http_event


def run_at_once(*calls: Callable[[], Any]) -> None:
    errors: list[BaseException] = []

    def guarded(call: Callable[[], Any]) -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors


def test_two_scheduled_handlers_on_two_threads_each_log_their_own_function(log_lines):
    # The barrier makes both invocations set their keys before either logs: with process-wide keys, the
    # first one's lines would carry the second one's name.
    both_started = threading.Barrier(2, timeout=10)

    def make(name: str) -> Callable[[dict, Any], None]:
        @logger.inject_lambda_context(clear_state=True)
        def handler(event: dict, context: Any) -> None:
            logger.set_correlation_id(f"corr-{name}")
            both_started.wait()
            logger.warning("scan", extra={"emitter": name})
            both_started.wait()
            logger.warning("done", extra={"emitter": name})

        return handler

    monitor, reconciliation = make("monitor"), make("reconciliation")
    run_at_once(lambda: monitor({}, LambdaContext(function_name="monitor")),
                lambda: reconciliation({}, LambdaContext(function_name="reconciliation")))

    lines = log_lines()
    assert sorted((line["emitter"], line["message"]) for line in lines) == [
        ("monitor", "done"), ("monitor", "scan"), ("reconciliation", "done"), ("reconciliation", "scan")]
    for line in lines:
        assert line["function_name"] == line["emitter"], line
        assert line["correlation_id"] == f"corr-{line['emitter']}", line
        assert line["function_arn"].endswith(f":function:{line['emitter']}"), line


def test_http_handlers_called_at_once_log_their_function_and_request_id(log_lines):
    # The real HTTP entry (inject_lambda_context + the request id as correlation id) around an app whose sync
    # route FastAPI runs on yet another worker thread, in a copy of the handler thread's context.
    both_inside = threading.Barrier(2, timeout=10)

    def make(name: str) -> Callable[[dict, Any], dict]:
        app = FastAPI()

        @app.post("/api/v1/work")
        def work() -> dict:
            both_inside.wait()
            logger.warning("working", extra={"emitter": name})
            return {"ok": True}

        return make_handler(app)

    users, orders = make("UsersFunction"), make("OrdersFunction")
    results: dict[str, dict] = {}

    def call(name: str, handler: Callable[[dict, Any], dict]) -> None:
        event = http_event("POST", "/api/v1/work", body={}, headers={"X-Request-ID": f"req-{name}"})
        results[name] = handler(event, LambdaContext(function_name=name))

    run_at_once(lambda: call("UsersFunction", users), lambda: call("OrdersFunction", orders))

    assert {name: result["statusCode"] for name, result in results.items()} == {
        "UsersFunction": 200, "OrdersFunction": 200}
    lines = [line for line in log_lines() if line["message"] == "working"]
    assert sorted(line["emitter"] for line in lines) == ["OrdersFunction", "UsersFunction"]
    for line in lines:
        assert (line["function_name"], line["correlation_id"]) == (line["emitter"], f"req-{line['emitter']}"), line


def test_a_thread_that_never_ran_a_handler_sees_only_the_shared_keys(log_lines):
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict, context: Any) -> None:
        logger.warning("inside")

    handler({}, LambdaContext(function_name="monitor"))
    run_at_once(lambda: logger.warning("elsewhere"))

    inside, elsewhere = log_lines()
    assert inside["function_name"] == "monitor"
    assert "function_name" not in elsewhere and "correlation_id" not in elsewhere
    assert elsewhere["service"] == inside["service"]
