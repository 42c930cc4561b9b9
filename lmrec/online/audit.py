"""The audit log of writes: one JSON line per write (what, who, when, how many), appended and fsynced.

`who` is the caller's token fingerprint (the first 12 hex digits of its SHA-256, never the token) or "cli";
`subject`, when a write concerns one user (an erasure), is a salted hash of the user ID, never the ID: the salt
is random per run directory (audit.salt beside the log), so the line proves an erasure of a user whose ID is
known to the reader without telling anyone else who it was.

    AuditLog(RunDir(run).audit).record("events", who="token:1f2e3d4c5b6a", count=5)
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from lmrec.errors import ModelFileError


class AuditLog:
    """Append-only JSON lines; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, action: str, *, who: str, subject: str | None = None, **fields: Any) -> dict[str, Any]:
        """Append one entry (fsynced before returning); returns it."""
        entry: dict[str, Any] = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "action": action,
                                 "who": who}
        if subject is not None:
            entry["subject"] = self.subject_hash(subject)
        entry.update(fields)
        line = json.dumps(entry, sort_keys=False) + "\n"
        with self._lock:
            if self.path.is_symlink():
                raise ModelFileError(f"{self.path}: is a symbolic link; the audit log follows no links")
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        return entry

    def subject_hash(self, subject: str) -> str:
        """sha256(salt + subject), 16 hex digits; the salt is made once per log."""
        salt_file = self.path.with_name("audit.salt")
        if not salt_file.is_file():
            salt_file.write_text(secrets.token_hex(16))
        salt = salt_file.read_text().strip()
        return hashlib.sha256((salt + subject).encode("utf-8")).hexdigest()[:16]

    def entries(self) -> list[dict[str, Any]]:
        """Every readable entry (a torn last line is skipped)."""
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out


def token_fingerprint(token: str) -> str:
    """Who a token is in the audit log, without the token."""
    return "token:" + hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:12]
