"""The event log, SQLite and PostgreSQL alike: acknowledged means durable (across reopen and a killed writer),
all-or-none batches, idempotency keys, threads; ids increase in commit order."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lmrec.errors import DataError, StorageUnavailableError
from lmrec.online.event_logs import describe, open_event_log
from lmrec.online.events import Event, EventLog, KeyReused, default_path


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a log lives: a SQLite file, or a new database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return tmp_path / "events.sqlite"
    return request.getfixturevalue("postgres_url")


def test_append_returns_increasing_ids_and_reads_back(target) -> None:
    with open_event_log(target) as log:
        first = log.append([Event("u1", "i1", 100), Event("u2", "i2", 101, "buy", 2.5)])
        second = log.append([Event("u1", "i3")])
        assert first == [1, 2] and second == [3]
        assert log.count() == 3 and log.last_id() == 3
        mine = log.for_user("u1")
        assert [e.item_id for e in mine] == ["i1", "i3"] and [e.id for e in mine] == [1, 3]
        bought = log.since(1)[0]
        assert (bought.user_id, bought.event_type, bought.value, bought.timestamp) == ("u2", "buy", 2.5, 101)
        assert bought.received_at is not None and bought.received_at > 1.6e9
        assert mine[1].timestamp == int(mine[1].received_at)  # default timestamp: the receive time
        assert [e.id for e in log.since(0, limit=2)] == [1, 2] and log.since(3) == []
        assert log.append([]) == []


def test_events_survive_reopen_and_ids_are_never_reused(tmp_path: Path, target) -> None:
    assert default_path(tmp_path) == tmp_path / "events.sqlite"
    path = target
    log = open_event_log(path)
    log.append([Event("u", f"i{n}") for n in range(5)])
    log.close()
    with pytest.raises(DataError, match="closed"):
        log.count()
    with open_event_log(path) as again:
        assert [e.item_id for e in again.for_user("u")] == [f"i{n}" for n in range(5)]
        assert again.append([Event("u", "i5")]) == [6]


def test_wal_and_full_sync_are_set(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.sqlite") as log:
        log.append([Event("u", "i")])
        db = log._connection()
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with sqlite3.connect(tmp_path / "e.sqlite") as plain:  # the WAL mode is stored in the file
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_batch_with_a_bad_event_stores_nothing(target) -> None:
    with open_event_log(target) as log:
        with pytest.raises(DataError, match="non-empty"):
            log.append([Event("u", "i1"), Event("", "i2")])
        assert log.count() == 0


def test_acknowledged_events_survive_a_killed_writer(target) -> None:
    """The writer process is killed with SIGKILL right after append() returns, without close()."""
    path = target
    script = (
        "import os, signal, sys\n"
        "from lmrec.online.event_logs import open_event_log\n"
        "from lmrec.online.events import Event\n"
        f"log = open_event_log({str(path)!r})\n"
        "ids = log.append([Event('u', f'i{n}') for n in range(50)])\n"
        "print(ids[-1], flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == -9, result.stderr
    assert result.stdout.strip() == "50"
    with open_event_log(path) as log:
        assert log.count() == 50 and log.last_id() == 50


def test_concurrent_appends_from_threads(target) -> None:
    log = open_event_log(target)
    errors: list[BaseException] = []
    acknowledged: dict[int, list[int]] = {}

    def writer(thread: int) -> None:
        try:
            acknowledged[thread] = [i for n in range(25) for i in log.append([Event(f"u{thread}", f"i{n}")] * 2)]
            log.for_user(f"u{thread}")  # reads interleave with other threads' writes
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    all_ids = sorted(i for ids in acknowledged.values() for i in ids)
    assert all_ids == list(range(1, 401))
    for thread in range(8):
        events = log.for_user(f"u{thread}")
        assert [e.item_id for e in events] == [f"i{n}" for n in range(25) for _ in range(2)]
        assert [e.id for e in events] == acknowledged[thread]
    log.close()


def test_a_retried_append_with_its_key_is_stored_once(target) -> None:
    path = target
    batch = [Event("u1", "i1", 10), Event("u1", "i2", None, "purchase", 2.0)]
    with open_event_log(path) as log:
        ids, stored = log.append_once(batch, key="req-1")
        assert stored and len(ids) == 2
        assert log.append_once(batch, key="req-1") == (ids, False)
        assert log.append(batch) != ids and log.count() == 4  # no key: a new append
        with pytest.raises(KeyReused, match="Idempotency-Key"):
            log.append_once([Event("u1", "i3")], key="req-1")
    with open_event_log(path) as reopened:  # the key is as durable as the events
        assert reopened.append_once(batch, key="req-1") == (ids, False) and reopened.count() == 4


def test_a_reader_cursor_never_skips_an_event_two_writers_commit(target) -> None:
    """Two logs on one store (two service replicas) append concurrently while a third polls `since(cursor)`: ids
    must become visible in id order, or the cursor would pass an id that commits later and lose it."""
    writers = [open_event_log(target) for _ in range(2)]
    reader = open_event_log(target)
    done = threading.Event()
    seen: list[int] = []

    def write(log, name: str) -> None:
        for n in range(60):
            log.append([Event(name, f"i{n}")] * (1 + n % 3))

    def poll() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            for event in reader.since(cursor):
                seen.append(event.id)
                cursor = event.id
            if finished:
                return

    threads = [threading.Thread(target=write, args=(log, f"w{n}")) for n, log in enumerate(writers)]
    polling = threading.Thread(target=poll)
    polling.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    polling.join()
    assert seen == list(range(1, reader.last_id() + 1)) and len(seen) == 2 * sum(1 + n % 3 for n in range(60))
    for log in (*writers, reader):
        log.close()


def test_erasing_a_user_removes_only_their_events(target) -> None:
    with open_event_log(target) as log:
        log.append([Event("gone", "i1"), Event("kept", "i2"), Event("gone", "i3")])
        assert log.erase_user("gone") == 2 and log.erase_user("gone") == 0
        assert log.for_user("gone") == [] and [e.item_id for e in log.since(0)] == ["i2"]
        assert log.append([Event("kept", "i4")]) == [4]  # ids are never reused


def test_an_unreachable_database_is_one_line_without_the_password() -> None:
    pytest.importorskip("psycopg")
    url = "postgresql://someone:s3cret@127.0.0.1:1/nowhere"
    assert describe(url) == "postgresql://someone:***@127.0.0.1:1/nowhere"
    with pytest.raises(StorageUnavailableError) as caught:
        open_event_log(url)
    message = str(caught.value)
    assert "cannot connect" in message and "s3cret" not in message and "\n" not in message


def test_a_dropped_database_connection_fails_one_call_then_reconnects(postgres_url: str) -> None:
    import psycopg

    with open_event_log(postgres_url) as log:
        log.append([Event("u", "i1")])
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        with pytest.raises(StorageUnavailableError, match="unreachable .*nothing was stored"):
            log.append([Event("u", "i2")])
        (again,) = log.append([Event("u", "i3")])
        assert again > 1 and log.count() == 2
        assert [e.item_id for e in log.for_user("u")] == ["i1", "i3"]
