"""``GET /api/calls`` and ``GET /api/calls/<call_sid>``: call records as JSON, desk-scoped."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from voice.api import bp
from voice.auth import api_auth_required
from voice.auth.scope import may_read_call, visible_desks
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
    return jsonify(calls=calls, limit=limit, offset=offset)


@bp.get("/calls/<call_sid>")
@api_auth_required("receptionist")
def get_call(call_sid: str) -> Any:
    """One call with its utterances, frustration curve, prompts and follow-ups.

    Another desk's call answers 404 to a receptionist, as an unknown one does.
    """
    call = current_services().store.get_call(call_sid)
    if not may_read_call(g.user, call):
        return jsonify(error="not_found", message=f"no call {call_sid}"), 404
    return jsonify(call)
