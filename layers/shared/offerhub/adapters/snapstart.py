"""Lambda SnapStart runtime hooks (template parameter `EnableSnapStart`).

With SnapStart, Lambda runs a published version's init once, snapshots the memory and starts every later
environment from that snapshot. Two kinds of state must not travel in it:
- open database connections: the snapshot may be restored hours later and many times at once, and each copy
  would believe it owns the same socket. Before the snapshot, the engine's pool is emptied (the engine stays;
  its first checkout after the restore opens a fresh connection).
- seeded randomness: every restored environment would draw the same `random` sequence (retry jitter would
  stop spreading the retries). After each restore, `random` is reseeded from the OS. `secrets`, `os.urandom`
  and `uuid4` read the kernel and need nothing.

The hooks come from `snapshot_restore_py`, which only the Lambda Python runtime provides. Elsewhere (tests, the
local stack, a function without SnapStart) the import fails and nothing is registered; with SnapStart off,
Lambda never calls the hooks. The module is imported once per process by `offerhub.observability`, which every
function imports during init, as the hooks must be registered before the snapshot.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable

ENGINE_MODULE = "offerhub.adapters.postgres.engine"


def close_database_connections() -> None:
    """Empty the pool of the engine the init built, if it built one (the module is left unimported otherwise:
    a function that never touches Postgres does not pay for SQLAlchemy here)."""
    engine_module = sys.modules.get(ENGINE_MODULE)
    engine = getattr(engine_module, "_engine", None) if engine_module is not None else None
    if engine is not None:
        engine.dispose()


def reseed_randomness() -> None:
    random.seed()  # from os.urandom: no two restored environments share a sequence


def register(before_snapshot: Callable[..., object], after_restore: Callable[..., object]) -> None:
    before_snapshot(close_database_connections)
    after_restore(reseed_randomness)


try:
    from snapshot_restore_py import register_after_restore, register_before_snapshot  # type: ignore[import-not-found]
except ImportError:  # not in Lambda's Python runtime
    pass
else:
    register(register_before_snapshot, register_after_restore)
