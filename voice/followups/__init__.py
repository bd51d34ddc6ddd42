"""Follow-ups to work: ``/follow-ups`` (due today, overdue, by owner) and the console's extras.

Receptionists see their own desks' items, managers every desk (``voice.records.scope``).
``GET /follow-ups`` lists items (``?view=today|overdue|open|done|all``, ``?owner=``);
``POST /follow-ups/<id>`` reassigns, annotates, starts, finishes (with a note) or
re-opens one (CSRF is checked app-wide).  For the console: ``GET /follow-ups/counts`` (the
"due today" badge) and ``GET /console/calls/<call_sid>/history`` (the caller's
previous calls and open follow-ups, shown at call start; audited).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for

from voice.access import audit_view, current_desks, query_value
from voice.auth import json_login_required, login_required
from voice.records.followups import VIEWS, FollowUpBook, FollowUpNotFound
from voice.records.scope import may_see
from voice.records.store import RecordError
from voice.services import current_services

bp = Blueprint("followups", __name__, template_folder="templates", static_folder="static",
               static_url_path="/follow-ups/static")


def _book() -> FollowUpBook:
    svc = current_services()
    return FollowUpBook(svc.store, svc.config.timezone)


@bp.get("/follow-ups")
@login_required("receptionist")
def index() -> str:
    """Follow-up items of the desks this person may see."""
    view = request.args.get("view") or "open"
    if view not in VIEWS:
        abort(400, description=f"view must be one of {', '.join(VIEWS)}")
    desks, book = current_desks(), _book()
    items = book.items(desks=desks, view=view, owner=query_value("owner"))
    audit_view("view_follow_ups", detail={"view": view, "shown": len(items),
                                          "call_sids": sorted({i["call_sid"] for i in items})})
    return render_template("follow_ups.html", items=items, view=view, views=VIEWS,
                           owner=query_value("owner") or "", counts=book.counts(desks=desks),
                           owners=book.owners(desks=desks))


def _note(existing: str, text: str) -> str:
    stamp = datetime.now(UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    entry = f"{stamp} {g.user.username}: {text.strip()}"
    return f"{existing.rstrip()}\n{entry}" if existing.strip() else entry


def change_from_form(op: str, item: dict[str, Any], form: Any) -> dict[str, Any] | None:
    """The store change a follow-up form asks for (None: nothing to do)."""
    note = (form.get("note") or "").strip()
    change: dict[str, Any] = {}
    if op == "assign":
        change["assignee"] = form.get("assignee", "")
    elif op == "start":
        change["status"] = "in_progress"
    elif op in ("done", "close"):
        change["status"] = "done"
    elif op == "reopen":
        change["status"] = "open"
    elif op != "note":
        return None
    if note:
        change["note"] = _note(item.get("notes") or "", note)
    return change or None


@bp.post("/follow-ups/<int:follow_up_id>")
@login_required("receptionist")
def update(follow_up_id: int) -> Any:
    """Change one follow-up (this person's desks only; 403 for another desk's)."""
    book, desks = _book(), current_desks()
    try:
        item = book.get(follow_up_id, None)
    except FollowUpNotFound:
        abort(404, description="No such follow-up.")
    if not may_see(desks, item["desk"]):
        abort(403)
    change = change_from_form(request.form.get("op", ""), item, request.form)
    if change is None:
        flash("Nothing to save.")
    else:
        try:
            book.update(follow_up_id, desks, **change)
        except RecordError as exc:
            abort(400, description=str(exc))
        flash("Follow-up updated.")
    back = request.form.get("next") or ""
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect(url_for("followups.index"))


@bp.get("/follow-ups/counts")
@json_login_required("receptionist")
def counts() -> Any:
    """``{"due_today", "overdue", "open"}`` for the console's badge."""
    return jsonify(_book().counts(desks=current_desks()))


@bp.get("/console/calls/<call_sid>/history")
@json_login_required("receptionist")
def history(call_sid: str) -> Any:
    """The caller's previous calls and open follow-ups, for the console at call start
    (404 unknown call, 403 another desk's)."""
    store = current_services().store
    call = store.get_call_brief(call_sid)
    if call is None:
        return jsonify(error="not_found", message=f"no call {call_sid}"), 404
    if not may_see(current_desks(), call["desk"]):
        return jsonify(error="forbidden", message=f"call {call_sid} belongs to another desk"), 403
    audit_view("history", call_sid)
    return jsonify(call_sid=call_sid, **store.caller_history(call["from"], exclude_sid=call_sid))
