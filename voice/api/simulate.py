"""``POST /api/simulate``: play a scenario as a live call inside the service."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from voice.api import bp
from voice.auth import api_auth_required
from voice.scenarios.player import MAX_SPEED, MIN_SPEED, ScenarioPlayer
from voice.scenarios.script import ScenarioError, scenario_from_json
from voice.services import current_services

MAX_SIMULATIONS = 8


def _speed(body: dict[str, Any]) -> float | None:
    raw = body.pop("speed", request.args.get("speed", 1.0))
    try:
        speed = float(raw)
    except (TypeError, ValueError):
        return None
    return speed if MIN_SPEED <= speed <= MAX_SPEED else None


@bp.post("/simulate")
@api_auth_required("manager")
def simulate() -> Any:
    """Validate the JSON scenario (400 with errors), start playing it, answer 202."""
    limit = current_services().config.max_scenario_bytes
    if (request.content_length or 0) > limit:
        message = f"the scenario is {request.content_length} bytes; the limit is {limit}"
        return jsonify(error="too_large", message=message, errors=[message]), 413
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="bad_request", message="send the scenario as a JSON object",
                       errors=["body: expected a JSON object with title, caller and turns"]), 400
    speed = _speed(body)
    if speed is None:
        message = f"speed must be a number between {MIN_SPEED:g} and {MAX_SPEED:g}"
        return jsonify(error="bad_request", message=message, errors=[message]), 400
    try:
        scenario = scenario_from_json(body, max_bytes=2 * limit)  # re-indented by the check
    except ScenarioError as err:
        return jsonify(error="invalid_scenario", message=str(err), errors=[str(err)]), 400
    svc = current_services()
    running = sum(1 for call in svc.calls.live() if call.started.simulated)
    if running >= MAX_SIMULATIONS:
        return jsonify(error="too_many", message=f"{running} simulated calls are playing; "
                       "wait for one to finish"), 429
    player = ScenarioPlayer(svc, scenario, speed=speed).start()
    return jsonify(call_sid=player.call_sid, title=scenario.title, speed=speed), 202
