"""Cross-site request forgery guard for the logged-in pages.

Each login session gets one random token; pages put it in a hidden form field
(or the console's ``X-CSRF-Token`` header) and every POST must send it back.
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

SESSION_KEY = "csrf_token"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


def csrf_token() -> str:
    """This session's token, created on first use."""
    token = session.get(SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def check_csrf() -> None:
    """Abort with 400 unless the request carries this session's token."""
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        abort(400, description="The form expired or came from another site; reload the page.")
