"""Errors and limits for every HTTP request: JSON where programs call, bounded bodies.

``init_app`` sets the body limit (``MAX_CONTENT_LENGTH`` from
``VOICE_MAX_REQUEST_BYTES``; the serving worker refuses a larger announced body
before reading it), makes JSON nested too deeply for the parser an ordinary bad
JSON body (400) instead of a ``RecursionError``, and answers every 4xx/5xx on
``/api/`` and ``/twilio/`` (and to callers that ask for JSON) with
``{"error", "message"}`` -- never an HTML page.  An unexpected exception is logged
with its traceback and answered 500 the same way.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

JSON_PREFIXES = ("/api/", "/twilio/")


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, where input nested past the parser's depth is a ``ValueError``."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON; too deep a nesting raises ``ValueError`` like any bad JSON."""
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def wants_json() -> bool:
    """Whether this request's errors are answered as JSON."""
    return request.path.startswith(JSON_PREFIXES) or (
        request.accept_mimetypes.best == "application/json")


def error_code(error: HTTPException) -> str:
    """``not_found``, ``request_entity_too_large`` ...: the error's name as a code."""
    return (error.name or "error").lower().replace(" ", "_").replace("'", "")


def init_app(app: Flask, max_request_bytes: int) -> None:
    """Install the body limit, the JSON provider and the error handlers."""
    app.json_provider_class = BoundedJSONProvider
    app.json = BoundedJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = max_request_bytes

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if error.code is None or error.code < 400 or not wants_json():
            return error  # pages: werkzeug's escaped page, or whatever response it carries
        if error.response is not None and error.response.mimetype == "application/json":
            return error.response
        response = jsonify(error=error_code(error), message=error.description)
        response.status_code = error.code
        for name, value in error.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        log.exception("%s %s failed", request.method, request.path)
        return http_error(InternalServerError())
