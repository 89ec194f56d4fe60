"""The response side of every HTTP route in template.yaml: what `data` holds, the success statuses, and the error
codes each route answers beyond the common ones (contract.build adds UNAUTHORIZED and INSUFFICIENT_SCOPE for keyed
routes, VALIDATION_ERROR, INVALID_AMOUNT_FORMAT where an amount is taken, the IDEMPOTENCY_* codes on POST, and
RATE_LIMITED).

The codes were read from each route function and the use cases it calls (layers/shared/offerhub/<domain>), two or
three calls deep. Provider codes are grouped below by rail; a route lists the rails it can reach in either payment
mode (crypto: Stellar + Trustless Work; airtm: Airtm). DATABASE_UNAVAILABLE (503), which any route can answer when
Postgres is down, and INTERNAL_ERROR are in contract.schemas.ERROR_CODES but not repeated on every route.
"""

from __future__ import annotations

from contract.model import RouteDoc

# --- error groups --------------------------------------------------------------------------------------------------
# Horizon (stellar/horizon.py).
STELLAR = ("STELLAR_ERROR", "STELLAR_UNAVAILABLE", "STELLAR_TIMEOUT")
# Opening or sealing a wallet secret (wallets/sealing.py, adapters/aws/kms.py).
WALLET_KEYS = ("WALLET_ENCRYPTION_UNAVAILABLE", "WALLET_KEY_UNAVAILABLE")
# A user's wallet must be ACTIVE to sign (wallets/activation.require_active); a wallet missing is created first.
USER_SIGNER = ("WALLET_NOT_ACTIVE", *WALLET_KEYS, *STELLAR)
# Trustless Work (trustless/client.py, escrow/steps.py).
TRUSTLESS = ("TRUSTLESS_WORK_ERROR", "TRUSTLESS_WORK_UNAVAILABLE", "TRUSTLESS_WORK_TIMEOUT",
             "TRUSTLESS_WORK_UNEXPECTED_TRANSACTION")
# An on-chain escrow run: the order's lease, the signers (the platform wallet is activated on first use), the steps.
ESCROW_RUN = ("ORDER_BUSY", *USER_SIGNER, "WALLET_NOT_FUNDED", *TRUSTLESS)
# Airtm (airtm/client.py): transport, 429, 4xx it does not name, missing credentials.
AIRTM = ("PROVIDER_ERROR", "PROVIDER_TIMEOUT", "PROVIDER_RATE_LIMITED", "PROVIDER_NOT_CONFIGURED")
# Sealing a webhook endpoint's secret (outbound/sealing.py).
WEBHOOK_KEYS = ("WEBHOOK_ENCRYPTION_UNAVAILABLE", "WEBHOOK_KEY_UNAVAILABLE")
# Provider webhooks in (webhooks/ingress.py).
INGRESS = ("WEBHOOK_SIGNATURE_INVALID", "WEBHOOK_NOT_CONFIGURED", "QUEUE_UNAVAILABLE")
# The sandbox control API (sandbox/helpers.py): NOT_FOUND without the sandbox rails.
SANDBOX = ("NOT_FOUND", "SANDBOX_UNAVAILABLE")
# The create use cases check the configured amount limits (offerhub/limits.py).
LIMITS = ("AMOUNT_BELOW_MINIMUM", "AMOUNT_ABOVE_MAXIMUM")


def _e(*groups: str | tuple[str, ...]) -> tuple[str, ...]:
    """Codes and groups of codes, flattened, first occurrence kept."""
    out: list[str] = []
    for group in groups:
        for code in (group,) if isinstance(group, str) else group:
            if code not in out:
                out.append(code)
    return tuple(out)


# --- shared route docs (a use case served at our path and at upstream's) -------------------------------------------
_BALANCE = RouteDoc("Get a user's balance", "Balance", errors=_e("USER_NOT_FOUND"),
                    description="available, reserved, pending (open withdrawals) and their total.")
_CREDIT = RouteDoc("Credit a user's balance (support, audited)", "BalanceAdjustment",
                   errors=_e("USER_NOT_FOUND", "INVALID_CURRENCY"))
_DEBIT = RouteDoc("Debit a user's balance (support, audited)", "BalanceAdjustment",
                  errors=_e("USER_NOT_FOUND", "INVALID_CURRENCY", "INSUFFICIENT_FUNDS"))
_SYNC = RouteDoc("Compare a user's ledger balance with their wallet on chain (audited, never adjusted)",
                 "BalanceSync", errors=_e("USER_NOT_FOUND", "WALLET_NOT_FOUND", STELLAR))
_ESCROW_CREATE = RouteDoc(
    "Deploy the order's escrow contract", "Escrow", statuses=(201,),
    errors=_e("ORDER_NOT_FOUND", "INVALID_STATE", "ESCROW_ALREADY_EXISTS", ESCROW_RUN),
    description="FUNDS_RESERVED → ESCROW_CREATING → ESCROW_FUNDING. A retry while ESCROW_CREATING resumes the "
                "deployment.")
_ESCROW_FUND_ERRORS = _e("INVALID_STATE", "INSUFFICIENT_RESERVED_FUNDS", ESCROW_RUN)
_RELEASE = RouteDoc(
    "Release the escrow to the seller", "Order",
    errors=_e("ORDER_NOT_FOUND", "INVALID_STATE", "DISPUTE_ALREADY_OPEN", ESCROW_RUN),
    description="IN_PROGRESS → RELEASE_REQUESTED → RELEASED → CLOSED. Resumable: the same request again finishes "
                "an interrupted release.")
_REFUND = RouteDoc(
    "Refund the escrow to the buyer", "Order",
    errors=_e("ORDER_NOT_FOUND", "INVALID_STATE", "DISPUTE_ALREADY_OPEN", ESCROW_RUN, "PLATFORM_FUNDS_INSUFFICIENT"),
    description="IN_PROGRESS → REFUND_REQUESTED → REFUNDED → CLOSED. Resumable like a release.")
_OPEN_DISPUTE = RouteDoc(
    "Open a dispute on an order", "Dispute", statuses=(201,),
    errors=_e("ORDER_NOT_FOUND", "DISPUTE_ALREADY_OPEN", "INVALID_STATE"),
    description="IN_PROGRESS → DISPUTED. The escrow is frozen on chain; if the rail fails, the resolution does it.")
_RESOLVE_DISPUTE_ERRORS = _e("DISPUTE_NOT_FOUND", "INVALID_AMOUNT", "INVALID_STATE", "DISPUTE_ALREADY_RESOLVING",
                             ESCROW_RUN, "PLATFORM_FUNDS_INSUFFICIENT")
_AUDIT_SEARCH = RouteDoc("Search the audit log (newest first)", "AuditEntry", paged=True)
_USE_ORDER_ROUTE = _e("USER_NOT_FOUND", "USE_ORDER_ROUTE")

ROUTES: dict[str, RouteDoc] = {
    # --- health, configuration, the document -------------------------------------------------------------------
    "GET /api/v1/health": RouteDoc(
        "Liveness (the database)", "Health", statuses=(200, 503), public=True,
        description="200 with status healthy, 503 with status unhealthy (same envelope)."),
    "GET /api/v1/health/detailed": RouteDoc("Every dependency's health, within a bounded time", "HealthDetailed"),
    "GET /api/v1/config": RouteDoc("Currencies, enforced limits, features and providers", "PublicConfig"),
    "GET /api/v1/openapi.json": RouteDoc("This OpenAPI document", None, public=True, envelope=False),

    # --- auth ----------------------------------------------------------------------------------------------------
    "POST /api/v1/auth/api-keys": RouteDoc(
        "Create an API key (master key); the key is shown once", "ApiKeyCreated", statuses=(201,)),
    "GET /api/v1/auth/api-keys": RouteDoc("List API keys (master key)", "ApiKey", paged=True),
    "DELETE /api/v1/auth/api-keys/{id}": RouteDoc(
        "Revoke an API key (master key); revoking again answers the same", "ApiKey", errors=_e("API_KEY_NOT_FOUND")),
    "POST /api/v1/auth/api-keys/{id}/token": RouteDoc(
        "Issue a short-lived token for an API key", "Token", statuses=(201,),
        errors=_e("API_KEY_NOT_FOUND", "API_KEY_REVOKED", "SERVICE_UNAVAILABLE"),
        description="A key issues tokens for itself, the master key for any key; a token issues none (403)."),
    "GET /api/v1/auth/me": RouteDoc("The calling key: id, name, scopes", "Caller"),

    # --- users ---------------------------------------------------------------------------------------------------
    "POST /api/v1/users": RouteDoc(
        "Create a user (idempotent by externalUserId)", "User", statuses=(201, 200),
        errors=_e(WALLET_KEYS, STELLAR),
        description="201 when created; 200 with the existing user when the externalUserId exists. Crypto mode "
                    "creates the user's wallet and queues its activation."),
    "GET /api/v1/users": RouteDoc("List users (newest first)", "User", paged=True),
    "GET /api/v1/users/{id}": RouteDoc("Get a user", "User", errors=_e("USER_NOT_FOUND")),
    "POST /api/v1/users/{id}/airtm/link": RouteDoc(
        "Link the user's Airtm account (airtm mode)", "AirtmLink",
        errors=_e("PAYMENT_PROVIDER_MISMATCH", "USER_NOT_FOUND", "AIRTM_USER_INVALID", AIRTM)),

    # --- balance (ours and upstream's paths) ---------------------------------------------------------------------
    "GET /api/v1/balance/{userId}": _BALANCE,
    "GET /api/v1/users/{userId}/balance": _BALANCE,
    "GET /api/v1/balance/{userId}/entries": RouteDoc(
        "A user's ledger lines (newest first)", "BalanceEntry", paged=True, errors=_e("USER_NOT_FOUND")),
    "POST /api/v1/balance/{userId}/credit": _CREDIT,
    "POST /api/v1/users/{userId}/balance/credit": _CREDIT,
    "POST /api/v1/balance/{userId}/debit": _DEBIT,
    "POST /api/v1/users/{userId}/balance/debit": _DEBIT,
    "POST /api/v1/balance/{userId}/sync": _SYNC,
    "POST /api/v1/users/{userId}/balance/sync": _SYNC,
    "GET /api/v1/users/{userId}/balance/verify": RouteDoc(
        "The balance, verified against the wallet on chain (crypto mode)", "BalanceVerification",
        errors=_e("PAYMENT_PROVIDER_MISMATCH", "USER_NOT_FOUND", "WALLET_NOT_FOUND", "BALANCE_DISCREPANCY", STELLAR)),
    "POST /api/v1/users/{userId}/balance/reserve": RouteDoc(
        "Reserve the funds of the user's order (upstream's path; the order's reserve)", "ReservationResult",
        errors=_e("USER_NOT_FOUND", "ORDER_NOT_FOUND", "ORDER_USER_MISMATCH", "INVALID_AMOUNT", "INVALID_CURRENCY",
                  "INVALID_STATE", "INSUFFICIENT_FUNDS", USER_SIGNER)),
    "POST /api/v1/users/{userId}/balance/cancel-reservation": RouteDoc(
        "Cancel the reservation of the user's order (upstream's path; the order's cancel)", "ReservationResult",
        errors=_e("USER_NOT_FOUND", "ORDER_NOT_FOUND", "ORDER_USER_MISMATCH", "INVALID_AMOUNT", "INVALID_CURRENCY",
                  "INVALID_STATE")),
    "POST /api/v1/users/{userId}/balance/release": RouteDoc(
        "Upstream's release of reserved funds: always refused, naming the order route to use", None,
        errors=_USE_ORDER_ROUTE),
    "POST /api/v1/users/{userId}/balance/deduct-reserved": RouteDoc(
        "Upstream's deduction of reserved funds: always refused, naming the order route to use", None,
        errors=_USE_ORDER_ROUTE),

    # --- wallet (crypto mode) ------------------------------------------------------------------------------------
    "GET /api/v1/users/{userId}/wallet": RouteDoc(
        "The user's Stellar wallet and its balances on chain", "Wallet",
        errors=_e("USER_NOT_FOUND", "WALLET_NOT_FOUND", STELLAR)),
    "GET /api/v1/users/{userId}/wallet/deposit": RouteDoc(
        "How to deposit USDC to the user's wallet", "DepositInstructions",
        errors=_e("USER_NOT_FOUND", "WALLET_NOT_FOUND")),
    "GET /api/v1/users/{userId}/wallet/transactions": RouteDoc(
        "The wallet's latest payments on chain (newest first)", "WalletTransaction[]",
        errors=_e("PAYMENT_PROVIDER_MISMATCH", "USER_NOT_FOUND", "WALLET_NOT_FOUND", STELLAR)),

    # --- orders --------------------------------------------------------------------------------------------------
    "POST /api/v1/orders": RouteDoc(
        "Create an order", "Order", statuses=(201,),
        errors=_e("USER_NOT_FOUND", "DUPLICATE_CLIENT_ORDER_REF", "INVALID_AMOUNT", "INVALID_CURRENCY", LIMITS)),
    "GET /api/v1/orders": RouteDoc("List orders (newest first)", "Order", paged=True),
    "GET /api/v1/orders/{id}": RouteDoc("Get an order", "Order", errors=_e("ORDER_NOT_FOUND")),
    "POST /api/v1/orders/{id}/reserve": RouteDoc(
        "Reserve the buyer's funds for the order", "Order",
        errors=_e("ORDER_NOT_FOUND", "INVALID_STATE", "INSUFFICIENT_FUNDS", USER_SIGNER),
        description="ORDER_CREATED → FUNDS_RESERVED. Crypto mode also requires the buyer's wallet to hold the "
                    "funds on chain."),
    "POST /api/v1/orders/{id}/cancel": RouteDoc(
        "Cancel the order", "Order",
        errors=_e("ORDER_NOT_FOUND", "INVALID_STATE", "ORDER_BUSY", "ESCROW_FUNDED", "ESCROW_FUNDING_IN_FLIGHT",
                  TRUSTLESS, STELLAR),
        description="From ORDER_CREATED or FUNDS_RESERVED, and from ESCROW_CREATING / ESCROW_FUNDING while the "
                    "escrow provably holds nothing; the order closes as CANCELED."),
    "GET /api/v1/orders/{id}/milestones": RouteDoc(
        "The order's milestones", "Milestone[]", errors=_e("ORDER_NOT_FOUND")),
    "POST /api/v1/orders/{id}/milestones/{ref}/complete": RouteDoc(
        "Mark a milestone delivered", "Milestone",
        errors=_e("ORDER_NOT_FOUND", "MILESTONE_NOT_FOUND", "INVALID_STATE", ESCROW_RUN)),

    # --- escrow --------------------------------------------------------------------------------------------------
    "POST /api/v1/escrow": _ESCROW_CREATE,
    "POST /api/v1/orders/{id}/escrow": _ESCROW_CREATE,
    "GET /api/v1/escrow/{id}": RouteDoc(
        "Get an escrow with its on-chain steps and the contract's state", "Escrow", errors=_e("ESCROW_NOT_FOUND"),
        description="When the contract cannot be read, `onChainError` says why and our record is answered."),
    "POST /api/v1/escrow/{id}/fund": RouteDoc(
        "Fund the escrow from the buyer's reservation", "Escrow", errors=_e("ESCROW_NOT_FOUND", _ESCROW_FUND_ERRORS),
        description="ESCROW_FUNDING → IN_PROGRESS. Resumable."),
    "POST /api/v1/orders/{id}/escrow/fund": RouteDoc(
        "Fund the order's escrow (upstream's path)", "Escrow",
        errors=_e("ORDER_NOT_FOUND", "ESCROW_NOT_FOUND", _ESCROW_FUND_ERRORS)),

    # --- resolution ----------------------------------------------------------------------------------------------
    "POST /api/v1/resolution/release": _RELEASE,
    "POST /api/v1/orders/{id}/resolution/release": _RELEASE,
    "POST /api/v1/resolution/refund": _REFUND,
    "POST /api/v1/orders/{id}/resolution/refund": _REFUND,
    "POST /api/v1/resolution/resolve": RouteDoc(
        "Settle a dispute with amounts (support)", "Dispute", errors=_RESOLVE_DISPUTE_ERRORS,
        description="A zero side is a full release or refund; both sides are a split."),

    # --- disputes ------------------------------------------------------------------------------------------------
    "POST /api/v1/disputes": _OPEN_DISPUTE,
    "POST /api/v1/orders/{id}/resolution/dispute": _OPEN_DISPUTE,
    "GET /api/v1/disputes": RouteDoc("List disputes (newest first, without comments)", "Dispute", paged=True),
    "GET /api/v1/disputes/{id}": RouteDoc("Get a dispute with its comments", "Dispute",
                                          errors=_e("DISPUTE_NOT_FOUND")),
    "POST /api/v1/disputes/{id}/comments": RouteDoc(
        "Comment on a dispute", "DisputeComment", statuses=(201,), errors=_e("DISPUTE_NOT_FOUND"),
        description="A key without the support scope names its authorRole (BUYER or SELLER)."),
    "POST /api/v1/disputes/{id}/assign": RouteDoc(
        "Assign the dispute to a support agent (support)", "Dispute", errors=_e("DISPUTE_NOT_FOUND", "INVALID_STATE")),
    "POST /api/v1/disputes/{id}/resolve": RouteDoc(
        "Resolve a dispute: FULL_RELEASE, FULL_REFUND or SPLIT (support)", "Dispute",
        errors=_RESOLVE_DISPUTE_ERRORS),

    # --- top-ups (airtm mode) ------------------------------------------------------------------------------------
    "POST /api/v1/topups": RouteDoc(
        "Create a top-up: the user confirms on Airtm's checkout", "Topup", statuses=(201,),
        errors=_e("PAYMENT_PROVIDER_MISMATCH", "INVALID_CURRENCY", LIMITS, "USER_NOT_FOUND", "AIRTM_USER_NOT_LINKED",
                  "AIRTM_USER_INVALID", AIRTM)),
    "GET /api/v1/topups": RouteDoc("List top-ups (newest first)", "Topup", paged=True),
    "GET /api/v1/topups/{id}": RouteDoc("Get a top-up", "Topup", errors=_e("TOPUP_NOT_FOUND")),
    "POST /api/v1/topups/{id}/cancel": RouteDoc(
        "Cancel a top-up awaiting the user", "Topup",
        errors=_e("TOPUP_NOT_FOUND", "INVALID_STATE", "PROVIDER_STATE_CONFLICT", AIRTM)),
    "POST /api/v1/topups/{id}/refresh": RouteDoc(
        "Refresh a top-up from Airtm", "Topup", errors=_e("TOPUP_NOT_FOUND", AIRTM)),
    "GET /api/v1/topups/{id}/callback": RouteDoc(
        "The payer's return from Airtm's checkout (no key)", "TopupReturn", public=True, statuses=(200, 302),
        errors=_e("TOPUP_NOT_FOUND"),
        description="Refreshes the top-up from Airtm (the URL's status is never applied). With "
                    "TOPUP_SUCCESS_REDIRECT_URL / TOPUP_CANCEL_REDIRECT_URL set, answers a 302 redirect (no body) "
                    "instead of the envelope."),

    # --- withdrawals ---------------------------------------------------------------------------------------------
    "POST /api/v1/withdrawals": RouteDoc(
        "Create a withdrawal (and commit it with commit: true)", "Withdrawal", statuses=(201,),
        errors=_e("INVALID_CURRENCY", "PAYMENT_PROVIDER_MISMATCH", LIMITS, "USER_NOT_FOUND", "DESTINATION_INVALID",
                  "AIRTM_USER_NOT_LINKED", "AIRTM_USER_INVALID", "WALLET_NOT_FOUND", "INSUFFICIENT_FUNDS",
                  "INVALID_STATE", USER_SIGNER, "WALLET_NOT_FUNDED", AIRTM, "PROVIDER_INSUFFICIENT_BALANCE"),
        description="The amount moves from available to pending at once; a refusal for good fails the withdrawal "
                    "and returns it."),
    "GET /api/v1/withdrawals": RouteDoc("List withdrawals (newest first)", "Withdrawal", paged=True),
    "GET /api/v1/withdrawals/{id}": RouteDoc("Get a withdrawal", "Withdrawal", errors=_e("WITHDRAWAL_NOT_FOUND")),
    "POST /api/v1/withdrawals/{id}/commit": RouteDoc(
        "Commit a withdrawal: the rail pays (resumable)", "Withdrawal",
        errors=_e("WITHDRAWAL_NOT_FOUND", "PAYMENT_PROVIDER_MISMATCH", "INVALID_STATE", USER_SIGNER,
                  "WALLET_NOT_FUNDED", AIRTM, "PROVIDER_INSUFFICIENT_BALANCE", "AIRTM_USER_INVALID", LIMITS)),
    "POST /api/v1/withdrawals/{id}/cancel": RouteDoc(
        "Cancel a withdrawal before commit", "Withdrawal",
        errors=_e("WITHDRAWAL_NOT_FOUND", "PAYMENT_PROVIDER_MISMATCH", "INVALID_STATE", "PROVIDER_STATE_CONFLICT",
                  AIRTM)),
    "POST /api/v1/withdrawals/{id}/refresh": RouteDoc(
        "Refresh a withdrawal from its rail", "Withdrawal",
        errors=_e("WITHDRAWAL_NOT_FOUND", "PAYMENT_PROVIDER_MISMATCH", USER_SIGNER, "WALLET_NOT_FUNDED", AIRTM,
                  "PROVIDER_INSUFFICIENT_BALANCE")),

    # --- provider webhooks in (no key) ---------------------------------------------------------------------------
    "POST /api/v1/webhooks/airtm": RouteDoc(
        "Airtm's webhook: verified (Svix signature), recorded once, queued", "WebhookReceipt", public=True,
        errors=INGRESS),
    "POST /api/v1/webhooks/trustless-work": RouteDoc(
        "Trustless Work's webhook: verified (HMAC), recorded once, queued", "WebhookReceipt", public=True,
        errors=INGRESS),

    # --- audit and events ----------------------------------------------------------------------------------------
    "GET /api/v1/audit": _AUDIT_SEARCH,
    "GET /api/v1/audit/logs": _AUDIT_SEARCH,
    "GET /api/v1/audit/{id}": RouteDoc("Get an audit row", "AuditEntry", errors=_e("AUDIT_LOG_NOT_FOUND")),
    "GET /api/v1/events": RouteDoc(
        "Replay the event log (oldest first, resumable with a cursor)", "Event", paged=True,
        description="meta.pagination.nextCursor is set on every page: resume after the last event seen."),

    # --- webhook endpoints (ours, out) ---------------------------------------------------------------------------
    "POST /api/v1/webhook-endpoints": RouteDoc(
        "Register a webhook endpoint; its secret is shown once", "WebhookEndpointWithSecret", statuses=(201,),
        errors=_e("WEBHOOK_URL_NOT_ALLOWED", "WEBHOOK_ENDPOINT_LIMIT", WEBHOOK_KEYS)),
    "GET /api/v1/webhook-endpoints": RouteDoc("List webhook endpoints", "WebhookEndpoint", paged=True),
    "GET /api/v1/webhook-endpoints/{id}": RouteDoc(
        "Get a webhook endpoint", "WebhookEndpoint", errors=_e("WEBHOOK_ENDPOINT_NOT_FOUND")),
    "DELETE /api/v1/webhook-endpoints/{id}": RouteDoc(
        "Delete a webhook endpoint (its pending deliveries fail)", "WebhookEndpoint",
        errors=_e("WEBHOOK_ENDPOINT_NOT_FOUND")),
    "POST /api/v1/webhook-endpoints/{id}/rotate-secret": RouteDoc(
        "Rotate the signing secret (the old one signs too for 24 h); the new one is shown once",
        "WebhookEndpointWithSecret", errors=_e("WEBHOOK_ENDPOINT_NOT_FOUND", "WEBHOOK_ENDPOINT_BUSY", WEBHOOK_KEYS)),
    "POST /api/v1/webhook-endpoints/{id}/enable": RouteDoc(
        "Enable a disabled webhook endpoint again", "WebhookEndpoint",
        errors=_e("WEBHOOK_ENDPOINT_NOT_FOUND", "INVALID_STATE")),
    "GET /api/v1/webhook-endpoints/{id}/deliveries": RouteDoc(
        "An endpoint's deliveries (newest first)", "WebhookDelivery", paged=True,
        errors=_e("WEBHOOK_ENDPOINT_NOT_FOUND")),
    "POST /api/v1/webhook-endpoints/{id}/deliveries/{deliveryId}/retry": RouteDoc(
        "Send a delivery again now, once", "WebhookDelivery",
        errors=_e("WEBHOOK_ENDPOINT_NOT_FOUND", "WEBHOOK_DELIVERY_NOT_FOUND", "WEBHOOK_DELIVERY_BUSY", WEBHOOK_KEYS)),

    # --- sandbox test helpers (404 NOT_FOUND without the sandbox rails) ------------------------------------------
    "POST /api/v1/test-helpers/deposits": RouteDoc(
        "Send a real USDC deposit on the sandbox network to a user's wallet", "SandboxDeposit", statuses=(201,),
        errors=_e(SANDBOX, "USER_NOT_FOUND", "WALLET_NOT_FOUND", "WALLET_NOT_ACTIVE", "STELLAR_ERROR")),
    "POST /api/v1/test-helpers/faults": RouteDoc(
        "Arm a fault on the sandbox rails", "SandboxFault", errors=SANDBOX),
    "POST /api/v1/test-helpers/topups/{topupId}/complete": RouteDoc(
        "Act as the payer on Airtm's sandbox checkout", "SandboxTopupOutcome",
        errors=_e(SANDBOX, "TOPUP_NOT_FOUND", "INVALID_STATE")),
    "POST /api/v1/test-helpers/withdrawals/{withdrawalId}/complete": RouteDoc(
        "Act as the recipient of a pending Airtm sandbox payout", "SandboxWithdrawalOutcome",
        errors=_e(SANDBOX, "WITHDRAWAL_NOT_FOUND", "INVALID_STATE")),
    "POST /api/v1/test-helpers/stellar-accounts": RouteDoc(
        "Make an external account on the sandbox network", "SandboxStellarAccount", statuses=(201,),
        errors=_e(SANDBOX, "INVALID_STATE")),
    "GET /api/v1/test-helpers/stellar-accounts/{address}": RouteDoc(
        "An account's balances on the sandbox network", "SandboxStellarBalances",
        errors=_e(SANDBOX, "INVALID_STATE")),
}
