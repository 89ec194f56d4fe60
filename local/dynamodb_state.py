"""moto's DynamoDB, kept across restarts of `make run`: without it a retried POST with the same
Idempotency-Key would be applied twice after a restart, because its record lived only in memory.

Write-through, so a crash (even SIGKILL) loses nothing a client saw answered:
- every mutating call on the backend (put, update, delete, transactions) runs under one lock and then appends
  the resulting state of each item it named to `journal.jsonl`, one JSON line, in one write() to a file
  opened O_APPEND. A killed process leaves at most a torn last line, which the load skips. No fsync: the page
  cache outlives the process; only a power cut could lose the last lines, acceptable for a local stack.
- `items.json` is a full snapshot, written to a temporary file, fsynced and renamed over the old one, at
  start and whenever the journal has grown past twice the live items (so a write costs O(item), amortised).
  Snapshot and journal carry a generation; a journal from an older generation than the snapshot (a crash
  between the two renames) is already contained in it and is ignored.
- the load drops items whose TTL attribute has passed (DynamoDB would delete them) and items of tables the
  template no longer declares. Tables named `transient` (the WebSocket connections: the local gateway's
  connections die with the process) are neither saved nor restored.

Serialising the backend's writes also makes moto's conditional writes atomic, which its threaded server does
not promise otherwise (two requests with one Idempotency-Key could both pass the condition).
Only items are kept; the tables themselves come from template.yaml on every start.
"""

from __future__ import annotations

import fcntl
import functools
import inspect
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from moto.dynamodb.exceptions import ConditionalCheckFailed, TransactionCanceledException
from moto.dynamodb.models.dynamo_type import DynamoType

SNAPSHOT = "items.json"
JOURNAL = "journal.jsonl"
LOCK = "lock"
FORMAT = 1
COMPACT_AFTER_LINES = 1000  # plus twice the items the last snapshot held

# Backend calls that change items, and the items they name: (table name, the item or its key) from their arguments.
Named = list[tuple[str, Any]]
Keys = list[tuple[str, list[Any]]]  # (table name, [hash value, range value or None])


def _named_item(args: dict[str, Any]) -> Named:
    return [(args["table_name"], args["item_attrs"])]


def _named_key(args: dict[str, Any]) -> Named:
    return [(args["table_name"], args["key"])]


def _named_in_transaction(args: dict[str, Any]) -> Named:
    ops = [next(iter(entry.items())) for entry in args["transact_items"]]
    return [(op.get("TableName"), op.get("Item") if op_type == "Put" else op.get("Key"))
            for op_type, op in ops if op_type != "ConditionCheck"]


KEYED: dict[str, Callable[[dict[str, Any]], Named]] = {
    "put_item": _named_item,  # batch_write_item's puts come through here too
    "update_item": _named_key,
    "delete_item": _named_key,  # and its deletes
    "transact_write_items": _named_in_transaction,
}
# Calls whose changed items are not known from their arguments (PartiQL, restores): snapshot everything.
WHOLESALE = ("delete_table", "execute_statement", "execute_transaction", "batch_execute_statement",
             "restore_table_from_backup", "restore_table_to_point_in_time", "import_table")


def _key_of(table: Any, attrs: dict[str, Any]) -> list[Any]:
    return [attrs[table.hash_key_attr], attrs.get(table.range_key_attr) if table.range_key_attr else None]


class DynamoDBState:
    """Keeps one moto DynamoDB backend's items in `directory` (see the module docstring)."""

    def __init__(self, backend: Any, directory: Path, lock_fd: int | None = None,
                 transient: Iterable[str] = ()):
        self.backend = backend
        self.transient = frozenset(transient)
        self._lock_fd = lock_fd
        self.directory = directory
        self.snapshot = directory / SNAPSHOT
        self.journal = directory / JOURNAL
        self._lock = threading.RLock()
        self._depth = 0  # nesting of hooked calls (a transaction calls put_item); only the outermost records
        self._generation = 0
        self._journal_fd: int | None = None
        self._journal_lines = 0
        self._items_at_snapshot = 0
        self._compaction_failed = False  # then every write retries it, so what is in memory gets saved
        self.restored = 0
        self.dropped_expired = 0

    # --- start -------------------------------------------------------------------------------------------

    def load_and_hook(self) -> None:
        """Put the saved items into the backend's (already created) tables, write a fresh snapshot, and from
        then on record every write."""
        with self._lock:
            tables = self._read_saved()
            now = time.time()
            for name, items in tables.items():
                table = self._kept_table(name)
                if table is None:
                    continue
                for attrs in items.values():
                    if _expired(table, attrs, now):
                        self.dropped_expired += 1
                        continue
                    table.put_item(attrs)
                    self.restored += 1
            self._compact()
            self._hook()

    def _read_saved(self) -> dict[str, dict[str, dict[str, Any]]]:
        """table name → key → item attributes, from the snapshot then the journal of the same generation."""
        tables: dict[str, dict[str, dict[str, Any]]] = {}
        if self.snapshot.exists():
            try:
                saved = json.loads(self.snapshot.read_text())  # written by rename: whole or absent
            except ValueError as exc:  # not ours, or edited by hand: refuse rather than forget the records
                raise RuntimeError(f"{self.snapshot} is unreadable ({exc}); move it away to start empty") from exc
            self._generation = saved["generation"]
            for name, items in saved["tables"].items():
                table = self._kept_table(name)
                if table is not None:
                    tables[name] = {_key_text(_key_of(table, attrs)): attrs for attrs in items}
        lines = _journal_lines(self.journal)
        header = next(lines, None)
        if header is None or header.get("generation") != self._generation:
            return tables  # none yet, or already contained in the snapshot
        for change in lines:
            items = tables.setdefault(change["table"], {})
            if change["item"] is None:
                items.pop(_key_text(change["key"]), None)
            else:
                items[_key_text(change["key"])] = change["item"]
        return tables

    def _hook(self) -> None:
        for name, named in KEYED.items():
            self._wrap(name, named)
        for name in WHOLESALE:
            if hasattr(self.backend, name):
                self._wrap(name, None)

    def _wrap(self, name: str, named: Callable[[dict[str, Any]], Named] | None) -> None:
        original = getattr(self.backend, name)
        signature = inspect.signature(original)

        @functools.wraps(original)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self._depth += 1
                changed = True
                try:
                    return original(*args, **kwargs)
                except (ConditionalCheckFailed, TransactionCanceledException):
                    changed = False  # moto checks before it writes, and rolls a cancelled transaction back
                    raise
                finally:
                    self._depth -= 1
                    if self._depth == 0 and changed:
                        # After any other failure too: what the items now are is what is saved.
                        self._record(named, signature, args, kwargs)

        setattr(self.backend, name, recorded)

    # --- writes ------------------------------------------------------------------------------------------

    def _record(self, named: Callable[[dict[str, Any]], Named] | None, signature: inspect.Signature,
                args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self._journal_fd is None:
            return  # closed
        try:
            if named is None or self._compaction_failed:
                self._compact()
                return
            keys = self._keys(named(signature.bind(*args, **kwargs).arguments))
            if not keys:
                return
            lines = [_line({"table": table, "key": key, "item": self._current(table, key)}) for table, key in keys]
            os.write(self._journal_fd, b"".join(lines))
            self._journal_lines += len(lines)
            if self._journal_lines > COMPACT_AFTER_LINES + 2 * self._items_at_snapshot:
                self._compact()
        except Exception as exc:  # the write itself succeeded; say loudly that it will not survive a restart
            print(f"dynamodb state: could not save a write ({type(exc).__name__}: {exc})", flush=True)

    def _kept_table(self, name: Any) -> Any:
        return None if name in self.transient else self.backend.tables.get(name)

    def _keys(self, named: Named) -> Keys:
        """The (table, key) of each named item that can exist (a request missing its key was refused)."""
        keys: Keys = []
        for table_name, attrs in named:
            table = self._kept_table(table_name)
            if (table is not None and isinstance(attrs, dict) and table.hash_key_attr in attrs
                    and (table.range_key_attr is None or table.range_key_attr in attrs)):
                keys.append((table_name, _key_of(table, attrs)))
        return keys

    def _current(self, table_name: str, key: list[Any]) -> dict[str, Any] | None:
        table = self.backend.tables.get(table_name)
        if table is None:
            return None
        item = table.get_item(DynamoType(key[0]), DynamoType(key[1]) if key[1] is not None else None)
        return item.to_json()["Attributes"] if item is not None else None

    def _compact(self) -> None:
        """A full snapshot of the next generation, then an empty journal of that generation."""
        self._compaction_failed = True
        now = time.time()
        tables = {name: [attrs for attrs in (item.to_json()["Attributes"] for item in _items(table))
                         if not _expired(table, attrs, now)]
                  for name, table in self.backend.tables.items() if name not in self.transient}
        generation = self._generation + 1
        _atomic_write(self.snapshot, json.dumps({"format": FORMAT, "generation": generation, "tables": tables},
                                                default=_bytes_as_base64).encode())
        _atomic_write(self.journal, _line({"format": FORMAT, "generation": generation}))
        if self._journal_fd is not None:
            os.close(self._journal_fd)
        self._journal_fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND)
        self._generation = generation
        self._journal_lines = 0
        self._items_at_snapshot = sum(len(items) for items in tables.values())
        self._compaction_failed = False

    def close(self) -> None:
        """Stop saving (later writes stay in memory) and let another process keep the directory. Nothing is
        flushed here: every write was saved when it was made."""
        with self._lock:
            for fd in (self._journal_fd, self._lock_fd):
                if fd is not None:
                    os.close(fd)
            self._journal_fd = self._lock_fd = None


def keep_across_restarts(backend: Any, directory: Path, transient: Iterable[str] = ()) -> DynamoDBState | None:
    """Load `directory`'s saved items into `backend` and save every later write there (but none of the
    `transient` tables'). None (and the tables stay in memory only) when another live process already keeps
    this directory, e.g. a second `make run`."""
    directory.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released by the kernel when this process ends
    except BlockingIOError:
        os.close(lock_fd)
        return None
    state = DynamoDBState(backend, directory, lock_fd, transient)
    try:
        state.load_and_hook()
    except BaseException:
        state.close()
        raise
    return state


# --- helpers -------------------------------------------------------------------------------------------------


def _items(table: Any) -> Iterator[Any]:
    for value in table.items.values():
        if table.range_key_attr:
            yield from value.values()
        else:
            yield value


def _expired(table: Any, attrs: dict[str, Any], now: float) -> bool:
    ttl = table.ttl or {}
    if ttl.get("TimeToLiveStatus") != "ENABLED":
        return False
    value = attrs.get(ttl.get("AttributeName"))
    if not isinstance(value, dict) or "N" not in value:
        return False  # DynamoDB ignores a TTL attribute that is not a number
    try:
        return float(value["N"]) < now
    except ValueError:
        return False


def _key_text(key: list[Any]) -> str:
    return json.dumps(key, sort_keys=True)


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":"), default=_bytes_as_base64) + "\n").encode()


def _bytes_as_base64(value: Any) -> str:
    import base64

    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _journal_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The journal's records; a torn last line (the process was killed mid-write) is skipped."""
    if not path.exists():
        return
    with path.open("rb") as journal:
        for raw in journal:
            if not raw.endswith(b"\n"):
                return
            try:
                yield json.loads(raw)
            except ValueError:
                continue


def _atomic_write(path: Path, content: bytes) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)  # mkstemp's 0600 carries over
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
