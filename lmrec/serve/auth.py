"""Who may call what: bearer tokens with scopes.

    read    recommendations, a user's history, item lookups, /metrics
    write   POST /events, POST /items
    admin   DELETE /users/{id} (erasure)

`LMREC_API_TOKEN` is the full-access token (all three scopes), `LMREC_READ_TOKEN` a read-only one; a tokens file
adds more, one `SCOPES TOKEN` per line (`read,write  9f2c...`; `#` starts a comment). Tokens travel only in the
`Authorization: Bearer` header: a token in the URL would land in every access log, so such a request is refused
and the access log never shows query values of that name. Every comparison is constant-time against every
configured token, so timing tells nothing about which token or how much of it matched.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lmrec.errors import ConfigError

SCOPES = ("read", "write", "admin")
TOKEN_PATTERN = re.compile(r"[\x21-\x7e]{1,256}")  # printable ASCII, no spaces: what a header can carry intact
URL_TOKEN_NAMES = ("token", "access_token", "api_key", "apikey", "key")


class Denied(Exception):
    """A request without the scope it needs: 401 (no or unknown token) or 403 (known token, wrong scope)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, repr=False)
class TokenTable:
    """The configured tokens (never printed: repr shows only the scopes)."""

    entries: tuple[tuple[bytes, frozenset[str]], ...]

    def __repr__(self) -> str:
        return f"TokenTable({[sorted(scopes) for _, scopes in self.entries]})"

    @property
    def empty(self) -> bool:
        return not self.entries

    def grants(self, scope: str) -> bool:
        """Whether any configured token carries `scope`."""
        return any(scope in scopes for _, scopes in self.entries)

    def scopes_of(self, given: str) -> frozenset[str] | None:
        """The scopes of `given`, or None; compares against every entry in constant time."""
        raw = given.encode("utf-8", "surrogateescape")
        found: frozenset[str] | None = None
        for token, scopes in self.entries:
            if hmac.compare_digest(raw, token):
                found = scopes
        return found

    def check(self, authorization: str | None, scope: str) -> None:
        """Raise `Denied` unless the `Authorization` header's bearer token carries `scope`."""
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise Denied(401, f"this route needs a token with the {scope!r} scope: send "
                              "'Authorization: Bearer <token>'")
        scopes = self.scopes_of(given.strip())
        if scopes is None:
            raise Denied(401, "invalid bearer token")
        if scope not in scopes:
            raise Denied(403, f"this token lacks the {scope!r} scope (it has: {', '.join(sorted(scopes))})")


def load_tokens(*, full: str | None, full_env: str, read: str | None, read_env: str,
                tokens_file: str | None) -> TokenTable:
    """The token table from explicit values, the environment and a tokens file; ConfigError names the variable or
    file line of a malformed token (never its value)."""
    entries: list[tuple[bytes, frozenset[str]]] = []
    for value, where, scopes in ((full or os.environ.get(full_env), full_env, frozenset(SCOPES)),
                                 (read or os.environ.get(read_env), read_env, frozenset({"read"}))):
        if value:
            entries.append((_checked(value, where), scopes))
    if tokens_file:
        entries += _read_tokens_file(Path(tokens_file))
    return TokenTable(tuple(entries))


def _checked(token: str, where: str) -> bytes:
    if not TOKEN_PATTERN.fullmatch(token):
        raise ConfigError(f"{where}: a token must be 1-256 printable ASCII characters without spaces (got "
                          f"{len(token)} characters that are not)")
    return token.encode("ascii")


def _read_tokens_file(path: Path) -> list[tuple[bytes, frozenset[str]]]:
    try:
        if path.stat().st_size > 1 << 20:
            raise ConfigError(f"{path}: tokens file is over 1 MiB")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the tokens file ({type(exc).__name__})") from None
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ConfigError(f"{path}:{number}: expected 'SCOPES TOKEN' (e.g. 'read,write TOKEN')")
        scopes = frozenset(s for s in parts[0].split(",") if s)
        unknown = sorted(scopes - set(SCOPES))
        if unknown or not scopes:
            raise ConfigError(f"{path}:{number}: unknown scope(s) {unknown}; use {', '.join(SCOPES)}")
        entries.append((_checked(parts[1], f"{path}:{number}"), scopes))
    return entries


def url_carries_token(query: str) -> bool:
    """Whether a query string has a parameter named like a credential (the request is refused)."""
    names = {part.split("=", 1)[0].lower() for part in query.split("&") if part}
    return bool(names & set(URL_TOKEN_NAMES))


class RedactQueryTokens(logging.Filter):
    """Access-log filter: credential-named query values and the user ID in /users/{id} paths are replaced by '***'
    before any handler sees them (an access log outlives erasure and would undo pseudonymisation)."""

    pattern = re.compile(r"(?i)([?&](?:" + "|".join(URL_TOKEN_NAMES) + r")=)[^&\s\"]*")
    user_path = re.compile(r"(/users/)[^/?\s\"]+")

    def _clean(self, text: str) -> str:
        return self.user_path.sub(r"\1***", self.pattern.sub(r"\1***", text))

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) if isinstance(a, str) else a for a in record.args)
        record.msg = self._clean(str(record.msg))
        return True
