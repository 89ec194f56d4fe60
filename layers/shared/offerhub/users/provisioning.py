"""The hook where a payment mode attaches its rail account to a new user.

crypto mode creates an invisible Stellar wallet (KMS-sealed secret) and queues its activation on chain
(wallets/activation.py: sign-up never waits for the chain); airtm mode links the user's Airtm
account when an email is given. It runs after the user row is committed, so a slow or failing rail never loses
the user; it must be idempotent because a retried POST /users calls it again for the existing user.
"""

from __future__ import annotations

from typing import Any, Protocol

from offerhub.config import settings
from offerhub.core.context import RequestContext


class AccountProvisioner(Protocol):
    def provision(self, user: dict[str, Any]) -> bool:
        """Attach the rail account; True when the user's public view changed."""


def provisioner_for_mode(ctx: RequestContext) -> AccountProvisioner:
    if settings().payment_provider == "crypto":
        from offerhub.wallets.service import CryptoWalletProvisioner

        return CryptoWalletProvisioner(ctx)
    from offerhub.users.airtm_link import AirtmLinkProvisioner

    return AirtmLinkProvisioner(ctx)
