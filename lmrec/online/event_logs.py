"""Which event log a run uses: the embedded SQLite file (the default, RUN_DIR/events.sqlite) or a PostgreSQL
database several service replicas share (`--events-url postgresql://...`). Both keep the same contract
(lmrec.online.events.EventLog): acknowledged means durable, batches all or none, ids increase in commit order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from lmrec.online.events import Event, EventLog
from lmrec.online.pg_events import PostgresEventLog, redact

URL_SCHEMES = ("postgresql://", "postgres://")


class EventStore(Protocol):
    """What the service, the updater and erasure read and write; both logs implement it."""

    def append_once(self, events: list[Event], *, key: str | None = None) -> tuple[list[int], bool]: ...
    def append(self, events: list[Event], *, key: str | None = None) -> list[int]: ...
    def erase_user(self, user_id: str) -> int: ...
    def for_user(self, user_id: str) -> list[Event]: ...
    def since(self, event_id: int = 0, *, limit: int | None = None) -> list[Event]: ...
    def by_ids(self, ids: list[int]) -> list[Event]: ...
    def count(self) -> int: ...
    def last_id(self) -> int: ...
    def close(self) -> None: ...


def is_url(target: str | Path | None) -> bool:
    """True for a PostgreSQL URL, False for a file path."""
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def open_event_log(target: str | Path) -> EventStore:
    """The log at `target`: a PostgreSQL URL, or the path of a SQLite file."""
    return PostgresEventLog(str(target)) if is_url(target) else EventLog(target)


def describe(target: str | Path) -> str:
    """`target` for messages: a URL without its password, or the path."""
    return redact(str(target)) if is_url(target) else str(target)
