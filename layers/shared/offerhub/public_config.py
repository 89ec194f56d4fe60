"""GET /config: what an integrator's client may ask of this deployment (upstream's shape, §4.1).

Upstream answered it without a key and advertised limits it never enforced. Here it needs a key like every
route but /health, and each limit shown is the one the create use cases check (offerhub.limits).
"""

from __future__ import annotations

from typing import Any

from offerhub import __version__, limits, modes
from offerhub.config import settings
from offerhub.core.money import CURRENCY


def public_config() -> dict[str, Any]:
    crypto = modes.current() == modes.CRYPTO
    net = settings().stellar
    return {
        "currencies": [CURRENCY],
        "limits": limits.public(),
        "features": {
            "milestones": True, "disputes": True, "disputeAssignment": True, "sse": False, "eventReplay": True,
            "shortLivedTokens": True, "topups": not crypto, "withdrawals": True, "airtm": not crypto,
            "trustlessWork": crypto, "stellarWallets": crypto,
        },
        "providers": {
            "paymentProvider": modes.current(),
            "fiat": None if crypto else "airtm",
            "escrow": "trustless_work" if crypto else "ledger",
            "wallet": "stellar" if crypto else None,
        },
        "stellar": {"network": net.network, "usdcIssuer": net.usdc_issuer} if crypto else None,
        "version": __version__,
    }
