"""The hook where a payment mode attaches its rail account to a new user.

crypto mode will create an invisible Stellar wallet (KMS-sealed secret) here; airtm mode will link an
Airtm account. Both arrive in later issues; until then every mode provisions nothing.
It runs after the user row is committed, so a slow or failing rail never loses the user; it must be
idempotent because a retried POST /users calls it again for the existing user.
"""

from __future__ import annotations

from typing import Any, Protocol

from offerhub.config import settings


class AccountProvisioner(Protocol):
    def provision(self, user: dict[str, Any]) -> None: ...


class NoProvisioning:
    def provision(self, user: dict[str, Any]) -> None:
        return None


def provisioner_for_mode() -> AccountProvisioner:
    mode = settings().payment_provider
    # Wallet creation (crypto) and Airtm linking (airtm) plug in here.
    return {"crypto": NoProvisioning, "airtm": NoProvisioning}[mode]()
