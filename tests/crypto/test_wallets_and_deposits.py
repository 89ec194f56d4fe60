"""Wallets (KMS-sealed, never exposed) and Stellar deposits credited exactly once by the monitor."""

from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy import text

from tests.conftest import RAILS
from tests.crypto.conftest import chain_usdc, run_monitor
from tests.lambda_client import call


def _secret_of(user_id: str) -> str:
    from offerhub.core.context import RequestContext
    from offerhub.wallets.service import user_signer

    return user_signer(RequestContext(request_id="t"), user_id).secret


def test_a_new_user_gets_an_active_wallet_whose_secret_never_leaves_the_layer(new_user, key):
    from offerhub.adapters.postgres.engine import get_engine

    user = new_user()
    wallet = call("GET", f"/api/v1/users/{user['id']}/wallet", key=key)
    assert wallet.status == 200, wallet.body
    public_key = wallet.data["publicKey"]
    assert public_key.startswith("G") and wallet.data["status"] == "ACTIVE" and wallet.data["ready"] is True
    # friendbot funded 10,000 XLM; the trustline transaction paid the 100-stroop fee
    assert wallet.data["balance"] == {"usdc": "0.0000000", "xlm": "9999.9999900"}
    deposit = call("GET", f"/api/v1/users/{user['id']}/wallet/deposit", key=key).data
    assert deposit["address"] == public_key and deposit["asset"] == {"code": "USDC", "issuer": RAILS.usdc_issuer}

    secret = _secret_of(user["id"])
    assert secret.startswith("S")
    with get_engine().connect() as conn:
        row = conn.execute(text("SELECT * FROM wallets WHERE user_id = :u"), {"u": user["id"]}).mappings().one()
        audit = conn.execute(text("SELECT after::text FROM audit_logs WHERE resource_id = :w"),
                             {"w": row["id"]}).scalars().all()
        events = conn.execute(text("SELECT data::text FROM events WHERE aggregate_id = :w"),
                              {"w": row["id"]}).scalars().all()
    assert secret.encode() not in bytes(row["sealed_secret"]) and secret.encode() not in bytes(row["sealed_key"])
    assert audit and events
    assert all(secret not in text_ for text_ in [*audit, *events, json.dumps(wallet.body), json.dumps(deposit)])


def test_a_sealed_secret_opens_only_with_its_own_encryption_context(new_user):
    import pytest

    from offerhub.adapters.aws.kms import KmsEnvelope
    from offerhub.core.errors import ServiceUnavailable

    sealer = KmsEnvelope("alias/offerhub-test-wallets")
    context = {"walletId": "wal_a", "owner": "usr_a"}
    wrapped, sealed = sealer.seal(b"SECRET", context)
    assert sealer.open(wrapped, sealed, context) == b"SECRET"
    other_wrapped, _ = sealer.seal(b"OTHER", context)
    for attempt in ((wrapped, sealed, {"walletId": "wal_b", "owner": "usr_a"}),  # KMS refuses the context
                    (other_wrapped, sealed, context)):  # another wallet's data key: AES-GCM refuses
        with pytest.raises(ServiceUnavailable) as refused:  # a 503 for the client, never a 500
            sealer.open(*attempt)
        assert refused.value.code == "WALLET_KEY_UNAVAILABLE"


def test_a_wallet_sealed_before_shared_keys_still_signs(new_user, key):
    """Rows from before migration 0009 have a data key each (sealed_key_shared false): they open as they were."""
    from sqlalchemy import text

    from offerhub.adapters.aws import kms as kms_module
    from offerhub.adapters.postgres.engine import get_engine
    from offerhub.wallets.sealing import _context, _sealer, open_signer

    user = new_user()
    with get_engine().begin() as conn:
        row = dict(conn.execute(text("SELECT * FROM wallets WHERE user_id = :u"), {"u": user["id"]}).mappings().one())
    assert row["sealed_key_shared"] is True
    secret = open_signer(row).secret
    wrapped, sealed = _sealer().seal(secret.encode(), _context(row["id"], user["id"]))  # the old way
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE wallets SET sealed_key = :k, sealed_secret = :s, sealed_key_shared = false "
                          "WHERE id = :w"), {"k": wrapped, "s": sealed, "w": row["id"]})
        legacy = dict(conn.execute(text("SELECT * FROM wallets WHERE id = :w"), {"w": row["id"]}).mappings().one())
    kms_module.forget_data_keys()
    assert open_signer(legacy).secret == secret


def test_a_deposit_is_credited_once_and_the_ledger_matches_the_chain(new_user, key):
    user = new_user()
    sent = call("POST", "/api/v1/test-helpers/deposits", key=key, body={"userId": user["id"], "amount": "25.50"})
    assert sent.status == 201 and len(sent.data["transactionHash"]) == 64
    assert call("GET", f"/api/v1/balance/{user['id']}", key=key).data["available"] == "0.00"  # not yet seen
    run_monitor()
    run_monitor()  # a second scan finds nothing new
    balance = call("GET", f"/api/v1/balance/{user['id']}", key=key).data
    assert balance["available"] == "25.50"
    mine = call("GET", "/api/v1/events", key=key,  # the user's own: events are listed oldest first
                query={"type": "balance.credited", "resourceId": user["id"]}).data
    assert len(mine) == 1 and mine[0]["data"]["source"] == "external:stellar"
    audited = call("GET", "/api/v1/audit", key=key,
                   query={"resourceId": user["id"], "action": "deposit.credited"}).data
    assert len(audited) == 1 and audited[0]["after"]["amount"] == "25.50"
    assert audited[0]["after"]["txHash"] == sent.data["transactionHash"]
    sync = call("POST", f"/api/v1/balance/{user['id']}/sync", key=key)
    assert sync.status == 200 and sync.data["inSync"] is True and sync.data["chain"]["usdc"] == "25.5000000"


def test_each_payment_operation_is_credited_even_two_in_one_transaction(new_user, key):
    from stellar_sdk import Account, Asset, TransactionBuilder

    user = new_user()
    address = call("GET", f"/api/v1/users/{user['id']}/wallet/deposit", key=key).data["address"]
    issuer = RAILS.keys["usdc_issuer"]
    account = RAILS.chain.account(issuer.public_key)
    usdc = Asset("USDC", issuer.public_key)
    tx = (TransactionBuilder(Account(issuer.public_key, account["sequence"]), "Test SDF Network ; September 2015", 100)
          .append_payment_op(address, usdc, "1.25").append_payment_op(address, usdc, "2.0000001")
          .set_timeout(30).build())
    tx.sign(issuer)
    from local.sandbox.horizon import process_envelope

    status, _ = process_envelope(RAILS.chain, tx.to_xdr(), "Test SDF Network ; September 2015")
    assert status == 200
    run_monitor()
    assert call("GET", f"/api/v1/balance/{user['id']}", key=key).data["available"] == "3.25"
    sync = call("POST", f"/api/v1/balance/{user['id']}/sync", key=key).data
    assert sync["inSync"] is True and sync["chain"]["dust"] == "0.0000001"  # sub-cent dust stays on chain


def test_a_wallet_created_after_a_scan_is_still_seen(new_user, key):
    run_monitor()
    late = new_user()
    call("POST", "/api/v1/test-helpers/deposits", key=key, body={"userId": late["id"], "amount": "5.00"})
    assert run_monitor()["credited"] >= 1
    assert call("GET", f"/api/v1/balance/{late['id']}", key=key).data["available"] == "5.00"
    assert chain_usdc(RAILS, call("GET", f"/api/v1/users/{late['id']}/wallet", key=key).data["publicKey"]) == \
        Decimal("5")


def test_a_scan_is_bounded_and_resumes_from_its_cursor(new_user, key):
    from offerhub.core.context import RequestContext
    from offerhub.deposits.monitor import scan

    users = [new_user() for _ in range(3)]
    for user in users:
        call("POST", "/api/v1/test-helpers/deposits", key=key, body={"userId": user["id"], "amount": "1.00"})
    first = scan(RequestContext(request_id="t"), max_pages=1, page_limit=1)
    assert first.pages == 1 and first.scanned == 1  # one small page, then it stops
    scan(RequestContext(request_id="t"))  # the next run carries on from the cursor
    assert [call("GET", f"/api/v1/balance/{u['id']}", key=key).data["available"] for u in users] == ["1.00"] * 3


def test_test_helpers_are_404_without_the_sandbox_rails(new_user, key, monkeypatch):
    import dataclasses

    from offerhub import config

    user = new_user()
    monkeypatch.setattr(config, "settings", lambda: dataclasses.replace(config.Settings.from_env(),
                                                                        sandbox_control_url=None))
    from offerhub.sandbox import helpers

    monkeypatch.setattr(helpers, "settings", config.settings)
    result = call("POST", "/api/v1/test-helpers/deposits", key=key, body={"userId": user["id"], "amount": "1.00"})
    assert result.status == 404 and result.error_code == "NOT_FOUND"
    fault = call("POST", "/api/v1/test-helpers/faults", key=key, body={"target": "release-funds", "mode": "error"})
    assert fault.status == 404


def test_a_rail_outage_defers_wallet_activation_without_losing_the_user(key):
    """Sign-up never waits for the chain; an activation that keeps failing leaves the wallet CREATED (its message
    in the DLQ), and a retried POST /users queues it again."""
    import secrets

    from tests.lambda_client import activation_deferred, drain_wallet_activations

    external = "ext-" + secrets.token_hex(6)
    call("POST", "/api/v1/test-helpers/faults", key=key, body={"target": "horizon-submit", "mode": "error",
                                                                "count": 3})
    created = call("POST", "/api/v1/users", key=key, body={"externalUserId": external})
    assert created.status == 201  # the user exists; every attempt of the trustline transaction failed
    user_id = created.data["id"]
    assert call("GET", f"/api/v1/users/{user_id}/wallet", key=key).data["status"] == "CREATED"
    assert call("GET", f"/api/v1/users/{user_id}/wallet/deposit", key=key).data["ready"] is False
    with activation_deferred():  # the helper's refusal queues the activation again: keep it for the retry below
        refused = call("POST", "/api/v1/test-helpers/deposits", key=key, body={"userId": user_id, "amount": "1.00"})
        assert refused.status == 409 and refused.error_code == "WALLET_NOT_ACTIVE"
        assert refused.headers["retry-after"] == "5"
        again = call("POST", "/api/v1/users", key=key, body={"externalUserId": external})
        assert again.status == 200 and again.data["id"] == user_id
    drain_wallet_activations()  # the queued retries finish the activation
    wallet = call("GET", f"/api/v1/users/{user_id}/wallet", key=key).data
    assert wallet["status"] == "ACTIVE" and wallet["balance"]["usdc"] == "0.0000000"


def test_the_per_wallet_scan_credits_once_and_agrees_with_the_network_scan(new_user, key):
    """MONITOR_SCAN=wallets (mainnet): each wallet's own history after its own cursor, in batches."""
    from offerhub.core.context import RequestContext
    from offerhub.deposits.monitor import scan

    ctx = RequestContext(request_id="t")
    users = [new_user() for _ in range(3)]
    for i, user in enumerate(users):
        call("POST", "/api/v1/test-helpers/deposits", key=key, body={"userId": user["id"], "amount": f"{i + 1}.00"})
    def balances() -> list[str]:
        return [call("GET", f"/api/v1/balance/{u['id']}", key=key).data["available"] for u in users]

    first = scan(ctx, mode="wallets")
    assert first.mode == "wallets" and 0 < first.wallets <= 50 and first.pages >= first.wallets  # one bounded batch
    for _ in range(100):  # a batch of 50 per run, least recently scanned first, until these come round
        if balances() == ["1.00", "2.00", "3.00"]:
            break
        scan(ctx, mode="wallets")
    assert balances() == ["1.00", "2.00", "3.00"]
    call("POST", "/api/v1/test-helpers/deposits", key=key, body={"userId": users[0]["id"], "amount": "0.50"})
    for _ in range(100):  # batches of 50, least recently scanned first: it comes round to this wallet
        scan(ctx, mode="wallets")
        if call("GET", f"/api/v1/balance/{users[0]['id']}", key=key).data["available"] == "1.50":
            break
    assert call("GET", f"/api/v1/balance/{users[0]['id']}", key=key).data["available"] == "1.50"
    assert scan(ctx, mode="network").credited == 0  # the other mode finds nothing new to credit
    assert call("GET", f"/api/v1/balance/{users[0]['id']}", key=key).data["available"] == "1.50"


def test_the_reconciliation_flags_a_ledger_that_differs_from_the_chain(new_user, key):
    from offerhub.core.context import RequestContext
    from offerhub.wallets.sync import check_next_batch

    honest, adjusted = new_user(), new_user()
    call("POST", f"/api/v1/balance/{adjusted['id']}/credit", key=key, body={"amount": "5.00", "reason": "goodwill"})
    flagged: set[str] = set()
    wraps = 0
    while wraps < 2:  # batches walk the wallets in id order and wrap round: two wraps make a full pass
        result = check_next_batch(RequestContext(request_id="t"))
        flagged |= set(result["flagged"])
        wraps += result["checked"] < 50
    assert adjusted["id"] in flagged and honest["id"] not in flagged
    audit = call("GET", "/api/v1/audit", key=key, query={"resourceId": adjusted["id"],
                                                         "action": "balance.discrepancy"}).data
    assert audit[0]["after"]["difference"] == "-5.00"


def test_usdc_sent_to_the_platform_wallet_funds_platform_fees_once(key):
    from offerhub.core.context import RequestContext
    from offerhub.wallets.sync import check_platform
    from tests.crypto.conftest import fund_platform, platform_wallet

    fund_platform("3.25")  # asserts platform:fees grew by exactly 3.25 through the monitor
    run_monitor()
    audited = call("GET", "/api/v1/audit", key=key, query={"action": "platform.funded", "limit": "100"}).data
    assert any(a["after"]["amount"] == "3.25" for a in audited)
    assert check_platform(RequestContext(request_id="t"))["inSync"]
    assert platform_wallet()
