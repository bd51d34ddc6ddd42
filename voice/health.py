"""``GET /healthz``: liveness plus what is loaded (speech, sentiment, db, bus)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from voice.metrics import counters
from voice.services import current_services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Report each part: ok, or what is missing and how to fix it."""
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
        "counters": counters.snapshot(),
    }
    return jsonify(body), 200 if body["status"] == "ok" else 503
