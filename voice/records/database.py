"""The records database: the engine, the schema migration and the transaction helper.

``Database`` is what every part of the store shares: ``session()`` opens a
transaction, ``migrate()`` brings the schema up to date, ``ping()`` says whether
the database answers.  The parts of ``RecordStore`` (``call_writes``,
``heartbeats``, ``actions``, ``call_reads``) build on it.

An in-memory SQLite database lives in one connection, so its engine hands that
connection to one thread at a time (``OneConnectionPool``): the consoles' audit
writes and the record writer's transactions take turns instead of interleaving
on one connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from voice.config import normalise_database_url
from voice.records.outcome import OutcomeSettings
from voice.records.reach import DatabaseUnreachable, explain_unreachable
from voice.records.users import UserStore

MEMORY_URLS = ("sqlite://", "sqlite:///:memory:")
TURN_TIMEOUT_S = 30.0


class RecordError(LookupError):
    """A record that was asked for does not exist or cannot change that way."""


class _Turn:
    """Whose turn it is with the one connection: re-entrant for the thread holding it.

    Not an ``RLock``: a connection left to the garbage collector is checked in on
    whichever thread collects it, and that must still end the turn.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._owner: int | None = None
        self._depth = 0

    def take(self, timeout: float) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            if not self._cond.wait_for(lambda: self._owner is None, timeout):
                return False
            self._owner, self._depth = me, 1
            return True

    def give_back(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth <= 0:
                self._owner, self._depth = None, 0
                self._cond.notify()


class OneConnectionPool(StaticPool):
    """``StaticPool``'s one connection, lent to one thread at a time.

    Nested checkouts on the holding thread share it, as with ``StaticPool``;
    another thread waits its turn (``TimeoutError`` after ``TURN_TIMEOUT_S``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turn = _Turn()

    def _do_get(self) -> ConnectionPoolEntry:
        if not self._turn.take(TURN_TIMEOUT_S):
            raise PoolTimeout(f"the in-memory database was busy for {TURN_TIMEOUT_S:.0f} s")
        try:
            return super()._do_get()
        except BaseException:
            self._turn.give_back()
            raise

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        self._turn.give_back()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets thread-safe settings and WAL."""
    url = normalise_database_url(url)  # a no-op for a URL that came through Config
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                             connect_args={"connect_timeout": 5})
    if url in MEMORY_URLS:
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, poolclass=OneConnectionPool
        )
    else:
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if url not in MEMORY_URLS:
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
