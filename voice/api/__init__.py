"""The JSON API blueprint: call records for managers and programs."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from voice.api import calls  # noqa: E402,F401  (registers routes)

try:  # the simulation endpoint lives beside the scenario player
    from voice.api import simulate  # noqa: E402,F401
except ImportError:  # pragma: no cover - absent only while it is being written
    pass
