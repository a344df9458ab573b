"""Console accounts: names and argon2 password hashes, kept by the storage module."""

from __future__ import annotations

import re
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..storage import Storage

MIN_PASSWORD_LENGTH = 10
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")

_hasher = PasswordHasher()
# Checked when the name is unknown, so that a wrong name takes as long as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash("paybridge: no such user")


class UserError(ValueError):
    """A user cannot be created as asked; the message says why."""


def create_user(storage: Storage, name: str, password: str) -> dict[str, Any]:
    if not NAME_PATTERN.match(name):
        raise UserError("a user name is 1 to 64 letters, digits or . _ @ -")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if storage.get_user(name) is not None:
        raise UserError(f"there is already a user {name!r}")
    return storage.save_user(name, _hasher.hash(password))


def authenticate(storage: Storage, name: str, password: str) -> dict[str, Any] | None:
    """The user, when `password` is theirs; else None."""
    user = storage.get_user(name)
    try:
        _hasher.verify(user["password_hash"] if user else _UNKNOWN_USER_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user["password_hash"]):
        storage.save_user(name, _hasher.hash(password))
    return user
