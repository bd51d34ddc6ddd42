"""The WSGI entry point the Procfile and ``voice serve`` run: ``app = create_app()``."""

from voice import create_app

app = create_app()
