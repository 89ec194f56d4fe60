"""wallet-activator (SQS): activate new users' wallets on chain, off the sign-up path (POST /users queues them).
Powertools batch processing: each record is activated on its own (an ACTIVE wallet is a no-op, a half-done
activation resumes); a failed one is reported (partial batch response) and comes back after the queue's visibility
timeout; after 10 receives SQS moves it to the DLQ."""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from offerhub.core.context import RequestContext
from offerhub.http.request_id import resolve_request_id
from offerhub.observability import instrumented, logger
from offerhub.wallets.activation import activate_queued

# Every record failed: still report them one by one (the same outcome as raising, and clearer in logs).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> str:
    message = json.loads(record.body)
    ctx = RequestContext(request_id=resolve_request_id(message.get("requestId") or record.message_id))
    outcome = activate_queued(ctx, str(message["walletId"]))
    logger.info("wallet activation", extra={"walletId": message["walletId"], "outcome": outcome,
                                            "receiveCount": record.attributes.approximate_receive_count})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@instrumented
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
