"""User use cases. Creating a user opens their ledger accounts; the same externalUserId twice returns
the existing user (never a duplicate)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offerhub.adapters.postgres.unit_of_work import UnitOfWork, read_only, transaction
from offerhub.audit.service import record
from offerhub.core.context import RequestContext
from offerhub.core.errors import NotFound, ValidationFailed
from offerhub.core.ids import looks_like, new_id
from offerhub.core.pagination import Page, PageRequest
from offerhub.events import catalogue
from offerhub.ledger import accounts
from offerhub.ledger import store as ledger_store
from offerhub.users import store
from offerhub.users.provisioning import AccountProvisioner, provisioner_for_mode

USER_TYPES = ("BUYER", "SELLER", "BOTH")


@dataclass(frozen=True)
class NewUser:
    external_user_id: str
    email: str | None = None
    type: str = "BOTH"


def create_user(
    ctx: RequestContext, new: NewUser, provisioner: AccountProvisioner | None = None
) -> tuple[dict[str, Any], bool]:
    """Returns (user, created). A new user and its rail account (crypto: the sealed wallet) commit together."""
    provisioner = provisioner or provisioner_for_mode(ctx)
    user_id = new_id("usr")
    staged = provisioner.stage(user_id)
    with transaction(ctx) as uow:
        row = store.insert_if_new(
            uow.conn,
            {"id": user_id, "external_user_id": new.external_user_id, "email": new.email, "type": new.type},
        )
        if row is None:
            existing = store.by_external_id(uow.conn, new.external_user_id)
            assert existing is not None  # the conflicting row is committed: ON CONFLICT saw it
            user, created = store.to_public(existing), False
        else:
            user, created = _open_user(uow, row), True
            provisioner.attach(uow, user, staged)
    if provisioner.provision(user):
        user = get_user(user["id"])
    return user, created


def _open_user(uow: UnitOfWork, row: dict[str, Any]) -> dict[str, Any]:
    ledger_store.open_accounts(uow.conn, [accounts.user_available(row["id"]), accounts.user_reserved(row["id"])])
    user = store.to_public(row)
    uow.emit(
        catalogue.USER_CREATED, "User", user["id"],
        {"userId": user["id"], "externalUserId": user["externalUserId"], "email": user["email"],
         "type": user["type"], "status": user["status"]},
    )
    record(uow, catalogue.USER_CREATED, "User", user["id"], after=user)
    return user


def get_user(user_id: str) -> dict[str, Any]:
    with read_only() as conn:
        row = store.by_id(conn, user_id) if looks_like(user_id, "usr") else None
    if row is None:
        raise NotFound(f"user {user_id} not found", code="USER_NOT_FOUND")
    return store.to_public(row)


def list_users(page: PageRequest, *, external_user_id: str | None = None) -> Page:
    with read_only() as conn:
        if page.cursor and not (looks_like(page.cursor, "usr") and store.exists(conn, page.cursor)):
            raise ValidationFailed("cursor is not a known user id", details={"field": "cursor"})
        rows = store.search(conn, external_user_id=external_user_id, cursor=page.cursor, limit=page.limit + 1)
    return Page.from_rows([store.to_public(r) for r in rows], page.limit, lambda u: u["id"])
