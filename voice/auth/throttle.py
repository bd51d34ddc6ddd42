"""Login throttling with Flask-Limiter: per username and per address, failures only.

Only failed logins (401) count.  Past ``VOICE_LOGIN_LIMIT_USER`` failures for one
username, or ``VOICE_LOGIN_LIMIT_ADDRESS`` from one address, the login form
answers 429 saying how long to wait (and ``Retry-After``) -- even to the right
password, so guessing stays slow.  The counts live in memory, or in Redis when
``REDIS_URL`` is set (every instance sees the same counts).
"""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Flask, Response, render_template, request
from flask_limiter import RequestLimit

from voice.config import Config
from voice.extensions import limiter
from voice.services import current_services


def _config() -> Config:
    return current_services().config


def username_key() -> str:
    """The per-username counter's key (case and spaces do not make a new one)."""
    return "user:" + request.form.get("username", "").strip().lower()[:80]


def address_key() -> str:
    """The per-address counter's key."""
    return "addr:" + (request.remote_addr or "unknown")


def user_limit() -> str:
    """The per-username limit from the configuration."""
    return _config().login_limit_user


def address_limit() -> str:
    """The per-address limit from the configuration."""
    return _config().login_limit_address


def login_failed(response: Response) -> bool:
    """Only a refused password counts against the limits."""
    return response.status_code == 401


def wait_seconds(limit: RequestLimit) -> int:
    """Seconds until the breached limit lets the next try through."""
    return max(1, math.ceil(limit.reset_at - time.time()))


def _throttled(limit: RequestLimit, who: str) -> Response:
    from voice.auth.views import LoginForm

    wait = wait_seconds(limit)
    minutes = f"{math.ceil(wait / 60)} minute(s)" if wait >= 120 else f"{wait} seconds"
    message = f"Too many failed logins {who}. Try again in {minutes}."
    response = Response(
        render_template("login.html", form=LoginForm(), error=message), status=429
    )
    response.headers["Retry-After"] = str(wait)
    return response


def user_breached(limit: RequestLimit) -> Response:
    """The 429 page for a username that failed too often."""
    return _throttled(limit, "for this username")


def address_breached(limit: RequestLimit) -> Response:
    """The 429 page for an address that failed too often."""
    return _throttled(limit, "from this address")


def init_throttle(app: Flask, config: Config) -> None:
    """Bind the limiter: Redis storage when ``REDIS_URL`` is set, else memory."""
    app.config.update(
        RATELIMIT_STORAGE_URI=config.redis_url or "memory://",
        RATELIMIT_KEY_PREFIX="voice-login",
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=bool(config.redis_url),
        RATELIMIT_HEADERS_ENABLED=False,
    )
    limiter.init_app(app)


def throttled_login(view: Any) -> Any:
    """Decorate the login view with both limits."""
    view = limiter.limit(user_limit, key_func=username_key, methods=["POST"],
                         deduct_when=login_failed, on_breach=user_breached,
                         scope="login-user")(view)
    return limiter.limit(address_limit, key_func=address_key, methods=["POST"],
                         deduct_when=login_failed, on_breach=address_breached,
                         scope="login-address")(view)
