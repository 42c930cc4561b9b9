"""Write a benchmark's results.md while keeping its hand-written "## Notes" section (and anything after it), so
re-running a script refreshes the numbers without losing the caveats written beside them."""

from __future__ import annotations

from pathlib import Path

MARKER = "\n## Notes"


def write_keeping_notes(path: Path, text: str) -> None:
    existing = path.read_text() if path.exists() else ""
    notes = existing[existing.index(MARKER):] if MARKER in existing else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n" + notes if notes else text)
