"""The sandbox rails: one simulated Stellar network served as Horizon (`/horizon`) and Trustless Work
(`/trustless`), plus a control API (`/control`) for the test helpers (mint USDC, inject faults).

State (the chain, the escrow contracts and the sandbox's own keys) lives in one SQLite file, so it
survives a restart of `make run`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from local.sandbox.chain import STROOPS, Chain
from local.sandbox.faults import MODES, TARGETS, Faults
from local.sandbox.horizon import create_horizon, sign_and_apply
from local.sandbox.trustless import EscrowContracts, create_trustless

PASSPHRASE = "Test SDF Network ; September 2015"  # the sandbox plays testnet
USDC = "USDC"
KEY_NAMES = ("friendbot", "usdc_issuer", "trustless_fees")


class SandboxRails:
    def __init__(self, state_file: Path | str, *, fault_timeout_seconds: float = 35.0):
        from stellar_sdk import Keypair

        self.chain = Chain(state_file)
        db = self.chain.db
        db.execute("CREATE TABLE IF NOT EXISTS sandbox_keys (name TEXT PRIMARY KEY, secret TEXT NOT NULL)")
        for name in KEY_NAMES:
            db.execute("INSERT OR IGNORE INTO sandbox_keys VALUES (?, ?)", (name, Keypair.random().secret))
        self.keys = {r["name"]: Keypair.from_secret(r["secret"])
                     for r in db.execute("SELECT name, secret FROM sandbox_keys").fetchall()}
        self.asset = (USDC, self.keys["usdc_issuer"].public_key)
        for name in ("usdc_issuer", "trustless_fees"):
            self.chain.create_root(self.keys[name].public_key, 10_000 * STROOPS)
        fees = self.keys["trustless_fees"].public_key
        if self.chain.balance(fees, self.asset) is None:
            db.execute("INSERT INTO balances VALUES (?, ?, ?, 0)", (fees, *self.asset))
        self.faults = Faults(fault_timeout_seconds)
        self.contracts = EscrowContracts(self.chain, passphrase=PASSPHRASE, asset=self.asset, fee_collector=fees)

    @property
    def usdc_issuer(self) -> str:
        return self.asset[1]

    def mint(self, destination: str, amount: str) -> dict[str, Any]:
        """A real USDC payment from the issuer, signed and applied like any other transaction."""
        from stellar_sdk import Asset

        issuer = self.keys["usdc_issuer"]
        status, body = sign_and_apply(self.chain, issuer, PASSPHRASE, lambda b: b.append_payment_op(
            destination, Asset(USDC, issuer.public_key), amount))
        return {"status": status, **body}

    def app(self) -> Starlette:
        async def before_horizon_submit() -> Response | None:
            mode = self.faults.take("horizon-submit")
            if mode == "timeout":
                await self.faults.hold()
            return self.faults.error_response(500) if mode else None

        horizon = create_horizon(self.chain, passphrase=PASSPHRASE, friendbot_secret=self.keys["friendbot"].secret,
                                 resolve_invoke=self.contracts.resolve_invoke, before_submit=before_horizon_submit)
        trustless = create_trustless(self.contracts, self.faults)

        async def faults(request: Request) -> JSONResponse:
            if request.method == "GET":
                return JSONResponse(self.faults.armed())
            body = await _json(request)
            target, mode, count = body.get("target"), body.get("mode", "error"), body.get("count", 1)
            if target not in TARGETS or mode not in MODES or not isinstance(count, int) or not 0 <= count <= 100:
                return JSONResponse({"error": "target, mode or count is invalid", "targets": sorted(TARGETS),
                                     "modes": sorted(MODES)}, status_code=400)
            self.faults.arm(target, mode, count)
            return JSONResponse({"target": target, "mode": mode, "count": count})

        async def mint(request: Request) -> JSONResponse:
            body = await _json(request)
            result = self.mint(str(body.get("destination", "")), str(body.get("amount", "")))
            return JSONResponse(result, status_code=200 if result["status"] == 200 else 400)

        async def info(request: Request) -> JSONResponse:
            return JSONResponse({"passphrase": PASSPHRASE, "usdcIssuer": self.usdc_issuer})

        return Starlette(routes=[
            Mount("/horizon", horizon), Mount("/trustless", trustless),
            Route("/control/faults", faults, methods=["GET", "POST"]), Route("/control/mint", mint, methods=["POST"]),
            Route("/control", info),
        ])

    def environment(self, base_url: str) -> dict[str, str]:
        """What the orchestrator needs to use these rails instead of testnet."""
        return {
            "STELLAR_NETWORK": "testnet",
            "HORIZON_URL": f"{base_url}/horizon",
            "FRIENDBOT_URL": f"{base_url}/horizon/friendbot",
            "USDC_ISSUER": self.usdc_issuer,
            "TRUSTLESS_API_URL": f"{base_url}/trustless",
            "TRUSTLESS_API_KEY": "sandbox.key",
            "SANDBOX_CONTROL_URL": f"{base_url}/control",
        }


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_in_thread(app: Starlette, port: int) -> Any:
    """Run the rails with uvicorn on a daemon thread; returns the server (set should_exit to stop)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True, name="sandbox-rails")
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the sandbox rails did not start")
        time.sleep(0.01)
    return server
