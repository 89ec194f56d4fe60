"""A wallet's keys: generated here, the secret sealed at once (KMS envelope under the container's shared wallet
data key, the wallet and its owner bound as the associated data; wallets from before migration 0009 have a data key
each, bound to them by KMS too) and opened only to sign. The secret never reaches a log, an audit row, an event or a
response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offerhub.adapters.aws.kms import KmsEnvelope
from offerhub.config import settings
from offerhub.core.ids import new_id


@dataclass(frozen=True)
class Signer:
    """A wallet able to sign: its public key, and its secret for the time of one operation."""

    wallet_id: str
    public_key: str
    secret: str = ""

    def __repr__(self) -> str:  # the secret must never reach a log line
        return f"Signer({self.wallet_id}, {self.public_key})"


def _sealer() -> KmsEnvelope:
    return KmsEnvelope.configured(settings().wallet_kms_key_id, purpose="wallet", setting="WALLET_KMS_KEY_ID",
                                  not_configured_code="WALLET_ENCRYPTION_UNAVAILABLE",
                                  unavailable_code="WALLET_KEY_UNAVAILABLE")


def _context(wallet_id: str, owner: str) -> dict[str, str]:
    return {"walletId": wallet_id, "owner": owner}


def new_wallet(kind: str, user_id: str | None) -> tuple[dict[str, Any], str]:
    """A wallet row with its secret sealed, and the secret itself (kept only to activate the wallet)."""
    from stellar_sdk import Keypair

    keypair = Keypair.random()
    wallet_id = new_id("wal")
    # Under the container's shared wallet data key: KMS is asked about once per 5 minutes, not per sign-up.
    wrapped, sealed = _sealer().seal_shared(keypair.secret.encode(), _context(wallet_id, user_id or "platform"))
    return {"id": wallet_id, "user_id": user_id, "kind": kind, "public_key": keypair.public_key,
            "sealed_secret": sealed, "sealed_key": wrapped, "sealed_key_shared": True}, keypair.secret


def open_signer(row: dict[str, Any]) -> Signer:
    secret = _sealer().open(bytes(row["sealed_key"]), bytes(row["sealed_secret"]),
                            _context(row["id"], row["user_id"] or "platform"), shared=row["sealed_key_shared"])
    return Signer(row["id"], row["public_key"], secret.decode())
