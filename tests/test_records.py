import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from voice.events import CallStarted, FrustrationState, Prompt, Utterance, Word
from voice.metrics import counters
from voice.records import CallRecorder, RecordError, RecordStore, RecordWriter
from voice.records.tables import utcnow


@pytest.fixture
def store(database_url):
    store = RecordStore(database_url)
    store.migrate()
    yield store
    store.engine.dispose()


def started(sid="CA1"):
    return CallStarted(sid, "+15550001", "+15550100", "front-desk", "2026-11-23T10:00:00+00:00")


def test_call_and_utterances_are_readable_while_the_call_runs(store):
    store.open_call(started(), stream_sid="MZ1")
    store.add_utterance(
        Utterance("CA1", "caller", "hello there", 0.2, 1.1, True, (Word("hello", 0.2, 0.6, 0.9),))
    )
    call = store.get_call("CA1")
    assert call["status"] == "live"
    assert call["from"] == "+15550001"
    assert call["utterances"] == [
        {
            "speaker": "caller",
            "text": "hello there",
            "t_start": 0.2,
            "t_end": 1.1,
            "final": True,
            "words": [{"text": "hello", "start": 0.2, "end": 0.6, "conf": 0.9}],
            "audio": None,
        }
    ]
    assert call["started_at"].startswith("2026-11-23T10:00:00")


def test_closing_a_call_files_a_follow_up_and_flags_it(store):
    store.open_call(started())
    store.add_frustration(FrustrationState("CA1", 0.8, "upset", 0.2, True, ("louder",), 3.0, 0.9))
    store.add_prompt(Prompt("CA1", "empathize", "empathize", "I understand", "caller upset", 3.1))
    assert store.close_call("CA1", "completed", flagged=True, flag_reasons=["reached upset"],
                            follow_up="Call back", summary={"peak_level": "upset"})
    assert not store.close_call("CA1", "completed"), "closing twice is refused"
    call = store.get_call("CA1")
    assert call["status"] == "completed" and call["ended_at"]
    assert call["flagged"] and call["flag_reasons"] == ["reached upset"]
    assert call["peak_level"] == "upset"
    assert call["frustration"][0]["reasons"] == ["louder"]
    assert call["follow_ups"][0]["summary"] == "Call back"
    assert [c["call_sid"] for c in store.list_calls(flagged=True)] == ["CA1"]


def test_calls_left_open_by_a_crash_are_marked_interrupted(store):
    store.open_call(started("CA1"))
    store.open_call(started("CA2"))
    store.close_call("CA2", "completed")
    assert store.close_interrupted_calls() == ["CA1"]
    call = store.get_call("CA1")
    assert call["status"] == "interrupted"
    assert call["follow_ups"], "an interrupted call still gets a follow-up"


def test_prompt_actions_and_follow_up_updates_are_recorded(store):
    store.open_call(started())
    store.add_prompt(Prompt("CA1", "confirm", "confirm", "May I ask…", "why", 1.0))
    store.close_call("CA1", "completed", follow_up="Call back")
    assert store.act_on_prompt("CA1", "confirm", "done", "desk")["status"] == "done"
    with pytest.raises(RecordError):
        store.act_on_prompt("CA1", "nope", "done", "desk")
    with pytest.raises(RecordError):
        store.act_on_prompt("CA1", "confirm", "exploded", "desk")
    item_id = store.get_call("CA1")["follow_ups"][0]["id"]
    item = store.update_follow_up(item_id, assignee="pat", status="closed", note="called back")
    assert item["assignee"] == "pat" and item["status"] == "closed" and item["closed_at"]


def test_topic_trends_count_calls_per_week(store):
    calls = [("A", "billing", True), ("B", "billing", False), ("C", None, False)]
    for sid, topic, flagged in calls:
        store.open_call(CallStarted(sid))
        store.update_call(sid, topic=topic)
        store.close_call(sid, "completed", flagged=flagged)
    trends = {row["topic"]: row for row in store.topic_trends()}
    assert trends["billing"]["calls"] == 2 and trends["billing"]["flagged"] == 1
    assert trends["other"]["calls"] == 1


def test_writer_keeps_writes_while_the_database_is_gone_and_replays_them(tmp_path: Path):
    db = tmp_path / "voice.db"
    store = RecordStore(f"sqlite:///{db}")
    store.migrate()
    writer = RecordWriter(store, retry_min_s=0.05, retry_max_s=0.2)
    recorder = CallRecorder(writer, "CA1")
    recorder.open(started())
    recorder.utterance(Utterance("CA1", "caller", "first", 0.0, 1.0, True))
    assert recorder.flush(5)

    moved = tmp_path / "away.db"
    shutil.move(db, moved)
    db.mkdir()  # the path is now a folder: every new connection fails
    store.engine.dispose()
    recorder.utterance(Utterance("CA1", "caller", "second", 1.0, 2.0, True))
    recorder.utterance(Utterance("CA1", "receptionist", "third", 2.0, 3.0, True))
    assert not recorder.flush(0.5)
    assert recorder.pending == 2 and writer.in_outage
    assert counters.get("db.write_failures") >= 1

    db.rmdir()
    shutil.move(moved, db)
    store.engine.dispose()
    assert recorder.flush(5)
    texts = [u["text"] for u in store.get_call("CA1")["utterances"]]
    assert texts == ["first", "second", "third"]
    writer.close()


def test_a_value_the_database_refuses_is_skipped_without_blocking_later_writes(store):
    writer = RecordWriter(store)
    recorder = CallRecorder(writer, "CA1")
    recorder.open(started())
    recorder.utterance(Utterance("CAnope", "caller", "for a call that does not exist", 0, 1, True))
    recorder.utterance(Utterance("CA1", "caller", "still saved", 1.0, 2.0, True))
    assert recorder.flush(5)
    assert [u["text"] for u in store.get_call("CA1")["utterances"]] == ["still saved"]
    assert counters.get("db.writes_refused") == 1
    writer.close()


def test_a_sip_caller_address_longer_than_a_phone_number_is_recorded(store):
    sip = "sip:+14155551234@front-desk-trunk.sip.us1.twilio.com;transport=tls" * 5
    store.open_call(CallStarted("CA1", from_number=sip))
    assert store.get_call("CA1")["from"] == sip[:255]


def test_only_calls_nobody_renews_are_closed_as_interrupted(store):
    store.open_call(started("CAold"), instance_id="host-a:1:aaaaaa")
    store.open_call(started("CAnew"), instance_id="host-b:2:bbbbbb")
    store.update_call("CAold", heartbeat_at=utcnow() - timedelta(minutes=10))
    store.touch_calls(["CAnew"])
    assert store.close_interrupted_calls(stale_after_s=120) == ["CAold"]
    assert store.get_call("CAnew")["status"] == "live"
    assert store.live_call_owners() == {"CAnew": "host-b:2:bbbbbb"}


def test_outcome_lands_after_a_status_callback_closed_the_call_elsewhere(store):
    store.open_call(started())
    assert store.close_call("CA1", "completed"), "the status callback closes the record"
    assert store.close_call("CA1", "interrupted", flagged=True, flag_reasons=["upset"],
                            follow_up="Call back", summary={"peak_level": "upset"})
    call = store.get_call("CA1")
    assert call["status"] == "completed", "the first close decides the status"
    assert call["flagged"] and call["peak_level"] == "upset"
    assert [f["summary"] for f in call["follow_ups"]] == ["Call back"]
    assert not store.close_call("CA1", "completed", follow_up="again"), "filed only once"
