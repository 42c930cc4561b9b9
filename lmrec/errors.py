"""The lmrec error family: raised where the file, line, field or raw ID is known; the CLI prints one line."""

from __future__ import annotations


class LmrecError(Exception):
    """Base of every error lmrec raises on purpose (bad input, bad config, missing model)."""


class DataError(LmrecError):
    """Input data is malformed, inconsistent or too small for what was asked."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        where = ", ".join(
            part for part in (
                f"{source}" if source else "",
                f"line {line}" if line is not None else "",
                f"field '{field}'" if field else "",
            ) if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.source, self.line, self.field = source, line, field


class ConfigError(LmrecError):
    """A configuration key or value is unknown or invalid."""


class NotFittedError(LmrecError):
    """A model was used before `fit` (or `load`)."""


class ModelFileError(LmrecError):
    """A saved model directory is missing, incomplete or not an lmrec artefact."""


class UnknownIdError(DataError):
    """A raw user or item ID is not in the trained ID map."""


class StorageFullError(LmrecError):
    """A write found no space left: nothing was stored (the service answers 507, the CLI exits 2)."""


class StorageUnavailableError(LmrecError):
    """The event store cannot be reached (a database server down): nothing was stored (the service answers 503)."""
