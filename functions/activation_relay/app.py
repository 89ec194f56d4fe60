"""activation-relay (EventBridge schedule, every minute): follow the event log for the rest of the invocation and
queue each new wallet's activation (offerhub.wallets.activation_relay), so POST /users never calls SQS."""

from typing import Any

from offerhub.observability import instrumented, logger
from offerhub.wallets.activation_relay import run


@logger.inject_lambda_context(clear_state=True)
@instrumented
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = run(context.get_remaining_time_in_millis)
    (logger.info if result["queued"] else logger.debug)("activation relay run", extra=result)
    return result
