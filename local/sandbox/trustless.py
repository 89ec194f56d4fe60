"""A Trustless Work-compatible v1 API over the simulated chain (single-release escrows).

Each write endpoint builds a real Stellar transaction (an InvokeHostFunction call on the escrow contract,
with the signer role's account as source) and remembers it by hash. `POST /helper/send-transaction`
accepts it only when that role signed it with the right sequence number, then runs the contract: it
checks the contract's rules again, moves USDC between the accounts and the contract, and takes Trustless
Work's 0.3% fee plus the platform fee on every payout. Rules and error codes follow the v1 contract
(reference/providers.md §A.6); errors use Trustless Work's Problem Details shape.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from local.sandbox.chain import Chain, OperationFailed, Payment, from_stroops, to_stroops
from local.sandbox.faults import Faults
from local.sandbox.horizon import process_envelope
from offerhub.trustless.wire import dumps, loads

TW_FEE_BPS = 30
MAX_MILESTONES = 50
ROLE_NAMES = ("approver", "serviceProvider", "platformAddress", "releaseSigner", "disputeResolver", "receiver")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tw_escrows (contract_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tw_pending (tx_hash TEXT PRIMARY KEY, action TEXT NOT NULL, contract_id TEXT NOT NULL,
    signer TEXT NOT NULL, payload TEXT NOT NULL);
"""

# Contract error → (HTTP status, message), as Trustless Work's Problem Details catalogue names them.
ERRORS: dict[str, tuple[int, str]] = {
    "ESCROW_NOT_FOUND": (404, "Escrow not found"),
    "VALIDATION_ERROR": (400, "The request is invalid"),
    "ESCROW_AMOUNT_CANNOT_BE_ZERO": (400, "Amount cannot be zero"),
    "ESCROW_NO_MILESTONE_DEFINED": (400, "Escrow must have at least one milestone"),
    "ESCROW_TOO_MANY_MILESTONES": (400, "Too many milestones"),
    "ESCROW_PLATFORM_FEE_TOO_HIGH": (400, "Platform fee too high"),
    "STELLAR_TRUSTLINE_MISSING": (422, "An address that receives funds has no trustline for the asset"),
    "STELLAR_ACCOUNT_NOT_FOUND": (422, "The signer account does not exist on the network"),
    "ESCROW_INSUFFICIENT_FUNDS_FOR_FUNDING": (422, "The signer does not hold enough of the asset"),
    "ESCROW_ONLY_SERVICE_PROVIDER_CHANGE_MILESTONE_STATUS": (403, "Only the service provider can change it"),
    "ESCROW_INVALID_MILESTONE_INDEX": (400, "Invalid milestone index"),
    "ESCROW_EMPTY_MILESTONE_STATUS": (400, "Milestone status cannot be empty"),
    "ESCROW_ONLY_APPROVER_CHANGE_MILESTONE_FLAG": (403, "Only the approver can approve milestones"),
    "ESCROW_MILESTONE_ALREADY_APPROVED": (409, "The milestone has already been approved"),
    "ESCROW_ALREADY_RELEASED": (409, "The escrow funds have been released"),
    "ESCROW_ALREADY_RESOLVED": (409, "The escrow has already been resolved"),
    "ESCROW_ONLY_RELEASE_SIGNER_CAN_RELEASE": (403, "Only the release signer can release the escrow funds"),
    "ESCROW_NOT_COMPLETED": (409, "The escrow must be completed to release earnings"),
    "ESCROW_OPENED_FOR_DISPUTE_RESOLUTION": (409, "The escrow is opened for dispute resolution"),
    "ESCROW_BALANCE_NOT_ENOUGH": (409, "The escrow balance is not enough to send the earnings"),
    "ESCROW_UNAUTHORIZED_TO_CHANGE_DISPUTE_FLAG": (403, "You are not authorized to change the dispute flag"),
    "ESCROW_DISPUTE_RESOLVER_CANNOT_DISPUTE": (403, "The dispute resolver cannot dispute the escrow"),
    "ESCROW_ALREADY_IN_DISPUTE": (409, "Escrow already in dispute"),
    "ESCROW_ONLY_DISPUTE_RESOLVER": (403, "Only the dispute resolver can execute this function"),
    "ESCROW_NOT_IN_DISPUTE": (409, "The escrow is not in dispute"),
    "ESCROW_TOO_MANY_DISTRIBUTIONS": (400, "Too many distributions"),
    "ESCROW_AMOUNTS_SHOULD_BE_POSITIVE": (400, "Amounts to be transferred should be positive"),
    "ESCROW_DISTRIBUTIONS_MUST_EQUAL_BALANCE": (400, "The distributions must equal the escrow balance"),
    "STELLAR_TX_FAILED": (400, "The transaction failed on the Stellar network"),
    "UNKNOWN_TRANSACTION": (400, "This transaction was not built by this API"),
}


class ContractError(Exception):
    def __init__(self, code: str, detail: str | None = None):
        super().__init__(code)
        self.code = code
        self.detail = detail


def problem(code: str, detail: str | None = None, extensions: dict[str, Any] | None = None,
            status: int | None = None) -> Response:
    http_status, title = ERRORS.get(code, (400, code))
    status = status or http_status
    body = {"type": f"https://docs.trustlesswork.com/errors/{code.lower().replace('_', '-')}", "title": title,
            "status": status, "code": code, "detail": detail or title, "extensions": extensions or {}}
    return Response(json.dumps(body), status_code=status, media_type="application/problem+json")


def ok(body: dict[str, Any], status: int = 200) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json")


def _stroops(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise ContractError("VALIDATION_ERROR", f"{field} must be a number")
    try:
        return to_stroops(str(value))
    except (InvalidOperation, OperationFailed):
        raise ContractError("VALIDATION_ERROR", f"{field} must be a number with at most 7 decimals") from None


def _human(stroops: int) -> Decimal:
    return Decimal(from_stroops(stroops)).normalize()


class EscrowContracts:
    """Contract state and rules. State lives in the chain's SQLite file, so it survives restarts, and
    every effect runs inside the chain's transaction: funds and escrow flags change together."""

    def __init__(self, chain: Chain, *, passphrase: str, asset: tuple[str, str], fee_collector: str):
        self.chain = chain
        self.passphrase = passphrase
        self.asset = asset
        self.fee_collector = fee_collector
        chain.db.executescript(_SCHEMA)

    # --- state -----------------------------------------------------------------------------------------
    def escrow(self, contract_id: str) -> dict[str, Any] | None:
        with self.chain.lock:
            row = self.chain.db.execute("SELECT data FROM tw_escrows WHERE contract_id = ?",
                                        (contract_id,)).fetchone()
        return None if row is None else json.loads(row["data"])

    def _save(self, escrow: dict[str, Any], *, new: bool = False) -> None:
        sql = ("INSERT INTO tw_escrows (data, contract_id) VALUES (?, ?)" if new
               else "UPDATE tw_escrows SET data = ? WHERE contract_id = ?")
        self.chain.db.execute(sql, (json.dumps(escrow), escrow["contractId"]))

    def public(self, escrow: dict[str, Any]) -> dict[str, Any]:
        balance = self.chain.balance(escrow["contractId"], self.asset) or 0
        return {**escrow, "amount": _human(escrow["amount"]), "platformFee": Decimal(escrow["platformFeeBps"]) / 100,
                "balance": _human(balance), "type": "single-release", "isActive": True}

    # --- rules (checked when a transaction is built, and again when it runs) -----------------------------
    def check(self, action: str, escrow: dict[str, Any] | None, signer: str, payload: dict[str, Any]) -> None:
        if action == "deploy":
            self._check_deploy(payload)
            return
        if escrow is None:
            raise ContractError("ESCROW_NOT_FOUND")
        roles, flags = escrow["roles"], escrow["flags"]
        balance = self.chain.balance(escrow["contractId"], self.asset) or 0
        if action == "fund-escrow":
            amount = payload["amount"]
            if amount <= 0:
                raise ContractError("ESCROW_AMOUNT_CANNOT_BE_ZERO")
            if (self.chain.balance(signer, self.asset) or 0) < amount:
                raise ContractError("ESCROW_INSUFFICIENT_FUNDS_FOR_FUNDING")
        elif action in ("change-milestone-status", "approve-milestone"):
            index = payload["milestoneIndex"]
            if not 0 <= index < len(escrow["milestones"]):
                raise ContractError("ESCROW_INVALID_MILESTONE_INDEX")
            if action == "change-milestone-status":
                if signer != roles["serviceProvider"]:
                    raise ContractError("ESCROW_ONLY_SERVICE_PROVIDER_CHANGE_MILESTONE_STATUS")
                if not payload["newStatus"]:
                    raise ContractError("ESCROW_EMPTY_MILESTONE_STATUS")
            else:
                if signer != roles["approver"]:
                    raise ContractError("ESCROW_ONLY_APPROVER_CHANGE_MILESTONE_FLAG")
                if escrow["milestones"][index]["approved"]:
                    raise ContractError("ESCROW_MILESTONE_ALREADY_APPROVED")
        elif action == "release-funds":
            if flags["released"]:
                raise ContractError("ESCROW_ALREADY_RELEASED")
            if flags["resolved"]:
                raise ContractError("ESCROW_ALREADY_RESOLVED")
            if signer != roles["releaseSigner"]:
                raise ContractError("ESCROW_ONLY_RELEASE_SIGNER_CAN_RELEASE")
            if not all(m["approved"] for m in escrow["milestones"]):
                raise ContractError("ESCROW_NOT_COMPLETED")
            if flags["disputed"]:
                raise ContractError("ESCROW_OPENED_FOR_DISPUTE_RESOLUTION")
            if balance <= 0:
                raise ContractError("ESCROW_BALANCE_NOT_ENOUGH")
        elif action == "dispute-escrow":
            if signer == roles["disputeResolver"]:
                raise ContractError("ESCROW_DISPUTE_RESOLVER_CANNOT_DISPUTE")
            if signer not in {roles[r] for r in ROLE_NAMES if r != "disputeResolver"}:
                raise ContractError("ESCROW_UNAUTHORIZED_TO_CHANGE_DISPUTE_FLAG")
            if flags["disputed"]:
                raise ContractError("ESCROW_ALREADY_IN_DISPUTE")
            if flags["resolved"]:
                raise ContractError("ESCROW_ALREADY_RESOLVED")
            if flags["released"]:
                raise ContractError("ESCROW_ALREADY_RELEASED")
        elif action == "resolve-dispute":
            if signer != roles["disputeResolver"]:
                raise ContractError("ESCROW_ONLY_DISPUTE_RESOLVER")
            if not flags["disputed"]:
                raise ContractError("ESCROW_NOT_IN_DISPUTE")
            distributions = payload["distributions"]
            if len(distributions) > 50:
                raise ContractError("ESCROW_TOO_MANY_DISTRIBUTIONS")
            if any(amount <= 0 for _, amount in distributions):
                raise ContractError("ESCROW_AMOUNTS_SHOULD_BE_POSITIVE")
            if sum(amount for _, amount in distributions) != balance:
                raise ContractError("ESCROW_DISTRIBUTIONS_MUST_EQUAL_BALANCE",
                                    f"distributions add up to {from_stroops(sum(a for _, a in distributions))}, "
                                    f"the escrow holds {from_stroops(balance)}")
            for address, _ in distributions:
                self._require_trustline(address)

    def _check_deploy(self, payload: dict[str, Any]) -> None:
        if payload["amount"] <= 0:
            raise ContractError("ESCROW_AMOUNT_CANNOT_BE_ZERO")
        if not payload["milestones"]:
            raise ContractError("ESCROW_NO_MILESTONE_DEFINED")
        if len(payload["milestones"]) > MAX_MILESTONES:
            raise ContractError("ESCROW_TOO_MANY_MILESTONES")
        if payload["platformFeeBps"] + TW_FEE_BPS > 10_000 or payload["platformFeeBps"] > 9_900:
            raise ContractError("ESCROW_PLATFORM_FEE_TOO_HIGH")
        for role in ("receiver", "platformAddress"):
            self._require_trustline(payload["roles"][role])

    def _require_trustline(self, address: str) -> None:
        if self.chain.balance(address, self.asset) is None:
            raise ContractError("STELLAR_TRUSTLINE_MISSING", f"{address} does not trust {self.asset[0]}")

    # --- effects (run inside Chain.apply) ----------------------------------------------------------------
    def run(self, action: str, contract_id: str, signer: str, payload: dict[str, Any]) -> list[Payment]:
        escrow = self.escrow(contract_id)
        try:
            self.check(action, escrow, signer, payload)
        except ContractError as error:
            raise OperationFailed(error.code) from None
        if action == "deploy":
            self.chain.create_contract(contract_id, self.asset)
            self._save({
                "contractId": contract_id, "signer": signer, "engagementId": payload["engagementId"],
                "title": payload["title"], "description": payload["description"], "roles": payload["roles"],
                "amount": payload["amount"], "platformFeeBps": payload["platformFeeBps"],
                "milestones": [{"description": m, "status": "pending", "evidence": "", "approved": False}
                               for m in payload["milestones"]],
                "flags": {"disputed": False, "released": False, "resolved": False},
                "trustline": {"address": self.asset[1], "symbol": self.asset[0]},
            }, new=True)
            return []
        assert escrow is not None
        moves: list[Payment] = []
        if action == "fund-escrow":
            moves.append(self.chain.move(signer, contract_id, self.asset, payload["amount"]))
        elif action == "change-milestone-status":
            milestone = escrow["milestones"][payload["milestoneIndex"]]
            milestone["status"] = payload["newStatus"]
            milestone["evidence"] = payload.get("newEvidence") or milestone["evidence"]
        elif action == "approve-milestone":
            escrow["milestones"][payload["milestoneIndex"]]["approved"] = True
        elif action == "release-funds":
            balance = self.chain.balance(contract_id, self.asset) or 0
            moves += self._pay_out(escrow, escrow["roles"]["receiver"], balance)
            escrow["flags"]["released"] = True
        elif action == "dispute-escrow":
            escrow["flags"]["disputed"] = True
            escrow["disputeStartedBy"] = signer
        elif action == "resolve-dispute":
            for address, amount in payload["distributions"]:
                moves += self._pay_out(escrow, address, amount)
            escrow["flags"]["resolved"] = True
            escrow["flags"]["disputed"] = False
        self._save(escrow)
        return moves

    def _pay_out(self, escrow: dict[str, Any], receiver: str, gross: int) -> list[Payment]:
        """Fees are taken from each gross share and truncated to the stroop, as the contract does."""
        tw_fee = gross * TW_FEE_BPS // 10_000
        platform_fee = gross * escrow["platformFeeBps"] // 10_000
        contract = escrow["contractId"]
        moves = [self.chain.move(contract, receiver, self.asset, gross - tw_fee - platform_fee)]
        if platform_fee:
            moves.append(self.chain.move(contract, escrow["roles"]["platformAddress"], self.asset, platform_fee))
        if tw_fee:
            moves.append(self.chain.move(contract, self.fee_collector, self.asset, tw_fee))
        return moves

    # --- transactions ----------------------------------------------------------------------------------
    def build(self, action: str, contract_id: str, signer: str, payload: dict[str, Any]) -> str:
        from stellar_sdk import Account, TransactionBuilder

        source = self.chain.account(signer)
        if source is None:
            raise ContractError("STELLAR_ACCOUNT_NOT_FOUND", f"{signer} does not exist on the network")
        tx = (TransactionBuilder(Account(signer, source["sequence"]), self.passphrase, base_fee=100)
              .append_invoke_contract_function_op(contract_id, action.replace("-", "_"), [])
              .set_timeout(300).build())
        with self.chain.lock:
            self.chain.db.execute("INSERT OR REPLACE INTO tw_pending VALUES (?, ?, ?, ?, ?)",
                                  (tx.hash_hex(), action, contract_id, signer, json.dumps(payload)))
        return tx.to_xdr()

    def resolve_invoke(self, tx_hash: str, op: Any) -> Callable[[], list[Payment]]:
        with self.chain.lock:
            row = self.chain.db.execute("SELECT * FROM tw_pending WHERE tx_hash = ?", (tx_hash,)).fetchone()
        if row is None:
            raise ContractError("UNKNOWN_TRANSACTION")
        action, contract_id, signer = row["action"], row["contract_id"], row["signer"]
        payload = json.loads(row["payload"])
        if action == "resolve-dispute":
            payload["distributions"] = [tuple(d) for d in payload["distributions"]]
        return lambda: self.run(action, contract_id, signer, payload)


def _require(body: dict[str, Any], *fields: str) -> list[Any]:
    missing = [f for f in fields if body.get(f) in (None, "")]
    if missing:
        raise ContractError("VALIDATION_ERROR", f"missing fields: {', '.join(missing)}")
    return [body[f] for f in fields]


def _address(value: Any, field: str, prefix: str = "G") -> str:
    from stellar_sdk import StrKey

    valid = isinstance(value, str) and (StrKey.is_valid_ed25519_public_key(value) if prefix == "G"
                                        else StrKey.is_valid_contract(value))
    if not valid:
        raise ContractError("VALIDATION_ERROR", f"{field} is not a valid {prefix}... address")
    return value


def _index(value: Any) -> int:
    if not isinstance(value, str) or not value.isdigit() or len(value) > 3:
        raise ContractError("VALIDATION_ERROR", "milestoneIndex must be a string like \"0\"")
    return int(value)


def parse_request(action: str, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(contractId, signer, payload) for a build request, validated like the real API's DTOs."""
    from stellar_sdk import StrKey

    if action == "deploy":
        signer, engagement, title, roles, amount, fee, milestones, trustline = _require(
            body, "signer", "engagementId", "title", "roles", "amount", "platformFee", "milestones", "trustline")
        if not isinstance(roles, dict) or not isinstance(milestones, list) or not isinstance(trustline, dict):
            raise ContractError("VALIDATION_ERROR", "roles and trustline must be objects, milestones a list")
        fee_bps = Decimal(str(fee)) * 100
        if fee_bps != fee_bps.to_integral_value() or fee_bps < 0:
            raise ContractError("VALIDATION_ERROR", "platformFee must be a percentage with at most 2 decimals")
        payload = {
            "engagementId": str(engagement), "title": str(title), "description": str(body.get("description", "")),
            "roles": {r: _address(roles.get(r), f"roles.{r}") for r in ROLE_NAMES},
            "amount": _stroops(amount, "amount"), "platformFeeBps": int(fee_bps),
            "milestones": [str(m.get("description", "")) if isinstance(m, dict) else "" for m in milestones],
            "trustline": trustline,
        }
        return StrKey.encode_contract(os.urandom(32)), _address(signer, "signer"), payload
    contract_id = _address(body.get("contractId"), "contractId", "C")
    if action == "fund-escrow":
        signer, amount = _require(body, "signer", "amount")
        return contract_id, _address(signer, "signer"), {"amount": _stroops(amount, "amount")}
    if action == "change-milestone-status":
        index, status, provider = _require(body, "milestoneIndex", "newStatus", "serviceProvider")
        return contract_id, _address(provider, "serviceProvider"), {
            "milestoneIndex": _index(index), "newStatus": str(status), "newEvidence": str(body.get("newEvidence", ""))}
    if action == "approve-milestone":
        index, approver = _require(body, "milestoneIndex", "approver")
        return contract_id, _address(approver, "approver"), {"milestoneIndex": _index(index)}
    if action == "release-funds":
        (signer,) = _require(body, "releaseSigner")
        return contract_id, _address(signer, "releaseSigner"), {}
    if action == "dispute-escrow":
        (signer,) = _require(body, "signer")
        return contract_id, _address(signer, "signer"), {}
    if action == "resolve-dispute":
        signer, distributions = _require(body, "disputeResolver", "distributions")
        if not isinstance(distributions, list) or not all(isinstance(d, dict) for d in distributions):
            raise ContractError("VALIDATION_ERROR", "distributions must be a list of {address, amount}")
        merged: dict[str, int] = {}  # the contract keeps a map keyed by address
        for d in distributions:
            address = _address(d.get("address"), "distributions.address")
            merged[address] = merged.get(address, 0) + _stroops(d.get("amount"), "distributions.amount")
        return contract_id, _address(signer, "disputeResolver"), {"distributions": list(merged.items())}
    raise ContractError("VALIDATION_ERROR", f"unknown action {action}")


def create_trustless(contracts: EscrowContracts, faults: Faults) -> Starlette:
    chain = contracts.chain

    async def injected(target: str) -> Response | None:
        mode = faults.take(target)
        if mode == "error":
            return faults.error_response()
        if mode == "timeout":
            await faults.hold()
            return faults.error_response()
        return None

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            body = loads(await request.body())
        except ValueError:
            raise ContractError("VALIDATION_ERROR", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise ContractError("VALIDATION_ERROR", "the body must be a JSON object")
        return body

    def write(action: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            if request.headers.get("x-api-key") is None:
                return problem("AUTH_CREDENTIAL_MISSING", "x-api-key is required", status=401)
            fault = await injected(action)
            if fault is not None:
                return fault
            try:
                contract_id, signer, payload = parse_request(action, await body_of(request))
                contracts.check(action, None if action == "deploy" else contracts.escrow(contract_id), signer,
                                payload)
                xdr = contracts.build(action, contract_id, signer, payload)
            except ContractError as error:
                return problem(error.code, error.detail)
            return ok({"status": "SUCCESS", "unsignedTransaction": xdr}, status=201)

        return endpoint

    async def send_transaction(request: Request) -> Response:
        mode = faults.take("send-transaction")
        if mode == "error":
            return faults.error_response()
        try:
            body = await body_of(request)
            (xdr,) = _require(body, "signedXdr")
        except ContractError as error:
            return problem(error.code, error.detail)
        try:
            status, result = process_envelope(chain, str(xdr), contracts.passphrase, contracts.resolve_invoke)
        except ContractError as error:
            return problem(error.code, error.detail)
        if mode == "timeout":  # applied on chain, but the caller never hears back
            await faults.hold()
            return faults.error_response()
        if status != 200:
            codes = result.get("extras", {}).get("result_codes", {})
            op_codes = codes.get("operations") or []
            code = next((c for c in op_codes if c in ERRORS), "STELLAR_TX_FAILED")
            return problem(code, None, {"resultCodes": codes})
        response: dict[str, Any] = {"status": "SUCCESS", "txHash": result["hash"],
                                    "message": "The transaction has been successfully sent to the Stellar network"}
        pending = chain.db.execute("SELECT action, contract_id FROM tw_pending WHERE tx_hash = ?",
                                   (result["hash"],)).fetchone()
        if pending is not None and pending["action"] == "deploy":
            escrow = contracts.escrow(pending["contract_id"])
            assert escrow is not None
            response |= {"contractId": pending["contract_id"], "escrow": contracts.public(escrow)}
        return ok(response)

    async def get_escrows(request: Request) -> Response:
        ids = request.query_params.getlist("contractIds[]") or request.query_params.getlist("contractIds")
        found = [contracts.escrow(c) for c in ids[:20]]
        return ok([contracts.public(e) for e in found if e is not None])  # type: ignore[arg-type]

    async def escrows_by_signer(request: Request) -> Response:
        signer = request.query_params.get("signer", "")
        with chain.lock:
            rows = chain.db.execute("SELECT data FROM tw_escrows").fetchall()
        found = [json.loads(r["data"]) for r in rows]
        return ok([contracts.public(e) for e in found if e["signer"] == signer])

    return Starlette(routes=[
        Route("/deployer/single-release", write("deploy"), methods=["POST"]),
        *[Route(f"/escrow/single-release/{action}", write(action), methods=["POST"])
          for action in ("fund-escrow", "change-milestone-status", "approve-milestone", "release-funds",
                         "dispute-escrow", "resolve-dispute")],
        Route("/helper/send-transaction", send_transaction, methods=["POST"]),
        Route("/helper/get-escrow-by-contract-ids", get_escrows),
        Route("/helper/get-escrows-by-signer", escrows_by_signer),
    ])
