"""The hook where a payment mode attaches its rail account to a new user.

Three steps around the transaction that creates the user:
- `stage(user_id)` before it, for work that must not hold a transaction open (crypto: the wallet's keys, sealed);
- `attach(uow, user, staged)` inside it, for a new user only (crypto: the wallet row, its event and audit row, so
  user and wallet commit together: one transaction per sign-up);
- `provision(user)` after the commit, for a new user and a retried POST /users alike, so it must be idempotent
  (crypto: queue the wallet's activation on chain, or create the wallet a user from before lacks; airtm: link the
  user's Airtm account when an email is given). A slow or failing rail here never loses the user.
"""

from __future__ import annotations

from typing import Any

from offerhub.adapters.postgres.unit_of_work import UnitOfWork
from offerhub.config import settings
from offerhub.core.context import RequestContext


class AccountProvisioner:
    def stage(self, user_id: str) -> Any:
        """Before the user's transaction; what `attach` gets."""
        return None

    def attach(self, uow: UnitOfWork, user: dict[str, Any], staged: Any) -> None:
        """In the transaction that creates the user."""

    def provision(self, user: dict[str, Any]) -> bool:
        """After the commit (again on a retried POST /users); True when the user's public view changed."""
        raise NotImplementedError


def provisioner_for_mode(ctx: RequestContext) -> AccountProvisioner:
    if settings().payment_provider == "crypto":
        from offerhub.wallets.service import CryptoWalletProvisioner

        return CryptoWalletProvisioner(ctx)
    from offerhub.users.airtm_link import AirtmLinkProvisioner

    return AirtmLinkProvisioner(ctx)
