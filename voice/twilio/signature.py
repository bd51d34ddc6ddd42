"""Twilio request signatures: is this request really from Twilio?

Owns the URL a signature is checked against (the public URL Twilio called:
``VOICE_PUBLIC_URL`` plus the path when set, otherwise the request's own URL
honouring ``X-Forwarded-Proto``/``X-Forwarded-Host``; for the Media Streams
WebSocket upgrade the ``wss://`` form of it, signed with no parameters) and the
check itself, done by the twilio SDK's ``RequestValidator``.  A refused request
gets a 403 and a log line, and nothing else happens.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import abort, current_app, request
from twilio.request_validator import RequestValidator

from voice.metrics import counters

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"


def _first(header: str | None) -> str | None:
    """First value of a comma-separated proxy header (the proxy nearest the client)."""
    if not header:
        return None
    return header.split(",")[0].strip() or None


def public_base() -> tuple[str, str]:
    """``(scheme, host[/prefix])`` under which Twilio reaches this service."""
    public_url = current_app.extensions["voice"].config.public_url
    if public_url:
        parts = urlsplit(public_url)
        return parts.scheme, parts.netloc + parts.path.rstrip("/")
    scheme = _first(request.headers.get("X-Forwarded-Proto")) or request.scheme
    host = _first(request.headers.get("X-Forwarded-Host")) or request.host
    return scheme.lower(), host


def _query() -> str:
    query = request.query_string.decode("latin-1")
    return f"?{query}" if query else ""


def request_url() -> str:
    """The full URL Twilio called for this HTTP request, query string included."""
    scheme, host = public_base()
    return f"{scheme}://{host}{request.path}{_query()}"


def websocket_url(path: str | None = None) -> str:
    """The ``wss://`` URL of a WebSocket endpoint (``path`` defaults to this request's).

    Always ``wss``: Media Streams connect over TLS only, so that is the URL Twilio
    signs even when a proxy forwards the upgrade as plain HTTP.
    """
    _scheme, host = public_base()
    query = _query() if path is None else ""
    return f"wss://{host}{path or request.path}{query}"


def signature_problem(url: str, params: object) -> str | None:
    """Why this request must be refused, or None when it may go on."""
    config = current_app.extensions["voice"].config
    if config.webhooks_open:
        return None
    if not config.twilio_auth_token:
        return "TWILIO_AUTH_TOKEN is unset (set it, or VOICE_INSECURE_DEV=1 for development)"
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return f"no {SIGNATURE_HEADER} header"
    if not RequestValidator(config.twilio_auth_token).validate(url, params, signature):
        return f"{SIGNATURE_HEADER} does not match {url}"
    return None


def require_signature(url: str, params: object, what: str) -> None:
    """Abort with 403 (logged and counted) unless the request is signed for ``url``."""
    problem = signature_problem(url, params)
    if problem is None:
        return
    counters.incr("twilio.signature_rejected")
    call_sid = request.values.get("CallSid", "-") if request.method == "POST" else "-"
    log.warning("refused %s from %s (call %s): %s", what, request.remote_addr, call_sid, problem)
    abort(403, description="invalid or missing Twilio request signature")


def require_webhook_signature() -> None:
    """Check the signature of a form-encoded Twilio webhook (the POST parameters count)."""
    require_signature(request_url(), request.form, f"POST {request.path}")


def require_websocket_signature() -> None:
    """Check the signature of a WebSocket upgrade: the wss:// URL, no parameters."""
    require_signature(websocket_url(), {}, f"WebSocket {request.path}")
