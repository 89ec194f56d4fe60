"""monitor (EventBridge schedule): credit new Stellar USDC deposits to user balances, once each."""

from typing import Any

from offerhub.core.context import RequestContext
from offerhub.deposits.monitor import scan
from offerhub.http.request_id import resolve_request_id
from offerhub.observability import instrumented, logger


@logger.inject_lambda_context(clear_state=True)
@instrumented
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = scan(RequestContext(request_id=resolve_request_id(str(event.get("id") or ""))))
    (logger.info if run.credited else logger.debug)("deposit scan", extra=run.to_dict())
    return run.to_dict()
