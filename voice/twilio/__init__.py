"""Twilio ingress: the voice webhook, the status callback and the Media Streams socket.

``bp`` is the blueprint ``create_app`` registers under ``/twilio``; the route
modules (``webhook``, ``media_socket``) attach themselves to it on import.  Frame
parsing lives in the pure ``protocol`` module, signature checks in ``signature``.
"""

from flask import Blueprint

bp = Blueprint("twilio", __name__, url_prefix="/twilio")

from voice.twilio import media_socket, webhook  # noqa: E402, F401  (routes register on bp)
