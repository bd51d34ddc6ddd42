"""Who may see what: logins for people, bearer tokens for programs, desks kept apart.

People log in with a username and password (``voice users add``) and get a
role: a ``receptionist`` sees the console of her own desks, a ``manager`` every
desk plus the review pages and API.  Programs send ``Authorization: Bearer``
with ``VOICE_API_TOKEN`` or a user's own token (``voice users token NAME``),
which carries that user's role and desks.

Built on the libraries the field uses: Flask-Login (``identity``: the user is
read from the database on every request), Flask-WTF (CSRF, ``protect``) and
Flask-Limiter (login throttling, ``throttle``).  ``scope`` holds the desk rules.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from voice.config import Config

bp = Blueprint("auth", __name__, template_folder="templates")


def init_auth(app: Flask, config: Config) -> None:
    """Bind Flask-Login, CSRF, the security headers and the login throttle to ``app``."""
    from voice.auth.identity import login_manager
    from voice.auth.protect import init_protection
    from voice.auth.throttle import init_throttle

    login_manager.init_app(app)
    init_protection(app, config)
    init_throttle(app, config)


from voice.auth import views  # noqa: E402,F401  (registers the routes)
from voice.auth.guards import api_auth_required, json_login_required, login_required  # noqa: E402
from voice.auth.identity import ROLE_RANK, Person, current_person  # noqa: E402

__all__ = [
    "ROLE_RANK",
    "Person",
    "api_auth_required",
    "bp",
    "current_person",
    "init_auth",
    "json_login_required",
    "login_required",
]
