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


def test_a_run_needs_no_second_pooled_connection(database_url):
    """The lock is held outside the pool: with a pool of one (DB_POOL_SIZE 1, no overflow), the run's reads, its
    cursor and the reader's own work all get the pooled connection (held by the lock, they waited it out)."""
    from sqlalchemy import create_engine

    from offerhub.adapters.postgres import engine
    from offerhub.adapters.postgres.unit_of_work import read_only

    previous = engine.get_engine()
    single = create_engine(engine.normalize_url(database_url), pool_size=1, max_overflow=0, pool_timeout=2)
    engine.set_engine(single)
    try:
        reader = "test-" + secrets.token_hex(4)
        tail.follow(reader, lambda _: None, _forever, max_ticks=1, poll_seconds=0)
        marker = secrets.token_hex(4)
        _emit(2, marker)
        worked: list[int] = []

        def tick(batch: list[dict]) -> None:
            with read_only() as conn:  # the reader's own work, as the dispatcher's catch-up reads
                worked.append(int(tail.head(conn)))

        run = tail.follow(reader, tick, _forever, max_ticks=1, poll_seconds=0)
        assert run.events == 2 and not run.skipped and worked
    finally:
        engine.set_engine(previous)
        single.dispose()
