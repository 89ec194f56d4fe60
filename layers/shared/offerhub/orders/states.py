"""The order state machine (upstream's states). Every transition goes through `transition`; an illegal
one is a 409 INVALID_STATE naming the states the action accepts."""

from __future__ import annotations

from collections.abc import Iterable

from offerhub.core import states

ORDER_CREATED = "ORDER_CREATED"
FUNDS_RESERVED = "FUNDS_RESERVED"
ESCROW_CREATING = "ESCROW_CREATING"
ESCROW_FUNDING = "ESCROW_FUNDING"
IN_PROGRESS = "IN_PROGRESS"
RELEASE_REQUESTED = "RELEASE_REQUESTED"
REFUND_REQUESTED = "REFUND_REQUESTED"
DISPUTED = "DISPUTED"
RELEASED = "RELEASED"
REFUNDED = "REFUNDED"
CLOSED = "CLOSED"

STATUSES = (ORDER_CREATED, FUNDS_RESERVED, ESCROW_CREATING, ESCROW_FUNDING, IN_PROGRESS, RELEASE_REQUESTED,
            REFUND_REQUESTED, DISPUTED, RELEASED, REFUNDED, CLOSED)

TRANSITIONS: dict[str, frozenset[str]] = {
    ORDER_CREATED: frozenset({FUNDS_RESERVED, CLOSED}),
    FUNDS_RESERVED: frozenset({ESCROW_CREATING, CLOSED}),
    # Cancel stays possible while the escrow holds nothing (orders/cancel.py checks the rail).
    ESCROW_CREATING: frozenset({ESCROW_FUNDING, CLOSED}),
    ESCROW_FUNDING: frozenset({IN_PROGRESS, CLOSED}),
    IN_PROGRESS: frozenset({RELEASE_REQUESTED, REFUND_REQUESTED, DISPUTED}),
    # A dispute is settled by releasing, refunding, or (split) closing directly.
    DISPUTED: frozenset({RELEASE_REQUESTED, REFUND_REQUESTED, CLOSED}),
    RELEASE_REQUESTED: frozenset({RELEASED}),
    REFUND_REQUESTED: frozenset({REFUNDED}),
    RELEASED: frozenset({CLOSED}),
    REFUNDED: frozenset({CLOSED}),
    CLOSED: frozenset(),
}

# Outcomes recorded on a CLOSED order.
OUTCOME_CANCELED = "CANCELED"
OUTCOME_RELEASED = "RELEASED"
OUTCOME_REFUNDED = "REFUNDED"
OUTCOME_SPLIT = "SPLIT"


def require_status(order: dict, allowed: Iterable[str], action: str) -> None:
    states.require_status(order, allowed, action, noun="an order", id_key="orderId")


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS[current]:
        raise AssertionError(f"illegal order transition {current} -> {target}")  # a bug, not a client error
