"""Pseudonymous users: raw user IDs replaced at ingestion by a keyed HMAC, so run directories, event logs and
exported files hold no raw user ID. The key comes from the environment (`LMREC_PSEUDONYM_KEY`) and is never
written anywhere; whoever holds it maps a raw ID to its pseudonym (the service does, at its edge), nobody can map
back. A pseudonym is stable for a key, so the same person is the same user across runs fitted with that key.

    key = pseudonym_key()                       # ConfigError unless the variable holds >= 16 bytes
    pseudonym("196", key)                       # 'p_5b1d...' (32 hex digits of HMAC-SHA256)
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os

import numpy as np

from lmrec.data.types import Dataset, IdMap
from lmrec.errors import ConfigError

KEY_ENV = "LMREC_PSEUDONYM_KEY"
PREFIX = "p_"
MIN_KEY_BYTES = 16


def pseudonym_key(env: str = KEY_ENV) -> bytes:
    """The HMAC key from the environment; ConfigError (naming the variable, never its value) when unset or short."""
    value = os.environ.get(env, "")
    if len(value.encode()) < MIN_KEY_BYTES:
        raise ConfigError(f"{env}: pseudonymous runs need a key of at least {MIN_KEY_BYTES} bytes in this "
                          "environment variable (it is never written to disk)")
    return value.encode()


def pseudonym(raw_id: str, key: bytes) -> str:
    """The pseudonym of one raw user ID under `key`."""
    return PREFIX + hmac.new(key, str(raw_id).encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def stored_user_id(raw_id: str, pseudonymized: bool) -> str:
    """The ID a run stores for the user a caller names: the raw ID, or its pseudonym in a pseudonymous run."""
    return pseudonym(raw_id, pseudonym_key()) if pseudonymized else raw_id


def pseudonymize(dataset: Dataset, key: bytes) -> Dataset:
    """The dataset with every user ID (the ID map and the user-attribute table) replaced by its pseudonym."""
    users = IdMap(np.asarray([pseudonym(u, key) for u in dataset.users.raw], dtype=object), kind="user")
    attributes = dataset.user_attributes
    if attributes is not None and "user_id" in attributes:
        attributes = attributes.assign(user_id=[pseudonym(u, key) for u in attributes["user_id"]])
    return dataclasses.replace(dataset, users=users, user_attributes=attributes)
