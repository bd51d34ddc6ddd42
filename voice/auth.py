"""Who may see what: logins for people, bearer tokens for programs.

People log in with a username and password (``voice users add``) and get a
role: ``receptionist`` sees the console, ``manager`` sees the console and the
review pages and API.  Programs (``voice simulate``, the JSON API) send
``Authorization: Bearer <VOICE_API_TOKEN>``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlparse

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from voice.services import current_services

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("auth", __name__, template_folder="templates")

ROLE_RANK = {"receptionist": 1, "manager": 2}


def current_user() -> dict | None:
    """The logged-in person (``{"username", "role"}``) or None."""
    return session.get("user")


def bearer_ok() -> bool:
    """Whether the request carries the configured API token."""
    token = current_services().config.api_token
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].strip(), token)


def _role_ok(user: dict | None, role: str) -> bool:
    return bool(user) and ROLE_RANK.get(user["role"], 0) >= ROLE_RANK[role]


def login_required(role: str = "receptionist") -> Callable[[F], F]:
    """Pages: send strangers to the login page, refuse the wrong role with 403."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not _role_ok(user, role):
                abort(403)
            g.user = user
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def api_auth_required(role: str = "manager", allow_session: bool = True) -> Callable[[F], F]:
    """JSON endpoints: the bearer token, or a logged-in person with ``role``; else 401/403."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if bearer_ok():
                g.user = {"username": "api", "role": "manager"}
                return view(*args, **kwargs)
            user = current_user() if allow_session else None
            if user is None:
                if not current_services().config.api_token and not allow_session:
                    message = "the API is off: set VOICE_API_TOKEN to enable it"
                else:
                    message = "send Authorization: Bearer <VOICE_API_TOKEN>"
                response = jsonify(error="unauthorized", message=message)
                response.status_code = 401
                response.headers["WWW-Authenticate"] = 'Bearer realm="voice"'
                return response
            if not _role_ok(user, role):
                return jsonify(error="forbidden", message=f"needs the {role} role"), 403
            g.user = user
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("console.index")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/"):
        return url_for("console.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form."""
    if request.method == "POST":
        user = current_services().store.check_login(
            request.form.get("username", "").strip(), request.form.get("password", "")
        )
        if user is None:
            flash("Wrong username or password.", "error")
            return render_template("login.html"), 401
        session.clear()
        session["user"] = user
        session.permanent = True
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html")


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """Forget the login."""
    session.clear()
    return redirect(url_for("auth.login"))
