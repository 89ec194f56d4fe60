"""The SnapStart hooks: registered only where the Lambda runtime offers them; the snapshot carries no open
database connection, and every restore gets its own random sequence."""

from __future__ import annotations

import importlib
import random
import sys
import types

from sqlalchemy import text

from offerhub.adapters import snapstart
from offerhub.adapters.postgres import engine as engine_module


def test_outside_lambda_nothing_is_registered():
    assert "snapshot_restore_py" not in sys.modules  # the runtime's library: absent here, and the import is quiet
    importlib.reload(snapstart)


def test_in_lambda_both_hooks_are_registered(monkeypatch):
    registered: dict[str, list] = {"before": [], "after": []}
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = registered["before"].append  # type: ignore[attr-defined]
    runtime.register_after_restore = registered["after"].append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    module = importlib.reload(snapstart)
    assert [f.__name__ for f in registered["before"]] == ["close_database_connections"]
    assert [f.__name__ for f in registered["after"]] == ["reseed_randomness"]
    monkeypatch.delitem(sys.modules, "snapshot_restore_py")
    importlib.reload(module)


def test_before_the_snapshot_the_pool_is_emptied_and_the_engine_still_works(database_url, monkeypatch):
    engine = engine_module.build_engine(database_url)
    monkeypatch.setattr(engine_module, "_engine", engine)
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assert engine.pool.checkedin() == 1  # what a snapshot would freeze

    snapstart.close_database_connections()

    assert engine.pool.checkedin() == 0
    with engine.connect() as conn:  # after the restore: a connection of its own
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    engine.dispose()


def test_without_an_engine_the_hook_builds_none(monkeypatch):
    monkeypatch.setattr(engine_module, "_engine", None)
    snapstart.close_database_connections()
    assert engine_module._engine is None


def test_after_a_restore_two_environments_draw_different_numbers():
    random.seed(42)  # the state a snapshot would hand to every environment
    state = random.getstate()
    snapstart.reseed_randomness()
    first = random.random()
    random.setstate(state)
    snapstart.reseed_randomness()
    assert random.random() != first
