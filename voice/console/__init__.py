"""The receptionist's console: the live page, its SSE stream and prompt actions.

``GET /console`` draws every live call of the desk (caller, elapsed time, the
calm → escalating meter, the last transcript lines, prompt cards);
``GET /events`` feeds it over Server-Sent Events (see ``sse``); ``POST
/console/calls/<call_sid>/prompts/<prompt_id>`` records Done / Dismiss on the
call record and tells the desk's other consoles; ``GET /console/session`` says
whether the login is still good (the page asks before it reconnects).

Only the page redirects a stranger to the login form: the stream and the JSON
endpoints answer 401 JSON, so EventSource, ``fetch`` and scripts see a clear
status instead of following a redirect to an HTML form.  One login holds at
most ``VOICE_EVENTS_PER_LOGIN`` streams (``quota``); past that ``/events``
answers 429 JSON with ``Retry-After``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from voice.auth import ROLE_RANK, current_user, login_required
from voice.console.csrf import check_csrf, csrf_token
from voice.console.quota import StreamQuota
from voice.console.sse import ClosingOnce, desk_snapshot, event_stream
from voice.records.store import PROMPT_ACTIONS, RecordError
from voice.services import current_services

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

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


def json_login_required(role: str = "receptionist") -> Callable[[F], F]:
    """Like ``login_required`` but for the stream and JSON endpoints: 401/403 JSON, no redirect."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return jsonify(
                    error="unauthorized",
                    message="not logged in: log in again",
                    login_url=url_for("auth.login"),
                ), 401
            if ROLE_RANK.get(user.get("role"), 0) < ROLE_RANK[role]:
                return jsonify(error="forbidden", message=f"needs the {role} role"), 403
            g.user = user
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def _desk() -> str:
    return (request.args.get("desk") or "").strip() or current_services().config.desk_name


@bp.get("/console")
@login_required("receptionist")
def index() -> str:
    """The receptionist's screen for one desk."""
    return render_template("console.html", desk=_desk())


@bp.get("/console/session")
@json_login_required("receptionist")
def session_status() -> Any:
    """Whether the login is still good: 200 with the user, else 401 JSON."""
    return jsonify(ok=True, username=g.user["username"], role=g.user["role"])


@bp.get("/events")
@json_login_required("receptionist")
def events() -> Response:
    """Server-Sent Events for the desk: a replay (or a snapshot), then live events."""
    svc = current_services()
    desk = _desk()
    cap = svc.config.events_per_login
    quota = current_app.extensions.setdefault("voice.event_streams", StreamQuota())
    release = quota.acquire(g.user["username"], cap)
    if release is None:
        log.warning("login %s: refused an /events stream past the cap of %d",
                    g.user["username"], cap)
        response = jsonify(error="too_many_streams",
                           message=f"this login already has {cap} live streams open; "
                                   "close a console tab")
        response.status_code = 429
        response.headers["Retry-After"] = "10"
        return response
    last_id = request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or None
    try:
        subscription = ClosingOnce(svc.bus.subscribe(desk, after=last_id), on_close=release)
    except Exception:
        release()
        raise

    def snapshot() -> dict:
        return desk_snapshot(svc.store, desk)

    heartbeat = float(current_app.config.get("SSE_HEARTBEAT_S", 15.0))
    # an id the bus no longer knows (a restart, trimmed history) replays nothing: start over
    body = event_stream(
        subscription, snapshot, heartbeat_s=heartbeat, send_snapshot=not subscription.resumed
    )
    response = Response(stream_with_context(body), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    response.call_on_close(subscription.close)
    return response


@bp.post("/console/calls/<call_sid>/prompts/<prompt_id>")
@json_login_required("receptionist")
def act_on_prompt(call_sid: str, prompt_id: str) -> Any:
    """Record that the receptionist ticked a prompt done or dismissed it."""
    check_csrf()
    body = request.get_json(silent=True)
    if body is None:
        action = request.form.get("action", "")
    elif isinstance(body, dict):
        action = body.get("action") or ""
    else:
        return jsonify(
            error="bad_request", message='the JSON body must be an object like {"action": "done"}'
        ), 400
    if action not in PROMPT_ACTIONS:
        return jsonify(error="bad_request", message="action must be done or dismissed"), 400
    svc = current_services()
    try:
        prompt = svc.store.act_on_prompt(call_sid, prompt_id, action, g.user["username"])
    except RecordError as exc:
        return jsonify(error="not_found", message=str(exc)), 404
    live = svc.calls.get(call_sid)
    if live is not None:
        live.acknowledge_prompt(prompt_id, action)
    desk = live.desk if live is not None else _desk()
    update = {"call_sid": call_sid, "id": prompt_id, "status": action, "by": g.user["username"]}
    try:
        svc.bus.publish(desk, "prompt_update", update)
    except Exception as exc:  # the record is written; other consoles catch up on reload
        log.warning("call %s: could not announce prompt %s update: %s", call_sid, prompt_id, exc)
    return jsonify(call_sid=call_sid, prompt=prompt)
