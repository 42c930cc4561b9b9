"""The event log: acknowledged means on disk (across reopen and a killed writer), all-or-none batches, threads."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lmrec.errors import DataError
from lmrec.online.events import Event, EventLog, KeyReused, default_path


def test_append_returns_increasing_ids_and_reads_back(tmp_path: Path) -> None:
    with EventLog(tmp_path / "events.sqlite") as log:
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


def test_events_survive_reopen_and_ids_are_never_reused(tmp_path: Path) -> None:
    path = default_path(tmp_path)
    assert path == tmp_path / "events.sqlite"
    log = EventLog(path)
    log.append([Event("u", f"i{n}") for n in range(5)])
    log.close()
    with pytest.raises(DataError, match="closed"):
        log.count()
    with EventLog(path) as again:
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


def test_a_batch_with_a_bad_event_stores_nothing(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.sqlite") as log:
        with pytest.raises(DataError, match="non-empty"):
            log.append([Event("u", "i1"), Event("", "i2")])
        assert log.count() == 0


def test_acknowledged_events_survive_a_killed_writer(tmp_path: Path) -> None:
    """The writer process is killed with SIGKILL right after append() returns, without close()."""
    path = tmp_path / "e.sqlite"
    script = (
        "import os, signal, sys\n"
        "from lmrec.online.events import Event, EventLog\n"
        f"log = EventLog({str(path)!r})\n"
        "ids = log.append([Event('u', f'i{n}') for n in range(50)])\n"
        "print(ids[-1], flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == -9, result.stderr
    assert result.stdout.strip() == "50"
    with EventLog(path) as log:
        assert log.count() == 50 and log.last_id() == 50


def test_concurrent_appends_from_threads(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.sqlite")
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


def test_a_retried_append_with_its_key_is_stored_once(tmp_path) -> None:
    path = tmp_path / "events.sqlite"
    batch = [Event("u1", "i1", 10), Event("u1", "i2", None, "purchase", 2.0)]
    with EventLog(path) as log:
        ids, stored = log.append_once(batch, key="req-1")
        assert stored and len(ids) == 2
        assert log.append_once(batch, key="req-1") == (ids, False)
        assert log.append(batch) != ids and log.count() == 4  # no key: a new append
        with pytest.raises(KeyReused, match="Idempotency-Key"):
            log.append_once([Event("u1", "i3")], key="req-1")
    with EventLog(path) as reopened:  # the key is as durable as the events
        assert reopened.append_once(batch, key="req-1") == (ids, False) and reopened.count() == 4
