"""gunicorn's configuration module for the Procfile: ``gunicorn -c python:voice.gunicorn_conf``.

The same settings ``voice serve`` uses (``serving.gunicorn_settings``), from the
environment; ``--bind`` on the command line (the platform's ``$PORT``) wins.
"""

from __future__ import annotations

import os

from voice.config import Config
from voice.serving import gunicorn_settings

_settings = gunicorn_settings(Config.from_env(), f"0.0.0.0:{os.environ.get('PORT', '5000')}")
globals().update(_settings)
