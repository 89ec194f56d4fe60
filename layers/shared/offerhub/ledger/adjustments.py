"""Manual balance adjustments by support staff: a reason is required and every attempt is audited."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from offerhub.adapters.postgres.unit_of_work import transaction
from offerhub.audit.service import record, record_failure
from offerhub.core.context import RequestContext
from offerhub.core.errors import OfferHubError
from offerhub.core.money import format_amount
from offerhub.ledger import service

OPERATIONS = {"credit": ("CREDIT", "balance.credited"), "debit": ("DEBIT", "balance.debited")}


def adjust_balance(
    ctx: RequestContext, user_id: str, operation: str, amount: Decimal, *, reason: str,
    reference: str | None = None,
) -> dict[str, Any]:
    name, action = OPERATIONS[operation]
    try:
        with transaction(ctx) as uow:
            move = service.credit if operation == "credit" else service.debit
            change = move(uow, user_id, amount, description=reason, reference=reference)
            audit_id = record(
                uow, action, "Balance", user_id,
                before=_snapshot(change.before), after={**_snapshot(change.after), "amount": format_amount(amount),
                                                       "reason": reason, "reference": reference},
            )
    except OfferHubError as exc:
        record_failure(ctx, action, "Balance", user_id, exc)
        raise
    after = service.get_balance(user_id)
    return {
        "operation": name,
        "amount": format_amount(amount),
        "transactionId": change.transaction_id,
        "previousBalance": {
            "available": format_amount(change.before.available),
            "reserved": format_amount(change.before.reserved),
        },
        "balance": after.to_public(),
        "auditLogId": audit_id,
    }


def _snapshot(b: service.Balance) -> dict[str, str]:
    return {"available": format_amount(b.available), "reserved": format_amount(b.reserved)}
