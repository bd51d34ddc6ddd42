"""Who is asking: the logged-in person (Flask-Login) or a program with a bearer token.

Flask-Login keeps only ``"<user id>:<session version>"`` in the signed cookie;
``load_user`` reads the user from the database on every request and refuses the
cookie when the user is gone or their session version moved on (logout,
password or role change), when the login is older than ``VOICE_SESSION_HOURS``
or when it was idle longer than ``VOICE_SESSION_IDLE_MINUTES``.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any

from flask import request, session
from flask_login import LoginManager, UserMixin, current_user

from voice.records.users import UserRecord
from voice.services import current_services

ROLE_RANK = {"receptionist": 1, "manager": 2}
LOGIN_AT = "login_at"
SEEN_AT = "seen_at"
SEEN_EVERY_S = 30.0  # how stale ``seen_at`` may get before the cookie is re-sent

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to continue."


@dataclass(frozen=True)
class Person(UserMixin):
    """A user as views see them: name, role, desks (None for every desk)."""

    username: str
    role: str
    desks: frozenset[str] | None
    user_id: int | None = None
    session_version: int = 0

    def get_id(self) -> str:
        """What Flask-Login keeps in the cookie: the id and the session version."""
        return f"{self.user_id}:{self.session_version}"

    def has_role(self, role: str) -> bool:
        """Whether this person's role is ``role`` or above."""
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[role]

    def sees_desk(self, desk: str) -> bool:
        """Whether this person may see ``desk``'s calls."""
        return self.desks is None or desk in self.desks

    @classmethod
    def of(cls, user: UserRecord) -> Person:
        """The person for a stored user; managers see every desk."""
        desks = None if user.role == "manager" else frozenset(user.desks)
        return cls(user.username, user.role, desks, user.id, user.session_version)


API_PROGRAM = Person(username="api", role="manager", desks=None)


def _store() -> Any:
    return current_services().store


def _lifetimes() -> tuple[float, float]:
    config = current_services().config
    return config.session_idle_minutes * 60.0, config.session_hours * 3600.0


def session_expired(now: float | None = None) -> bool:
    """Whether this cookie's login is past its idle or absolute lifetime."""
    now = time.time() if now is None else now
    idle_s, absolute_s = _lifetimes()
    login_at = session.get(LOGIN_AT)
    seen_at = session.get(SEEN_AT, login_at)
    if not isinstance(login_at, (int, float)) or not isinstance(seen_at, (int, float)):
        return True
    return now - login_at > absolute_s or now - seen_at > idle_s


@login_manager.user_loader
def load_user(cookie_id: str) -> Person | None:
    """The person a login cookie names, read from the database; None ends the login."""
    user_id, _, version = cookie_id.partition(":")
    if not user_id.isdigit() or not version.isdigit() or session_expired():
        session.clear()
        return None
    user = _store().users.get(int(user_id))
    if user is None or user.session_version != int(version):
        session.clear()
        return None
    now = time.time()
    if now - session.get(SEEN_AT, 0) > SEEN_EVERY_S:
        session[SEEN_AT] = now
    return Person.of(user)


def still_valid(person: Person, login_at: float | None, desk: str | None = None) -> bool:
    """For long streams: the same user and session version, a young login, still on ``desk``."""
    if person.user_id is None:  # VOICE_API_TOKEN
        return True
    user = _store().users.get(person.user_id)
    if user is None or user.session_version != person.session_version:
        return False
    _, absolute_s = _lifetimes()
    if login_at is not None and time.time() - login_at > absolute_s:
        return False
    return desk is None or Person.of(user).sees_desk(desk)


def current_person() -> Person | None:
    """The logged-in person, or None."""
    if current_user.is_authenticated:
        person: Person = current_user._get_current_object()  # flask_login is untyped
        return person
    return None


def bearer_person() -> Person | None:
    """The program behind ``Authorization: Bearer``: the API token or a user's own token."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    sent = header[len("Bearer ") :].strip()
    if not sent:
        return None
    api_token = current_services().config.api_token
    if api_token and hmac.compare_digest(sent.encode(), api_token.encode()):
        return API_PROGRAM
    user = _store().users.user_for_token(sent)
    if user is None:
        return None
    return Person.of(user)


def stamp_login() -> None:
    """Start the lifetimes of a fresh login."""
    now = time.time()
    session[LOGIN_AT] = now
    session[SEEN_AT] = now
