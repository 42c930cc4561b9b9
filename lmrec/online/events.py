"""The event log: an append-only SQLite table in WAL mode with synchronous=FULL.

`append` commits before it returns, so an acknowledged event is on disk and survives a crash (kill -9, power
loss on a disk that honours fsync). Readers (the service, the online updater) see every committed event in id
order; ids are strictly increasing (AUTOINCREMENT never reuses one), so `since(last_id)` is a safe cursor.

    log = EventLog(run_dir / "events.sqlite")
    ids = log.append([Event("u1", "i42")])
    new = log.since(ids[-1] - 1)
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmrec.errors import DataError, StorageFullError

DEFAULT_NAME = "events.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    value REAL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_user ON events (user_id, id);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    first_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    digest TEXT NOT NULL,
    received_at REAL NOT NULL
);
"""
COLUMNS = "id, user_id, item_id, timestamp, event_type, value, received_at"


EXPOSURE_EVENTS = frozenset({"impression"})  # shown to the user, no sign of interest: never a history item


@dataclass(frozen=True)
class Event:
    """One interaction. `id` and `received_at` are set by the log; `timestamp` defaults to the receive time.
    An `impression` records that the item was shown: it never joins the user's history nor is learned from as a
    positive; `lmrec update` takes it as a negative for the user's next choice (unless they choose it)."""

    user_id: str
    item_id: str
    timestamp: int | None = None
    event_type: str = "click"
    value: float | None = None
    id: int | None = None
    received_at: float | None = None

    @property
    def shows_interest(self) -> bool:
        """A click, purchase, rating...: anything but an exposure event."""
        return self.event_type not in EXPOSURE_EVENTS


def default_path(run_dir: str | Path) -> Path:
    """Where a run's event log lives: RUN_DIR/events.sqlite."""
    return Path(run_dir) / DEFAULT_NAME


class ThreadConnections:
    """What every event log shares: one database connection per thread, all closed by `close()` (from any
    thread; later calls raise), `append` in terms of `append_once`, use as a context manager."""

    name: str  # the log in messages (a path, a URL without its password)
    table = "events"  # the events table
    idempotency = "idempotency"  # the idempotency keys' table
    mark = "?"  # the driver's parameter placeholder

    def __init__(self) -> None:
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    def _thread_connection(self) -> Any:
        """This thread's open connection (None: open one and `_keep` it)."""
        if self._closed:
            raise DataError(f"{self.name}: event log is closed")
        return getattr(self._local, "db", None)

    def _keep(self, db: Any) -> None:
        self._local.db = db
        with self._lock:
            self._connections.append(db)

    def append_once(self, events: Iterable[Event], *, key: str | None = None) -> tuple[list[int], bool]:
        raise NotImplementedError

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        """The rows of one read query."""
        raise NotImplementedError

    def _replayed(self, db: Any, key: str | None, digest: str) -> list[int] | None:
        """Inside an append's transaction: the ids a first append with `key` stored (None: no such key, or no
        key); KeyReused when that append held other events."""
        if key is None:
            return None
        m = self.mark
        found = db.execute(f"SELECT first_id, count, digest FROM {self.idempotency} WHERE key = {m}",
                           (key,)).fetchone()
        if found is None:
            return None
        if found[2] != digest:
            raise KeyReused("this key was used before with different events", field="Idempotency-Key")
        return list(range(found[0], found[0] + found[1]))

    def _remember(self, db: Any, key: str | None, ids: list[int], digest: str, now: float) -> None:
        """Inside an append's transaction: record `key` for the ids just stored."""
        if key is not None:
            m = self.mark
            db.execute(f"INSERT INTO {self.idempotency} (key, first_id, count, digest, received_at) "
                       f"VALUES ({m}, {m}, {m}, {m}, {m})", (key, ids[0], len(ids), digest, now))

    def for_user(self, user_id: str) -> list[Event]:
        """Every event of one user, oldest first."""
        rows = self._rows(f"SELECT {COLUMNS} FROM {self.table} WHERE user_id = {self.mark} ORDER BY id",
                          (str(user_id),))
        return [event_from_row(row) for row in rows]

    def since(self, event_id: int = 0, *, limit: int | None = None) -> list[Event]:
        """Events with id > event_id in id order (at most `limit`): the cursor an updater polls with."""
        query = f"SELECT {COLUMNS} FROM {self.table} WHERE id > {self.mark} ORDER BY id"
        params: tuple = (int(event_id),)
        if limit is not None:
            query += f" LIMIT {self.mark}"
            params += (int(limit),)
        return [event_from_row(row) for row in self._rows(query, params)]

    def count(self) -> int:
        return int(self._rows(f"SELECT COUNT(*) FROM {self.table}")[0][0])

    def last_id(self) -> int:
        """The highest id stored (0 when empty)."""
        return int(self._rows(f"SELECT COALESCE(MAX(id), 0) FROM {self.table}")[0][0])

    def append(self, events: Iterable[Event], *, key: str | None = None) -> list[int]:
        """Store events in one transaction; returns their ids once the commit is durable (all or none).

        With an idempotency `key` a retried append (same key, same events) stores nothing and returns the first
        append's ids (`append_once` also says which happened); the same key with other events raises `KeyReused`."""
        return self.append_once(events, key=key)[0]

    def close(self) -> None:
        """Close every connection this log opened (from any thread); later calls raise."""
        with self._lock:
            self._closed = True
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventLog(ThreadConnections):
    """Durable append-only event storage, safe to share between threads (one connection per thread).

    Writes are serialised by SQLite itself (one writer at a time, `busy_timeout` waits); WAL lets readers run
    while a write commits. Another process may open the same file (the updater), with the same guarantees.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        super().__init__()
        self.path = Path(path)
        self.name = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._timeout_s = timeout_s
        _check_files(self.path)
        try:
            self._connection().executescript(_SCHEMA)  # executescript commits on its own
            self._connection().execute("SELECT COUNT(*) FROM events").fetchone()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise DataError(f"{self.path}: not a readable event log ({exc}); move it aside to start a new one "
                            "(its events are then not served)") from None

    # -- connections -----------------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        db = self._thread_connection()
        if db is None:
            db = sqlite3.connect(self.path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(f"PRAGMA busy_timeout={int(self._timeout_s * 1000)}")
            self._keep(db)
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    # -- writes ----------------------------------------------------------------------------------------------
    def append_once(self, events: Iterable[Event], *, key: str | None = None) -> tuple[list[int], bool]:
        """`append`, and whether the events were stored now (False: a replay of `key`)."""
        now = time.time()
        events = list(events)
        rows = [event_row(event, now) for event in events]
        if not rows:
            return [], False
        digest = digest_events(events) if key is not None else ""
        with _storage_errors(self.path), self._transaction() as db:
            replayed = self._replayed(db, key, digest)
            if replayed is not None:
                return replayed, False
            first = None
            for row in rows:
                cursor = db.execute(
                    "INSERT INTO events (user_id, item_id, timestamp, event_type, value, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)", row)
                first = cursor.lastrowid if first is None else first
            last = cursor.lastrowid
            self._remember(db, key, list(range(first, last + 1)), digest, now)
        assert first is not None and last - first + 1 == len(rows)  # one writer inside the transaction
        return list(range(first, last + 1)), True

    def erase_user(self, user_id: str) -> int:
        """Delete every event of one user (erasure); the freed pages are zeroed (secure_delete), the WAL
        checkpointed and truncated, so the events are gone from the files too. Returns how many were deleted."""
        db = self._connection()
        db.execute("PRAGMA secure_delete=ON")
        with _storage_errors(self.path), self._transaction() as tx:
            deleted = tx.execute("DELETE FROM events WHERE user_id = ?", (str(user_id),)).rowcount
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(deleted)

    # -- reads -----------------------------------------------------------------------------------------------
    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._connection().execute(sql, params).fetchall()

    def by_ids(self, ids: Iterable[int]) -> list[Event]:
        """The events with these ids (those that exist), in id order."""
        wanted = sorted({int(i) for i in ids})
        out: list[Event] = []
        for start in range(0, len(wanted), 500):  # SQLite caps the number of bound parameters
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out += [event_from_row(row) for row in self._connection().execute(
                f"SELECT {COLUMNS} FROM events WHERE id IN ({marks}) ORDER BY id", chunk)]
        return out


WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")


def _check_files(path: Path) -> None:
    """Refuse what SQLite would open quietly at the cost of events: a write-ahead log with a broken header (SQLite
    drops it, and every commit not yet checkpointed with it). Warn about an empty database file next to no WAL
    (a truncated log reads as a new, empty one)."""
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        with open(wal, "rb") as handle:
            if handle.read(4) not in WAL_MAGIC:
                raise DataError(f"{wal}: write-ahead log header is corrupt; SQLite would drop the events committed "
                                "in it. Move it aside to start without them")
    if path.is_file() and path.stat().st_size == 0 and not (wal.is_file() and wal.stat().st_size > 0):
        logging.getLogger(__name__).warning("%s: the event log file is empty (0 bytes); starting a new log, so "
                                            "any events it held are lost", path)


@contextmanager
def _storage_errors(path: Path) -> Iterator[None]:
    """A full disk becomes StorageFullError (nothing was committed), not an internal error."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "disk is full" in str(exc).lower():  # SQLITE_FULL: "database or disk is full"
            raise StorageFullError(f"{path}: no space left; the events were not stored") from None
        raise


class KeyReused(DataError):
    """An idempotency key sent again with different events (HTTP 422)."""


def digest_events(events: list[Event]) -> str:
    """What a retry must repeat: every event's fields (a missing timestamp stays missing, not the receive time)."""
    text = json.dumps([[e.user_id, e.item_id, e.timestamp, e.event_type, e.value] for e in events])
    return hashlib.sha256(text.encode()).hexdigest()


def event_row(event: Event, now: float) -> tuple:
    user, item = str(event.user_id), str(event.item_id)
    if not user or not item:
        raise DataError("event needs a non-empty user_id and item_id", field="user_id" if not user else "item_id")
    timestamp = int(now) if event.timestamp is None else int(event.timestamp)
    value = None if event.value is None else float(event.value)
    return user, item, timestamp, str(event.event_type), value, now


def event_from_row(row: tuple) -> Event:
    event_id, user, item, timestamp, event_type, value, received_at = row
    return Event(user, item, timestamp, event_type, value, event_id, received_at)
