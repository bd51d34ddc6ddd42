"""The manager's review pages: flagged calls, one call in full, follow-ups, topic trends.

``GET /review`` lists tense calls (or every call with ``?all=1``) and the topic
trends week to week; ``GET /review/calls/<call_sid>`` shows why a call was
flagged, its frustration curve, transcript and prompts, and the follow-up with
forms to assign, annotate, close or re-open it (POST; CSRF is checked app-wide).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup

from voice.auth import login_required
from voice.records.store import RecordError
from voice.review.curve import clock, frustration_svg
from voice.review.trends import trend_table
from voice.services import current_services

bp = Blueprint(
    "review",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/review/static",
)

TREND_WEEKS = 8


@bp.app_template_filter("clock")
def _clock(seconds: float | None) -> str:
    return clock(seconds or 0.0)


@bp.app_template_filter("when")
def _when(iso: str | None) -> str:
    if not iso:
        return ""
    value = datetime.fromisoformat(iso)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone().strftime("%a %d %b %H:%M")


@bp.get("/review")
@login_required("manager")
def index() -> str:
    """Flagged calls (or all calls) and the week-to-week topic trends."""
    store = current_services().store
    show_all = request.args.get("all") == "1"
    calls = store.list_calls(flagged=None if show_all else True, limit=200)
    trends = trend_table(store.topic_trends(weeks=TREND_WEEKS))
    return render_template("review_index.html", calls=calls, show_all=show_all, trends=trends)


@bp.get("/review/calls/<call_sid>")
@login_required("manager")
def call(call_sid: str) -> str:
    """One call: why flagged, curve, transcript, prompts and the follow-up."""
    record = current_services().store.get_call(call_sid)
    if record is None:
        abort(404, description=f"No call {call_sid}.")
    curve = Markup(frustration_svg(record["frustration"]))  # noqa: S704 - built from numbers, tips escaped
    return render_template("review_call.html", call=record, curve=curve)


def _note_with(existing: str, text: str) -> str:
    stamp = datetime.now(UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    entry = f"{stamp} {g.user.username}: {text.strip()}"
    return f"{existing.rstrip()}\n{entry}" if existing.strip() else entry


def _follow_up_change(op: str, item: dict) -> dict[str, Any] | None:
    if op == "assign":
        return {"assignee": request.form.get("assignee", "")}
    if op == "note" and request.form.get("note", "").strip():
        return {"note": _note_with(item.get("note") or "", request.form["note"])}
    if op in ("close", "reopen"):
        return {"status": "closed" if op == "close" else "open"}
    return None


@bp.post("/review/calls/<call_sid>/follow-ups/<int:follow_up_id>")
@login_required("manager")
def update_follow_up(call_sid: str, follow_up_id: int) -> Any:
    """Assign, add a note to, close or re-open one follow-up of the call."""
    store = current_services().store
    record = store.get_call(call_sid)
    item = next((f for f in (record or {}).get("follow_ups", []) if f["id"] == follow_up_id), None)
    if item is None:
        abort(404, description="No such follow-up on this call.")
    change = _follow_up_change(request.form.get("op", ""), item)
    if change is None:
        flash("Nothing to save.")
    else:
        try:
            store.update_follow_up(follow_up_id, **change)
        except RecordError as exc:
            abort(400, description=str(exc))
        flash("Follow-up updated.")
    return redirect(url_for("review.call", call_sid=call_sid) + "#follow-up")
