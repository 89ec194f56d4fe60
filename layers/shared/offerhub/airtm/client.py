"""Airtm Enterprise API v2 client (httpx), reference/providers.md §B.

HTTP Basic auth (api key : secret) on every call. Calls time out and are retried with exponential backoff
on 429 / 500 / 502 / 503 / 504 and transport errors, honouring a numeric Retry-After (capped at 10 s).

Retrying a create (POST /payins, POST /payouts) is safe because every create carries our unique `code`:
if the first attempt landed but its answer was lost, the retry is refused with "code exists" (415029 /
415056) and we return the existing operation fetched by code, so one call never makes two payins or
payouts. A cancel whose answer was lost meets "cannot cancel" on retry; if the operation is in fact
canceled, that is returned as success.

Failures map to offerhub.core.errors: the caller's fault (unknown recipient, below minimum, ...) is 422,
a state conflict is 409, everything else (our bug, our credentials, Airtm down) is 502 and a timeout 504.
Details always carry the path, Airtm's HTTP status, its reason code and its message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import httpx

from offerhub.adapters.http_retry import RetryPolicy
from offerhub.airtm import wire
from offerhub.config import settings
from offerhub.core.errors import (
    BusinessRuleViolation,
    Conflict,
    OfferHubError,
    ProviderError,
    ProviderTimeout,
    ServiceUnavailable,
)
from offerhub.observability import traced

MESSAGE_MAX_CHARS = 500

# Reason codes (§B.5) that the code paths below act on.
PAYIN_CODE_EXISTS = "415029"
PAYOUT_CODE_EXISTS = "415056"
ITEM_NOT_FOUND = "415902"
PAYIN_NOT_FOUND = frozenset({"415031", ITEM_NOT_FOUND})
PAYOUT_NOT_FOUND = frozenset({"415005", ITEM_NOT_FOUND})
USER_NOT_FOUND = frozenset({ITEM_NOT_FOUND, "415059"})


class ProviderRefused(BusinessRuleViolation):
    """Airtm refused for a reason the caller can fix (recipient, amount): 422."""

    code = "PROVIDER_REFUSED"


class ProviderStateConflict(Conflict):
    """The payin/payout is no longer in a state that allows the operation: 409."""

    code = "PROVIDER_STATE_CONFLICT"


# 4xx reason code → (error class, public code, message). Anything not listed is a 502 PROVIDER_ERROR.
REFUSALS: dict[str, tuple[type[OfferHubError], str, str]] = {
    "415059": (ProviderRefused, "AIRTM_USER_INVALID", "The Airtm user does not exist"),
    "415060": (ProviderRefused, "AIRTM_USER_INVALID", "The Airtm user cannot receive payments"),
    "415061": (ProviderRefused, "AIRTM_USER_INVALID", "The Airtm user is in a restricted territory"),
    "415053": (ProviderRefused, "AIRTM_USER_INVALID", "Airtm users in the US cannot make payins"),
    "415034": (ProviderRefused, "AIRTM_USER_INVALID", "The Airtm user's balance is too low"),
    "415058": (ProviderRefused, "AMOUNT_BELOW_MINIMUM", "The amount is below Airtm's minimum"),
    "415030": (ProviderStateConflict, "PROVIDER_STATE_CONFLICT", "The Airtm payin can no longer be confirmed or "
                                                                 "canceled"),
    "415032": (ProviderStateConflict, "PROVIDER_STATE_CONFLICT", "The Airtm payin is already completed"),
    "415027": (ProviderStateConflict, "PROVIDER_STATE_CONFLICT", "The Airtm payout is already processed"),
    "415055": (ProviderStateConflict, "PROVIDER_STATE_CONFLICT", "The Airtm payout is no longer pending"),
    "415016": (ProviderError, "PROVIDER_INSUFFICIENT_BALANCE", "The enterprise Airtm balance is too low for "
                                                               "this payout"),
    "415901": (ProviderError, "PROVIDER_ERROR", "Airtm rejected the request as invalid"),
    "415906": (ProviderError, "PROVIDER_ERROR", "Airtm rejected the request as invalid"),
    "415904": (ProviderError, "PROVIDER_ERROR", "Airtm rejected our credentials"),
    "415905": (ProviderError, "PROVIDER_ERROR", "Airtm denied our credentials the permission"),
}
_NOT_FOUND = object()  # what _request returns for an accepted "not found"


class Airtm:
    def __init__(self, base_url: str, api_key: str, api_secret: str, *, timeout: float = 15.0, attempts: int = 3,
                 backoff_seconds: float = 0.25, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None):
        self._http = httpx.Client(base_url=base_url.rstrip("/"), auth=httpx.BasicAuth(api_key, api_secret),
                                  headers={"content-type": "application/json", "accept": "application/json"},
                                  timeout=timeout, transport=transport)
        self._retry = RetryPolicy(attempts, backoff_seconds, sleep)

    # Payins (top-ups: a user pays the enterprise account)

    def create_payin(self, *, code: str, amount: Decimal, description: str, confirmation_uri: str,
                     cancel_uri: str) -> dict[str, Any]:
        """A CREATED payin; an existing one with the same code is returned instead of a second one."""
        body = wire.payin_body(code, amount, description, confirmation_uri, cancel_uri)
        try:
            return self._object(self._request("POST", "/payins", body), "/payins")
        except ProviderError as exc:
            if exc.details.get("reasonCode") != PAYIN_CODE_EXISTS:
                raise
        return self._existing(self.payin_by_code(code), f"/payins/by-code/{_seg(code)}")

    def payin(self, payin_id: str) -> dict[str, Any]:
        path = f"/payins/{_seg(payin_id)}"
        return self._object(self._request("GET", path), path)

    def payin_by_code(self, code: str) -> dict[str, Any] | None:
        path = f"/payins/by-code/{_seg(code)}"
        return self._object_or_none(self._request("GET", path, absent=PAYIN_NOT_FOUND), path)

    def cancel_payin(self, payin_id: str) -> dict[str, Any]:
        path = f"/payins/{_seg(payin_id)}"
        try:
            return self._object(self._request("DELETE", path), path)
        except ProviderStateConflict:
            current = self.payin(payin_id)
            if str(current.get("status", "")).upper() != "CANCELED":
                raise
            return current

    # Payouts (withdrawals: the enterprise pays a user's Airtm account)

    def create_payout(self, *, code: str, email: str, amount: Decimal, notes: str, commit: bool) -> dict[str, Any]:
        """A payout (committed too when `commit`); an existing one with the same code is returned instead."""
        body = wire.payout_body(code, email, amount, notes, commit)
        try:
            return self._object(self._request("POST", "/payouts", body), "/payouts")
        except ProviderError as exc:
            if exc.details.get("reasonCode") != PAYOUT_CODE_EXISTS:
                raise
        return self._existing(self.payout_by_code(code), f"/payouts/by-code/{_seg(code)}")

    def commit_payout(self, payout_id: str) -> None:
        """Airtm answers with an empty 2xx (the spec says 204, its text 201); read the payout for its state."""
        self._request("POST", f"/payouts/{_seg(payout_id)}/commit")

    def payout(self, payout_id: str) -> dict[str, Any]:
        path = f"/payouts/{_seg(payout_id)}"
        return self._object(self._request("GET", path), path)

    def payout_by_code(self, code: str) -> dict[str, Any] | None:
        path = f"/payouts/by-code/{_seg(code)}"
        return self._object_or_none(self._request("GET", path, absent=PAYOUT_NOT_FOUND), path)

    def cancel_payout(self, payout_id: str) -> dict[str, Any]:
        path = f"/payouts/{_seg(payout_id)}"
        try:
            return self._object(self._request("DELETE", path), path)
        except ProviderStateConflict:
            current = self.payout(payout_id)
            if str(current.get("status", "")).upper() != "CANCELED":
                raise
            return current

    # Users and the enterprise account

    def user(self, email: str) -> dict[str, Any] | None:
        """The Airtm user behind an email, or None when there is none (so a payout would be refused)."""
        path = f"/users/{_seg(email)}"
        return self._object_or_none(self._request("GET", path, absent=USER_NOT_FOUND), path)

    def balance(self) -> dict[str, Decimal]:
        """The enterprise account's USD balance: what payouts can draw on now, and what is still settling."""
        path = "/me/balance"
        result = self._object(self._request("GET", path), path)
        try:
            return {name: _decimal(result[name]) for name in ("available", "pending")}
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise ProviderError("Airtm returned an unreadable balance", details=_details(path)) from exc

    # HTTP

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                 absent: frozenset[str] | None = None) -> Any:
        """The parsed 2xx body; `_NOT_FOUND` for a 404 or an `absent` reason when `absent` is given."""
        content = wire.dumps(body) if body is not None else None
        with traced("airtm", provider=True):
            try:
                response = self._retry.send(self._http, method, path, content=content)
            except httpx.HTTPError as exc:
                raise _transport_error(exc, path) from exc
            return _parse(response, path, absent)

    @staticmethod
    def _object(result: Any, path: str) -> dict[str, Any]:
        if not isinstance(result, dict):
            raise ProviderError("Airtm returned an unexpected response", details=_details(path))
        return result

    @classmethod
    def _object_or_none(cls, result: Any, path: str) -> dict[str, Any] | None:
        return None if result is _NOT_FOUND else cls._object(result, path)

    @staticmethod
    def _existing(found: dict[str, Any] | None, path: str) -> dict[str, Any]:
        if found is None:  # "code exists" yet nothing under that code: Airtm contradicts itself
            raise ProviderError("Airtm reported the code as used but has nothing under it", details=_details(path))
        return found


def _seg(value: str) -> str:
    """One URL path segment: ids, codes and emails never break out of their segment ('/', '+', '@', ...)."""
    return quote(value, safe="")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | str):
        raise TypeError(f"not an amount: {value!r}")
    return Decimal(value)


def _details(path: str, status: int | None = None, reason: str | None = None, message: str = "") -> dict[str, Any]:
    return {"path": path, "providerStatus": status, "reasonCode": reason,
            "providerMessage": message[:MESSAGE_MAX_CHARS]}


def _transport_error(exc: httpx.HTTPError, path: str) -> OfferHubError:
    details = _details(path, message=str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeout("Airtm did not answer in time", code="PROVIDER_TIMEOUT", details=details)
    return ProviderError("Airtm is unreachable", code="PROVIDER_ERROR", details=details)


def _parse(response: httpx.Response, path: str, absent: frozenset[str] | None) -> Any:
    try:
        body = wire.loads(response.content) if response.content else None
    except ValueError:
        body = None
    if response.is_success:
        return body
    body = body if isinstance(body, dict) else {}
    reason = None if body.get("code") is None else str(body["code"])
    status = response.status_code
    if absent is not None and (status == 404 or reason in absent):
        return _NOT_FOUND
    details = _details(path, status, reason, str(body.get("message") or ""))
    if status == 429:
        raise ProviderError("Airtm is rate limiting us", code="PROVIDER_RATE_LIMITED", details=details)
    if 400 <= status < 500 and reason in REFUSALS:
        error, code, message = REFUSALS[reason]
        raise error(message, code=code, details=details)
    if 400 <= status < 500:
        raise ProviderError("Airtm refused the request", code="PROVIDER_ERROR", details=details)
    raise ProviderError("Airtm is unavailable", code="PROVIDER_ERROR", details=details)


def airtm() -> Airtm:
    """The client for the current credentials (AIRTM_API_KEY/AIRTM_API_SECRET or the JSON secret, re-read on
    each call through Secrets Manager's five-minute cache, so a rotation reaches warm containers); the client
    and its connection pool are kept while the credentials stay the same."""
    s = settings()
    key, secret = s.airtm_api_key, s.airtm_api_secret
    if not (key and secret) and s.airtm_credentials_secret_arn:
        from offerhub.adapters.aws.secrets import get_secret_json

        credentials = get_secret_json(s.airtm_credentials_secret_arn)
        key, secret = credentials.get("apiKey"), credentials.get("apiSecret")
    if not (isinstance(key, str) and key and isinstance(secret, str) and secret):
        raise ServiceUnavailable("Airtm is not configured: set AIRTM_API_KEY and AIRTM_API_SECRET, or "
                                 "AIRTM_CREDENTIALS_SECRET_ARN (a JSON secret with apiKey and apiSecret)",
                                 code="PROVIDER_NOT_CONFIGURED")
    return _client(s.airtm_api_url, key, secret, s.airtm_timeout_seconds)


@lru_cache(maxsize=2)
def _client(url: str, key: str, secret: str, timeout: float) -> Airtm:
    return Airtm(url, key, secret, timeout=timeout)
