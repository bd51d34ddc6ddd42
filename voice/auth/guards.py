"""View decorators: who may open a page, a stream or a JSON endpoint.

Pages send strangers to the login form; the console's stream and JSON endpoints
answer 401 JSON instead (EventSource and ``fetch`` should not follow a redirect
to a form); the API takes a bearer token (``VOICE_API_TOKEN`` or a user's own
token) or a login.  Each sets ``g.user`` to the ``Person`` asking.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, jsonify, redirect, request, url_for

from voice.auth.identity import Person, bearer_person, current_person
from voice.services import current_services

F = TypeVar("F", bound=Callable[..., Any])


def _forbidden_json(role: str) -> Any:
    return jsonify(error="forbidden", message=f"needs the {role} role"), 403


def _person_guard(role: str, stranger: Callable[[], Any],
                  wrong_role: Callable[[], Any]) -> Callable[[F], F]:
    """The check both login decorators share: a logged-in person with ``role`` becomes
    ``g.user``; a stranger gets ``stranger()``, the wrong role ``wrong_role()``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            person = current_person()
            if person is None:
                return stranger()
            if not person.has_role(role):
                return wrong_role()
            g.user = person
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def login_required(role: str = "receptionist") -> Callable[[F], F]:
    """Pages: send strangers to the login page, refuse the wrong role with 403."""

    def to_login() -> Any:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    def forbidden() -> Any:
        abort(403, description=f"This page needs the {role} role.")

    return _person_guard(role, to_login, forbidden)


def json_login_required(role: str = "receptionist") -> Callable[[F], F]:
    """Like ``login_required`` for streams and JSON endpoints: 401/403 JSON, no redirect."""

    def unauthorized() -> Any:
        return jsonify(error="unauthorized", message="not logged in: log in again",
                       login_url=url_for("auth.login")), 401

    return _person_guard(role, unauthorized, lambda: _forbidden_json(role))


def _unauthorized(allow_session: bool) -> Any:
    if not current_services().config.api_token and not allow_session:
        message = "send Authorization: Bearer <token> (VOICE_API_TOKEN or `voice users token`)"
    else:
        message = "send Authorization: Bearer <VOICE_API_TOKEN or a `voice users token`>"
    response = jsonify(error="unauthorized", message=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="voice"'
    return response


def api_auth_required(role: str = "manager", allow_session: bool = True) -> Callable[[F], F]:
    """JSON endpoints: a bearer token, or a logged-in person with ``role``; else 401/403."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            person: Person | None = bearer_person()
            if person is None and request.headers.get("Authorization", "").startswith("Bearer "):
                return _unauthorized(allow_session)  # a wrong token is not a login
            if person is None and allow_session:
                person = current_person()
            if person is None:
                return _unauthorized(allow_session)
            if not person.has_role(role):
                return _forbidden_json(role)
            g.user = person
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate
