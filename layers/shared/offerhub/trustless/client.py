"""Trustless Work v1 REST client (httpx).

Every write returns an unsigned transaction (XDR) that the caller signs with the right role's key and
hands back to `send_transaction`. Calls time out, are retried with exponential backoff on 429 / 5xx /
connection errors (honouring Retry-After), and failures surface as 502 (`TRUSTLESS_WORK_ERROR`,
`TRUSTLESS_WORK_UNAVAILABLE`) or 504 (`TRUSTLESS_WORK_TIMEOUT`) with the provider's code in details.
Retrying send-transaction is safe: the same signed envelope has the same hash and lands at most once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import httpx

from offerhub.adapters.http_retry import RetryPolicy
from offerhub.config import settings
from offerhub.core.errors import ProviderError, ProviderTimeout
from offerhub.observability import traced
from offerhub.trustless import wire

ESCROW_TYPE = "single-release"
PATHS = {
    "deploy": f"/deployer/{ESCROW_TYPE}",
    **{action: f"/escrow/{ESCROW_TYPE}/{action}" for action in (
        "fund-escrow", "change-milestone-status", "approve-milestone", "release-funds", "dispute-escrow",
        "resolve-dispute")},
}


class TrustlessWork:
    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 30.0, attempts: int = 3,
                 backoff_seconds: float = 0.25, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None):
        headers = {"content-type": "application/json", "accept": "application/json"}
        if api_key:
            headers["x-api-key"] = api_key
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                  transport=transport)
        self._retry = RetryPolicy(attempts, backoff_seconds, sleep)

    def build(self, action: str, body: dict[str, Any]) -> str:
        """The unsigned transaction for one escrow action."""
        result = self._request("POST", PATHS[action], body)
        xdr = result.get("unsignedTransaction") if isinstance(result, dict) else None
        if not isinstance(xdr, str):
            raise ProviderError("Trustless Work returned no transaction to sign", code="TRUSTLESS_WORK_ERROR")
        return xdr

    def send_transaction(self, signed_xdr: str) -> dict[str, Any]:
        result = self._request("POST", "/helper/send-transaction", {"signedXdr": signed_xdr})
        if not isinstance(result, dict) or result.get("status") not in ("SUCCESS", None):
            raise ProviderError("Trustless Work did not confirm the transaction", code="TRUSTLESS_WORK_ERROR",
                                details={"providerResponse": str(result)[:500]})
        return result

    def escrow(self, contract_id: str) -> dict[str, Any] | None:
        result = self._request("GET", "/helper/get-escrow-by-contract-ids", params={"contractIds[]": contract_id})
        found = result[0] if isinstance(result, list) and result else None
        return found if isinstance(found, dict) else None

    def find_contract(self, deployer: str, engagement_id: str) -> str | None:
        """The contract a deployer created for an engagement (when the deploy answer was lost)."""
        result = self._request("GET", "/helper/get-escrows-by-signer", params={"signer": deployer})
        if isinstance(result, dict):  # some versions page the list under `data`
            result = result.get("data")
        rows = result if isinstance(result, list) else []
        found = [r.get("contractId") for r in rows if isinstance(r, dict) and r.get("engagementId") == engagement_id]
        return found[0] if found else None

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None,
                 params: dict[str, str] | None = None) -> Any:
        content = wire.dumps(body) if body is not None else None
        with traced("trustless_work", provider=True):
            try:
                response = self._retry.send(self._http, method, path, content=content, params=params)
            except httpx.HTTPError as exc:
                raise self._transport_error(exc, path) from exc
            return self._parse(response, path)

    @staticmethod
    def _transport_error(exc: httpx.HTTPError, path: str) -> ProviderError | ProviderTimeout:
        if isinstance(exc, httpx.TimeoutException):
            return ProviderTimeout("Trustless Work did not answer in time", code="TRUSTLESS_WORK_TIMEOUT",
                                   details={"path": path})
        return ProviderError("Trustless Work is unreachable", code="TRUSTLESS_WORK_UNAVAILABLE", details={"path": path})

    @staticmethod
    def _parse(response: httpx.Response, path: str) -> Any:
        try:
            body = wire.loads(response.content) if response.content else None
        except ValueError:
            body = None
        if response.is_success:
            return body
        body = body if isinstance(body, dict) else {}
        # Problem Details (current) carry `code`; the legacy shapes only a message.
        provider_code = body.get("code") or body.get("error") or "UNKNOWN"
        details = {"path": path, "providerStatus": response.status_code, "providerCode": str(provider_code),
                   "providerMessage": str(body.get("detail") or body.get("message") or "")[:500]}
        if isinstance(body.get("extensions"), dict) and body["extensions"]:
            details["providerExtensions"] = body["extensions"]
        if response.status_code >= 500 or response.status_code == 429:
            raise ProviderError("Trustless Work is unavailable", code="TRUSTLESS_WORK_UNAVAILABLE", details=details)
        raise ProviderError("Trustless Work refused the request", code="TRUSTLESS_WORK_ERROR", details=details)


def trustless_work() -> TrustlessWork:
    """The client for the current API key. The key is re-read on each call (a secret through Secrets Manager's
    five-minute cache), so a key set or rotated after deploy reaches warm containers; the client and its
    connection pool are kept while the key stays the same."""
    s = settings()
    key = s.trustless_api_key
    if key is None and s.trustless_api_key_secret_arn:
        from offerhub.adapters.aws.secrets import get_secret_string

        key = get_secret_string(s.trustless_api_key_secret_arn)
    return _client(s.trustless_api_url, key, s.trustless_timeout_seconds)


@lru_cache(maxsize=2)
def _client(url: str, key: str | None, timeout: float) -> TrustlessWork:
    return TrustlessWork(url, key, timeout=timeout)
