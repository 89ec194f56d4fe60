"""reconciliation (EventBridge schedule): finish money movements an interrupted run left half done."""

from typing import Any

from offerhub.core.context import RequestContext
from offerhub.http.request_id import resolve_request_id
from offerhub.observability import instrumented, logger
from offerhub.resolution.reconcile import finish_interrupted


@logger.inject_lambda_context(clear_state=True)
@instrumented
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = finish_interrupted(RequestContext(request_id=resolve_request_id(str(event.get("id") or ""))))
    (logger.info if result["checked"] else logger.debug)("reconciliation", extra=result)
    return result
