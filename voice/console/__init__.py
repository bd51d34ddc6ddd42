"""The receptionist's console: the live page, its SSE stream and prompt actions.

``GET /console`` draws every live call of the desk (caller, elapsed time, the
calm → escalating meter, the last transcript lines, prompt cards);
``GET /events`` feeds it over Server-Sent Events (see ``sse``); ``POST
/console/calls/<call_sid>/prompts/<prompt_id>`` records Done / Dismiss on the
call record, tells the call's coach (over the bus when another instance runs
the call) and the desk's other consoles; ``GET /console/session`` says
whether the login is still good (the page asks before it reconnects).

Only the page redirects a stranger to the login form: the stream and the JSON
endpoints answer 401 JSON, so EventSource, ``fetch`` and scripts see a clear
status instead of following a redirect to an HTML form.  One login holds at
most ``VOICE_EVENTS_PER_LOGIN`` streams (``quota``); past that ``/events``
answers 429 JSON with ``Retry-After``.  Each live call a stream shows is audited as
one viewing per login and call (``view_live``; reconnects within
``VOICE_LIVE_VIEW_WINDOW_S`` add none, see ``live_views``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    session,
    stream_with_context,
)
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from voice.access import audit_view
from voice.auth import json_login_required, login_required
from voice.auth.identity import LOGIN_AT, still_valid
from voice.auth.scope import check_call_action, page_desk
from voice.console.facts import FACTS_ELEMENT_ID, page_facts
from voice.console.live_views import LiveViews
from voice.console.quota import StreamQuota
from voice.console.sse import ClosingOnce, desk_snapshot, event_stream
from voice.events import PromptUpdate, event_payload
from voice.records.audit import AuditLog
from voice.records.store import PROMPT_ACTIONS, RecordError
from voice.services import current_services

log = logging.getLogger(__name__)

bp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)


@bp.errorhandler(403)
@bp.errorhandler(404)
def _json_error(error: HTTPException) -> Any:
    """The stream and JSON endpoints answer errors in JSON; the page keeps the HTML page."""
    if request.endpoint == "console.index":
        return error
    name = "forbidden" if error.code == 403 else "not_found"
    return jsonify(error=name, message=error.description), error.code


def _desk() -> str:
    return page_desk(g.user, request.args.get("desk"))


@bp.get("/console")
@login_required("receptionist")
def index() -> str:
    """The receptionist's screen for one desk (its constants come from ``facts``)."""
    watcher = current_services().playbook
    facts = page_facts(watcher.current() if watcher is not None else None)
    return render_template("console.html", desk=_desk(), facts=facts, facts_id=FACTS_ELEMENT_ID)


@bp.get("/console/session")
@json_login_required("receptionist")
def session_status() -> Any:
    """Whether the login is still good: 200 with the user, else 401 JSON."""
    return jsonify(ok=True, username=g.user.username, role=g.user.role)


@bp.get("/events")
@json_login_required("receptionist")
def events() -> Response:
    """Server-Sent Events for the desk: a replay (or a snapshot), then live events."""
    svc = current_services()
    desk = _desk()
    cap = svc.config.events_per_login
    quota = current_app.extensions.setdefault("voice.event_streams", StreamQuota())
    release = quota.acquire(g.user.username, cap)
    if release is None:
        log.warning("login %s: refused an /events stream past the cap of %d",
                    g.user.username, cap)
        response = jsonify(error="too_many_streams",
                           message=f"this login already has {cap} live streams open; "
                                   "close a console tab")
        response.status_code = 429
        response.headers["Retry-After"] = "10"
        return response
    last_id = request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or None
    person, login_at = g.user, session.get(LOGIN_AT)
    try:
        subscription = ClosingOnce(svc.bus.subscribe(desk, after=last_id), on_close=release)
    except Exception:
        release()
        raise

    def allowed() -> bool:
        return still_valid(person, login_at, desk)

    def snapshot() -> dict[str, Any]:
        return desk_snapshot(svc.store, desk)

    viewed = _view_auditor(person.username, desk, svc.config.live_view_window_s)

    heartbeat = float(current_app.config.get("SSE_HEARTBEAT_S", 15.0))
    # an id the bus no longer knows (a restart, trimmed history) replays nothing: start over
    body = event_stream(
        subscription, snapshot, heartbeat_s=heartbeat, send_snapshot=not subscription.resumed,
        allowed=allowed, recheck_s=float(current_app.config.get("SSE_RECHECK_S", heartbeat)),
        viewed=viewed,
    )
    response = Response(stream_with_context(body), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    response.call_on_close(subscription.close)
    return response


def _view_auditor(login: str, desk: str, window_s: float) -> Any:
    """Audits each call this stream shows (one viewing per login, call and window).

    The returned function answers False when a row could not be written: the stream
    then ends before it shows the call."""
    views = current_app.extensions.setdefault("voice.live_views", LiveViews(window_s))
    audit = AuditLog(current_services().store)
    shown: set[str] = set()

    def last_recorded(call_sid: str) -> Any:
        return lambda since: audit.last_at(user=login, action="view_live", call_sid=call_sid,
                                           since=since)

    def viewed(call_sids: Iterable[str]) -> bool:
        for call_sid in call_sids:
            if call_sid in shown:
                continue
            try:
                views.view(login, call_sid, last_recorded(call_sid),
                           lambda sid=call_sid: audit_view("view_live", sid,
                                                           detail={"desk": desk}))
            except HTTPException:  # no audit row: the page is not shown the call
                log.warning("login %s: live view of %s not audited; stream ended",
                            login, call_sid)
                return False
            except SQLAlchemyError as exc:  # cannot tell whether it was audited: same
                log.warning("login %s: live view of %s not checked (%s); stream ended",
                            login, call_sid, exc)
                return False
            shown.add(call_sid)
        return True

    return viewed


@bp.post("/console/calls/<call_sid>/prompts/<prompt_id>")
@json_login_required("receptionist")
def act_on_prompt(call_sid: str, prompt_id: str) -> Any:
    """Record that the receptionist ticked a prompt done or dismissed it (live calls only)."""
    svc = current_services()
    desk = check_call_action(g.user, svc.store, call_sid)
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
    try:
        prompt = svc.store.act_on_prompt(call_sid, prompt_id, action, g.user.username)
    except RecordError as exc:
        return jsonify(error="not_found", message=str(exc)), 404
    live = svc.calls.get(call_sid)
    if live is not None:
        live.acknowledge_prompt(prompt_id, action)
    else:  # the call may be live on another instance: its coach must hear it too
        svc.router.prompt_action_elsewhere(call_sid, prompt_id, action, g.user.username)
    kind, update = event_payload(PromptUpdate(call_sid, prompt_id, action, g.user.username))
    try:
        svc.bus.publish(desk, kind, update)
    except Exception as exc:  # the record is written; other consoles catch up on reload
        log.warning("call %s: could not announce prompt %s update: %s", call_sid, prompt_id, exc)
    return jsonify(call_sid=call_sid, prompt=prompt)
