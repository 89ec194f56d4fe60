"""The sandbox rails: one simulated Stellar network served as Horizon (`/horizon`) and Trustless Work
(`/trustless`), a sandbox Airtm Enterprise API v2 (`/airtm`), plus a control API (`/control`) for the test
helpers (mint USDC, make external Stellar accounts, play the Airtm payer and recipient, inject faults).

State (the chain, the escrow contracts and the sandbox's own keys) lives in one SQLite file, Airtm's in a
second one beside it (`<name>.airtm.sqlite`), so both survive a restart of `make run`.

Control routes:
- `GET /control` (passphrase, USDC issuer), `GET|POST /control/faults` (see faults.py),
  `POST /control/mint {"destination", "amount"}`
- `POST /control/stellar-accounts {"trustUsdc": bool}` → 201 `{"address"}`: a fresh account, funded with
  XLM by friendbot, with a USDC trustline when asked; `GET /control/stellar-accounts/{address}` →
  `{"address", "usdc", "xlm"}` (7-decimal strings; usdc null without a trustline; 404 for no account)
- `POST /control/airtm/payins/{id}/complete {"outcome": "confirmed"|"canceled"|"failed", "payerEmail"?}`
  (only a CREATED payin), `POST /control/airtm/payouts/{id}/complete {"outcome": "completed"|"failed"|
  "canceled"}` (only a PENDING payout): 200 with the object, 404 unknown, 409 wrong state
- `POST /control/airtm/webhooks {"url", "secret"?}` (url null: keep events in the outbox),
  `GET /control/airtm/webhooks` (url, events, delivery attempts), `GET /control/airtm/balance`
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from local.sandbox.airtm import AirtmError, AirtmSandbox
from local.sandbox.chain import STROOPS, Chain, from_stroops
from local.sandbox.faults import MODES, MODES_BY_TARGET, Faults, valid
from local.sandbox.horizon import create_horizon, sign_and_apply
from local.sandbox.trustless import EscrowContracts, create_trustless
from offerhub.core.decimal_json import dumps

PASSPHRASE = "Test SDF Network ; September 2015"  # the sandbox plays testnet
USDC = "USDC"
KEY_NAMES = ("friendbot", "usdc_issuer", "trustless_fees")
AIRTM_CREDENTIALS = ("airtm_api_key", "airtm_api_secret")
FRIENDBOT_ROOT_XLM = 10**11 * STROOPS  # what create_horizon gives friendbot's genesis account


class SandboxRails:
    def __init__(self, state_file: Path | str, *, fault_timeout_seconds: float = 35.0,
                 airtm_webhook_secret: str | None = None, airtm_initial_balance: str = "0.00",
                 airtm_rate_limit: int | None = 10):
        from stellar_sdk import Keypair

        self.chain = Chain(state_file)
        db = self.chain.db
        db.execute("CREATE TABLE IF NOT EXISTS sandbox_keys (name TEXT PRIMARY KEY, secret TEXT NOT NULL)")
        for name in KEY_NAMES:
            db.execute("INSERT OR IGNORE INTO sandbox_keys VALUES (?, ?)", (name, Keypair.random().secret))
        for name in AIRTM_CREDENTIALS:
            db.execute("INSERT OR IGNORE INTO sandbox_keys VALUES (?, ?)", (name, secrets.token_hex(16)))
        stored = {r["name"]: r["secret"] for r in db.execute("SELECT name, secret FROM sandbox_keys").fetchall()}
        self.keys = {name: Keypair.from_secret(stored[name]) for name in KEY_NAMES}
        self.asset = (USDC, self.keys["usdc_issuer"].public_key)
        for name in ("usdc_issuer", "trustless_fees"):
            self.chain.create_root(self.keys[name].public_key, 10_000 * STROOPS)
        fees = self.keys["trustless_fees"].public_key
        if self.chain.balance(fees, self.asset) is None:
            db.execute("INSERT INTO balances VALUES (?, ?, ?, 0)", (fees, *self.asset))
        self.faults = Faults(fault_timeout_seconds)
        self.contracts = EscrowContracts(self.chain, passphrase=PASSPHRASE, asset=self.asset, fee_collector=fees)
        self.airtm_api_key, self.airtm_api_secret = (stored[name] for name in AIRTM_CREDENTIALS)
        path = Path(state_file)
        self.airtm = AirtmSandbox(path.with_name(f"{path.stem}.airtm.sqlite"), api_key=self.airtm_api_key,
                                  api_secret=self.airtm_api_secret, faults=self.faults,
                                  initial_balance=airtm_initial_balance, webhook_secret=airtm_webhook_secret,
                                  rate_limit=airtm_rate_limit)

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

    def create_stellar_account(self, trust_usdc: bool = False) -> str:
        """A fresh external account: funded with XLM by friendbot, and trusting USDC if asked (a real
        ChangeTrust signed by the new account). Its secret is thrown away."""
        from stellar_sdk import Asset, Keypair

        account = Keypair.random()
        friendbot = self.keys["friendbot"]
        self.chain.create_root(friendbot.public_key, FRIENDBOT_ROOT_XLM)  # as create_horizon does
        status, body = sign_and_apply(self.chain, friendbot, PASSPHRASE,
                                      lambda b: b.append_create_account_op(account.public_key, "10000"))
        if status == 200 and trust_usdc:
            status, body = sign_and_apply(self.chain, account, PASSPHRASE,
                                          lambda b: b.append_change_trust_op(Asset(*self.asset)))
        if status != 200:
            raise RuntimeError(f"the sandbox could not create the account: {body}")
        return account.public_key

    def stellar_account(self, address: str) -> dict[str, Any] | None:
        """{address, usdc, xlm} as 7-decimal strings (usdc None without a trustline); None: no account."""
        found = self.chain.account(address)
        if found is None:
            return None
        usdc = self.chain.balance(address, self.asset)
        xlm = self.chain.balance(address, ("native", ""))
        return {"address": address, "usdc": None if usdc is None else from_stroops(usdc),
                "xlm": None if xlm is None else from_stroops(xlm)}

    def close(self) -> None:
        self.airtm.close()

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
            if not valid(target, mode) or isinstance(count, bool) or not isinstance(count, int) \
                    or not 0 <= count <= 100:
                return JSONResponse({"error": "target, mode or count is invalid",
                                     "targets": sorted(MODES_BY_TARGET), "modes": sorted(MODES),
                                     "modesByTarget": {t: sorted(m) for t, m in sorted(MODES_BY_TARGET.items())}},
                                    status_code=400)
            self.faults.arm(target, mode, count)
            return JSONResponse({"target": target, "mode": mode, "count": count})

        async def mint(request: Request) -> JSONResponse:
            body = await _json(request)
            result = self.mint(str(body.get("destination", "")), str(body.get("amount", "")))
            return JSONResponse(result, status_code=200 if result["status"] == 200 else 400)

        async def info(request: Request) -> JSONResponse:
            return JSONResponse({"passphrase": PASSPHRASE, "usdcIssuer": self.usdc_issuer})

        async def create_account(request: Request) -> JSONResponse:
            trust = (await _json(request)).get("trustUsdc", False)
            if not isinstance(trust, bool):
                return JSONResponse({"error": "trustUsdc must be a boolean"}, status_code=400)
            return JSONResponse({"address": self.create_stellar_account(trust)}, status_code=201)

        async def stellar_account(request: Request) -> JSONResponse:
            address = request.path_params["address"]
            found = self.stellar_account(address)
            if found is None:
                return JSONResponse({"address": address, "usdc": None, "xlm": None,
                                     "error": "no such account on the sandbox chain"}, status_code=404)
            return JSONResponse(found)

        def airtm_control(action: Any) -> Any:
            async def run(request: Request) -> Response:
                try:
                    result = action(request.path_params, await _json(request))
                except AirtmError as error:
                    return JSONResponse({"error": error.message, "code": error.code}, status_code=error.status)
                except ValueError as error:
                    return JSONResponse({"error": str(error)}, status_code=400)
                return Response(dumps(result), media_type="application/json")

            return run

        def complete_payin(params: dict[str, Any], body: dict[str, Any]) -> Any:
            payer = body.get("payerEmail")
            return self.airtm.complete_payin(params["id"], str(body.get("outcome")),
                                             None if payer is None else str(payer))

        def complete_payout(params: dict[str, Any], body: dict[str, Any]) -> Any:
            return self.airtm.complete_payout(params["id"], str(body.get("outcome")))

        async def airtm_webhooks(request: Request) -> JSONResponse:
            if request.method == "POST":
                body = await _json(request)
                url, secret = body.get("url"), body.get("secret")
                if not isinstance(url, str | None) or not isinstance(secret, str | None):
                    return JSONResponse({"error": "url and secret must be strings"}, status_code=400)
                try:
                    self.airtm.configure_webhooks(url, secret)
                except ValueError as error:
                    return JSONResponse({"error": str(error)}, status_code=400)
            airtm = self.airtm
            return JSONResponse({
                "url": airtm.webhook_url,
                "events": [{"svixId": m.svix_id, "type": m.type, "objectId": m.object_id} for m in airtm.events],
                "outbox": [m.svix_id for m in airtm.outbox], "dropped": [m.svix_id for m in airtm.dropped],
                "attempts": [{"svixId": i, "type": t, "status": s} for i, t, s in list(airtm.delivered)],
            })

        async def airtm_balance(request: Request) -> JSONResponse:
            return JSONResponse({k: f"{v:.2f}" for k, v in self.airtm.balance().items()})

        return Starlette(routes=[
            Mount("/horizon", horizon), Mount("/trustless", trustless), Mount("/airtm", self.airtm.app()),
            Route("/control/faults", faults, methods=["GET", "POST"]), Route("/control/mint", mint, methods=["POST"]),
            Route("/control/stellar-accounts", create_account, methods=["POST"]),
            Route("/control/stellar-accounts/{address}", stellar_account),
            Route("/control/airtm/payins/{id}/complete", airtm_control(complete_payin), methods=["POST"]),
            Route("/control/airtm/payouts/{id}/complete", airtm_control(complete_payout), methods=["POST"]),
            Route("/control/airtm/webhooks", airtm_webhooks, methods=["GET", "POST"]),
            Route("/control/airtm/balance", airtm_balance),
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
            "AIRTM_API_URL": f"{base_url}/airtm",
            "AIRTM_API_KEY": self.airtm_api_key,
            "AIRTM_API_SECRET": self.airtm_api_secret,
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
