"""The records writer on its own: retry with back-off through an outage, and a database that hangs.

The back-off test runs the writer on a fake clock (its waits between retries are
recorded and return at once) and never calls ``flush()``, so the writer must
retry by itself.  The hanging-database test holds a PostgreSQL lock on the
calls table from a second connection while a call runs and ends.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import postgres_url_or_skip
from sim_helpers import wait_for
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import voice.records.writer as writer_module
from voice import create_app
from voice.config import Config
from voice.events import CallStarted, Utterance
from voice.metrics import counters
from voice.records import RecordStore, RecordWriter
from voice.records.store import make_engine
from voice.services import services_of


class FakeClockCondition(threading.Condition):
    """A Condition whose timed waits pass at once on a fake clock, each one recorded."""

    waits: list[float] = []

    def wait_for(self, predicate, timeout=None):  # noqa: ANN001, ANN201
        """Advance the fake clock by ``timeout`` instead of sleeping."""
        if timeout is None:
            return super().wait_for(predicate)
        FakeClockCondition.waits.append(timeout)
        return predicate()


class FakeClockThreading:
    """What ``voice.records.writer`` uses of ``threading``, with the fake-clock Condition."""

    Thread = threading.Thread
    Condition = FakeClockCondition


class FlakyDatabase:
    """Fails the first ``failures`` writes as an unreachable database does, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.done = threading.Event()

    def write(self) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise OperationalError("INSERT INTO utterances", {}, ConnectionRefusedError("down"))
        self.done.set()


@pytest.fixture
def fake_clock(monkeypatch) -> list[float]:
    """The writer's waits between retries, in seconds of fake time."""
    FakeClockCondition.waits = []
    monkeypatch.setattr(writer_module, "threading", FakeClockThreading)
    return FakeClockCondition.waits


def test_the_writer_retries_on_its_own_with_doubling_back_off(fake_clock, tmp_path) -> None:
    writer = RecordWriter(RecordStore(f"sqlite:///{tmp_path / 'unused.db'}"),
                          retry_min_s=0.5, retry_max_s=4.0)
    database = FlakyDatabase(failures=6)
    writer.submit("CA1", "utterance", database.write)  # nobody calls flush()
    assert database.done.wait(10), f"the writer gave up after {database.attempts} attempt(s)"
    assert database.attempts == 7
    assert fake_clock == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]  # doubling, capped at retry_max_s
    assert counters.get("db.write_failures") == 6
    assert wait_for(lambda: not writer.in_outage and writer.pending() == 0)

    again = FlakyDatabase(failures=2)  # the next outage starts from retry_min_s again
    writer.submit("CA1", "utterance", again.write)
    assert again.done.wait(10)
    assert fake_clock[6:] == [0.5, 1.0]
    writer.close()


def test_writes_queued_behind_a_failing_one_wait_their_turn(fake_clock, tmp_path) -> None:
    writer = RecordWriter(RecordStore(f"sqlite:///{tmp_path / 'unused.db'}"))
    order: list[str] = []
    database = FlakyDatabase(failures=3)

    def first() -> None:
        database.write()
        order.append("first")

    writer.submit("CA1", "first", first)
    writer.submit("CA1", "second", lambda: order.append("second"))
    assert wait_for(lambda: order == ["first", "second"])
    assert len(fake_clock) == 3
    writer.close()


# --- a database that hangs ------------------------------------------------------------------


def started(sid: str) -> CallStarted:
    return CallStarted(sid, "+15550001", "+15550100", desk="front-desk",
                       started_at="2026-12-03T15:00:00+00:00")


def test_a_hanging_database_does_not_block_the_call(tmp_path: Path) -> None:
    url = postgres_url_or_skip()
    app = create_app(Config.for_testing(database_url=url))
    svc = services_of(app)
    call = svc.calls.open(started("CA-hang"), with_audio=False)
    # the first line loads the coach's models; the rest of the call runs on a hanging database
    call.add_utterance(Utterance("CA-hang", "caller", "front desk", 0, 0.5, True))
    assert call.recorder.flush(30) and svc.store.get_call("CA-hang")["status"] == "live"

    blocker = make_engine(url).connect()
    locked = blocker.begin()
    blocker.execute(text("LOCK TABLE calls, utterances IN ACCESS EXCLUSIVE MODE"))
    try:
        ended = threading.Event()

        def run_the_rest_of_the_call() -> None:
            for i in range(5):
                line = Utterance("CA-hang", "caller", f"line {i}", i + 1, i + 1.5, True)
                call.add_utterance(line)
            call.end("completed")
            ended.set()

        runner = threading.Thread(target=run_the_rest_of_the_call, daemon=True)
        runner.start()
        # the call ends while every write waits on the lock (end() waits 5 s for them at most)
        assert ended.wait(60), "the call blocked on the hanging database"
        assert svc.calls.get("CA-hang") is None
        assert svc.writer.pending("CA-hang") >= 1  # its writes are still waiting, in order
    finally:
        locked.rollback()
        blocker.close()
    assert wait_for(lambda: svc.writer.pending() == 0, timeout=30)
    record = svc.store.get_call("CA-hang")
    assert record["status"] == "completed"
    assert [u["text"] for u in record["utterances"]] == ["front desk"] + [
        f"line {i}" for i in range(5)]
    svc.calls.end_all("interrupted")


def test_a_call_opened_while_the_database_hangs_still_starts() -> None:
    url = postgres_url_or_skip()
    app = create_app(Config.for_testing(database_url=url))
    svc = services_of(app)
    blocker = make_engine(url).connect()
    locked = blocker.begin()
    blocker.execute(text("LOCK TABLE calls IN ACCESS EXCLUSIVE MODE"))
    try:
        opened: list[object] = []
        opener = threading.Thread(target=lambda: opened.append(
            svc.calls.open(started("CA-late"), with_audio=False)), daemon=True)
        opener.start()
        opener.join(30)  # start() waits 2 s for the call row, then goes on without it
        assert opened and svc.calls.get("CA-late") is opened[0]
    finally:
        locked.rollback()
        blocker.close()
    assert wait_for(lambda: (svc.store.get_call("CA-late") or {}).get("status") == "live",
                    timeout=30)
    svc.calls.end_all("interrupted")
