"""ws-connect (WebSocket $connect): authenticate the API key, check the filters, record the connection.
Any status but 2xx makes API Gateway refuse the handshake."""

from typing import Any

from offerhub.core.errors import OfferHubError
from offerhub.http import envelope
from offerhub.observability import instrumented, logger
from offerhub.streaming.service import ConnectRequest, connect


@logger.inject_lambda_context(clear_state=True)
@instrumented
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ctx = event.get("requestContext") or {}
    query = dict(event.get("queryStringParameters") or {})
    for name, values in (event.get("multiValueQueryStringParameters") or {}).items():
        query[name] = ",".join(values)  # ?types=a&types=b is types=a,b
    request = ConnectRequest(
        connection_id=ctx["connectionId"],
        headers={k.lower(): v for k, v in (event.get("headers") or {}).items()},
        query=query, domain_name=ctx.get("domainName"), stage=ctx.get("stage"),
    )
    try:
        connection = connect(request)
    except OfferHubError as exc:
        logger.info("connection refused", extra={"connectionId": request.connection_id, "code": exc.code})
        body = envelope.error(exc.code, exc.message, str(ctx.get("requestId") or ""), exc.details)
        return {"statusCode": exc.status, "headers": {"content-type": "application/json"},
                "body": envelope.dumps(body)}
    logger.debug("connected", extra={"connectionId": connection.connection_id, "keyId": connection.key_id,
                                    "position": connection.position})
    return {"statusCode": 200}
