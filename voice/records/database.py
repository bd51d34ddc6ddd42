"""The records database: the engine, the schema migration and the transaction helper.

``Database`` is what every part of the store shares: ``session()`` opens a
transaction, ``migrate()`` brings the schema up to date, ``ping()`` says whether
the database answers.  The parts of ``RecordStore`` (``call_writes``,
``heartbeats``, ``actions``, ``call_reads``) build on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from voice.config import normalise_database_url
from voice.records.outcome import OutcomeSettings
from voice.records.reach import DatabaseUnreachable, explain_unreachable
from voice.records.users import UserStore


class RecordError(LookupError):
    """A record that was asked for does not exist or cannot change that way."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets thread-safe settings and WAL."""
    url = normalise_database_url(url)  # a no-op for a URL that came through Config
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                             connect_args={"connect_timeout": 5})
    if url in ("sqlite://", "sqlite:///:memory:"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
    else:
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if url not in ("sqlite://", "sqlite:///:memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def clip(value: str | None, size: int) -> str | None:
    """``value`` cut to a column's ``size`` (over-long input is stored, not refused)."""
    return value[:size] if value else value


class Database:
    """One database: its engine, transactions, migration; the users who log in to it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.outcome = OutcomeSettings()
        self.users = UserStore(self.session)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Create or upgrade the schema; ``DatabaseUnreachable`` when it cannot connect."""
        try:
            migrate(self.engine)
        except OperationalError as exc:
            raise DatabaseUnreachable(explain_unreachable(self.url, exc)) from None

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return True
        except SQLAlchemyError:
            return False

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name
