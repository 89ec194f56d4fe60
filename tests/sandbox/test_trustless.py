"""The sandbox Trustless Work, driven by the product's own client and stellar-sdk: it checks who signed,
enforces the contract's rules, moves USDC and takes the fees as the real contract does."""

from __future__ import annotations

from decimal import Decimal

import pytest
from stellar_sdk import Keypair, TransactionEnvelope

from offerhub.config import settings
from offerhub.core.errors import ProviderError
from offerhub.stellar.horizon import Horizon
from offerhub.trustless.client import TrustlessWork
from tests.conftest import RAILS

PASSPHRASE = "Test SDF Network ; September 2015"


@pytest.fixture(scope="module")
def tw() -> TrustlessWork:
    return TrustlessWork(settings().trustless_api_url, "sandbox.key", backoff_seconds=0.01)


def _account(usdc: str = "0") -> Keypair:
    kp = Keypair.random()
    Horizon(settings().stellar).activate(kp.secret)
    if Decimal(usdc) > 0:
        assert RAILS.mint(kp.public_key, usdc)["status"] == 200
    return kp


def _usdc(account: str) -> Decimal:
    return Decimal(RAILS.chain.balance(account, RAILS.asset) or 0) / 10_000_000


def _run(tw: TrustlessWork, action: str, body: dict, signer: Keypair) -> dict:
    envelope = TransactionEnvelope.from_xdr(tw.build(action, body), PASSPHRASE)
    envelope.sign(signer)
    return tw.send_transaction(envelope.to_xdr())


@pytest.fixture
def parties():
    return {"buyer": _account("300"), "seller": _account(), "platform": _account()}


def _deploy(tw: TrustlessWork, p: dict, amount: str = "250", fee: str = "0.5", milestones: int = 1) -> str:
    roles = {"approver": p["buyer"], "serviceProvider": p["seller"], "platformAddress": p["platform"],
             "releaseSigner": p["buyer"], "disputeResolver": p["platform"], "receiver": p["seller"]}
    result = _run(tw, "deploy", {
        "signer": p["buyer"].public_key, "engagementId": "ord_x", "title": "t", "description": "d",
        "roles": {k: v.public_key for k, v in roles.items()}, "amount": Decimal(amount), "platformFee": Decimal(fee),
        "milestones": [{"description": f"m{i}"} for i in range(milestones)],
        "trustline": {"address": RAILS.usdc_issuer, "symbol": "USDC"}}, p["buyer"])
    contract = result["contractId"]
    _run(tw, "fund-escrow", {"contractId": contract, "signer": p["buyer"].public_key, "amount": Decimal(amount)},
         p["buyer"])
    return contract


def test_release_pays_receiver_platform_and_trustless_work_their_shares(tw, parties):
    contract = _deploy(tw, parties)
    assert _usdc(contract) == Decimal("250")
    buyer, seller = parties["buyer"].public_key, parties["seller"].public_key
    with pytest.raises(ProviderError) as early:  # nothing approved yet
        _run(tw, "release-funds", {"contractId": contract, "releaseSigner": buyer}, parties["buyer"])
    assert early.value.details["providerCode"] == "ESCROW_NOT_COMPLETED"
    _run(tw, "approve-milestone", {"contractId": contract, "milestoneIndex": "0", "approver": buyer}, parties["buyer"])
    fees_before = _usdc(RAILS.keys["trustless_fees"].public_key)
    _run(tw, "release-funds", {"contractId": contract, "releaseSigner": buyer}, parties["buyer"])
    # Trustless Work's worked example: 250 USDC at 0.5% → receiver 248, platform 1.25, Trustless Work 0.75.
    assert _usdc(seller) == Decimal("248") and _usdc(parties["platform"].public_key) == Decimal("1.25")
    assert _usdc(RAILS.keys["trustless_fees"].public_key) - fees_before == Decimal("0.75")
    assert tw.escrow(contract)["flags"]["released"] is True


def test_only_the_right_role_may_sign(tw, parties):
    contract = _deploy(tw, parties)
    buyer, seller = parties["buyer"], parties["seller"]
    with pytest.raises(ProviderError) as not_signer:
        tw.build("release-funds", {"contractId": contract, "releaseSigner": seller.public_key})
    assert not_signer.value.details["providerCode"] == "ESCROW_ONLY_RELEASE_SIGNER_CAN_RELEASE"
    with pytest.raises(ProviderError) as wrong_key:  # built for the approver, signed by someone else
        _run(tw, "approve-milestone", {"contractId": contract, "milestoneIndex": "0",
                                       "approver": buyer.public_key}, seller)
    assert wrong_key.value.details["providerStatus"] == 400
    assert tw.escrow(contract)["milestones"][0]["approved"] is False
    with pytest.raises(ProviderError) as resolver:
        tw.build("dispute-escrow", {"contractId": contract, "signer": parties["platform"].public_key})
    assert resolver.value.details["providerCode"] == "ESCROW_DISPUTE_RESOLVER_CANNOT_DISPUTE"


def test_dispute_distributions_must_add_up_to_the_balance(tw, parties):
    contract = _deploy(tw, parties, amount="2", fee="0")
    buyer, seller, platform = (parties[k] for k in ("buyer", "seller", "platform"))
    _run(tw, "dispute-escrow", {"contractId": contract, "signer": buyer.public_key}, buyer)
    short = {"contractId": contract, "disputeResolver": platform.public_key,
             "distributions": [{"address": seller.public_key, "amount": Decimal("1.5")},
                               {"address": buyer.public_key, "amount": Decimal("0.49")}]}
    with pytest.raises(ProviderError) as refused:
        tw.build("resolve-dispute", short)
    assert refused.value.details["providerCode"] == "ESCROW_DISTRIBUTIONS_MUST_EQUAL_BALANCE"
    short["distributions"][1]["amount"] = Decimal("0.5")
    buyer_before = _usdc(buyer.public_key)
    _run(tw, "resolve-dispute", short, platform)
    # 2 USDC split 1.5 / 0.5 with no platform fee → 1.4955 / 0.4985.
    assert _usdc(seller.public_key) == Decimal("1.4955") and _usdc(buyer.public_key) - buyer_before == \
        Decimal("0.4985")
    assert _usdc(contract) == 0


def test_a_transient_5xx_is_retried_and_the_same_envelope_lands_once(tw, parties):
    contract = _deploy(tw, parties)
    RAILS.faults.arm("approve-milestone", "error", 1)
    envelope = TransactionEnvelope.from_xdr(
        tw.build("approve-milestone", {"contractId": contract, "milestoneIndex": "0",
                                       "approver": parties["buyer"].public_key}), PASSPHRASE)
    envelope.sign(parties["buyer"])
    first = tw.send_transaction(envelope.to_xdr())
    again = tw.send_transaction(envelope.to_xdr())  # answered from history, not applied twice
    assert first["txHash"] == again["txHash"]
    with pytest.raises(ProviderError) as twice:
        tw.build("approve-milestone", {"contractId": contract, "milestoneIndex": "0",
                                       "approver": parties["buyer"].public_key})
    assert twice.value.details["providerCode"] == "ESCROW_MILESTONE_ALREADY_APPROVED"


def test_bad_requests_are_refused_with_problem_details(tw):
    for action, body in (("fund-escrow", {"contractId": "nope", "signer": "G", "amount": 1}),
                         ("deploy", {"signer": Keypair.random().public_key}),
                         ("fund-escrow", {"contractId": "C" + "A" * 55, "signer": Keypair.random().public_key,
                                          "amount": "1.123456789"})):
        with pytest.raises(ProviderError) as refused:
            tw.build(action, body)
        assert refused.value.code == "TRUSTLESS_WORK_ERROR" and refused.value.details["providerStatus"] == 400
    with pytest.raises(ProviderError):
        tw.send_transaction("AAAA")
