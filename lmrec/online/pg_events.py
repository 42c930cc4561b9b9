"""The event log on PostgreSQL (psycopg 3), for several service replicas sharing one durable log.

Same contract as the SQLite `EventLog`: `append` returns only after the commit is durable (synchronous_commit=on,
set on every connection whatever the server's default), a batch is stored all or none, an idempotency key stores a
retried batch once, and ids are strictly increasing *in commit order*. The last point is what a reader's cursor
(`since(last_id)`) needs and what a plain sequence does not give: two transactions may take ids 10 and 11 and
commit 11 first, and a reader that saw 11 would skip 10 forever. Appends therefore take one transaction-level
advisory lock, so ids are handed out and committed in the same order (appends are serialised, as SQLite's are;
reads never wait).

    log = PostgresEventLog("postgresql://user@host/db")             # tables lmrec_events, lmrec_idempotency
    log = PostgresEventLog("postgresql://user@host/db?options=-csearch_path%3Drun1")   # one schema per run
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from lmrec.errors import DataError, StorageFullError, StorageUnavailableError
from lmrec.online.events import (
    COLUMNS,
    Event,
    ThreadConnections,
    digest_events,
    event_from_row,
    event_row,
)

APPEND_LOCK = 0x6C6D7265  # the advisory lock key every append takes ("lmre")
_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS lmrec_events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        timestamp BIGINT NOT NULL,
        event_type TEXT NOT NULL,
        value DOUBLE PRECISION,
        received_at DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS lmrec_events_user ON lmrec_events (user_id, id)",
    """CREATE TABLE IF NOT EXISTS lmrec_idempotency (
        key TEXT PRIMARY KEY,
        first_id BIGINT NOT NULL,
        count INTEGER NOT NULL,
        digest TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL)""",
]


def redact(url: str) -> str:
    """The URL with its password replaced, for messages and logs."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


class PostgresEventLog(ThreadConnections):
    """Durable append-only event storage on a PostgreSQL server; one connection per thread."""

    table = "lmrec_events"
    idempotency = "lmrec_idempotency"
    mark = "%s"

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        try:
            import psycopg
        except ImportError:
            raise DataError("--events-url postgresql://... needs psycopg: pip install 'lmrec[postgres]'") from None
        super().__init__()
        self._psycopg = psycopg
        self.url = url
        self.name = redact(url)
        self._timeout_s = timeout_s
        with self._transaction() as db:  # replicas starting together must not race on CREATE TABLE
            db.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
            for statement in _SCHEMA:
                db.execute(statement)

    # -- connections -----------------------------------------------------------------------------------------
    def _connection(self) -> Any:
        db = self._thread_connection()
        if db is not None and db.closed:
            db = None
        if db is None:
            try:
                db = self._psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self._timeout_s)))
            except self._psycopg.Error as exc:
                raise StorageUnavailableError(f"{self.name}: cannot connect to the event log "
                                              f"({_first_line(exc)})") from None
            except Exception as exc:  # a malformed URL is a ProgrammingError or a ValueError, by psycopg version
                raise DataError(f"{self.name}: not a usable PostgreSQL URL ({_first_line(exc)})",
                                field="events_url") from None
            db.execute("SET synchronous_commit = on")  # acknowledged means durable, whatever the server default
            db.execute(f"SET statement_timeout = {int(self._timeout_s * 1000)}")
            self._keep(db)
        return db

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A transaction on this thread's connection; a lost connection is dropped (the next call reconnects) and
        reported as StorageUnavailableError, a full disk as StorageFullError: nothing was committed in either."""
        psycopg = self._psycopg
        db = self._connection()
        try:
            with db.transaction():
                yield db
        except psycopg.errors.DiskFull:
            raise StorageFullError(f"{self.name}: no space left; the events were not stored") from None
        except psycopg.OperationalError as exc:
            self._local.db = None
            raise StorageUnavailableError(f"{self.name}: the event log is unreachable ({_first_line(exc)}); "
                                          "nothing was stored") from None

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._transaction() as db:
            return db.execute(sql, params).fetchall()

    # -- writes ----------------------------------------------------------------------------------------------
    def append_once(self, events: Iterable[Event], *, key: str | None = None) -> tuple[list[int], bool]:
        """`append`, and whether the events were stored now (False: a replay of `key`)."""
        now = time.time()
        events = list(events)
        rows = [event_row(event, now) for event in events]
        if not rows:
            return [], False
        digest = digest_events(events) if key is not None else ""
        columns = list(zip(*rows, strict=True))
        with self._transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
            replayed = self._replayed(db, key, digest)
            if replayed is not None:
                return replayed, False
            ids = [row[0] for row in db.execute(
                "INSERT INTO lmrec_events (user_id, item_id, timestamp, event_type, value, received_at) "
                "SELECT u, i, t, e, v, r FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], "
                "%s::float8[], %s::float8[]) WITH ORDINALITY AS x(u, i, t, e, v, r, n) ORDER BY n RETURNING id",
                tuple(list(c) for c in columns)).fetchall()]
            ids.sort()
            self._remember(db, key, ids, digest, now)
        assert ids[-1] - ids[0] + 1 == len(ids)  # one writer at a time: the ids of a batch are consecutive
        return ids, True

    def erase_user(self, user_id: str) -> int:
        """Delete every event of one user (erasure), then VACUUM FULL rewrites the table so the rows are gone from
        its files too (the write-ahead log keeps them until its segments are recycled). Returns the count."""
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM lmrec_events WHERE user_id = %s", (str(user_id),)).rowcount
        if deleted:
            self._connection().execute("VACUUM FULL lmrec_events")
        return int(deleted)

    # -- reads -----------------------------------------------------------------------------------------------
    def by_ids(self, ids: Iterable[int]) -> list[Event]:
        """The events with these ids (those that exist), in id order."""
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return []
        rows = self._rows(f"SELECT {COLUMNS} FROM lmrec_events WHERE id = ANY(%s) ORDER BY id", (wanted,))
        return [event_from_row(row) for row in rows]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
