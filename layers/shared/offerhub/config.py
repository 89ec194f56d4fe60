"""Configuration from the environment, read once per container.

Secrets are resolved lazily (only the functions that need them pay for Secrets Manager).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    database_secret_arn: str | None
    database_host: str | None
    database_port: int
    database_name: str
    db_pool_size: int
    db_max_overflow: int
    master_key: str | None
    master_key_secret_arn: str | None
    api_key_env: str
    idempotency_table: str | None
    idempotency_ttl_seconds: int
    wallet_kms_key_id: str | None
    payment_provider: str

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        api_key_env = env.get("API_KEY_ENV", "test")
        provider = env.get("PAYMENT_PROVIDER", "crypto")
        if api_key_env not in ("live", "test"):
            raise RuntimeError("API_KEY_ENV must be live or test")
        if provider not in ("crypto", "airtm"):
            raise RuntimeError("PAYMENT_PROVIDER must be crypto or airtm")
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            database_secret_arn=env.get("DATABASE_SECRET_ARN") or None,
            database_host=env.get("DATABASE_HOST") or None,
            database_port=int(env.get("DATABASE_PORT", "5432")),
            database_name=env.get("DATABASE_NAME", "offerhub"),
            db_pool_size=int(env.get("DB_POOL_SIZE", "1")),
            db_max_overflow=int(env.get("DB_MAX_OVERFLOW", "0")),
            master_key=env.get("OFFERHUB_MASTER_KEY") or None,
            master_key_secret_arn=env.get("OFFERHUB_MASTER_KEY_SECRET_ARN") or None,
            api_key_env=api_key_env,
            idempotency_table=env.get("IDEMPOTENCY_TABLE") or None,
            idempotency_ttl_seconds=int(env.get("IDEMPOTENCY_TTL_SECONDS", "86400")),
            wallet_kms_key_id=env.get("WALLET_KMS_KEY_ID") or None,
            payment_provider=provider,
        )


@cache
def settings() -> Settings:
    return Settings.from_env()
