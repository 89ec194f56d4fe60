"""Linking a user to their Airtm account (airtm mode): the account must exist, be active and verified,
or the user could neither top up nor be paid out. The link is what top-ups and payouts use."""

from __future__ import annotations

from typing import Any

from offerhub.adapters.postgres.unit_of_work import transaction
from offerhub.airtm.client import airtm
from offerhub.audit.service import record
from offerhub.core.clock import iso
from offerhub.core.context import RequestContext
from offerhub.core.errors import BusinessRuleViolation, NotFound, OfferHubError
from offerhub.core.ids import looks_like
from offerhub.events import catalogue
from offerhub.modes import AIRTM, require
from offerhub.observability import logger
from offerhub.users import store
from offerhub.users.provisioning import AccountProvisioner


def check_eligible(email: str) -> dict[str, Any]:
    """The Airtm user behind this email, if it may pay and be paid; else 422 AIRTM_USER_INVALID with the reason."""
    found = airtm().user(email)
    reason = None
    if found is None:
        reason = "USER_NOT_FOUND"
    elif str(found.get("status", "")).lower() != "active":
        reason = "USER_INACTIVE"
    elif not found.get("isVerified"):
        reason = "USER_NOT_VERIFIED"
    if reason or found is None:
        raise BusinessRuleViolation("this Airtm account cannot be used", code="AIRTM_USER_INVALID",
                                    details={"reason": reason, "email": email})
    return found


def link(ctx: RequestContext, user_id: str, email: str) -> dict[str, Any]:
    require(AIRTM, "linking an Airtm account")
    if not looks_like(user_id, "usr"):
        raise NotFound(f"user {user_id} not found", code="USER_NOT_FOUND")
    found = check_eligible(email)
    with transaction(ctx) as uow:
        row = store.by_id(uow.conn, user_id)
        if row is None:
            raise NotFound(f"user {user_id} not found", code="USER_NOT_FOUND")
        before = {"airtmUserId": row["airtm_user_id"], "airtmEmail": row["airtm_email"]}
        row = store.set_airtm_link(uow.conn, user_id, str(found["id"]), email)
        view = link_view(row)
        uow.emit(catalogue.USER_AIRTM_LINKED, "User", user_id,
                 {"userId": user_id, "airtmUserId": view["airtmUserId"], "linkedAt": view["airtmLinkedAt"]})
        record(uow, catalogue.USER_AIRTM_LINKED, "User", user_id, before=before, after=view)
        return view


def link_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"userId": row["id"], "airtmUserId": row["airtm_user_id"], "airtmLinkedAt": iso(row["airtm_linked_at"]),
            "eligible": row["airtm_user_id"] is not None, "email": row["airtm_email"]}


class AirtmLinkProvisioner(AccountProvisioner):
    """users/provisioning hook in airtm mode: a user created with an email is linked at once when that
    Airtm account is eligible. An ineligible account or an Airtm outage leaves the user unlinked (created
    all the same); `POST /users/{id}/airtm/link` links later."""

    def __init__(self, ctx: RequestContext):
        self.ctx = ctx

    def provision(self, user: dict[str, Any]) -> bool:
        if not user.get("email") or user.get("airtmLinked"):
            return False
        try:
            link(self.ctx, user["id"], user["email"])
        except OfferHubError as exc:
            logger.warning("Airtm link deferred", extra={"userId": user["id"], "code": exc.code})
            return False
        return True
