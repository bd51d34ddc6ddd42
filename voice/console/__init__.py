"""The receptionist's console: the live page, its SSE stream and prompt actions.

``GET /console`` draws every live call of the desk (caller, elapsed time, the
calm → escalating meter, the last transcript lines, prompt cards);
``GET /events`` feeds it over Server-Sent Events (see ``stream``); ``POST
/console/calls/<call_sid>/prompts/<prompt_id>`` records Done / Dismiss on the
call record and tells the desk's other consoles.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    stream_with_context,
)

from voice.auth import login_required, services
from voice.console.csrf import check_csrf, csrf_token
from voice.console.stream import desk_snapshot, event_stream
from voice.records.store import PROMPT_ACTIONS, RecordError

log = logging.getLogger(__name__)

bp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)


@bp.app_context_processor
def _inject_csrf() -> dict[str, Any]:
    return {"csrf_token": csrf_token}


def _desk() -> str:
    return (request.args.get("desk") or "").strip() or services().config.desk_name


@bp.get("/console")
@login_required("receptionist")
def index() -> str:
    """The receptionist's screen for one desk."""
    return render_template("console.html", desk=_desk())


@bp.get("/events")
@login_required("receptionist")
def events() -> Response:
    """Server-Sent Events for the desk: a snapshot (or a replay), then live events."""
    svc = services()
    desk = _desk()
    last_id = request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or None
    subscription = svc.bus.subscribe(desk, after=last_id)

    def snapshot() -> dict:
        return desk_snapshot(svc.store, desk)

    heartbeat = float(current_app.config.get("SSE_HEARTBEAT_S", 15.0))
    body = event_stream(subscription, None if last_id else snapshot, heartbeat_s=heartbeat)
    response = Response(stream_with_context(body), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    response.call_on_close(subscription.close)
    return response


@bp.post("/console/calls/<call_sid>/prompts/<prompt_id>")
@login_required("receptionist")
def act_on_prompt(call_sid: str, prompt_id: str) -> Any:
    """Record that the receptionist ticked a prompt done or dismissed it."""
    check_csrf()
    body = request.get_json(silent=True) or {}
    action = body.get("action") or request.form.get("action", "")
    if action not in PROMPT_ACTIONS:
        return jsonify(error="bad_request", message="action must be done or dismissed"), 400
    svc = services()
    try:
        prompt = svc.store.act_on_prompt(call_sid, prompt_id, action, g.user["username"])
    except RecordError as exc:
        return jsonify(error="not_found", message=str(exc)), 404
    live = svc.calls.get(call_sid)
    desk = live.desk if live is not None else _desk()
    update = {"call_sid": call_sid, "id": prompt_id, "status": action, "by": g.user["username"]}
    try:
        svc.bus.publish(desk, "prompt_update", update)
    except Exception as exc:  # the record is written; other consoles catch up on reload
        log.warning("call %s: could not announce prompt %s update: %s", call_sid, prompt_id, exc)
    return jsonify(call_sid=call_sid, prompt=prompt)
