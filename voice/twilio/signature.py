"""Twilio request signatures: is this request really from Twilio?

Owns the URL a signature is checked against (the public URL Twilio called:
``VOICE_PUBLIC_URL`` plus the path when set, otherwise the request's own URL
honouring ``X-Forwarded-Proto``/``X-Forwarded-Host``; for the Media Streams
WebSocket upgrade the ``wss://`` form of it, signed with no parameters) and the
check itself, done by the twilio SDK's ``RequestValidator``.  A refused request
gets a 403 and a log line, and nothing else happens.

The upgrade signature covers only the constant ``wss://host/twilio/stream``, so
it is the same for every call.  Each stream is therefore also bound to its call:
the voice webhook puts ``call_stream_token(auth token, CallSid)`` in the
``<Stream>``'s ``token`` parameter, Twilio hands it back in the ``start``
message's ``customParameters``, and the stream refuses a ``start`` whose token
is not the one for its ``callSid`` (``stream_token_problem``).  Keyed with
the Twilio auth token, so every instance can mint and check it.  A token
carries its expiry (``STREAM_TOKEN_TTL_S`` after the webhook) inside the MAC,
and a call that has ended refuses every ``start`` whatever its token, so a
captured token can neither reopen a finished call nor be used later.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from urllib.parse import urlsplit

from flask import abort, request
from twilio.request_validator import RequestValidator

from voice.metrics import counters
from voice.services import current_services

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
STREAM_TOKEN_PARAMETER = "token"
# Versioned, and labelled so the MAC cannot be mistaken for any other use of the key.
_STREAM_TOKEN_CONTEXT = "voice-coach/twilio-stream-token/v1:"


STREAM_TOKEN_TTL_S = 600


def call_stream_token(auth_token: str, call_sid: str, expires_at: int | None = None) -> str:
    """The token that binds a Media Stream to ``call_sid`` until ``expires_at``.

    ``"<expiry, unix seconds>.<HMAC-SHA256 hex>"``, keyed with the Twilio auth token
    over a version/purpose prefix, the call sid and the expiry (default: ten
    minutes from now; Twilio sends ``start`` within a second of the TwiML).
    """
    if expires_at is None:
        expires_at = int(time.time()) + STREAM_TOKEN_TTL_S
    return f"{expires_at}.{_stream_mac(auth_token, call_sid, expires_at)}"


def _stream_mac(auth_token: str, call_sid: str, expires_at: int) -> str:
    message = f"{_STREAM_TOKEN_CONTEXT}{call_sid}:{expires_at}".encode()
    return hmac.new(auth_token.encode("utf-8"), message, hashlib.sha256).hexdigest()


def stream_token_problem(auth_token: str, call_sid: str, token: str | None,
                         now: float | None = None) -> str | None:
    """Why ``token`` does not let a stream open ``call_sid`` now, or None when it does."""
    if not auth_token or not call_sid or not token:
        return "no token"
    expiry, _, mac = token.partition(".")
    if not expiry.isdigit() or len(expiry) > 12:
        return "not a stream token"
    expected = _stream_mac(auth_token, call_sid, int(expiry))
    if not hmac.compare_digest(expected.encode("ascii"), mac.encode("utf-8", "replace")):
        return "not this call's token"
    if int(expiry) < (time.time() if now is None else now):
        return "the token has expired"
    return None


def call_stream_token_matches(auth_token: str, call_sid: str, token: str | None) -> bool:
    """Whether ``token`` is a current stream token for ``call_sid`` (constant-time compare)."""
    return stream_token_problem(auth_token, call_sid, token) is None


def _first(header: str | None) -> str | None:
    """First value of a comma-separated proxy header (the proxy nearest the client)."""
    if not header:
        return None
    return header.split(",")[0].strip() or None


def public_base() -> tuple[str, str]:
    """``(scheme, host[/prefix])`` under which Twilio reaches this service."""
    public_url = current_services().config.public_url
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
    config = current_services().config
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
