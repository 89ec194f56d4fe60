"""Airtm mode's share of issue 13.4: a confirmed top-up, credited by the webhook worker, counts as a deposit."""

from __future__ import annotations

from offerhub.observability import DEPOSITS_CREDITED
from tests.airtm.conftest import top_up
from tests.test_observability import emf, totals  # noqa: F401 - the EMF capture fixture


def test_a_credited_top_up_counts_as_a_deposit(emf, airtm_user, key):  # noqa: F811 - fixture
    user = airtm_user()
    emf()
    topup = top_up(key, user["id"], "20.00")  # webhook -> queue -> the webhook worker credits it
    assert topup["status"] == "TOPUP_SUCCEEDED"
    worker = [d for d in emf() if d.get("function_name") == "webhook-worker"]
    assert totals(worker) == {DEPOSITS_CREDITED: 1}
