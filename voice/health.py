"""``GET /healthz``: liveness for anyone; what is loaded and the counters for managers.

Anonymous callers (a load balancer, a stranger) get ``{"status"}`` only, with
200 or 503.  A manager's login or ``Authorization: Bearer <VOICE_API_TOKEN>``
also gets each part (speech, sentiment, playbook, database, bus, Twilio), the
live-call count, each live call's ASR lag and drops (``asr``) and the counters:
model paths and traffic are not for everyone.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from voice.auth.identity import bearer_person, current_person
from voice.metrics import counters
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
