"""webhook_sender (EventBridge schedule): follow the event log and deliver it to integrators' webhook endpoints —
signed, retried with backoff, at least once — until the invocation is about to time out."""

from typing import Any

from offerhub.core.context import RequestContext
from offerhub.http.request_id import resolve_request_id
from offerhub.observability import instrumented, logger
from offerhub.outbound.sender import run


@logger.inject_lambda_context(clear_state=True)
@instrumented
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = run(RequestContext(request_id=resolve_request_id(str(event.get("id") or ""))),
                 context.get_remaining_time_in_millis)
    (logger.info if result["attempted"] or result["created"] else logger.debug)("webhook run", extra={"run": result})
    return result
