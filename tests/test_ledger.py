"""The money core on real Postgres: double entry, no overdraft, no double spend, one transaction."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from offerhub.adapters.postgres.engine import get_engine
from offerhub.adapters.postgres.unit_of_work import transaction
from offerhub.core.context import RequestContext
from offerhub.core.errors import InsufficientFunds
from offerhub.ledger import accounts, service

CTX = RequestContext(request_id="test")


def _fund(user_id: str, amount: str) -> None:
    with transaction(CTX) as uow:
        service.credit(uow, user_id, Decimal(amount), description="seed")


def test_fifty_parallel_reserves_never_overdraw(new_user):
    user = new_user()["id"]
    _fund(user, "100.00")  # covers exactly 10 reserves of 10.00

    def reserve(_: int) -> str:
        try:
            with transaction(CTX) as uow:
                service.reserve(uow, user, Decimal("10.00"))
            return "ok"
        except InsufficientFunds:
            return "refused"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(reserve, range(50)))

    assert outcomes.count("ok") == 10
    assert outcomes.count("refused") == 40
    balance = service.get_balance(user)
    assert (balance.available, balance.reserved) == (Decimal("0.00"), Decimal("100.00"))
    with get_engine().connect() as conn:
        lines = conn.execute(
            text("SELECT count(*) FROM ledger_entries WHERE account_code = :c"),
            {"c": accounts.user_reserved(user).code},
        ).scalar_one()
    assert lines == 10


def test_every_transaction_sums_to_zero_and_balances_match_their_lines(new_user):
    user = new_user()["id"]
    _fund(user, "50.00")
    with transaction(CTX) as uow:
        service.reserve(uow, user, Decimal("20.00"), order_id="ord_x")
        service.release_reservation(uow, user, Decimal("5.00"), order_id="ord_x", reason="cancel")
        service.debit(uow, user, Decimal("1.25"))
    with get_engine().connect() as conn:
        unbalanced = conn.execute(
            text("SELECT transaction_id FROM ledger_entries GROUP BY transaction_id HAVING sum(amount) <> 0")
        ).all()
        drift = conn.execute(
            text(
                "SELECT a.code FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_code = a.code "
                "GROUP BY a.code, a.balance HAVING a.balance <> coalesce(sum(e.amount), 0)"
            )
        ).all()
        total = conn.execute(text("SELECT sum(balance) FROM ledger_accounts")).scalar_one()
    assert unbalanced == []
    assert drift == []
    assert total == 0  # money is conserved across all accounts, the outside world included
    balance = service.get_balance(user)
    assert (balance.available, balance.reserved) == (Decimal("33.75"), Decimal("15.00"))


def test_database_refuses_an_unbalanced_transaction(new_user):
    user = new_user()["id"]
    with pytest.raises(DBAPIError, match="does not sum to zero"), get_engine().begin() as conn:
        conn.execute(text("INSERT INTO ledger_transactions (id, type) VALUES ('ltx_bad', 'TEST')"))
        conn.execute(
            text("INSERT INTO ledger_entries (transaction_id, account_code, amount, balance_after) "
                 "VALUES ('ltx_bad', :c, 5, 5)"),
            {"c": accounts.user_available(user).code},
        )


def test_database_refuses_a_negative_user_balance_whatever_the_code_does(new_user):
    user = new_user()["id"]
    with pytest.raises(DBAPIError, match="balance_non_negative"), get_engine().begin() as conn:
        conn.execute(
            text("UPDATE ledger_accounts SET balance = -0.01 WHERE code = :c"),
            {"c": accounts.user_available(user).code},
        )


def test_balance_and_its_lines_commit_or_roll_back_together(new_user):
    user = new_user()["id"]
    _fund(user, "10.00")
    with pytest.raises(RuntimeError), transaction(CTX) as uow:
        service.debit(uow, user, Decimal("4.00"))
        raise RuntimeError("crash after the posting, before commit")
    assert service.get_balance(user).available == Decimal("10.00")
    page = service.list_entries(user, service.PageRequest(limit=10))
    assert [e["amount"] for e in page.items] == ["10.00"]


def test_overdraft_is_refused_with_details_and_changes_nothing(new_user):
    user = new_user()["id"]
    _fund(user, "5.00")
    with pytest.raises(InsufficientFunds) as refused, transaction(CTX) as uow:
        service.reserve(uow, user, Decimal("5.01"))
    assert refused.value.details == {"requested": "5.01", "available": "5.00", "currency": "USD"}
    with pytest.raises(InsufficientFunds) as refused, transaction(CTX) as uow:
        service.release_reservation(uow, user, Decimal("0.01"))
    assert refused.value.code == "INSUFFICIENT_RESERVED_FUNDS"
    assert service.get_balance(user).available == Decimal("5.00")


def test_moves_to_named_accounts_for_later_capabilities(new_user):
    buyer, seller = new_user()["id"], new_user()["id"]
    _fund(buyer, "100.00")
    escrow = accounts.order_escrow("ord_test1")
    with transaction(CTX) as uow:
        service.reserve(uow, buyer, Decimal("100.00"), order_id="ord_test1")
        service.post(uow, "ESCROW_FUND", [(accounts.user_reserved(buyer), Decimal("-100.00")),
                                          (escrow, Decimal("100.00"))])
        service.post(uow, "ESCROW_RELEASE", [(escrow, Decimal("-100.00")),
                                             (accounts.user_available(seller), Decimal("95.00")),
                                             (accounts.platform_fees(), Decimal("5.00"))])
    assert service.get_balance(buyer).total == Decimal("0.00")
    assert service.get_balance(seller).available == Decimal("95.00")
    with pytest.raises(ValueError), transaction(CTX) as uow:
        service.post(uow, "BROKEN", [(escrow, Decimal("1.00")), (accounts.platform_fees(), Decimal("-0.99"))])

