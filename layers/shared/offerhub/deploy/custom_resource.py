"""Answer a CloudFormation custom resource request (success or failure) on its pre-signed ResponseURL."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

from offerhub.observability import logger


def answer_cloudformation(
    event: dict[str, Any], context: Any, action: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    status, data, reason = "SUCCESS", {}, "OK"
    try:
        data = action(event)
    except Exception as exc:  # CloudFormation must always hear back, or the stack hangs for an hour
        logger.exception("custom resource failed")
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"[:500]
    body = {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": event.get("PhysicalResourceId") or "offerhub-database-migration",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    request = urllib.request.Request(  # noqa: S310 - the URL is CloudFormation's pre-signed S3 URL
        event["ResponseURL"], data=json.dumps(body).encode(), method="PUT",
        headers={"content-type": ""},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()
    return body
