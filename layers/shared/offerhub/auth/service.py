"""Authentication, rate limiting and API key management.

The master key (configuration or Secrets Manager) manages keys; API keys carry scopes. A revoked key
fails on its very next request: every request reads the key row, nothing is cached between requests.

An HTTP request is admitted once, at the edge (offerhub.http.ratelimit): `admit` authenticates its key and counts
it against its rate limit in one statement (offerhub.auth.store), or counts its source IP when it carries no key
that authenticates. Within the request, `authenticate` then answers from that admission without a query (the
idempotency check before the app, the route's dependency inside it); outside one (a WebSocket connect, a test)
it reads the key row itself and counts nothing.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from offerhub.adapters.postgres.unit_of_work import one_statement, read_only, transaction
from offerhub.audit.service import record
from offerhub.auth import keys, limits, store, tokens
from offerhub.config import settings
from offerhub.core.context import Actor, RequestContext
from offerhub.core.errors import InsufficientScope, NotFound, Unauthorized, ValidationFailed
from offerhub.core.ids import looks_like
from offerhub.core.pagination import Page, PageRequest
from offerhub.events import catalogue
from offerhub.observability import logger

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


MISSING_KEY = "missing API key: send Authorization: Bearer <key> or X-API-Key"
MASTER = Principal(key_id=MASTER_ID, name="master", scopes=frozenset(keys.SCOPES), is_master=True)
# One request in PRUNE_ONE_IN that counts a source IP also prunes a few stale counter rows, in the same statement.
PRUNE_ONE_IN = 200
STALE_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Admission:
    """A request's credentials, checked once: the principal, or the error authenticating it raises; and the
    counter the request was counted against (None with the limiter off)."""

    token: str | None
    principal: Principal | None = None
    error: BaseException | None = None
    quota: limits.Quota | None = None
    database_ms: float | None = None  # how long counting took, when it reached Postgres (http/ratelimit.admit)

    @property
    def over_limit(self) -> bool:
        return self.quota is not None and self.quota.exceeded

    def outcome(self) -> Principal:
        if self.principal is None:
            raise self.error if self.error is not None else Unauthorized(MISSING_KEY)
        return self.principal


_admitted: ContextVar[Admission | None] = ContextVar("offerhub_admission", default=None)


def current_admission() -> Admission | None:
    """The admission of the request being handled (None outside `admitted`)."""
    return _admitted.get()


@contextmanager
def admitted(admission: Admission) -> Iterator[None]:
    """Within the block, authenticate(admission.token) answers from the admission."""
    reset = _admitted.set(admission)
    try:
        yield
    finally:
        _admitted.reset(reset)


def authenticate(token: str | None) -> Principal:
    admission = _admitted.get()
    if admission is not None and admission.token == token:
        return admission.outcome()
    # --- short-lived tokens (auth/tokens.py): `ohk_tok_…` stands for its key with the token's scopes -------------
    if tokens.is_token(token):
        claims = tokens.verify(token)  # type: ignore[arg-type]
        return Principal(key_id=claims.key_id, name=claims.key_name, scopes=claims.scopes)
    # --- end of short-lived tokens ----------------------------------------------------------------------------------
    if not token:
        raise Unauthorized(MISSING_KEY)
    if _is_master(token):
        return MASTER
    key_id = keys.key_id_of(token)
    if key_id is None:
        raise Unauthorized("invalid API key")
    with one_statement() as conn:  # autocommit: no BEGIN/ROLLBACK round trips
        row = store.authenticate_row(conn, key_id, keys.hash_token(token))
    return _principal(token, key_id, row)


def admit(token: str | None, *, source_ip: str, bucket: str) -> Admission:
    """Authenticate `token` (None: the request has no key) and count the request: against the key in `bucket`
    (limits.API or limits.CREATE) when it authenticates, else against `source_ip`. One statement either way.

    Failures are kept in the admission, not raised: a route without a key (the health check) must answer even
    when the request carries a bad one, and a route that needs a key raises the error when it asks for it. When
    counting a source IP fails, the request goes through uncounted: the limiter never takes a route down."""
    cfg = limits.Limits.from_settings(settings())
    if not cfg.enabled:
        try:
            return Admission(token, principal=authenticate(token))
        except Exception as exc:  # raised again by the route that needs the key
            return Admission(token, error=exc)
    window_start = cfg.window_at(limits.clock())
    # From os.urandom, not `random`: containers restored from one SnapStart snapshot share random's state.
    shard = secrets.randbelow(cfg.shards)
    try:
        # The master key has no row to read with the counter, so its counter is a statement of its own; so is a
        # short-lived token's, whose check (tokens.verify: the signature, then its key's row) reads apart.
        principal = None
        if token and _is_master(token):
            principal = MASTER
        elif tokens.is_token(token):
            principal = authenticate(token)
        if principal is not None:
            subject = limits.MASTER_SUBJECT if principal.is_master else limits.key_subject(principal.key_id)
            with one_statement() as conn:  # autocommit: no BEGIN/ROLLBACK round trips
                row = store.count(conn, subject=subject, bucket=bucket, shard=shard, window_start=window_start)
            return Admission(token, principal=principal,
                             quota=limits.quota(cfg, bucket, row["used"], row["window_start"]))
        key_id = keys.key_id_of(token) if token else None
        if token and key_id:
            counter = store.Counter(key_bucket=bucket, ip_subject=limits.ip_subject(source_ip), shard=shard,
                                    window_start=window_start)
            with one_statement() as conn:  # autocommit: no BEGIN/ROLLBACK round trips
                row = store.authenticate_and_count(conn, key_id, keys.hash_token(token), counter)
            quota = limits.quota(cfg, row["counted_bucket"], row["used"], row["window_start"])
            try:
                return Admission(token, principal=_principal(token, key_id, row if row["id"] else None), quota=quota)
            except Unauthorized as exc:
                return Admission(token, error=exc, quota=quota)
    except Unauthorized as exc:  # a short-lived token that does not verify: its caller's IP is counted
        error = exc
    except Exception as exc:  # the database, the master key's secret: the route that needs the key answers it
        return Admission(token, error=exc)
    else:
        error = Unauthorized("invalid API key" if token else MISSING_KEY)
    stale_before = window_start - STALE_AFTER if secrets.randbelow(PRUNE_ONE_IN) == 0 else None
    try:
        with one_statement() as conn:  # autocommit: no BEGIN/ROLLBACK round trips
            row = store.count(conn, subject=limits.ip_subject(source_ip), bucket=limits.IP, shard=shard,
                              window_start=window_start, stale_before=stale_before)
    except Exception as exc:  # no stack: during a database outage this is every health check
        logger.warning("rate limit counter unavailable; request not counted", extra={"error": type(exc).__name__})
        return Admission(token, error=error)
    return Admission(token, error=error, quota=limits.quota(cfg, limits.IP, row["used"], row["window_start"]))



def _is_master(token: str) -> bool:
    master = _master_key()
    return bool(master) and hmac.compare_digest(token.encode(), master.encode())  # type: ignore[union-attr]


def _principal(token: str, key_id: str, row: dict[str, Any] | None) -> Principal:
    if row is None or not keys.matches(token, row["secret_hash"]):
        raise Unauthorized("invalid API key")
    if row["revoked_at"] is not None:
        raise Unauthorized("this API key has been revoked")
    return Principal(key_id=key_id, name=row["name"], scopes=frozenset(row["scopes"]))


def create_api_key(ctx: RequestContext, *, name: str, scopes: list[str]) -> dict[str, Any]:
    """Returns the key record plus the plaintext key, shown this once."""
    scopes = keys.expand_wildcard(scopes)  # upstream's "*" = read, write and support
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
