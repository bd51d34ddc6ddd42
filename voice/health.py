"""``GET /healthz``: liveness for anyone; what is loaded and the counters for managers.
``GET /metrics``: the Prometheus metrics, for the scraper only.

Anonymous callers (a load balancer, a stranger) get ``{"status"}`` only, with
200 or 503.  A manager's login or ``Authorization: Bearer <VOICE_API_TOKEN>``
also gets each part (speech, sentiment, playbook, database, bus, Twilio), the
live-call count, each live call's ASR lag and drops (``asr``) and the counters:
model paths and traffic are not for everyone.

``/metrics`` answers ``Authorization: Bearer <VOICE_METRICS_TOKEN>`` from
anywhere, and a request from loopback without a token unless
``VOICE_METRICS_LOOPBACK=0``; anyone else gets 401 (token set) or 404.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from flask import Blueprint, Response, jsonify, request

from voice.auth.identity import bearer_person, current_person
from voice.metrics import counters, exposition
from voice.services import current_services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Report the status; with a manager login or the API token, each part too."""
    svc = current_services()
    db_ok = svc.store.ping()
    bus_ok = svc.bus.ping()
    body = {
        "status": "ok" if db_ok and bus_ok else "degraded",
        "speech_model": {"ok": svc.speech is not None, "detail": svc.speech_status},
        "sentiment_model": {"ok": svc.scorer is not None, "detail": svc.scorer_status},
        "playbook": {"ok": svc.playbook is not None, "detail": svc.playbook_status},
        "database": {"ok": db_ok, "detail": svc.store.kind},
        "bus": {"ok": bus_ok, "detail": svc.bus.name},
        "twilio": {
            "ok": bool(svc.config.twilio_auth_token) or svc.config.insecure_dev,
            "detail": "signatures checked" if svc.config.twilio_auth_token
            else ("UNSIGNED requests accepted (development)" if svc.config.insecure_dev
                  else "TWILIO_AUTH_TOKEN unset: webhooks refused"),
        },
        "live_calls": len(svc.calls.live()),
        "asr": svc.calls.asr_lag(),
        "counters": counters.snapshot(),
    }
    code = 200 if body["status"] == "ok" else 503
    if not may_see_detail():
        return jsonify(status=body["status"]), code
    return jsonify(body), code


def may_see_detail() -> bool:
    """Whether this caller may see what is loaded: the API token, or a manager's login or token."""
    person = bearer_person() or current_person()
    return person is not None and person.has_role("manager")


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics: with the metrics token, or from loopback when that is allowed."""
    svc = current_services()
    config = svc.config
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if (scheme.lower() == "bearer" and config.metrics_token
                and hmac.compare_digest(token.strip().encode(), config.metrics_token.encode())):
            return _metrics_response()
        return _refused(401, "wrong metrics token")
    if config.metrics_loopback and _from_loopback():
        return _metrics_response()
    if config.metrics_token:
        return _refused(401, "send Authorization: Bearer <VOICE_METRICS_TOKEN>")
    return _refused(404, "metrics are served to loopback only")


def _metrics_response() -> Response:
    body, content_type = exposition(current_services())
    return Response(body, content_type=content_type)


def _refused(code: int, message: str) -> Response:
    response = jsonify(error="unauthorized" if code == 401 else "not_found", message=message)
    response.status_code = code
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def _from_loopback() -> bool:
    """Whether the request came from this machine (and not through a proxy that says so)."""
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False  # a proxy on loopback relays strangers: they need the token
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
