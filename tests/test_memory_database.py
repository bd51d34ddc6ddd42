"""In-memory SQLite is one connection: concurrent writers take turns on it instead of
interleaving (an audit row written while the record writer's transaction is open, a
console stream auditing new calls while their records are written) and all succeed."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from conftest import login
from sim_helpers import FakeScorer
from sqlalchemy import select
from test_console import Stream

from voice import create_app
from voice.config import Config
from voice.events import CallStarted, Utterance
from voice.records.audit import AuditLog
from voice.records.store import RecordStore
from voice.records.tables import Call
from voice.services import services_of

# Long enough for a writer sharing the connection to finish inside the open transaction
# (it takes milliseconds); a writer that waits its turn cannot finish before it ends.
OVERLAP_S = 1.0


class Aborted(Exception):
    """The call transaction gives up after the audit write had its chance to interleave."""


def _overlap(store: RecordStore, *, abort: bool) -> tuple[bool, list[BaseException]]:
    """A call record transaction held open while another thread writes an audit row.

    Returns whether the audit write finished inside the transaction, and the errors."""
    opened, audited = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    inside: list[bool] = []

    def call_transaction() -> None:
        try:
            with store.session() as s:
                s.add(Call(call_sid="CA-tx", from_number="+15550001111",
                           started_at=datetime(2026, 1, 1, 10, tzinfo=UTC)))
                s.flush()
                opened.set()
                inside.append(audited.wait(OVERLAP_S))
                if abort:
                    raise Aborted
        except Aborted:
            pass
        except BaseException as exc:
            errors.append(exc)

    def audit_write() -> None:
        try:
            assert opened.wait(10)
            AuditLog(store).record(user="desk", role="receptionist", action="view_live",
                                   call_sid="CA-tx")
            audited.set()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call_transaction), threading.Thread(target=audit_write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(t.is_alive() for t in threads)
    return inside == [True], errors


@pytest.fixture
def memory_store() -> RecordStore:
    store = RecordStore("sqlite://")
    store.migrate()
    return store


def _call_rows(store: RecordStore) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(Call.call_sid)))


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_audit_write_waits_for_an_open_call_transaction_and_both_commit(url: str) -> None:
    store = RecordStore(url)
    store.migrate()
    finished_inside, errors = _overlap(store, abort=False)
    assert errors == []
    assert not finished_inside
    assert _call_rows(store) == ["CA-tx"]
    assert [r["call_sid"] for r in AuditLog(store).entries()] == ["CA-tx"]


def test_a_call_transaction_that_rolls_back_keeps_the_audit_row_written_meanwhile(
        memory_store: RecordStore) -> None:
    finished_inside, errors = _overlap(memory_store, abort=True)
    assert errors == []
    assert not finished_inside
    assert _call_rows(memory_store) == []  # the audit commit did not commit the call's half
    assert [r["call_sid"] for r in AuditLog(memory_store).entries()] == ["CA-tx"]


def test_many_audit_and_call_writes_from_two_threads_all_succeed(
        memory_store: RecordStore) -> None:
    errors: list[BaseException] = []
    count = 150

    def calls() -> None:
        for n in range(count):
            try:
                memory_store.open_call(CallStarted(f"CA{n}", "+15550001111", desk="front-desk",
                                                   started_at="2026-01-01T10:00:00+00:00"))
                memory_store.add_utterance(Utterance(f"CA{n}", "caller", "hello", 0.0, 1.0, True))
            except Exception as exc:
                errors.append(exc)

    def audits() -> None:
        for n in range(count):
            try:
                AuditLog(memory_store).record(user="desk", role="receptionist",
                                              action="view_live", call_sid=f"CA{n}")
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=calls), threading.Thread(target=audits)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(_call_rows(memory_store)) == count
    assert len(AuditLog(memory_store).entries(limit=1000)) == count


def test_a_console_stream_on_in_memory_sqlite_is_not_cut_while_calls_are_written() -> None:
    app = create_app(Config.for_testing(), scorer=FakeScorer())
    app.config["SSE_HEARTBEAT_S"] = 0.2
    svc = services_of(app)
    assert svc.store.url == "sqlite://"
    client = app.test_client()
    login(client, svc.store)
    stream = Stream(client.get("/events?page=p1"))
    stream.events(1)  # the (empty) snapshot
    count = 60
    wanted = [f"CA{n}" for n in range(count)]
    shown: list[str] = []
    try:
        for sid in wanted:
            # the call's rows go through the record writer's thread while this stream,
            # shown the call, writes its view_live audit row from the test's thread
            call = svc.calls.open(CallStarted(sid, "+15550001111", desk="front-desk",
                                              started_at="2026-01-01T10:00:00+00:00"),
                                  with_audio=False)
            call.add_utterance(Utterance(sid, "caller", f"my bill {sid}", 0.0, 2.0, True))
            deadline = time.monotonic() + 10
            while sid not in shown and time.monotonic() < deadline:
                # a cut stream stops short: reading on raises
                seen = sum(1 for m in stream.messages() if "event" in m)
                shown = [e["data"]["call_sid"] for e in stream.events(seen + 1)
                         if e["event"] == "transcript"]
    finally:
        stream.close()
        svc.calls.end_all("interrupted")
    assert svc.writer.flush(10)
    assert shown == wanted
    audited = [r["call_sid"] for r in AuditLog(svc.store).entries(limit=1000)
               if r["action"] == "view_live"]
    assert sorted(audited) == sorted(wanted)
