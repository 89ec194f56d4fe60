"""ws-disconnect (WebSocket $disconnect): forget the connection (best effort in API Gateway; the TTL and
the dispatcher's 410 handling clean up the rest)."""

from typing import Any

from offerhub.observability import instrumented, logger
from offerhub.streaming.service import disconnect


@logger.inject_lambda_context(clear_state=True)
@instrumented
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    disconnect(event["requestContext"]["connectionId"])
    return {"statusCode": 200}
