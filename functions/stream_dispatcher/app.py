"""stream-dispatcher (EventBridge schedule, every minute): follow the event log for the rest of the
invocation and push each event to the WebSocket connections it matches (offerhub.streaming.dispatcher)."""

from typing import Any

from offerhub.observability import instrumented, logger
from offerhub.streaming.dispatcher import run


@logger.inject_lambda_context(clear_state=True)
@instrumented
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = run(context.get_remaining_time_in_millis)
    (logger.info if result["events"] or result["frames"] else logger.debug)("stream run", extra=result)
    return result
