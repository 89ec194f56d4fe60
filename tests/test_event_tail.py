"""Following the event log (events/tail.py): in order, from the reader's own cursor, one run at a time."""

from __future__ import annotations

import secrets
import threading

from offerhub.adapters.postgres.unit_of_work import transaction
from offerhub.core.context import RequestContext
from offerhub.events import tail


def _emit(n: int, marker: str) -> None:
    with transaction(RequestContext(request_id="tail-test")) as uow:
        for i in range(n):
            uow.emit("user.created", "User", f"{marker}-{i}", {"i": i})


def _forever() -> int:
    return 10**9


def test_a_reader_starts_at_the_head_then_sees_every_later_event_once_in_order(db):
    reader = "test-" + secrets.token_hex(4)
    seen: list[dict] = []
    first = tail.follow(reader, seen.extend, _forever, max_ticks=1, poll_seconds=0)
    assert first.events == 0 and not seen  # history before the reader existed is not replayed
    marker = secrets.token_hex(4)
    _emit(3, marker)
    _emit(2, marker)
    second = tail.follow(reader, seen.extend, _forever, max_ticks=1, poll_seconds=0)
    assert [e["aggregateId"] for e in seen] == [f"{marker}-{i}" for i in (0, 1, 2, 0, 1)]
    sequences = [e["sequence"] for e in seen]
    assert sequences == sorted(sequences) and second.cursor == sequences[-1]
    again = tail.follow(reader, seen.extend, _forever, max_ticks=1, poll_seconds=0)
    assert again.events == 0 and len(seen) == 5  # the cursor was kept


def test_only_one_run_of_a_reader_holds_the_log(db):
    reader = "test-" + secrets.token_hex(4)
    inside, release = threading.Event(), threading.Event()

    def slow(_: list[dict]) -> None:
        inside.set()
        release.wait(10)

    runner = threading.Thread(target=tail.follow, args=(reader, slow, _forever), kwargs={"max_ticks": 1})
    runner.start()
    assert inside.wait(10)
    try:
        assert tail.follow(reader, lambda _: None, _forever, max_ticks=1).skipped
    finally:
        release.set()
        runner.join()
    assert not tail.follow(reader, lambda _: None, _forever, max_ticks=1, poll_seconds=0).skipped
