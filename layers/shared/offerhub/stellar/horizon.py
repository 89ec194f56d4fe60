"""The Horizon adapter. Everything that talks to the Stellar network goes through here (stellar-sdk,
imported lazily: only functions that touch the chain pay for it).

Amounts come back exactly as the chain has them (7 decimals); `offerhub.stellar.amounts` relates them
to the product's cents.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

import httpx

from offerhub.config import StellarSettings, settings
from offerhub.core.errors import ProviderError, ProviderTimeout
from offerhub.observability import traced

USDC = "USDC"
BASE_FEE = 100
TX_TIMEOUT_SECONDS = 60
PAGE_LIMIT = 200


class Horizon:
    def __init__(self, net: StellarSettings):
        from stellar_sdk import Asset, Server

        self.net = net
        self.server = Server(net.horizon_url)
        self.usdc = Asset(USDC, net.usdc_issuer)
        self._http = httpx.Client(timeout=30)  # one pool (and one TLS context) per container

    # --- reads ---------------------------------------------------------------------------------------
    def account(self, public_key: str) -> dict[str, Any] | None:
        from stellar_sdk.exceptions import NotFoundError

        try:
            return self._call(lambda: self.server.accounts().account_id(public_key).call())
        except NotFoundError:
            return None

    def balances(self, public_key: str) -> dict[str, Decimal | None]:
        """{"usdc": Decimal | None (no trustline), "xlm": Decimal | None (no account)}."""
        found = self.account(public_key)
        if found is None:
            return {"usdc": None, "xlm": None}
        usdc = xlm = None
        for b in found["balances"]:
            if b["asset_type"] == "native":
                xlm = Decimal(b["balance"])
            elif b.get("asset_code") == USDC and b.get("asset_issuer") == self.net.usdc_issuer:
                usdc = Decimal(b["balance"])
        return {"usdc": usdc, "xlm": xlm}

    def trusts_usdc(self, account: dict[str, Any]) -> bool:
        """Whether an account record holds an authorised trustline to the configured USDC (it can receive)."""
        return any(b.get("asset_code") == USDC and b.get("asset_issuer") == self.net.usdc_issuer
                   and b.get("is_authorized", True) for b in account.get("balances", []))

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        from stellar_sdk.exceptions import NotFoundError

        try:
            return self._call(lambda: self.server.transactions().transaction(tx_hash).call())
        except NotFoundError:
            return None

    def payments_after(self, cursor: str, limit: int = PAGE_LIMIT) -> list[dict[str, Any]]:
        """All payment operations on the network after the cursor, oldest first (one scan for every wallet)."""
        page = self._call(lambda: self.server.payments().cursor(cursor).order(desc=False).limit(limit).call())
        return page["_embedded"]["records"]

    def account_payments_after(self, public_key: str, cursor: str | None, limit: int = PAGE_LIMIT
                               ) -> list[dict[str, Any]]:
        """One account's payment operations after the cursor (from its first one when None), oldest first."""
        from stellar_sdk.exceptions import NotFoundError

        builder = self.server.payments().for_account(public_key).order(desc=False).limit(limit)
        if cursor:
            builder = builder.cursor(cursor)
        try:
            page = self._call(builder.call)
        except NotFoundError:  # not funded yet: nothing to read
            return []
        return page["_embedded"]["records"]

    def recent_account_payments(self, public_key: str, limit: int) -> list[dict[str, Any]]:
        """One account's latest payment operations, newest first ([] for an account not funded yet)."""
        from stellar_sdk.exceptions import NotFoundError

        builder = self.server.payments().for_account(public_key).order(desc=True).limit(limit)
        try:
            page = self._call(builder.call)
        except NotFoundError:
            return []
        return page["_embedded"]["records"]

    def latest_cursor(self) -> str:
        page = self._call(lambda: self.server.payments().order(desc=True).limit(1).call())
        records = page["_embedded"]["records"]
        return records[0]["paging_token"] if records else "0"

    # --- writes --------------------------------------------------------------------------------------
    def activate(self, secret: str) -> None:
        """Make a new wallet usable: the account exists (friendbot on testnet) and trusts USDC.
        Each part is skipped when already done, so a retry after a failure finishes the job."""
        from stellar_sdk import Keypair

        keypair = Keypair.from_secret(secret)
        found = self.account(keypair.public_key)
        if found is None:
            if not self.net.friendbot_url:
                raise ProviderError("the wallet account is not funded yet (no friendbot on this network)",
                                    code="WALLET_NOT_FUNDED")
            self._friendbot(keypair.public_key)  # a brand-new account trusts nothing yet
        trusts = found is not None and any(
            b.get("asset_code") == USDC and b.get("asset_issuer") == self.net.usdc_issuer for b in found["balances"])
        if not trusts:
            self.submit(secret, lambda b: b.append_change_trust_op(asset=self.usdc))

    def submit(self, secret: str, build: Any) -> dict[str, Any]:
        from stellar_sdk import Keypair, TransactionBuilder

        keypair = Keypair.from_secret(secret)
        account = self._call(lambda: self.server.load_account(keypair.public_key))
        builder = TransactionBuilder(account, self.net.passphrase, base_fee=BASE_FEE)
        tx = build(builder).set_timeout(TX_TIMEOUT_SECONDS).build()
        tx.sign(keypair)
        return self._call(lambda: self.server.submit_transaction(tx))

    def build_usdc_payment(self, secret: str, destination: str, amount: Decimal, memo_type: str | None,
                           memo: str | None) -> tuple[str, str]:
        """A signed USDC payment from the secret's account, not sent: (envelope XDR, hash hex). The caller
        records both before sending, so a retry can resend this very envelope (which cannot land twice)."""
        from stellar_sdk import Keypair, TransactionBuilder
        from stellar_sdk.exceptions import NotFoundError

        keypair = Keypair.from_secret(secret)
        try:
            account = self._call(lambda: self.server.load_account(keypair.public_key))
        except NotFoundError as exc:
            raise ProviderError("the wallet account does not exist on the network", code="WALLET_NOT_FUNDED",
                                details={"publicKey": keypair.public_key}) from exc
        builder = TransactionBuilder(account, self.net.passphrase, base_fee=BASE_FEE)
        builder.append_payment_op(destination=destination, asset=self.usdc, amount=usdc_amount(amount))
        if memo_type == "text" and memo is not None:
            builder.add_text_memo(memo)
        elif memo_type == "id" and memo is not None:
            builder.add_id_memo(int(memo))
        elif memo_type is not None or memo is not None:
            raise ValueError(f"unknown memo type {memo_type!r}")
        tx = builder.set_timeout(TX_TIMEOUT_SECONDS).build()
        tx.sign(keypair)
        return tx.to_xdr(), tx.hash_hex()

    def submit_envelope(self, xdr: str) -> dict[str, Any]:
        """Send an already-signed envelope (again, when resuming: the network applies one hash at most once).
        SEP-29's memo-required check is skipped here: it is done when the destination is accepted, where a
        refusal is a clear 422 rather than an unmapped error after the money was committed."""
        return self._call(lambda: self.server.submit_transaction(xdr, skip_memo_required_check=True))

    def _friendbot(self, public_key: str) -> None:
        with traced("friendbot", provider=True):
            self._fund(public_key)

    def _fund(self, public_key: str) -> None:
        try:
            response = self._http.get(str(self.net.friendbot_url), params={"addr": public_key})
        except httpx.TimeoutException as exc:
            raise ProviderTimeout("friendbot did not answer in time", code="STELLAR_TIMEOUT") from exc
        except httpx.HTTPError as exc:
            raise ProviderError("friendbot is unreachable", code="STELLAR_UNAVAILABLE") from exc
        if response.status_code >= 400:
            raise ProviderError("friendbot refused to fund the wallet", code="STELLAR_ERROR",
                                details={"status": response.status_code})

    @staticmethod
    def _call(fn: Any) -> Any:
        """stellar-sdk exceptions → our 502/504 errors (NotFoundError passes through to the caller). One
        `## horizon` subsegment per call; a mapped failure counts as a ProviderError."""
        from stellar_sdk import exceptions as sx

        with traced("horizon", provider=True):
            return Horizon._mapped(fn, sx)

    @staticmethod
    def _mapped(fn: Any, sx: Any) -> Any:
        try:
            return fn()
        except sx.NotFoundError:
            raise
        except sx.BadRequestError as exc:
            codes = (exc.extras or {}).get("result_codes") if isinstance(exc.extras, dict) else None
            raise ProviderError("the Stellar network refused the request", code="STELLAR_ERROR",
                                details={"status": exc.status, "resultCodes": codes}) from exc
        except sx.BadResponseError as exc:
            raise ProviderError("the Stellar network failed", code="STELLAR_UNAVAILABLE",
                                details={"status": exc.status}) from exc
        except sx.ConnectionError as exc:
            if "timed out" in str(exc).lower() or "timeout" in str(exc).lower():
                raise ProviderTimeout("Horizon did not answer in time", code="STELLAR_TIMEOUT") from exc
            raise ProviderError("Horizon is unreachable", code="STELLAR_UNAVAILABLE") from exc


def usdc_amount(amount: Decimal) -> str:
    """A USDC amount as the network takes it: a decimal string with 7 places, exact (never a float)."""
    text = f"{amount:.7f}"
    if amount <= 0 or Decimal(text) != amount:
        raise ValueError(f"{amount} is not a positive amount of at most 7 decimals")
    return text


def requires_memo(account: dict[str, Any]) -> bool:
    """SEP-29: the account (an exchange, a custodian) says payments to it must carry a memo."""
    return (account.get("data") or {}).get("config.memo_required") == "MQ=="  # base64 of "1"


@cache
def horizon() -> Horizon:
    return Horizon(settings().stellar)
