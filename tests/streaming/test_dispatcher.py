"""The dispatcher on real Postgres and moto's DynamoDB, with a recording pusher: what each connection receives,
in which order, and what happens to connections that leave, fail or lose their key."""

from __future__ import annotations

import random
import threading
from typing import Any

from sqlalchemy import select

from offerhub.adapters.postgres.schema import events
from offerhub.adapters.postgres.unit_of_work import read_only
from offerhub.core.pagination import PageRequest
from offerhub.events import tail
from offerhub.events.service import list_events
from offerhub.events.store import to_public
from offerhub.streaming.dispatcher import Dispatcher, run
from tests.streaming.helpers import emit, forever, marker, reader


def _dispatcher(connections, pusher, **options: Any) -> Dispatcher:
    return Dispatcher(store=connections, pusher=pusher, refresh_seconds=0, **options)


def _run(d: Dispatcher, name: str, ticks: int = 1) -> dict[str, Any]:
    return run(forever, reader=name, dispatcher=d, max_ticks=ticks, poll_seconds=0)


def _events_of(m: str) -> list[dict[str, Any]]:
    with read_only() as conn:
        rows = conn.execute(select(events).where(events.c.aggregate_id.like(f"{m}-%"))
                            .order_by(events.c.sequence)).mappings().all()
    return [to_public(r) for r in rows]


def test_each_new_event_reaches_the_connection_once_as_get_events_shows_it(connections, pusher, open_connection):
    name, m = reader(), marker()
    d = _dispatcher(connections, pusher)
    connection_id = open_connection(types="user.created")
    _run(d, name)  # the reader starts at the head of the log
    emit(3, m, per_transaction=2)
    result = _run(d, name)
    shown = list_events(PageRequest(limit=100), types=["user.created"])  # oldest first, from the start
    expected = [e for e in _all_pages(shown) if e["aggregateId"].startswith(m)]
    assert pusher.frames[connection_id] == expected and len(expected) == 3
    assert result["frames"] == 3 and result["events"] >= 3
    assert connections.get(connection_id).position == expected[-1]["sequence"]  # saved at the end of the run
    assert _run(_dispatcher(connections, pusher), name)["frames"] == 0  # the next run: nothing again
    assert len(pusher.frames[connection_id]) == 3


def _all_pages(page: Any) -> list[dict[str, Any]]:
    items = list(page.items)
    while page.has_more:
        page = list_events(PageRequest(limit=100, cursor=page.next_cursor), types=["user.created"])
        items += page.items
    return items


def test_filters_pick_the_events(connections, pusher, open_connection):
    name, m = reader(), marker()
    d = _dispatcher(connections, pusher)
    family = open_connection(types="order.*")
    exact = open_connection(types="order.created")
    one_resource = open_connection(resourceId=f"{m}-x-0")
    mixed = open_connection(types="escrow.funded,order.canceled")
    _run(d, name)
    emit(1, f"{m}-a", "order.created")
    emit(1, f"{m}-a", "order.canceled")
    emit(1, f"{m}-b", "escrow.created")
    emit(1, f"{m}-c", "escrow.funded")
    emit(1, f"{m}-x", "dispute.opened")
    _run(d, name)

    def seen(connection_id: str) -> list[tuple[str, str]]:
        return [(f["type"], f["aggregateId"]) for f in pusher.frames[connection_id]]

    assert seen(family) == [("order.created", f"{m}-a-0"), ("order.canceled", f"{m}-a-0")]
    assert seen(exact) == [("order.created", f"{m}-a-0")]
    assert seen(one_resource) == [("dispute.opened", f"{m}-x-0")]
    assert seen(mixed) == [("order.canceled", f"{m}-a-0"), ("escrow.funded", f"{m}-c-0")]


def test_a_revoked_keys_connections_are_dropped_at_the_next_push(connections, pusher, open_connection, api_key,
                                                               master_key):
    from offerhub.auth.keys import key_id_of
    from tests.lambda_client import call

    name = reader()
    d = _dispatcher(connections, pusher)
    key, other_key = api_key("read"), api_key("read")
    doomed, other = open_connection(key), open_connection(other_key)
    _run(d, name)
    assert call("DELETE", f"/api/v1/auth/api-keys/{key_id_of(key)}", key=master_key).status == 200
    result = _run(d, name)  # the revocation is itself an event: the next push
    assert pusher.closed == [doomed] and connections.get(doomed) is None
    assert pusher.frames[doomed] == []
    assert [f["type"] for f in pusher.frames[other]] == ["api_key.revoked"]
    assert result["revoked"] == 1 and doomed not in d.view


def test_a_gone_connection_is_deleted(connections, pusher, open_connection):
    name = reader()
    d = _dispatcher(connections, pusher, connect_grace_ms=0)
    gone, staying = open_connection(), open_connection()
    _run(d, name)
    pusher.gone.add(gone)
    emit(2, marker())
    result = _run(d, name)
    assert connections.get(gone) is None and gone not in d.view
    assert result["gone"] == 1 and len(pusher.frames[staying]) == 2


def test_a_410_right_after_the_connect_waits_for_the_connect_to_finish(connections, pusher, open_connection):
    """API Gateway refuses frames until $connect has returned: the connection keeps its place."""
    name, m = reader(), marker()
    d = _dispatcher(connections, pusher)
    connecting = open_connection(types="user.created")
    _run(d, name)
    pusher.gone.add(connecting)
    emit(2, m)
    assert _run(d, name)["gone"] == 0
    assert connections.get(connecting) is not None and pusher.frames[connecting] == []
    pusher.gone.discard(connecting)  # $connect returned
    emit(1, m)
    _run(d, name)
    assert [f["aggregateId"] for f in pusher.frames[connecting]] == [f"{m}-0", f"{m}-1", f"{m}-0"]


def test_a_failed_push_resumes_at_the_failed_frame_next_tick(connections, pusher, open_connection):
    name, m = reader(), marker()
    d = _dispatcher(connections, pusher)
    connection_id = open_connection(types="user.created")
    _run(d, name)
    pusher.fail_on[connection_id] = 2  # the second frame fails (throttled past the retries)
    emit(3, m)
    assert _run(d, name)["failed"] == 1
    assert [f["aggregateId"] for f in pusher.frames[connection_id]] == [f"{m}-0"]
    emit(1, m)
    _run(d, name)
    assert [f["aggregateId"] for f in pusher.frames[connection_id]] == [f"{m}-0", f"{m}-1", f"{m}-2", f"{m}-0"]
    sequences = pusher.sequences(connection_id)
    assert sequences == sorted(set(sequences))


def test_a_refused_frame_is_skipped_and_the_stream_goes_on(connections, pusher, open_connection):
    name, m = reader(), marker()
    d = _dispatcher(connections, pusher)
    connection_id = open_connection(types="user.created")
    _run(d, name)
    pusher.refuse_on[connection_id] = 2  # e.g. 413: the same frame would be refused again
    emit(3, m)
    result = _run(d, name)
    assert [f["aggregateId"] for f in pusher.frames[connection_id]] == [f"{m}-0", f"{m}-2"]
    assert result["refused"] == 1 and result["frames"] == 2 and result["failed"] == 0


def test_a_connection_behind_is_caught_up_from_the_log_then_goes_live(connections, pusher, open_connection):
    name, m = reader(), marker()
    d = _dispatcher(connections, pusher, catch_up_limit=3)
    emit(8, m, per_transaction=3)
    history = _events_of(m)
    connection_id = open_connection(types="user.created", after=history[0]["id"])
    tail.follow(name, d.tick, forever, max_ticks=1, poll_seconds=0)  # catch-up: 3 of the 7
    assert pusher.sequences(connection_id) == [e["sequence"] for e in history[1:4]]
    emit(2, f"{m}-live")
    for _ in range(5):
        tail.follow(name, d.tick, forever, max_ticks=1, poll_seconds=0)
    expected = [e["sequence"] for e in _events_of(m)[1:]]  # history after the cursor, then the live two
    assert pusher.sequences(connection_id) == expected
    # Saved when its catch-up completed (no end-of-run flush has happened: follow() was called directly).
    assert connections.get(connection_id).position == expected[-1]
    assert d.totals.caught_up == 1


def test_positions_are_saved_when_a_catch_up_completes_and_at_the_end_of_a_run(connections, pusher,
                                                                              open_connection):
    name, m = reader(), marker()
    d = _dispatcher(connections, pusher)
    live = open_connection(types="user.created")
    tail.follow(name, d.tick, forever, max_ticks=1, poll_seconds=0)
    emit(2, m)
    tail.follow(name, d.tick, forever, max_ticks=1, poll_seconds=0)  # the dispatcher is past both
    late = open_connection(types="user.created", after=_events_of(m)[0]["id"])  # behind it
    stored_live = connections.get(live).position
    emit(1, f"{m}-more")
    tail.follow(name, d.tick, forever, max_ticks=1, poll_seconds=0)
    assert [f["aggregateId"] for f in pusher.frames[late]] == [f"{m}-1", f"{m}-more-0"]
    newest = _events_of(m)[-1]["sequence"]
    assert connections.get(late).position == newest  # caught up: saved at once
    assert connections.get(live).position == stored_live  # live all along: not written per event
    assert d.view[live].position == newest
    d.flush()
    assert connections.get(live).position == newest


def test_after_a_crash_the_next_run_sends_again_rather_than_skip(connections, pusher, open_connection):
    """A run that dies has not saved its connections' positions: at least once, never a gap."""
    name, m = reader(), marker()
    connection_id = open_connection(types="user.created")
    crashed = _dispatcher(connections, pusher)
    tail.follow(name, crashed.tick, forever, max_ticks=1, poll_seconds=0)
    emit(3, m)
    tail.follow(name, crashed.tick, forever, max_ticks=1, poll_seconds=0)  # sent; then the run dies unsaved
    assert [f["aggregateId"] for f in pusher.frames[connection_id]] == [f"{m}-0", f"{m}-1", f"{m}-2"]
    emit(1, f"{m}-after")
    _run(_dispatcher(connections, pusher), name)  # the next scheduled run
    again = [f["aggregateId"] for f in pusher.frames[connection_id]]
    assert again == [f"{m}-0", f"{m}-1", f"{m}-2", f"{m}-0", f"{m}-1", f"{m}-2", f"{m}-after-0"]
    _run(_dispatcher(connections, pusher), name)
    emit(1, f"{m}-later")
    _run(_dispatcher(connections, pusher), name)
    assert [f["aggregateId"] for f in pusher.frames[connection_id]][7:] == [f"{m}-later-0"]  # saved: no repeat


def _holding_run(connections, pusher, name: str) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """A run that holds the log inside its first tick until released."""
    inside, release = threading.Event(), threading.Event()
    first = _dispatcher(connections, pusher)
    original = first.tick

    def slow(batch):
        original(batch)
        inside.set()
        release.wait(10)

    first.tick = slow  # type: ignore[method-assign]
    runner = threading.Thread(target=_run, args=(first, name))
    runner.start()
    assert inside.wait(10)
    return runner, inside, release


def test_an_overlapping_run_gives_up_after_its_lock_wait(connections, pusher, open_connection):
    name = reader()
    open_connection()
    runner, _, release = _holding_run(connections, pusher, name)
    try:
        result = run(forever, reader=name, dispatcher=_dispatcher(connections, pusher), lock_wait_seconds=0,
                     max_ticks=1, poll_seconds=0)
        assert result["skipped"] and result["ticks"] == 0
    finally:
        release.set()
        runner.join()


def test_the_next_run_takes_over_when_the_previous_one_lets_go(connections, pusher, open_connection, monkeypatch):
    """Runs overlap by a few seconds (timeout 65 s, schedule 60 s): the new one waits for the lock."""
    name, m = reader(), marker()
    connection_id = open_connection(types="user.created")
    runner, _, release = _holding_run(connections, pusher, name)
    turned_away = threading.Event()
    follow = tail.follow

    def observed(*args: Any, **kwargs: Any) -> tail.FollowRun:
        result = follow(*args, **kwargs)
        if result.skipped:
            turned_away.set()
        return result

    monkeypatch.setattr(tail, "follow", observed)
    results: list[dict[str, Any]] = []
    successor = threading.Thread(target=lambda: results.append(run(
        forever, reader=name, dispatcher=_dispatcher(connections, pusher), lock_wait_seconds=10, max_ticks=1,
        poll_seconds=0)))
    successor.start()
    assert turned_away.wait(10)  # the successor found the lock taken before the previous run let go
    emit(1, m)
    release.set()
    runner.join()
    successor.join()
    assert not results[0]["skipped"] and results[0]["lockWaitMs"] > 0
    assert [f["aggregateId"] for f in pusher.frames[connection_id]] == [f"{m}-0"]


def test_a_tick_out_of_time_leaves_the_rest_to_the_next_ticks(connections, pusher, open_connection):
    """Each tick may send for a while only; a connection it did not finish catches up from the log, in order."""
    name, m = reader(), marker()
    ticks = iter(range(10**6))
    d = _dispatcher(connections, pusher, tick_seconds=2.5, clock=lambda: float(next(ticks)))  # 2 frames a tick
    connection_id = open_connection(types="user.created")
    tail.follow(name, d.tick, forever, max_ticks=1, poll_seconds=0)
    emit(5, m)
    tail.follow(name, d.tick, forever, max_ticks=1, poll_seconds=0)
    assert [f["aggregateId"] for f in pusher.frames[connection_id]] == [f"{m}-0", f"{m}-1"]
    for _ in range(3):
        tail.follow(name, d.tick, forever, max_ticks=1, poll_seconds=0)
    assert [f["aggregateId"] for f in pusher.frames[connection_id]] == [f"{m}-{i}" for i in range(5)]
    assert d.totals.paused == 2


def test_every_event_after_the_cursor_exactly_once_in_order_under_concurrent_commits(connections, pusher,
                                                                                    open_connection):
    """Writers commit while connections join (one resuming far back, one at the head, one after an event the
    writers just made) and a dispatcher catches them up in small steps and pushes live events."""
    name, m = reader(), marker()
    emit(20, m, per_transaction=3)
    history = _events_of(m)
    d = _dispatcher(connections, pusher, catch_up_limit=7)
    _run(d, name)  # the reader starts after the history
    resuming = open_connection(types="user.created", after=history[4]["id"])

    stop, halfway = threading.Event(), threading.Event()

    def write(w: int) -> None:
        from offerhub.adapters.postgres.unit_of_work import transaction
        from offerhub.core.context import RequestContext

        rng, i = random.Random(w), 0
        while i < 90:
            n = min(rng.randint(1, 4), 90 - i)
            with transaction(RequestContext(request_id=f"writer-{w}")) as uow:
                for k in range(i, i + n):
                    uow.emit("user.created", "User", f"{m}-w{w}-{k}", {"k": k})
            i += n
            if w == 0 and i >= 45:
                halfway.set()

    def dispatch() -> None:
        run(lambda: 0 if stop.is_set() else 10**9, reader=name, dispatcher=d, poll_seconds=0.002)

    dispatcher = threading.Thread(target=dispatch)
    writers = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    dispatcher.start()
    for t in writers:
        t.start()
    assert halfway.wait(30)
    at_head = open_connection(types="user.created")
    head_start = connections.get(at_head).position
    with read_only() as conn:
        recent = conn.execute(select(events.c.id, events.c.sequence).where(events.c.aggregate_id.like(f"{m}-w0-%"))
                              .order_by(events.c.sequence.desc()).limit(1)).one()
    after_recent = open_connection(types="user.created", after=recent.id)
    for t in writers:
        t.join()
    stop.set()
    dispatcher.join()
    for _ in range(100):  # drain: until every connection is level with the log
        _run(d, name)
        with read_only() as conn:
            head = tail.head(conn)
        if all(s.position >= head for s in d.view.values()):
            break

    everything = [e["sequence"] for e in _events_of(m)]
    assert len(everything) == 20 + 3 * 90
    assert pusher.sequences(resuming) == [s for s in everything if s > history[4]["sequence"]]
    assert pusher.sequences(at_head) == [s for s in everything if s > head_start]
    assert pusher.sequences(after_recent) == [s for s in everything if s > recent.sequence]
    assert d.totals.caught_up >= 1 and d.totals.failed == 0
