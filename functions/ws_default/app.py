"""ws-default (WebSocket $default): subscribe, unsubscribe, ping. The answer goes to the client as a frame
through the Management API; a bad message gets an error frame, never a disconnect."""

from typing import Any

from offerhub.observability import instrumented, logger
from offerhub.streaming.management import ManagementApi, management_url
from offerhub.streaming.service import handle_message


@logger.inject_lambda_context(clear_state=True)
@instrumented
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ctx = event["requestContext"]
    connection_id = ctx["connectionId"]
    reply = handle_message(connection_id, event.get("body"), pusher=ManagementApi(management_url(ctx)))
    logger.debug("message answered", extra={"connectionId": connection_id, "reply": reply.get("type")})
    return {"statusCode": 200}
