"""``GET /api/calls``, ``GET /api/calls/<call_sid>`` and ``GET /api/audit``: records as JSON.

Calls are desk-scoped (another desk's call answers 403 to a receptionist, an unknown
one 404; the list leaves another desk's out); every call
view (list or one record) is audited; the audit log is for managers.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from voice.access import audit_view, query_value
from voice.api import bp
from voice.auth import api_auth_required
from voice.auth.scope import check_call_read, visible_desks
from voice.records.audit import AuditLog
from voice.services import current_services


def _bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    return raw.lower() in {"1", "true", "yes"}


@bp.get("/calls")
@api_auth_required("receptionist")
def list_calls() -> Any:
    """Calls newest first; ``?flagged=1``, ``?status=live``, ``?limit=`` and ``?offset=``.

    A receptionist (her login or her token) gets only her desks' calls.
    """
    try:
        limit = min(max(int(request.args.get("limit", 50)), 1), 500)
        offset = max(int(request.args.get("offset", 0)), 0)
    except ValueError:
        return jsonify(error="bad_request", message="limit and offset must be integers"), 400
    calls = current_services().store.list_calls(
        flagged=_bool_arg("flagged"), status=request.args.get("status"),
        desks=visible_desks(g.user), limit=limit, offset=offset,
    )
    audit_view("list_calls", detail={"shown": len(calls), "api": True})
    return jsonify(calls=calls, limit=limit, offset=offset)


@bp.get("/calls/<call_sid>")
@api_auth_required("receptionist")
def get_call(call_sid: str) -> Any:
    """One call with its utterances, frustration curve, prompts and follow-ups.

    Another desk's call answers 403 to a receptionist; an unknown one 404.
    """
    call = check_call_read(g.user, current_services().store.get_call(call_sid), call_sid)
    audit_view("view_call_api", call_sid)
    return jsonify(call)


@bp.get("/audit")
@api_auth_required("manager")
def audit() -> Any:
    """Audit rows newest first; ``?call_sid=``, ``?user=``, ``?limit=`` and ``?offset=``."""
    try:
        limit = min(max(int(request.args.get("limit", 200)), 1), 1000)
        offset = max(int(request.args.get("offset", 0)), 0)
    except ValueError:
        return jsonify(error="bad_request", message="limit and offset must be integers"), 400
    entries = AuditLog(current_services().store).entries(
        user=query_value("user"), call_sid=query_value("call_sid"), limit=limit, offset=offset)
    return jsonify(entries=entries, limit=limit, offset=offset)
