"""Short-lived tokens: a key's credential for a browser or a WebSocket client, which must not hold the key.

`POST /auth/api-keys/{id}/token` issues `ohk_tok_<JWT>` (upstream's prefix and shape: HS256, claims `sub` =
the key id, `scopes`, `type: "short-lived"`, `iat`, `exp`, plus a `jti`). What upstream got wrong is not copied
(its §3.3, §18.1 #10): any `write` key could mint a token for any key id and inherit its scopes, tokens lived a
fixed hour, and a fallback literal signed them when no secret was set. Here:

- an API key issues tokens for itself only; the master key for any key; a token issues none (it could otherwise
  renew itself for ever);
- a token's scopes are a subset of its key's (default: all of them), and it lives `expiresIn` seconds,
  at most one hour (default 15 minutes);
- it is self-contained, but never trusted alone: every use also reads its key's row, so revoking the key
  revokes its tokens on the next request, as it does the key;
- the signing secret is `OFFERHUB_TOKEN_SECRET`, else derived from the master key (HMAC with a fixed label), so
  there is no default secret; rotating the master key (or the setting) invalidates outstanding tokens, which
  live an hour at most anyway.

The header is fixed and compared whole, so `alg` is never read from the token (no "none", no RS/HS confusion).
Only a JSON object of known claims with integer times passes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from offerhub.adapters.postgres.unit_of_work import read_only, transaction
from offerhub.audit.service import record
from offerhub.auth import keys, store
from offerhub.config import settings
from offerhub.core.clock import iso
from offerhub.core.context import RequestContext
from offerhub.core.errors import (
    Conflict,
    InsufficientScope,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from offerhub.core.ids import looks_like

PREFIX = "ohk_tok_"
TYPE = "short-lived"
DEFAULT_TTL_SECONDS = 15 * 60
MAX_TTL_SECONDS = 60 * 60
MAX_TOKEN_LENGTH = 2048
TOKEN_ISSUED = "api_key.token_issued"
_HEADER = {"alg": "HS256", "typ": "JWT"}
_SECRET_LABEL = b"offerhub/short-lived-token/v1"
_INVALID = "invalid or expired short-lived token"


class Caller(Protocol):
    """Who asks for a token (an auth.service.Principal)."""

    key_id: str
    is_master: bool


@dataclass(frozen=True)
class Claims:
    key_id: str
    key_name: str
    scopes: frozenset[str]
    expires_at: int


def is_token(token: str | None) -> bool:
    return bool(token) and token.startswith(PREFIX)  # type: ignore[union-attr]


# --- issuing --------------------------------------------------------------------------------------------------
def issue(ctx: RequestContext, caller: Caller, key_id: str, *, scopes: list[str] | None, expires_in: int | None,
          caller_is_token: bool) -> dict[str, Any]:
    if caller_is_token:
        raise InsufficientScope("a short-lived token cannot issue tokens: ask with the API key itself",
                                details={"required": "api_key"})
    if not caller.is_master and key_id != caller.key_id:
        raise InsufficientScope("an API key issues tokens for itself only; the master key issues them for any key",
                                details={"required": "master", "apiKeyId": key_id})
    ttl = DEFAULT_TTL_SECONDS if expires_in is None else expires_in
    if not 1 <= ttl <= MAX_TTL_SECONDS:
        raise ValidationFailed(f"expiresIn is 1 to {MAX_TTL_SECONDS} seconds",
                               details={"field": "expiresIn", "max": MAX_TTL_SECONDS})
    with transaction(ctx) as uow:
        row = store.by_id(uow.conn, key_id) if looks_like(key_id, "key") else None
        if row is None:
            raise NotFound(f"API key {key_id} not found", code="API_KEY_NOT_FOUND")
        if row["revoked_at"] is not None:
            raise Conflict("the API key is revoked: it issues no tokens", code="API_KEY_REVOKED",
                           details={"apiKeyId": key_id})
        granted = _granted(scopes, list(row["scopes"]))
        now = int(time.time())
        claims = {"sub": key_id, "scopes": granted, "type": TYPE, "iat": now, "exp": now + ttl,
                  "jti": secrets.token_hex(12)}
        token = PREFIX + _sign(claims)
        issued = {"apiKeyId": key_id, "scopes": granted, "expiresIn": ttl, "expiresAt": _iso(now + ttl),
                  "tokenId": claims["jti"]}
        record(uow, TOKEN_ISSUED, "ApiKey", key_id, after=issued)  # never the token itself
    return {"token": token, "tokenType": "Bearer", **issued}


def _granted(requested: list[str] | None, held: list[str]) -> list[str]:
    """The token's scopes: the key's, or a subset of them (`*` = all the key's)."""
    if requested is None or requested == ["*"]:
        return [s for s in keys.SCOPES if s in held]
    unknown = sorted(set(requested) - set(keys.SCOPES))
    if not requested or unknown:
        raise ValidationFailed("scopes must be a non-empty list drawn from read, write, support (or [\"*\"])",
                               details={"field": "scopes", "unknown": unknown, "allowed": list(keys.SCOPES)})
    beyond = sorted(set(requested) - set(held))
    if beyond:
        raise InsufficientScope("a token's scopes must be a subset of its key's",
                                details={"requested": sorted(set(requested)), "granted": sorted(held),
                                         "beyond": beyond})
    return [s for s in keys.SCOPES if s in requested]


# --- verifying ------------------------------------------------------------------------------------------------
def verify(token: str) -> Claims:
    """The token's claims, if its signature holds, it has not expired and its key is still active."""
    claims = _verified_claims(token)
    with read_only() as conn:
        row = store.by_id(conn, claims["sub"])
    if row is None or row["revoked_at"] is not None:
        raise Unauthorized("the API key of this token has been revoked")
    scopes = frozenset(claims["scopes"]) & frozenset(row["scopes"])
    return Claims(key_id=row["id"], key_name=row["name"], scopes=scopes, expires_at=claims["exp"])


def _verified_claims(token: str) -> dict[str, Any]:
    if not is_token(token) or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthorized(_INVALID)
    parts = token[len(PREFIX):].split(".")
    if len(parts) != 3:
        raise Unauthorized(_INVALID)
    header, payload, signature = parts
    expected = _b64(hmac.new(_secret(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(signature.encode(), expected.encode()) or _json(header) != _HEADER:
        raise Unauthorized(_INVALID)
    claims = _json(payload)
    if not _well_formed(claims) or claims["exp"] <= int(time.time()):
        raise Unauthorized(_INVALID)
    return claims


def _well_formed(claims: Any) -> bool:
    if not isinstance(claims, dict) or claims.get("type") != TYPE:
        return False
    times = [claims.get("iat"), claims.get("exp")]
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in times):
        return False
    scopes = claims.get("scopes")
    return (isinstance(claims.get("sub"), str) and looks_like(claims["sub"], "key")
            and isinstance(scopes, list) and all(s in keys.SCOPES for s in scopes)
            and 0 < claims["exp"] - claims["iat"] <= MAX_TTL_SECONDS)


# --- encoding -------------------------------------------------------------------------------------------------
def _sign(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = _b64(hmac.new(_secret(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def _secret() -> bytes:
    cfg = settings()
    if cfg.token_secret:
        return cfg.token_secret.encode()
    master = cfg.master_key
    if not master and cfg.master_key_secret_arn:
        from offerhub.adapters.aws.secrets import get_secret_string

        master = get_secret_string(cfg.master_key_secret_arn)
    if not master:
        raise ServiceUnavailable("short-lived tokens need OFFERHUB_TOKEN_SECRET or a master key")
    return hmac.new(master.encode(), _SECRET_LABEL, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _json(part: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, TypeError):  # not base64, not UTF-8, not JSON
        return None


def _iso(unix_seconds: int) -> str | None:
    return iso(datetime.fromtimestamp(unix_seconds, UTC))
