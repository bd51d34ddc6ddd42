"""gunicorn's configuration module for the Procfile: ``gunicorn -c python:voice.gunicorn_conf``.

The same settings ``voice serve`` uses (``serving.gunicorn_settings``), from the
environment; ``--bind`` on the command line (the platform's ``$PORT``) wins.
"""

from __future__ import annotations

from voice.config import Config, platform_bind
from voice.serving import gunicorn_settings

_settings = gunicorn_settings(Config.from_env(), platform_bind())
globals().update(_settings)
