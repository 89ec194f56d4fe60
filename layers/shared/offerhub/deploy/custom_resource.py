"""Answer a CloudFormation custom resource request (success or failure) on its pre-signed ResponseURL.

CloudFormation waits for the answer (up to the resource's ServiceTimeout), so one is always sent: FAILED on
an error, and FAILED too when the work is still running shortly before the Lambda's deadline (a lock wait, a
hung connection), instead of the function dying silently.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

from offerhub.observability import logger


def answer_cloudformation(
    event: dict[str, Any], context: Any, action: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    status, data, reason = "SUCCESS", {}, "OK"
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["data"] = action(event)
        except Exception as exc:  # CloudFormation must always hear back, or the stack hangs for an hour
            logger.exception("custom resource failed")
            outcome["error"] = f"{type(exc).__name__}: {exc}"[:500]

    worker = threading.Thread(target=work, daemon=True, name="custom-resource")
    worker.start()
    worker.join(_seconds_left(context))
    if worker.is_alive():
        logger.error("custom resource still running at its deadline")
        status, reason = "FAILED", "the work was still running at the function's deadline (a lock wait or a hung " \
                                   "connection?); see the function's log"
    elif "error" in outcome:
        status, reason = "FAILED", outcome["error"]
    else:
        data = outcome["data"]
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


# Time kept to send the answer once the work is given up.
ANSWER_RESERVE_SECONDS = 10.0


def _seconds_left(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return max(0.0, remaining() / 1000 - ANSWER_RESERVE_SECONDS)
