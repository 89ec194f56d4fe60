"""Configuration from the environment, read once per container.

Secrets are resolved lazily (only the functions that need them pay for Secrets Manager).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

# Network facts (reference/providers.md §C.1): passphrase, Horizon, Circle's USDC issuer, friendbot.
NETWORKS = {
    "testnet": ("Test SDF Network ; September 2015", "https://horizon-testnet.stellar.org",
                "GBBD47IF6LWK7P7MDEVSCWR7DPUWV3NY3DTQEVFL4NAT4AQH3ZLLFLA5", "https://friendbot.stellar.org"),
    "mainnet": ("Public Global Stellar Network ; September 2015", "https://horizon.stellar.org",
                "GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN", None),
}
TRUSTLESS_URLS = {"testnet": "https://dev.api.trustlesswork.com", "mainnet": "https://api.trustlesswork.com"}
# Airtm Enterprise API v2 (reference/providers.md §B.1); the checkout URL form is unconfirmed, so configurable.
AIRTM_URLS = {"sandbox": "https://api.stg.enterprise.airtm.com/v2", "production": "https://api.enterprise.airtm.com/v2"}
AIRTM_CHECKOUT_URL = "https://app.airtm.com/payin/{payinId}"


@dataclass(frozen=True)
class StellarSettings:
    network: str
    passphrase: str
    horizon_url: str
    usdc_issuer: str
    friendbot_url: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StellarSettings:
        network = _choice(env, "STELLAR_NETWORK", tuple(NETWORKS), "testnet")
        passphrase, horizon, issuer, friendbot = NETWORKS[network]
        return cls(
            network=network,
            passphrase=passphrase,
            horizon_url=env.get("HORIZON_URL") or horizon,
            usdc_issuer=env.get("USDC_ISSUER") or issuer,
            friendbot_url=env.get("FRIENDBOT_URL") or friendbot,
        )


@dataclass(frozen=True)
class AmountRange:
    min: Decimal
    max: Decimal


# Upstream advertised these in GET /config and never enforced them; here they are enforced (offerhub.limits).
# The withdrawal minimum is 1.00 (upstream said 10.00): small cash-outs are legitimate on both rails.
DEFAULT_LIMITS = {"topup": ("1.00", "10000.00"), "withdrawal": ("1.00", "5000.00"), "order": ("1.00", "50000.00")}


@dataclass(frozen=True)
class AmountLimits:
    """Per-operation amount limits: <KIND>_MIN_AMOUNT / <KIND>_MAX_AMOUNT (TOPUP_, WITHDRAWAL_, ORDER_)."""

    topup: AmountRange
    withdrawal: AmountRange
    order: AmountRange

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AmountLimits:
        ranges = {}
        for kind, (low, high) in DEFAULT_LIMITS.items():
            bounds = [_amount_setting(env, f"{kind.upper()}_{end}_AMOUNT", default)
                      for end, default in (("MIN", low), ("MAX", high))]
            if bounds[0] > bounds[1]:
                raise RuntimeError(f"{kind.upper()}_MIN_AMOUNT must not exceed {kind.upper()}_MAX_AMOUNT")
            ranges[kind] = AmountRange(*bounds)
        return cls(**ranges)


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    database_secret_arn: str | None
    database_host: str | None
    database_port: int
    database_name: str
    database_sslmode: str  # with DATABASE_SECRET_ARN; `require` unless a local server has no TLS
    db_pool_size: int
    db_max_overflow: int
    master_key: str | None
    master_key_secret_arn: str | None
    api_key_env: str
    idempotency_table: str | None
    idempotency_ttl_seconds: int
    wallet_kms_key_id: str | None
    payment_provider: str
    stellar: StellarSettings
    trustless_api_url: str
    trustless_api_key: str | None
    trustless_api_key_secret_arn: str | None
    trustless_timeout_seconds: float
    platform_fee_percent: Decimal
    refund_fees_paid_by: str
    sandbox_control_url: str | None
    monitor_scan: str
    airtm_api_url: str
    airtm_api_key: str | None
    airtm_api_secret: str | None
    airtm_credentials_secret_arn: str | None
    airtm_timeout_seconds: float
    airtm_checkout_url: str
    airtm_webhook_secret: str | None
    airtm_webhook_secret_arn: str | None
    trustless_webhook_secret: str | None
    trustless_webhook_secret_arn: str | None
    webhook_queue_url: str | None
    # Sign-up's queue (offerhub.wallets.activation): POST /users enqueues each new wallet's activation on chain.
    wallet_activation_queue_url: str | None
    topup_callback_base_url: str
    # Outbound webhooks to integrators (offerhub.outbound): the KMS key sealing endpoint secrets, whether
    # loopback receivers (and plain http to them) are allowed (local stack and tests only), the retry backoff base.
    webhook_secrets_kms_key_id: str | None
    webhook_allow_loopback: bool
    webhook_retry_base_seconds: float
    # Rate limits (offerhub.auth.limits): per fixed window, per API key (the stricter one on top-up and withdrawal
    # creation), per source IP for requests without a key; the counter's shards per key (1 = one row).
    rate_limit_enabled: bool
    rate_limit_window_seconds: int
    rate_limit_per_key: int
    rate_limit_create_per_key: int
    rate_limit_per_ip: int
    rate_limit_shards: int
    # Upstream compatibility (docs/migrating-from-upstream.md): the enforced amount limits GET /config shows,
    # where GET /topups/{id}/callback sends the payer's browser, and the secret that signs short-lived tokens
    # (auth/tokens.py; derived from the master key when unset).
    limits: AmountLimits
    topup_success_redirect_url: str | None
    topup_cancel_redirect_url: str | None
    token_secret: str | None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        stellar = StellarSettings.from_env(env)
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            database_secret_arn=env.get("DATABASE_SECRET_ARN") or None,
            database_host=env.get("DATABASE_HOST") or None,
            database_port=int(env.get("DATABASE_PORT", "5432")),
            database_name=env.get("DATABASE_NAME", "offerhub"),
            database_sslmode=_choice(env, "DATABASE_SSLMODE", ("require", "verify-ca", "verify-full", "prefer",
                                                                 "disable"), "require"),
            db_pool_size=int(env.get("DB_POOL_SIZE", "1")),
            db_max_overflow=int(env.get("DB_MAX_OVERFLOW", "0")),
            master_key=env.get("OFFERHUB_MASTER_KEY") or None,
            master_key_secret_arn=env.get("OFFERHUB_MASTER_KEY_SECRET_ARN") or None,
            api_key_env=_choice(env, "API_KEY_ENV", ("live", "test"), "test"),
            idempotency_table=env.get("IDEMPOTENCY_TABLE") or None,
            idempotency_ttl_seconds=int(env.get("IDEMPOTENCY_TTL_SECONDS", "86400")),
            wallet_kms_key_id=env.get("WALLET_KMS_KEY_ID") or None,
            payment_provider=_choice(env, "PAYMENT_PROVIDER", ("crypto", "airtm"), "crypto"),
            stellar=stellar,
            trustless_api_url=env.get("TRUSTLESS_API_URL") or TRUSTLESS_URLS[stellar.network],
            trustless_api_key=env.get("TRUSTLESS_API_KEY") or None,
            trustless_api_key_secret_arn=env.get("TRUSTLESS_API_KEY_SECRET_ARN") or None,
            trustless_timeout_seconds=float(env.get("TRUSTLESS_TIMEOUT_SECONDS", "30")),
            platform_fee_percent=Decimal(env.get("PLATFORM_FEE_PERCENT", "1")),
            # Who pays the escrow fees on a buyer's share (a refund, a split's refund part): the platform wallet
            # pays them back so the buyer gets it all, or the buyer bears them like any receiver.
            refund_fees_paid_by=_choice(env, "REFUND_FEES_PAID_BY", ("platform", "buyer"), "platform"),
            sandbox_control_url=env.get("SANDBOX_CONTROL_URL") or None,
            monitor_scan=_choice(env, "MONITOR_SCAN", ("network", "wallets"), "network"),
            airtm_api_url=env.get("AIRTM_API_URL")
            or AIRTM_URLS[_choice(env, "AIRTM_ENV", tuple(AIRTM_URLS), "sandbox")],
            airtm_api_key=env.get("AIRTM_API_KEY") or None,
            airtm_api_secret=env.get("AIRTM_API_SECRET") or None,
            airtm_credentials_secret_arn=env.get("AIRTM_CREDENTIALS_SECRET_ARN") or None,
            airtm_timeout_seconds=float(env.get("AIRTM_TIMEOUT_SECONDS", "15")),
            airtm_checkout_url=env.get("AIRTM_CHECKOUT_URL") or AIRTM_CHECKOUT_URL,
            airtm_webhook_secret=env.get("AIRTM_WEBHOOK_SECRET") or None,
            airtm_webhook_secret_arn=env.get("AIRTM_WEBHOOK_SECRET_ARN") or None,
            trustless_webhook_secret=env.get("TRUSTLESS_WEBHOOK_SECRET") or None,
            trustless_webhook_secret_arn=env.get("TRUSTLESS_WEBHOOK_SECRET_ARN") or None,
            webhook_queue_url=env.get("WEBHOOK_QUEUE_URL") or None,
            wallet_activation_queue_url=env.get("WALLET_ACTIVATION_QUEUE_URL") or None,
            topup_callback_base_url=(env.get("TOPUP_CALLBACK_BASE_URL") or "http://127.0.0.1:3000/api/v1/topups"
                                     ).rstrip("/"),
            webhook_secrets_kms_key_id=env.get("WEBHOOK_SECRETS_KMS_KEY_ID") or None,
            webhook_allow_loopback=_flag(env, "WEBHOOK_ALLOW_LOOPBACK"),
            webhook_retry_base_seconds=float(env.get("WEBHOOK_RETRY_BASE_SECONDS") or "60"),
            rate_limit_enabled=(env.get("RATE_LIMIT_ENABLED") or "true").strip().lower() not in ("0", "false", "no"),
            rate_limit_window_seconds=_positive(env, "RATE_LIMIT_WINDOW_SECONDS", 60),
            rate_limit_per_key=_positive(env, "RATE_LIMIT_PER_KEY", 6000),
            rate_limit_create_per_key=_positive(env, "RATE_LIMIT_CREATE_PER_KEY", 60),
            rate_limit_per_ip=_positive(env, "RATE_LIMIT_PER_IP", 6000),
            rate_limit_shards=_positive(env, "RATE_LIMIT_SHARDS", 1),
            limits=AmountLimits.from_env(env),
            topup_success_redirect_url=env.get("TOPUP_SUCCESS_REDIRECT_URL") or None,
            topup_cancel_redirect_url=env.get("TOPUP_CANCEL_REDIRECT_URL") or None,
            token_secret=env.get("OFFERHUB_TOKEN_SECRET") or None,
        )


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise RuntimeError(f"{name} must be one of {', '.join(allowed)}")
    return value


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = int(env.get(name) or default)
    if value < 1:
        raise RuntimeError(f"{name} must be a positive integer")
    return value


def _amount_setting(env: Mapping[str, str], name: str, default: str) -> Decimal:
    value = (env.get(name) or default).strip()
    if not re.fullmatch(r"[0-9]{1,13}\.[0-9]{2}", value) or Decimal(value) <= 0:
        raise RuntimeError(f'{name} must be a positive amount with two decimals, like "10.00"')
    return Decimal(value)


def _flag(env: Mapping[str, str], name: str) -> bool:
    return (env.get(name) or "").strip().lower() in ("1", "true", "yes")


@cache
def settings() -> Settings:
    return Settings.from_env()
