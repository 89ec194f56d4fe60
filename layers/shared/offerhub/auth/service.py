"""Authentication and API key management.

The master key (configuration or Secrets Manager) manages keys; API keys carry scopes. A revoked key
fails on its very next request: every request reads the key row, nothing is cached.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from offerhub.adapters.postgres.unit_of_work import read_only, transaction
from offerhub.audit.service import record
from offerhub.auth import keys, store
from offerhub.config import settings
from offerhub.core.context import Actor, RequestContext
from offerhub.core.errors import InsufficientScope, NotFound, Unauthorized, ValidationFailed
from offerhub.core.ids import looks_like
from offerhub.core.pagination import Page, PageRequest
from offerhub.events import catalogue

MASTER_ID = "master"


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    scopes: frozenset[str]
    is_master: bool = False

    @property
    def actor(self) -> Actor:
        return Actor(type="master_key" if self.is_master else "api_key", id=self.key_id)

    def require(self, scope: str) -> None:
        if not self.is_master and scope not in self.scopes:
            raise InsufficientScope(
                f"this API key lacks the '{scope}' scope",
                details={"required": scope, "granted": sorted(self.scopes)},
            )

    def require_master(self) -> None:
        if not self.is_master:
            raise InsufficientScope("only the master key manages API keys", details={"required": "master"})


def _master_key() -> str | None:
    """Re-read on each request (a secret through Secrets Manager's five-minute cache): a rotated master key
    takes over in warm containers within that time."""
    cfg = settings()
    if cfg.master_key:
        return cfg.master_key
    if cfg.master_key_secret_arn:
        from offerhub.adapters.aws.secrets import get_secret_string

        return get_secret_string(cfg.master_key_secret_arn)
    return None


def authenticate(token: str | None) -> Principal:
    if not token:
        raise Unauthorized("missing API key: send Authorization: Bearer <key> or X-API-Key")
    master = _master_key()
    if master and hmac.compare_digest(token.encode(), master.encode()):
        return Principal(key_id=MASTER_ID, name="master", scopes=frozenset(keys.SCOPES), is_master=True)
    key_id = keys.key_id_of(token)
    if key_id is None:
        raise Unauthorized("invalid API key")
    with read_only() as conn:
        row = store.by_id(conn, key_id)
        if row is None or not keys.matches(token, row["secret_hash"]):
            raise Unauthorized("invalid API key")
        if row["revoked_at"] is not None:
            raise Unauthorized("this API key has been revoked")
        if store.stale_use(row["last_used_at"]):
            store.touch(conn, key_id)
            conn.commit()
    return Principal(key_id=key_id, name=row["name"], scopes=frozenset(row["scopes"]))


def create_api_key(ctx: RequestContext, *, name: str, scopes: list[str]) -> dict[str, Any]:
    """Returns the key record plus the plaintext key, shown this once."""
    unknown = sorted(set(scopes) - set(keys.SCOPES))
    if not scopes or unknown:
        raise ValidationFailed(
            "scopes must be a non-empty list drawn from read, write, support",
            details={"field": "scopes", "unknown": unknown, "allowed": list(keys.SCOPES)},
        )
    ordered = [s for s in keys.SCOPES if s in scopes]
    environment = settings().api_key_env
    issued = keys.issue(environment)
    with transaction(ctx) as uow:
        row = store.insert_key(uow.conn, key_id=issued.key_id, name=name, environment=environment,
                               secret_hash=issued.secret_hash, scopes=ordered)
        public = store.to_public(row)
        record(uow, catalogue.API_KEY_CREATED, "ApiKey", issued.key_id, after=public)
        uow.emit(catalogue.API_KEY_CREATED, "ApiKey", issued.key_id,
                 {"apiKeyId": issued.key_id, "name": name, "scopes": ordered})
    return {**public, "key": issued.token}


def revoke_api_key(ctx: RequestContext, key_id: str) -> dict[str, Any]:
    with transaction(ctx) as uow:
        before = store.by_id(uow.conn, key_id) if looks_like(key_id, "key") else None
        if before is None:
            raise NotFound(f"API key {key_id} not found", code="API_KEY_NOT_FOUND")
        row = store.revoke(uow.conn, key_id)
        if row is None:  # already revoked: revoking again is a no-op that answers the same
            return store.to_public(before)
        public = store.to_public(row)
        record(uow, catalogue.API_KEY_REVOKED, "ApiKey", key_id, before=store.to_public(before), after=public)
        uow.emit(catalogue.API_KEY_REVOKED, "ApiKey", key_id, {"apiKeyId": key_id})
    return public


def list_api_keys(page: PageRequest) -> Page:
    with read_only() as conn:
        if page.cursor and not (looks_like(page.cursor, "key") and store.by_id(conn, page.cursor)):
            raise ValidationFailed("cursor is not a known API key id", details={"field": "cursor"})
        rows = store.page(conn, cursor=page.cursor, limit=page.limit + 1)
    return Page.from_rows([store.to_public(r) for r in rows], page.limit, lambda k: k["id"])
