"""The users store: logins, roles, desks, session versions and per-user API tokens.

Every web request loads its user from here (``get``), so a removal, a demotion,
a desk change or a bumped session version takes effect on the next request.
Passwords are kept as Werkzeug hashes; an unknown username is checked against a
dummy hash so it costs as much time as a wrong password.  API tokens are kept as
SHA-256 digests only: ``issue_token`` returns the token once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from voice.records.passwords import password_problem
from voice.records.serialize import iso
from voice.records.tables import ApiToken, User, UserDesk, utcnow

ROLES = ("receptionist", "manager")
TOKEN_PREFIX = "vct_"
MAX_DESK = 120


class UserError(ValueError):
    """A user change that cannot be made (unknown user, bad role, weak password)."""


@dataclass(frozen=True)
class UserRecord:
    """A user as the web layer sees it: never the password hash."""

    id: int
    username: str
    role: str
    desks: tuple[str, ...]
    session_version: int


@cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def _record(user: User) -> UserRecord:
    return UserRecord(
        id=user.id,
        username=user.username,
        role=user.role,
        desks=tuple(d.desk for d in user.desks),
        session_version=user.session_version or 1,
    )


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _clean_desks(desks: Iterable[str]) -> list[str]:
    cleaned = []
    for desk in desks:
        name = desk.strip()
        if not name or len(name) > MAX_DESK:
            raise UserError(f"a desk name needs 1 to {MAX_DESK} characters, not {desk!r}")
        if name not in cleaned:
            cleaned.append(name)
    return cleaned


class UserStore:
    """Reads and changes users through the records store's sessions."""

    def __init__(self, session: Callable[[], AbstractContextManager[Session]]) -> None:
        self._session = session

    def _find(self, s: Session, username: str) -> User | None:
        return s.scalar(
            select(User).where(User.username == username).options(selectinload(User.desks))
        )

    def _require(self, s: Session, username: str) -> User:
        user = self._find(s, username)
        if user is None:
            raise UserError(f"no user {username}")
        return user

    def add(
        self, username: str, password: str, role: str, desks: Iterable[str] | None = None
    ) -> UserRecord:
        """Create a user, or reset an existing one's password, role (and desks when given).

        A changed password or role ends the user's existing logins.
        """
        username = username.strip()
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        if not username or len(username) > 80:
            raise UserError("a username needs 1 to 80 characters")
        problem = password_problem(password, username)
        if problem:
            raise UserError(problem)
        wanted = _clean_desks(desks) if desks is not None else None
        with self._session() as s:
            user = self._find(s, username)
            if user is None:
                user = User(username=username, role=role, session_version=1)
                s.add(user)
            else:
                if user.role != role or not check_password_hash(user.password_hash, password):
                    user.session_version = (user.session_version or 1) + 1
            user.password_hash = generate_password_hash(password)
            user.role = role
            if wanted is not None:
                self._set_desks(user, wanted)
            s.flush()
            return _record(user)

    @staticmethod
    def _set_desks(user: User, desks: list[str]) -> None:
        keep = [d for d in user.desks if d.desk in desks]
        have = {d.desk for d in keep}
        user.desks = keep + [UserDesk(desk=d) for d in desks if d not in have]

    def set_desks(self, username: str, desks: Iterable[str]) -> UserRecord:
        """Replace the desks a user works."""
        wanted = _clean_desks(desks)
        with self._session() as s:
            user = self._require(s, username)
            self._set_desks(user, wanted)
            s.flush()
            return _record(user)

    def remove(self, username: str) -> bool:
        """Delete a user (their logins and tokens die with them); False when there was none."""
        with self._session() as s:
            user = self._find(s, username)
            if user is None:
                return False
            s.delete(user)
            return True

    def list_all(self) -> list[dict[str, Any]]:
        """Every user's name, role, desks and live token count."""
        with self._session() as s:
            users = s.scalars(
                select(User)
                .order_by(User.username)
                .options(selectinload(User.desks), selectinload(User.tokens))
            )
            return [
                {
                    "username": u.username,
                    "role": u.role,
                    "desks": [d.desk for d in u.desks],
                    "tokens": sum(1 for t in u.tokens if t.revoked_at is None),
                    "created_at": iso(u.created_at),
                }
                for u in users
            ]

    def get(self, user_id: int) -> UserRecord | None:
        """The user with this id, or None (removed)."""
        with self._session() as s:
            user = s.get(User, user_id, options=[selectinload(User.desks)])
            return _record(user) if user else None

    def check_login(self, username: str, password: str) -> UserRecord | None:
        """The user when the password matches, else None; unknown names cost the same time."""
        with self._session() as s:
            user = self._find(s, username)
            if user is None:
                check_password_hash(_dummy_hash(), password)
                return None
            if not check_password_hash(user.password_hash, password):
                return None
            return _record(user)

    def end_sessions(self, user_id: int) -> None:
        """Bump the user's session version: every login cookie they hold stops working."""
        with self._session() as s:
            s.execute(
                update(User)
                .where(User.id == user_id)
                .values(session_version=User.session_version + 1)
            )

    # --- API tokens ---------------------------------------------------------------

    def issue_token(self, username: str) -> str:
        """A new API token for the user (shown once; only its digest is kept)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._session() as s:
            user = self._require(s, username)
            s.add(ApiToken(user_id=user.id, token_hash=_token_digest(token)))
        return token

    def revoke_tokens(self, username: str) -> int:
        """Revoke every live token of the user; how many were revoked."""
        with self._session() as s:
            user = self._require(s, username)
            live = s.scalars(
                select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            ).all()
            for token in live:
                token.revoked_at = utcnow()
            return len(live)

    def user_for_token(self, token: str) -> UserRecord | None:
        """The user a live token belongs to, or None (unknown or revoked)."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        with self._session() as s:
            row = s.scalar(
                select(ApiToken)
                .where(ApiToken.token_hash == _token_digest(token), ApiToken.revoked_at.is_(None))
                .options(selectinload(ApiToken.user).selectinload(User.desks))
            )
            return _record(row.user) if row else None
