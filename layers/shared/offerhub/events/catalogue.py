"""Event names (as upstream) and the aggregate each belongs to. docs/events.md describes their data."""

from __future__ import annotations

USER_CREATED = "user.created"
BALANCE_CREDITED = "balance.credited"
BALANCE_DEBITED = "balance.debited"
BALANCE_RESERVED = "balance.reserved"
BALANCE_RELEASED = "balance.released"
API_KEY_CREATED = "api_key.created"
API_KEY_REVOKED = "api_key.revoked"

EVENT_TYPES = frozenset(
    {
        USER_CREATED,
        BALANCE_CREDITED,
        BALANCE_DEBITED,
        BALANCE_RESERVED,
        BALANCE_RELEASED,
        API_KEY_CREATED,
        API_KEY_REVOKED,
    }
)
