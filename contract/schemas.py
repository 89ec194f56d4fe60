"""The response side of the contract: a JSON Schema (2020-12, as OpenAPI 3.1 uses) for every resource a route
answers with in `data`, and the catalogue of every error code the API answers.

Each schema is derived from the function that builds the answer (named in its description). Rules, because
real responses are validated against these: `required` lists only the fields that are always present; a field
that can be null says so; amounts are decimal strings; timestamps are ISO-8601 strings; states are enumerated
only where the code holds the full list; `additionalProperties` is left open so new fields break no client.
References between schemas point at `#/components/schemas/<name>`, where contract.build puts them.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

# --- building blocks ---------------------------------------------------------------------------------------------
AMOUNT_PATTERN = r"^-?\d+(\.\d+)?$"


def _amount(description: str = "A decimal amount as a string, e.g. \"100.00\"") -> Schema:
    return {"type": "string", "pattern": AMOUNT_PATTERN, "description": description}


def _nullable(schema: Schema) -> Schema:
    """The schema, or null (type lists gain "null"; an enum gains None)."""
    out = dict(schema)
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        out["type"] = [*kind, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _ref_or_null(name: str) -> Schema:
    return {"anyOf": [_ref(name), {"type": "null"}]}


def _id(prefix: str, what: str) -> Schema:
    return {"type": "string", "pattern": f"^{prefix}_[0-9A-Za-z]{{32}}$", "description": f"The {what}'s id"}


def _obj(description: str, properties: dict[str, Schema], required: list[str] | None = None,
         example: dict[str, Any] | None = None) -> Schema:
    """An object schema; every property is required unless `required` says otherwise."""
    schema: Schema = {"type": "object", "description": description,
                      "required": list(properties) if required is None else required,
                      "properties": properties}
    if example is not None:
        schema["examples"] = [example]
    return schema


STRING: Schema = {"type": "string"}
OPT_STRING: Schema = {"type": ["string", "null"]}
TIMESTAMP: Schema = {"type": "string", "format": "date-time",
                     "description": "ISO-8601 UTC, e.g. 2025-01-31T12:00:00.000Z"}
OPT_TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}
CURRENCY: Schema = {"type": "string", "description": "ISO currency code; always USD (USDC on Stellar)"}
ANY_JSON: Schema = {"description": "Any JSON value"}
T = "2025-01-31T12:00:00.000Z"  # the examples' timestamp

# States, with the full lists from the code (layers/shared/offerhub/...).
ORDER_STATUSES = ["ORDER_CREATED", "FUNDS_RESERVED", "ESCROW_CREATING", "ESCROW_FUNDING", "IN_PROGRESS",
                  "RELEASE_REQUESTED", "REFUND_REQUESTED", "DISPUTED", "RELEASED", "REFUNDED", "CLOSED"]
ORDER_OUTCOMES = ["CANCELED", "RELEASED", "REFUNDED", "SPLIT"]  # both from orders/states
ESCROW_STATUSES = ["CREATING", "CREATED", "FUNDING", "FUNDED", "RELEASED", "REFUNDED", "SPLIT",
                   "CANCELED"]  # escrow/service + orders/cancel
DISPUTE_STATUSES = ["OPEN", "UNDER_REVIEW", "RESOLVING", "RESOLVED"]  # disputes/service, migration 0007
DISPUTE_DECISIONS = ["FULL_RELEASE", "FULL_REFUND", "SPLIT"]
TOPUP_STATUSES = ["TOPUP_CREATED", "TOPUP_AWAITING_USER_CONFIRMATION", "TOPUP_PROCESSING", "TOPUP_SUCCEEDED",
                  "TOPUP_FAILED", "TOPUP_CANCELED"]  # topups/states
WITHDRAWAL_STATUSES = ["WITHDRAWAL_CREATED", "WITHDRAWAL_COMMITTED", "WITHDRAWAL_PENDING", "WITHDRAWAL_COMPLETED",
                       "WITHDRAWAL_FAILED", "WITHDRAWAL_CANCELED"]  # withdrawals/states
SCOPES = ["read", "write", "support"]  # auth/keys
DEPENDENCY_STATUSES = ["up", "down", "not_configured", "not_used"]  # health.py

# --- users, balances, ledger ---------------------------------------------------------------------------------------
_USER_EXAMPLE = {
    "id": "usr_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "externalUserId": "shop-user-42", "email": "ana@example.com",
    "type": "BOTH", "status": "ACTIVE", "airtmLinked": False, "airtmUserId": None, "createdAt": T, "updatedAt": T,
}
USER = _obj("A marketplace user (users/store.to_public).", {
    "id": _id("usr", "user"),
    "externalUserId": {"type": "string", "description": "The integrator's own id for the user (unique)"},
    "email": OPT_STRING,
    "type": {"type": "string", "enum": ["BUYER", "SELLER", "BOTH"]},
    "status": {"type": "string", "description": "ACTIVE"},
    "airtmLinked": {"type": "boolean", "description": "Whether an Airtm account is linked (airtm mode)"},
    "airtmUserId": OPT_STRING,
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
}, example=_USER_EXAMPLE)

AIRTM_LINK = _obj("A user's link to their Airtm account (users/airtm_link.link_view).", {
    "userId": STRING,
    "airtmUserId": OPT_STRING,
    "airtmLinkedAt": OPT_TIMESTAMP,
    "eligible": {"type": "boolean"},
    "email": {**OPT_STRING, "description": "The Airtm account's email"},
}, example={"userId": _USER_EXAMPLE["id"], "airtmUserId": "9f1c2e", "airtmLinkedAt": T, "eligible": True,
            "email": "ana@example.com"})

_BALANCE_PROPERTIES: dict[str, Schema] = {
    "userId": STRING,
    "available": _amount("Spendable"),
    "reserved": _amount("Held for orders"),
    "pending": _amount("On its way out (open withdrawals)"),
    "total": _amount("available + reserved + pending"),
    "currency": CURRENCY,
    "updatedAt": OPT_TIMESTAMP,
}
_BALANCE_EXAMPLE = {"userId": _USER_EXAMPLE["id"], "available": "150.00", "reserved": "50.00", "pending": "0.00",
                    "total": "200.00", "currency": "USD", "updatedAt": T}
BALANCE = _obj("A user's balance (ledger/service.Balance.to_public).", _BALANCE_PROPERTIES,
               example=_BALANCE_EXAMPLE)

BALANCE_ENTRY = _obj("One ledger line on a user's accounts, newest first (ledger/store.entries_for).", {
    "id": {"type": "string", "pattern": r"^\d+$", "description": "The line's number (the cursor of the next page)"},
    "transactionId": STRING,
    "account": {"type": "string", "enum": ["available", "reserved", "pending"]},
    "amount": _amount("Signed: negative when the account was debited"),
    "balanceAfter": _amount("The account's balance after this line"),
    "type": {"type": "string", "description": "The ledger transaction's type, e.g. CREDIT, RESERVE"},
    "description": OPT_STRING,
    "reference": OPT_STRING,
    "requestId": OPT_STRING,
    "createdAt": TIMESTAMP,
}, example={"id": "1042", "transactionId": "ltx_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "account": "available",
            "amount": "100.00", "balanceAfter": "150.00", "type": "CREDIT", "description": "manual credit",
            "reference": None, "requestId": "req-1", "createdAt": T})

BALANCE_ADJUSTMENT = _obj("A manual credit or debit by support (ledger/adjustments.adjust_balance).", {
    "operation": {"type": "string", "enum": ["CREDIT", "DEBIT"]},
    "amount": _amount(),
    "transactionId": STRING,
    "previousBalance": _obj("The balance before", {"available": _amount(), "reserved": _amount()}),
    "balance": _ref("Balance"),
    "auditLogId": STRING,
})

_CHAIN = _obj("The user's wallet on chain (crypto mode)", {
    "usdc": _amount("USDC held, 7 decimals (0 without a trustline)"),
    "usdcInCents": _amount("usdc rounded down to the cent"),
    "dust": _amount("Below a cent, 7 decimals"),
    "trustline": {"type": "boolean", "description": "Whether the wallet trusts USDC"},
})
BALANCE_SYNC = _obj("Ledger against chain for one user, reported and audited, never adjusted "
                    "(wallets/sync.compare).", {
    "userId": STRING,
    "ledger": _ref("Balance"),
    "chain": _CHAIN,
    "difference": _amount("chain (in cents) - ledger total"),
    "inSync": {"type": "boolean"},
    "action": {"type": "string", "enum": ["none", "flagged"]},
    "checkedAt": TIMESTAMP,
})
BALANCE_VERIFICATION = _obj("The balance, backed by the chain to the cent (wallets/sync.verify_balance; a "
                            "difference is a 409 BALANCE_DISCREPANCY instead).", {
    **_BALANCE_PROPERTIES,
    "providerVerified": {"type": "boolean", "const": True},
    "chain": _CHAIN,
    "checkedAt": TIMESTAMP,
})
RESERVATION_RESULT = _obj("Upstream's balance reserve / cancel-reservation, done through the user's order "
                          "(orders/reservations._result).", {
    "operation": {"type": "string", "enum": ["RESERVE", "CANCEL_RESERVATION"]},
    "orderId": STRING,
    "amount": _amount(),
    "balance": _ref("Balance"),
    "order": _ref("Order"),
})

# --- wallets -------------------------------------------------------------------------------------------------------
_PUBLIC_KEY = "GBZXN7PIRZGNMHGA7MUUUF4GWPY5AYPV6LY4UV2GL6VJGIQRXFDNMADI"
WALLET = _obj("A user's invisible Stellar wallet (wallets/service.get_wallet; crypto mode).", {
    "id": _id("wal", "wallet"),
    "userId": STRING,
    "publicKey": {"type": "string", "description": "The Stellar account (G...)"},
    "type": {"type": "string", "description": "INVISIBLE"},
    "provider": {"type": "string", "description": "STELLAR"},
    "network": STRING,
    "status": {"type": "string", "enum": ["CREATED", "ACTIVE"],
               "description": "CREATED: sealed, nothing on chain yet; ACTIVE: funded and trusting USDC"},
    "ready": {"type": "boolean", "description": "A deposit can land (status ACTIVE)"},
    "balance": _obj("On chain, 7 decimals; null: no trustline (usdc) or no account (xlm)", {
        "usdc": _nullable(_amount()), "xlm": _nullable(_amount())}),
    "createdAt": TIMESTAMP,
}, example={"id": "wal_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "userId": _USER_EXAMPLE["id"], "publicKey": _PUBLIC_KEY,
            "type": "INVISIBLE", "provider": "STELLAR", "network": "testnet", "status": "ACTIVE", "ready": True,
            "balance": {"usdc": "25.0000000", "xlm": "9.9999900"}, "createdAt": T})

_ASSET = _obj("The asset to send", {"code": STRING, "issuer": OPT_STRING})
DEPOSIT_INSTRUCTIONS = _obj("How to fund a user's wallet (wallets/service.deposit_instructions).", {
    "provider": {"type": "string", "description": "crypto"},
    "method": {"type": "string", "description": "stellar_address"},
    "address": {"type": "string", "description": "The wallet's Stellar account (G...)"},
    "asset": _ASSET,
    "network": STRING,
    "status": {"type": "string", "enum": ["CREATED", "ACTIVE"]},
    "ready": {"type": "boolean"},
    "instructions": STRING,
}, example={"provider": "crypto", "method": "stellar_address", "address": _PUBLIC_KEY,
            "asset": {"code": "USDC", "issuer": "GBBD47IF6LWK7P7MDEVSCWR7DPUWV3NY3DTQEVFL4NAT4AQH3ZLLFLA5"},
            "network": "testnet", "status": "ACTIVE", "ready": True,
            "instructions": "Send USDC (issuer ...) on Stellar testnet to this address."})

WALLET_TRANSACTION = _obj("A payment to or from the wallet as Horizon has it, newest first "
                          "(wallets/service._payment_view; the chain's record, not the ledger's).", {
    "id": OPT_STRING,
    "type": {**OPT_STRING, "description": "Horizon's operation type, e.g. payment, create_account"},
    "from": OPT_STRING,
    "to": OPT_STRING,
    "amount": {**OPT_STRING, "description": "As the chain has it (7 decimals)"},
    "asset": {**OPT_STRING, "description": "XLM or CODE:ISSUER"},
    "direction": {"type": ["string", "null"], "enum": ["in", "out", None]},
    "createdAt": OPT_STRING,
    "hash": OPT_STRING,
    "successful": {"type": ["boolean", "null"]},
})

# --- orders, escrow, disputes --------------------------------------------------------------------------------------
_MILESTONE_EXAMPLE = {"ref": "main", "title": "Logo design", "amount": "100.00", "status": "OPEN",
                      "completedAt": None, "createdAt": T}
MILESTONE = _obj("A part of an order's delivery (orders/views.milestone).", {
    "ref": {"type": "string", "description": "Unique within the order"},
    "title": STRING,
    "amount": _amount(),
    "status": {"type": "string", "enum": ["OPEN", "COMPLETED"]},
    "completedAt": OPT_TIMESTAMP,
    "createdAt": TIMESTAMP,
}, example=_MILESTONE_EXAMPLE)

_ESCROW_EXAMPLE = {
    "id": "esc_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "orderId": "ord_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA",
    "provider": "TRUSTLESS_WORK", "contractId": "CDLZFC3SYJYDZT7K67VZ75HPJVIEUVNIXF47ZG2FB2RMQQVU2HHGCYSC",
    "status": "FUNDED", "amount": "100.00", "platformFeePercent": "1.00", "createdAt": T, "updatedAt": T,
    "fundedAt": T, "releasedAt": None, "refundedAt": None,
}
ESCROW = _obj("Where an order's money is held (orders/views.escrow). GET /escrow/{id} adds `steps`, `onChain` and, "
              "when the rail cannot be read, `onChainError`.", {
    "id": _id("esc", "escrow"),
    "orderId": STRING,
    "provider": {"type": "string", "enum": ["TRUSTLESS_WORK", "LEDGER"]},
    "contractId": OPT_STRING,
    "status": {"type": "string", "enum": ESCROW_STATUSES},
    "amount": _amount(),
    "platformFeePercent": {"type": "string", "description": "A decimal percentage, e.g. \"1.00\""},
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
    "fundedAt": OPT_TIMESTAMP,
    "releasedAt": OPT_TIMESTAMP,
    "refundedAt": OPT_TIMESTAMP,
    "steps": {"type": "array", "description": "The recorded on-chain steps", "items": _obj("A step", {
        "step": STRING, "signer": STRING, "txHash": STRING,
        "status": {"type": "string", "enum": ["SUBMITTED", "CONFIRMED"]}, "updatedAt": TIMESTAMP})},
    "onChain": {"type": ["object", "null"],
                "description": "The contract as Trustless Work reports it (null on the ledger rail)"},
    "onChainError": _obj("Why onChain could not be read", {"code": STRING, "message": STRING}),
}, required=["id", "orderId", "provider", "contractId", "status", "amount", "platformFeePercent", "createdAt",
             "updatedAt", "fundedAt", "releasedAt", "refundedAt"], example=_ESCROW_EXAMPLE)

ORDER = _obj("An order between a buyer and a seller (orders/views.orders).", {
    "id": _id("ord", "order"),
    "clientOrderRef": {**OPT_STRING, "description": "The integrator's own reference (unique)"},
    "buyerId": STRING,
    "sellerId": STRING,
    "amount": _amount(),
    "currency": CURRENCY,
    "status": {"type": "string", "enum": ORDER_STATUSES},
    "outcome": {"type": ["string", "null"], "enum": [*ORDER_OUTCOMES, None],
                "description": "How a CLOSED order ended"},
    "title": STRING,
    "description": OPT_STRING,
    "metadata": {"type": ["object", "null"], "description": "The integrator's JSON object, as given"},
    "milestones": {"type": "array", "items": _ref("Milestone")},
    "escrow": _ref_or_null("Escrow"),
    "disputeId": OPT_STRING,
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
}, example={
    "id": "ord_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "clientOrderRef": "cart-981", "buyerId": _USER_EXAMPLE["id"],
    "sellerId": "usr_9aB8cD7eF6gH5iJ4kL3mN2oP1qR0sT9u", "amount": "100.00", "currency": "USD",
    "status": "IN_PROGRESS", "outcome": None, "title": "Logo design", "description": None, "metadata": None,
    "milestones": [_MILESTONE_EXAMPLE], "escrow": _ESCROW_EXAMPLE, "disputeId": None, "createdAt": T, "updatedAt": T,
})

DISPUTE_COMMENT = _obj("A comment on a dispute (disputes/service._comment_view).", {
    "id": _id("cmt", "comment"),
    "disputeId": STRING,
    "authorId": {"type": "string", "description": "The API key that wrote it"},
    "authorRole": {"type": "string", "enum": ["BUYER", "SELLER", "SUPPORT"]},
    "body": STRING,
    "createdAt": TIMESTAMP,
}, example={"id": "cmt_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "disputeId": "dsp_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA",
            "authorId": "key_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "authorRole": "BUYER",
            "body": "Nothing was delivered.", "createdAt": T})

DISPUTE = _obj("A dispute on an order (disputes/service.view). `comments` is present when one dispute is read, "
               "absent in lists.", {
    "id": _id("dsp", "dispute"),
    "orderId": STRING,
    "openedBy": {"type": "string", "enum": ["BUYER", "SELLER"]},
    "reason": {"type": "string", "enum": ["NOT_DELIVERED", "QUALITY_ISSUE", "OTHER"]},
    "evidence": {"type": "array", "items": STRING},
    "status": {"type": "string", "enum": DISPUTE_STATUSES},
    "decision": {"type": ["string", "null"], "enum": [*DISPUTE_DECISIONS, None]},
    "releaseAmount": _nullable(_amount("The seller's share, once decided")),
    "refundAmount": _nullable(_amount("The buyer's share, once decided")),
    "decisionNote": OPT_STRING,
    "resolvedBy": OPT_STRING,
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
    "resolvedAt": OPT_TIMESTAMP,
    "assignedTo": OPT_STRING,
    "assignedAt": OPT_TIMESTAMP,
    "comments": {"type": "array", "items": _ref("DisputeComment")},
}, required=["id", "orderId", "openedBy", "reason", "evidence", "status", "decision", "releaseAmount",
             "refundAmount", "decisionNote", "resolvedBy", "createdAt", "updatedAt", "resolvedAt", "assignedTo",
             "assignedAt"], example={
    "id": "dsp_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "orderId": "ord_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA",
    "openedBy": "BUYER", "reason": "NOT_DELIVERED", "evidence": [], "status": "OPEN", "decision": None,
    "releaseAmount": None, "refundAmount": None, "decisionNote": None, "resolvedBy": None, "createdAt": T,
    "updatedAt": T, "resolvedAt": None, "assignedTo": None, "assignedAt": None, "comments": [],
})

# --- money in and out ----------------------------------------------------------------------------------------------
TOPUP = _obj("A fiat pay-in through Airtm (topups/store.to_public; airtm mode).", {
    "id": _id("topup", "top-up"),
    "userId": STRING,
    "amount": _amount(),
    "fee": _nullable(_amount("Airtm's fee, once known")),
    "netAmount": _nullable(_amount("What is credited, once known")),
    "currency": CURRENCY,
    "status": {"type": "string", "enum": TOPUP_STATUSES},
    "description": OPT_STRING,
    "confirmationUri": {**OPT_STRING, "description": "Where the payer confirms on Airtm"},
    "airtmPayinId": OPT_STRING,
    "failureReason": OPT_STRING,
    "expiresAt": OPT_TIMESTAMP,
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
}, example={"id": "topup_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "userId": _USER_EXAMPLE["id"], "amount": "50.00",
            "fee": None, "netAmount": None, "currency": "USD", "status": "TOPUP_AWAITING_USER_CONFIRMATION",
            "description": None, "confirmationUri": "https://app.airtm.com/checkout/9f1c2e", "airtmPayinId": "9f1c2e",
            "failureReason": None, "expiresAt": None, "createdAt": T, "updatedAt": T})

TOPUP_RETURN = _obj("What the payer's browser sees back from Airtm's checkout when no redirect is configured "
                    "(topups/service.payer_returned).", {
    "id": STRING, "status": {"type": "string", "enum": TOPUP_STATUSES}})

WITHDRAWAL = _obj("Money out: an Airtm payout or a USDC payment to a Stellar address (withdrawals/store.to_public).", {
    "id": _id("wd", "withdrawal"),
    "userId": STRING,
    "amount": _amount(),
    "fee": _nullable(_amount()),
    "netAmount": _nullable(_amount()),
    "currency": CURRENCY,
    "status": {"type": "string", "enum": WITHDRAWAL_STATUSES},
    "destinationType": {"type": "string", "enum": ["airtm", "crypto"]},
    "destinationRef": {"type": "string", "description": "An Airtm email or a Stellar address (G...)"},
    "memo": OPT_STRING,
    "memoType": {"type": ["string", "null"], "enum": ["text", "id", None]},
    "committed": {"type": "boolean"},
    "description": OPT_STRING,
    "airtmPayoutId": OPT_STRING,
    "transactionHash": OPT_STRING,
    "failureReason": OPT_STRING,
    "completedAt": OPT_TIMESTAMP,
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
}, example={"id": "wd_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "userId": _USER_EXAMPLE["id"], "amount": "20.00",
            "fee": "0.00", "netAmount": "20.00", "currency": "USD", "status": "WITHDRAWAL_COMPLETED",
            "destinationType": "crypto", "destinationRef": _PUBLIC_KEY, "memo": None, "memoType": None,
            "committed": True, "description": None, "airtmPayoutId": None,
            "transactionHash": "3389e9f0f1a65f19736cacf544c2e825313e8447f569233bb8db39aa607c8889",
            "failureReason": None, "completedAt": T, "createdAt": T, "updatedAt": T})

# --- audit, events, keys, webhooks ---------------------------------------------------------------------------------
AUDIT_ENTRY = _obj("One row of the immutable audit log (audit/store.to_public).", {
    "id": _id("aud", "audit row"),
    "occurredAt": TIMESTAMP,
    "action": {"type": "string", "description": "The event name, e.g. balance.credited"},
    "actorType": {"type": "string", "description": "api_key, master_key or system"},
    "actorId": STRING,
    "resourceType": STRING,
    "resourceId": OPT_STRING,
    "result": {"type": "string", "enum": ["SUCCESS", "FAILURE"]},
    "error": {"type": ["object", "null"], "description": "{code, message, details} of a FAILURE"},
    "before": ANY_JSON,
    "after": ANY_JSON,
    "requestId": OPT_STRING,
}, example={"id": "aud_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "occurredAt": T, "action": "user.created",
            "actorType": "api_key", "actorId": "key_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "resourceType": "User",
            "resourceId": _USER_EXAMPLE["id"], "result": "SUCCESS", "error": None, "before": None,
            "after": _USER_EXAMPLE, "requestId": "req-1"})

EVENT = _obj("A domain event from the log, oldest first (events/store.to_public; docs/events.md lists the "
             "types and their data).", {
    "id": _id("evt", "event"),
    "type": {"type": "string", "description": "e.g. order.created"},
    "occurredAt": TIMESTAMP,
    "aggregateType": STRING,
    "aggregateId": STRING,
    "sequence": {"type": "integer", "description": "Commit order"},
    "data": {"type": "object"},
    "requestId": OPT_STRING,
}, example={"id": "evt_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "type": "user.created", "occurredAt": T,
            "aggregateType": "User", "aggregateId": _USER_EXAMPLE["id"], "sequence": 17,
            "data": {"userId": _USER_EXAMPLE["id"]}, "requestId": "req-1"})

_API_KEY_PROPERTIES: dict[str, Schema] = {
    "id": _id("key", "API key"),
    "name": STRING,
    "environment": {"type": "string", "enum": ["live", "test"]},
    "scopes": {"type": "array", "items": {"type": "string", "enum": SCOPES}},
    "status": {"type": "string", "enum": ["ACTIVE", "REVOKED"]},
    "createdAt": TIMESTAMP,
    "lastUsedAt": {**OPT_TIMESTAMP, "description": "At one-minute resolution"},
    "revokedAt": OPT_TIMESTAMP,
}
_API_KEY_EXAMPLE = {"id": "key_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "name": "backend", "environment": "test",
                    "scopes": ["read", "write"], "status": "ACTIVE", "createdAt": T, "lastUsedAt": None,
                    "revokedAt": None}
API_KEY = _obj("An API key's record, never its secret (auth/store.to_public).", _API_KEY_PROPERTIES,
               example=_API_KEY_EXAMPLE)
API_KEY_CREATED = _obj("A new API key: the record plus the key itself, shown this once "
                       "(auth/service.create_api_key).", {
    **_API_KEY_PROPERTIES,
    "key": {"type": "string", "pattern": r"^ohk_(live|test)_key_[0-9A-Za-z]{32}_[0-9a-f]{48}$",
            "description": "The plaintext key; only its hash is stored"},
}, example={**_API_KEY_EXAMPLE,
            "key": "ohk_test_key_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA_" + "0123456789abcdef" * 3})

TOKEN = _obj("A short-lived token acting as its API key with its own scopes (auth/tokens.issue).", {
    "token": {"type": "string", "pattern": "^ohk_tok_", "description": "Use as a key: Bearer or X-API-Key"},
    "tokenType": {"type": "string", "const": "Bearer"},
    "apiKeyId": STRING,
    "scopes": {"type": "array", "items": {"type": "string", "enum": SCOPES}},
    "expiresIn": {"type": "integer", "description": "Seconds"},
    "expiresAt": TIMESTAMP,
    "tokenId": STRING,
}, example={"token": "ohk_tok_eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "tokenType": "Bearer",
            "apiKeyId": _API_KEY_EXAMPLE["id"], "scopes": ["read"], "expiresIn": 900, "expiresAt": T,
            "tokenId": "5f2a9c0e1b3d4a6f7e8c9d0a"})

CALLER = _obj("Who is calling (GET /auth/me).", {
    "apiKeyId": {"type": "string", "description": "The key's id, or `master`"},
    "apiKeyName": STRING,
    "scopes": {"type": "array", "items": STRING},
    "isMaster": {"type": "boolean"},
}, example={"apiKeyId": _API_KEY_EXAMPLE["id"], "apiKeyName": "backend", "scopes": ["read", "write"],
            "isMaster": False})

_ENDPOINT_PROPERTIES: dict[str, Schema] = {
    "id": _id("we", "webhook endpoint"),
    "url": STRING,
    "description": OPT_STRING,
    "types": {"type": "array", "items": STRING, "description": "Event types, `family.*` or `*`"},
    "status": {"type": "string", "enum": ["ENABLED", "DISABLED", "DELETED"]},
    "secretVersion": {"type": "integer"},
    "previousSecretExpiresAt": {**OPT_TIMESTAMP, "description": "Until then the previous secret signs too"},
    "createdBy": {"type": "string", "description": "The API key that registered it"},
    "failingSince": OPT_TIMESTAMP,
    "disabledAt": OPT_TIMESTAMP,
    "disabledReason": OPT_STRING,
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
}
_ENDPOINT_EXAMPLE = {"id": "we_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "url": "https://shop.example.com/hooks/offerhub",
                     "description": None, "types": ["order.*"], "status": "ENABLED", "secretVersion": 1,
                     "previousSecretExpiresAt": None, "createdBy": _API_KEY_EXAMPLE["id"], "failingSince": None,
                     "disabledAt": None, "disabledReason": None, "createdAt": T, "updatedAt": T}
WEBHOOK_ENDPOINT = _obj("Where signed webhooks are sent (outbound/store.endpoint_to_public).", _ENDPOINT_PROPERTIES,
                        example=_ENDPOINT_EXAMPLE)
WEBHOOK_ENDPOINT_WITH_SECRET = _obj("A webhook endpoint with its signing secret, shown this once (registration, "
                                    "rotation).", {
    **_ENDPOINT_PROPERTIES,
    "secret": {"type": "string", "description": "Signs `OfferHub-Signature` (HMAC-SHA256)"},
}, example={**_ENDPOINT_EXAMPLE, "secret": "whsec_5f2a9c0e1b3d4a6f7e8c9d0a5f2a9c0e"})

WEBHOOK_DELIVERY = _obj("One event sent to one endpoint, with its attempts (outbound/store.delivery_to_public).", {
    "id": _id("whd", "delivery"),
    "endpointId": STRING,
    "eventId": STRING,
    "eventType": STRING,
    "status": {"type": "string", "enum": ["PENDING", "SUCCEEDED", "FAILED"]},
    "attempts": {"type": "integer", "minimum": 0},
    "lastStatusCode": {"type": ["integer", "null"], "description": "The receiver's last HTTP status"},
    "lastError": OPT_STRING,
    "nextAttemptAt": OPT_TIMESTAMP,
    "lastAttemptAt": OPT_TIMESTAMP,
    "deliveredAt": OPT_TIMESTAMP,
    "completedAt": OPT_TIMESTAMP,
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
}, example={"id": "whd_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "endpointId": _ENDPOINT_EXAMPLE["id"],
            "eventId": "evt_3kT9xQ2mVbN7pL4wR8sY1zC6dF0gH5jA", "eventType": "order.created", "status": "SUCCEEDED",
            "attempts": 1, "lastStatusCode": 200, "lastError": None, "nextAttemptAt": None, "lastAttemptAt": T,
            "deliveredAt": T, "completedAt": T, "createdAt": T, "updatedAt": T})

WEBHOOK_RECEIPT = _obj("A provider webhook, verified and recorded (webhooks/ingress).", {
    "status": {"type": "string", "const": "ok"},
    "duplicate": {"type": "boolean", "description": "Already received before (recorded once)"},
}, example={"status": "ok", "duplicate": False})

# --- health and configuration --------------------------------------------------------------------------------------
HEALTH = _obj("Liveness: the database (offerhub/health.check_health). Answered with 503 when unhealthy.", {
    "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
    "version": STRING,
    "timestamp": TIMESTAMP,
    "dependencies": _obj("Checked dependencies", {"database": _obj("The database", {
        "status": {"type": "string", "enum": ["up", "down"]},
        "latencyMs": {"type": "number"},
    }, required=["status"])}),
}, example={"status": "healthy", "version": "1.0.0", "timestamp": T,
            "dependencies": {"database": {"status": "up", "latencyMs": 1.2}}})

_DEPENDENCY = _obj("One dependency's check", {
    "status": {"type": "string", "enum": DEPENDENCY_STATUSES},
    "latencyMs": {"type": "number"},
    "error": {"type": "string", "description": "The failure's kind, never a host or a credential"},
}, required=["status"])
HEALTH_DETAILED = _obj("Every dependency, checked at once within one time budget (offerhub/health."
                       "check_health_detailed); always answered with 200.", {
    "status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]},
    "version": STRING,
    "paymentProvider": {"type": "string", "enum": ["crypto", "airtm"]},
    "timestamp": TIMESTAMP,
    "dependencies": _obj("By name", {name: _DEPENDENCY for name in
                                     ("database", "dynamodb", "kms", "horizon", "trustlessWork", "airtm")}),
}, example={"status": "healthy", "version": "1.0.0", "paymentProvider": "crypto", "timestamp": T, "dependencies": {
    "database": {"status": "up", "latencyMs": 1.1}, "dynamodb": {"status": "up", "latencyMs": 8.0},
    "kms": {"status": "up", "latencyMs": 9.3}, "horizon": {"status": "up", "latencyMs": 40.2},
    "trustlessWork": {"status": "up", "latencyMs": 55.0}, "airtm": {"status": "not_used"}}})

_RANGE = _obj("Amounts accepted", {"min": _amount(), "max": _amount()})
PUBLIC_CONFIG = _obj("What this deployment offers and enforces (offerhub/public_config).", {
    "currencies": {"type": "array", "items": STRING},
    "limits": _obj("Enforced per operation", {"topup": _RANGE, "withdrawal": _RANGE, "order": _RANGE}),
    "features": {"type": "object", "additionalProperties": {"type": "boolean"}},
    "providers": _obj("The rails in use", {
        "paymentProvider": {"type": "string", "enum": ["crypto", "airtm"]},
        "fiat": OPT_STRING,
        "escrow": STRING,
        "wallet": OPT_STRING,
    }),
    "stellar": {"type": ["object", "null"], "description": "Crypto mode: network and USDC issuer",
                "properties": {"network": STRING, "usdcIssuer": OPT_STRING}},
    "version": STRING,
}, example={"currencies": ["USD"], "limits": {"topup": {"min": "1.00", "max": "10000.00"},
                                              "withdrawal": {"min": "1.00", "max": "5000.00"},
                                              "order": {"min": "1.00", "max": "50000.00"}},
            "features": {"milestones": True, "disputes": True}, "providers": {
                "paymentProvider": "crypto", "fiat": None, "escrow": "trustless_work", "wallet": "stellar"},
            "stellar": {"network": "testnet", "usdcIssuer": "GBBD47IF6LWK7P7MDEVSCWR7DPUWV3NY3DTQEVFL4NAT4AQH3ZLLFLA5"},
            "version": "1.0.0"})

# --- sandbox test helpers ------------------------------------------------------------------------------------------
SANDBOX_DEPOSIT = _obj("A USDC payment sent on the sandbox network to a user's wallet (sandbox/helpers.deposit).", {
    "userId": STRING, "address": STRING, "amount": _amount(), "asset": _ASSET, "transactionHash": STRING,
    "note": STRING})
SANDBOX_FAULT = _obj("The fault armed on the sandbox rails (its control API's answer).", {
    "target": STRING, "mode": STRING, "count": {"type": "integer"}}, required=[])
SANDBOX_TOPUP_OUTCOME = _obj("The payer's action on Airtm's sandbox (sandbox/helpers.complete_topup).", {
    "topupId": STRING, "airtmPayinId": STRING, "outcome": STRING, "note": STRING})
SANDBOX_WITHDRAWAL_OUTCOME = _obj("The recipient's action on Airtm's sandbox (sandbox/helpers.complete_withdrawal).", {
    "withdrawalId": STRING, "airtmPayoutId": STRING, "outcome": STRING, "note": STRING})
SANDBOX_STELLAR_ACCOUNT = _obj("A new external account on the sandbox network (sandbox/helpers.new_stellar_account).",
                               {"address": STRING, "trustUsdc": {"type": "boolean"}})
SANDBOX_STELLAR_BALANCES = _obj("An account on the sandbox network (sandbox/helpers.stellar_account).", {
    "address": STRING,
    "usdc": {**OPT_STRING, "description": "7 decimals; null without a trustline"},
    "xlm": OPT_STRING,
}, required=["address", "usdc", "xlm"])

SCHEMAS: dict[str, Schema] = {
    "User": USER,
    "AirtmLink": AIRTM_LINK,
    "Balance": BALANCE,
    "BalanceEntry": BALANCE_ENTRY,
    "BalanceAdjustment": BALANCE_ADJUSTMENT,
    "BalanceSync": BALANCE_SYNC,
    "BalanceVerification": BALANCE_VERIFICATION,
    "ReservationResult": RESERVATION_RESULT,
    "Wallet": WALLET,
    "DepositInstructions": DEPOSIT_INSTRUCTIONS,
    "WalletTransaction": WALLET_TRANSACTION,
    "Order": ORDER,
    "Milestone": MILESTONE,
    "Escrow": ESCROW,
    "Dispute": DISPUTE,
    "DisputeComment": DISPUTE_COMMENT,
    "Topup": TOPUP,
    "TopupReturn": TOPUP_RETURN,
    "Withdrawal": WITHDRAWAL,
    "AuditEntry": AUDIT_ENTRY,
    "Event": EVENT,
    "ApiKey": API_KEY,
    "ApiKeyCreated": API_KEY_CREATED,
    "Token": TOKEN,
    "Caller": CALLER,
    "WebhookEndpoint": WEBHOOK_ENDPOINT,
    "WebhookEndpointWithSecret": WEBHOOK_ENDPOINT_WITH_SECRET,
    "WebhookDelivery": WEBHOOK_DELIVERY,
    "WebhookReceipt": WEBHOOK_RECEIPT,
    "Health": HEALTH,
    "HealthDetailed": HEALTH_DETAILED,
    "PublicConfig": PUBLIC_CONFIG,
    "SandboxDeposit": SANDBOX_DEPOSIT,
    "SandboxFault": SANDBOX_FAULT,
    "SandboxTopupOutcome": SANDBOX_TOPUP_OUTCOME,
    "SandboxWithdrawalOutcome": SANDBOX_WITHDRAWAL_OUTCOME,
    "SandboxStellarAccount": SANDBOX_STELLAR_ACCOUNT,
    "SandboxStellarBalances": SANDBOX_STELLAR_BALANCES,
}

# --- error codes ---------------------------------------------------------------------------------------------------
# code → (HTTP status, meaning). Every code the HTTP API answers: offerhub.core.errors and its subclasses, every
# `code=` in layers/shared/offerhub, and the plumbing's own (http/errors, idempotency, ratelimit, middleware).
ERROR_CODES: dict[str, tuple[int, str]] = {
    # 400
    "VALIDATION_ERROR": (400, "The request is malformed: bad JSON, wrong types, unknown fields, a bad query or "
                              "cursor (details.validationErrors)"),
    "INVALID_AMOUNT_FORMAT": (400, "An amount is not a string with exactly two decimals, or is out of range"),
    "INVALID_CURRENCY": (400, "The currency is not USD"),
    "INVALID_AMOUNT": (400, "Amounts that must add up do not (milestones, dispute shares, the order's amount)"),
    "WEBHOOK_URL_NOT_ALLOWED": (400, "The webhook URL is refused (details.reason: scheme, private address, ...)"),
    # 401, 403
    "UNAUTHORIZED": (401, "Missing, invalid, expired or revoked API key or token"),
    "WEBHOOK_SIGNATURE_INVALID": (401, "A provider webhook's signature is bad, missing or stale; nothing stored"),
    "INSUFFICIENT_SCOPE": (403, "The key lacks the scope the route needs (details.required)"),
    # 404
    "NOT_FOUND": (404, "No such route; or the test helpers without the sandbox rails; or no such sandbox account"),
    "USER_NOT_FOUND": (404, "No user with this id"),
    "API_KEY_NOT_FOUND": (404, "No API key with this id"),
    "AUDIT_LOG_NOT_FOUND": (404, "No audit row with this id"),
    "ORDER_NOT_FOUND": (404, "No order with this id"),
    "MILESTONE_NOT_FOUND": (404, "The order has no milestone with this ref"),
    "ESCROW_NOT_FOUND": (404, "No escrow with this id, or the order has none"),
    "DISPUTE_NOT_FOUND": (404, "No dispute with this id"),
    "WALLET_NOT_FOUND": (404, "The user has no wallet (crypto mode creates one at sign-up)"),
    "TOPUP_NOT_FOUND": (404, "No top-up with this id"),
    "WITHDRAWAL_NOT_FOUND": (404, "No withdrawal with this id"),
    "WEBHOOK_ENDPOINT_NOT_FOUND": (404, "No webhook endpoint with this id (or it was deleted)"),
    "WEBHOOK_DELIVERY_NOT_FOUND": (404, "The endpoint has no delivery with this id"),
    "ACCOUNT_NOT_FOUND": (404, "A ledger account the operation needs does not exist"),
    "METHOD_NOT_ALLOWED": (405, "The path exists but not with this method"),
    # 409
    "INVALID_STATE": (409, "The resource's state does not allow this (details.currentState, allowedStates)"),
    "ORDER_BUSY": (409, "Another operation on this order is running; retry after Retry-After"),
    "DUPLICATE_CLIENT_ORDER_REF": (409, "An order with this clientOrderRef exists (details.orderId)"),
    "ESCROW_ALREADY_EXISTS": (409, "The order already has an escrow"),
    "ESCROW_FUNDING_IN_FLIGHT": (409, "The escrow's funding transaction may still land; retry after it expires"),
    "ESCROW_FUNDED": (409, "The escrow holds the money: finish funding, then refund instead of cancel"),
    "DISPUTE_ALREADY_OPEN": (409, "The order has a dispute: open no other, resolve it instead of release/refund"),
    "DISPUTE_ALREADY_RESOLVING": (409, "The dispute is being settled with another decision"),
    "IDEMPOTENCY_KEY_IN_PROGRESS": (409, "A request with this Idempotency-Key is still running; retry"),
    "BALANCE_DISCREPANCY": (409, "The ledger and the wallet on chain differ (details: both, difference)"),
    "API_KEY_REVOKED": (409, "The API key is revoked: it issues no tokens"),
    "WALLET_NOT_ACTIVE": (409, "The user's wallet is still being activated on chain; retry after Retry-After"),
    "WEBHOOK_ENDPOINT_BUSY": (409, "The secret was rotated by another request meanwhile; retry"),
    "WEBHOOK_DELIVERY_BUSY": (409, "An attempt on this delivery is in flight; retry shortly"),
    "PROVIDER_STATE_CONFLICT": (409, "Airtm's payin or payout is no longer in a state that allows this"),
    # 422
    "INSUFFICIENT_FUNDS": (422, "The available balance (or the buyer's wallet on chain) is too low"),
    "INSUFFICIENT_RESERVED_FUNDS": (422, "The reserved balance is too low"),
    "IDEMPOTENCY_KEY_REUSED": (422, "This Idempotency-Key was used with another request"),
    "PAYMENT_PROVIDER_MISMATCH": (422, "A capability of the other payment mode (details.requires)"),
    "AIRTM_USER_NOT_LINKED": (422, "The user has no linked Airtm account"),
    "AIRTM_USER_INVALID": (422, "The Airtm account cannot be used (details.reason)"),
    "AMOUNT_BELOW_MINIMUM": (422, "The amount is below the limit (ours, or Airtm's)"),
    "AMOUNT_ABOVE_MAXIMUM": (422, "The amount is above the limit"),
    "USE_ORDER_ROUTE": (422, "Reserved money moves through the order: use the route named in details.use"),
    "ORDER_USER_MISMATCH": (422, "The order is not this user's"),
    "DESTINATION_INVALID": (422, "The withdrawal's destination or memo is refused (details.reason)"),
    "WEBHOOK_ENDPOINT_LIMIT": (422, "The deployment has the most webhook endpoints it may have"),
    # 429, 500
    "RATE_LIMITED": (429, "Too many requests; retry after Retry-After"),
    "INTERNAL_ERROR": (500, "A bug; quote the requestId to support"),
    # 502
    "PROVIDER_ERROR": (502, "Airtm failed or refused the request; retry"),
    "PROVIDER_RATE_LIMITED": (502, "Airtm is rate limiting us; retry"),
    "PROVIDER_INSUFFICIENT_BALANCE": (502, "The enterprise Airtm balance is too low for this payout"),
    "TRUSTLESS_WORK_ERROR": (502, "Trustless Work refused the request; the operation stays resumable"),
    "TRUSTLESS_WORK_UNAVAILABLE": (502, "Trustless Work is unreachable or failing; retry"),
    "TRUSTLESS_WORK_UNEXPECTED_TRANSACTION": (502, "Trustless Work built a transaction we did not ask for; "
                                                   "not signed"),
    "STELLAR_ERROR": (502, "The Stellar network refused the transaction"),
    "STELLAR_UNAVAILABLE": (502, "Horizon is unreachable or failing; retry"),
    "WALLET_NOT_FUNDED": (502, "The wallet's account does not exist on the network yet"),
    "SANDBOX_UNAVAILABLE": (502, "The sandbox rails failed or refused"),
    # 503
    "SERVICE_UNAVAILABLE": (503, "A dependency (the idempotency store, the token secret) is unavailable; retry"),
    "DATABASE_UNAVAILABLE": (503, "The database is unreachable; retry"),
    "QUEUE_UNAVAILABLE": (503, "The webhook queue is unavailable; the provider delivers again"),
    "WALLET_ENCRYPTION_UNAVAILABLE": (503, "Wallet encryption is not configured"),
    "WALLET_KEY_UNAVAILABLE": (503, "The wallet key (KMS) is unavailable; retry"),
    "WEBHOOK_ENCRYPTION_UNAVAILABLE": (503, "Webhook secret encryption is not configured"),
    "WEBHOOK_KEY_UNAVAILABLE": (503, "The webhook secrets key (KMS) is unavailable; retry"),
    "WEBHOOK_NOT_CONFIGURED": (503, "The provider's webhook secret is not configured (or unusable)"),
    "PROVIDER_NOT_CONFIGURED": (503, "Airtm credentials are not configured"),
    "PLATFORM_FUNDS_INSUFFICIENT": (503, "The platform wallet cannot cover the refund's fees yet; the settlement "
                                         "finishes on a retry once it is funded"),
    "STREAM_UNAVAILABLE": (503, "The WebSocket stream is not configured"),
    # 504
    "PROVIDER_TIMEOUT": (504, "Airtm did not answer in time; retry"),
    "TRUSTLESS_WORK_TIMEOUT": (504, "Trustless Work did not answer in time; retrying finishes the step once"),
    "STELLAR_TIMEOUT": (504, "Horizon did not answer in time; retrying finishes the step once"),
}
