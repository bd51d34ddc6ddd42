"""The manager's review pages: find calls, one call in full, trends, the audit log, export.

``GET /review`` lists calls with filters (dates, desk, topic, flagged,
follow-up status, overdue), full-text search over transcripts and pages
(flagged calls by default, every call with ``?all=1``);
``GET /review/calls/<call_sid>`` shows the summary (each line linked to its
transcript line), why it was flagged, the curve, transcript, prompts and the
follow-ups with forms to reassign, annotate, start, finish or re-open them
(POST; CSRF is checked app-wide).  ``/review/trends`` shows tense calls per topic per week
and follow-ups opened vs closed on time, ``/review/audit`` the audit log and
``/review/export.csv`` the filtered list.  Every view of a call, a list or an
export is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from voice.access import audit_view, current_desks, query_value
from voice.auth import login_required
from voice.coach.playbook import card_titles
from voice.events import Speaker
from voice.records.audit import AuditLog
from voice.records.search import CallFilter, FilterError, csv_text, find_calls
from voice.records.store import RecordError
from voice.records.trends import follow_up_outcomes, tense_by_topic
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
SPEAKER_LABELS: dict[Speaker, str] = {"caller": "Caller", "receptionist": "Receptionist"}


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


def _filter() -> CallFilter:
    show_all = request.args.get("all") == "1"
    try:
        found = CallFilter.from_args(request.args, default_flagged=None if show_all else True)
    except FilterError as exc:
        abort(400, description=str(exc))
    return found.scoped(current_desks())


@bp.get("/review")
@login_required("manager")
def index() -> str:
    """Calls matching the filters and search, one page at a time."""
    svc = current_services()
    wanted = _filter()
    calls, total = find_calls(svc.store, wanted, svc.config.timezone)
    audit_view("list_calls", detail={"filter": wanted.query_args(), "shown": len(calls)})
    pages = max((total + wanted.per_page - 1) // wanted.per_page, 1)
    topics = [t.id for t in (svc.playbook.current().topics if svc.playbook else ())]
    return render_template("review_index.html", calls=calls, total=total, f=wanted,
                           pages=pages, topics=topics, show_all=request.args.get("all") == "1")


@bp.get("/review/calls/<call_sid>")
@login_required("manager")
def call(call_sid: str) -> str:
    """One call: summary, why flagged, curve, transcript, prompts and the follow-ups."""
    record = current_services().store.get_call(call_sid)
    if record is None:
        abort(404, description=f"No call {call_sid}.")
    audit_view("view_call", call_sid)
    curve = Markup(frustration_svg(record["frustration"]))  # noqa: S704 - built from numbers, tips escaped
    watcher = current_services().playbook
    titles = card_titles(watcher.current() if watcher is not None else None)
    return render_template("review_call.html", call=record, curve=curve, kind_titles=titles,
                           speaker_labels=SPEAKER_LABELS)


@bp.get("/review/trends")
@login_required("manager")
def trends() -> str:
    """Tense calls per topic per week, and follow-ups opened vs closed on time."""
    svc = current_services()
    tz, desks = svc.config.timezone, current_desks()
    table = trend_table([{**b, "calls": b["tense"]} for b in
                         tense_by_topic(svc.store, weeks=TREND_WEEKS, timezone=tz, desks=desks)])
    outcomes = follow_up_outcomes(svc.store, weeks=TREND_WEEKS, timezone=tz, desks=desks)
    return render_template("review_trends.html", trends=table, outcomes=outcomes,
                           weeks=TREND_WEEKS)


@bp.get("/review/export.csv")
@login_required("manager")
def export_csv() -> Response:
    """The filtered call list as CSV (every page of it), formula-injection-safe."""
    svc = current_services()
    wanted = _filter()
    everything = CallFilter(**{**wanted.__dict__, "page": 1, "per_page": 200})
    rows: list[dict[str, Any]] = []
    while True:
        page, total = find_calls(svc.store, everything, svc.config.timezone)
        rows += page
        if len(rows) >= total or not page or len(rows) >= 10_000:
            break
        everything = CallFilter(**{**everything.__dict__, "page": everything.page + 1})
    audit_view("export_csv", detail={"filter": wanted.query_args(), "rows": len(rows),
                                     "call_sids": [r["call_sid"] for r in rows][:1000]})
    response = Response(csv_text(rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="calls.csv"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/review/audit")
@login_required("manager")
def audit() -> str:
    """The audit log: who viewed which call, transcript or export, and purges."""
    entries = AuditLog(current_services().store).entries(user=query_value("user"),
                                                 call_sid=query_value("call_sid"), limit=500)
    return render_template("review_audit.html", entries=entries,
                           user=query_value("user") or "", call_sid=query_value("call_sid") or "")


def _note_with(existing: str, text: str) -> str:
    stamp = datetime.now(UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    entry = f"{stamp} {g.user.username}: {text.strip()}"
    return f"{existing.rstrip()}\n{entry}" if existing.strip() else entry


def _follow_up_change(op: str, item: dict[str, Any]) -> dict[str, Any] | None:
    if op == "assign":
        return {"assignee": request.form.get("assignee", "")}
    if op == "note" and request.form.get("note", "").strip():
        return {"note": _note_with(item.get("notes") or "", request.form["note"])}
    if op == "start":
        return {"status": "in_progress"}
    if op in ("close", "reopen"):
        change: dict[str, Any] = {"status": "done" if op == "close" else "open"}
        if request.form.get("note", "").strip():
            change["note"] = _note_with(item.get("notes") or "", request.form["note"])
        return change
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
