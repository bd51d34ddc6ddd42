"""A database that cannot be reached at start-up: one clear line, not a traceback.

``explain_unreachable`` turns SQLAlchemy's connection error into a sentence that
names the variable (``DATABASE_URL``), where it points (host, port, database and
user; never the password) and what to check.  ``RecordStore.migrate`` raises it
as ``DatabaseUnreachable``; the CLI and the WSGI entry point print it and exit
non-zero.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class DatabaseUnreachable(RuntimeError):
    """The records database cannot be opened; the message says what to check."""


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    reason = lines[0] if lines else orig.__class__.__name__
    return reason if len(reason) <= 200 else reason[:197] + "..."


def explain_unreachable(url: str, exc: BaseException) -> str:
    """One line: ``DATABASE_URL``, where it points, why it failed, what to check."""
    reason = _reason(exc)
    try:
        parsed = make_url(url)
    except ArgumentError:
        return f"DATABASE_URL is not a database URL ({reason})"
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ":memory:"
        folder = Path(path).parent if parsed.database else Path(".")
        return (f"DATABASE_URL: cannot open the SQLite database {path} ({reason}); check that "
                f"the folder {folder} exists and this user may write to it")
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    who = f" as user {parsed.username!r}" if parsed.username else ""
    return (f"DATABASE_URL: cannot reach PostgreSQL database {parsed.database!r} at {where}{who} "
            f"({reason}); check that the server is running and reachable from this machine, "
            "the host, port and database name, and the user's password")
