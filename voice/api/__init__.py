"""The JSON API blueprint: call records for managers and programs."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from voice.api import calls, simulate  # noqa: E402,F401  (register their routes)
