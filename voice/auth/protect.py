"""Request-level protection: CSRF on every browser POST, security headers on every answer.

CSRF (Flask-WTF) is checked for every state-changing request except Twilio's
(signed instead) and programs that send ``Authorization: Bearer`` (a browser
cannot add that header to a cross-site request).  Every response carries a
Content-Security-Policy without inline script, ``X-Frame-Options: DENY``,
``nosniff`` and ``Referrer-Policy``; behind https the session cookie is
``Secure`` and the answer carries HSTS.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from voice.config import Config
from voice.extensions import csrf

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_MESSAGE = "The form expired or came from another site; reload the page and try again."


def _needs_csrf() -> bool:
    """Browser writes need the token: the login form, and every POST made with a login.

    Without a login there is no authority to borrow (the view answers 401), so
    the console's JSON endpoints tell a logged-out page 401 rather than 400.
    """
    if request.method not in UNSAFE_METHODS or request.path.startswith("/twilio/"):
        return False
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return False
    return request.path == "/login" or bool(current_user.is_authenticated)


def _csrf_failed(error: CSRFError) -> Any:
    if request.path.startswith("/api/") or request.is_json or request.path.startswith(
        "/console/"
    ):
        return jsonify(error="csrf", message=f"{CSRF_MESSAGE} ({error.description})"), 400
    if request.path == "/login":
        from voice.auth.views import LoginForm

        return render_template("login.html", form=LoginForm(), error=CSRF_MESSAGE), 400
    return render_template("error.html", title="400 Bad Request", message=CSRF_MESSAGE), 400


def init_protection(app: Flask, config: Config) -> None:
    """Bind CSRF, cookie flags and the security headers to ``app``."""
    app.config.update(
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in ``_check_csrf`` below, Twilio and bearer aside
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the login (the console stays open)
        SESSION_COOKIE_SECURE=config.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    csrf.init_app(app)

    @app.before_request
    def _check_csrf() -> None:
        if _needs_csrf():
            csrf.protect()

    app.register_error_handler(CSRFError, _csrf_failed)

    @app.after_request
    def _security_headers(response: Any) -> Any:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if config.secure_cookies:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
