"""The WSGI entry point the Procfile and ``voice serve`` run: ``app = create_app()``.

A database that cannot be reached is one line on stderr and exit status 3
(gunicorn's "worker failed to boot"), not a traceback.
"""

import sys

from voice import create_app
from voice.records import DatabaseUnreachable

try:
    app = create_app()
except DatabaseUnreachable as exc:
    print(f"voice: {exc}", file=sys.stderr)
    raise SystemExit(3) from None
