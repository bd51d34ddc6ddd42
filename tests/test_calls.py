"""The live call wires the real stages; only the sentiment model is a fake here."""

import shutil

import pytest

from voice import create_app
from voice.events import AudioFeatures, CallStarted, Utterance
from voice.metrics import counters
from voice.services import services_of

ANGRY_WORDS = ("ridiculous", "third time", "unacceptable", "manager", "nobody called")


class KeywordScorer:
    """A stand-in sentiment model: high for angry wording, low otherwise."""

    name = "keyword-fake"

    def score(self, texts):
        return [0.92 if any(w in t.lower() for w in ANGRY_WORDS) else 0.05 for t in texts]


class BrokenScorer:
    name = "broken"

    def score(self, texts):
        raise RuntimeError("model exploded")


BILLING_DISPUTE = [
    ("caller", 1.0, "Hi, my name is Maria Lopez and I'm calling about my bill", -28.0),
    ("receptionist", 4.0, "Sure, how can I help you today?", -30.0),
    ("caller", 6.0, "I was charged two hundred dollars, this is the third time I've called",
     -22.0),
    ("receptionist", 10.0, "That's your insurance, not our department.", -30.0),
    ("caller", 12.0, "This is ridiculous, nobody called me back, I want a manager", -15.0),
    ("caller", 16.0, "It is unacceptable that I keep getting this bill", -14.0),
]


def utterance(sid, speaker, at, text, loudness, final=True):
    return Utterance(sid, speaker, text, at, at + 2.0, final,
                     audio=AudioFeatures(rms_dbfs=loudness))


@pytest.fixture
def services(config):
    app = create_app(config, scorer=KeywordScorer(), scorer_status="fake")
    services = services_of(app)
    yield services
    services.calls.end_all()


def play(services, sid, turns):
    live = services.calls.open(CallStarted(sid, "+15550001", desk="front-desk"),
                                  with_audio=False)
    for speaker, at, text, loudness in turns:
        live.add_utterance(utterance(sid, speaker, at, text, loudness))
    return live


def drain(subscription):
    messages = []
    while (message := subscription.get(0.2)) is not None:
        messages.append(message)
    return messages


def test_an_escalating_call_publishes_transcript_frustration_and_prompts_in_order(services):
    subscription = services.bus.subscribe("front-desk")
    live = play(services, "CAesc", BILLING_DISPUTE)
    live.end("completed")
    messages = drain(subscription)
    types = [m.type for m in messages]
    assert types[0] == "call_started" and types[-1] == "call_ended"
    assert types.count("transcript") == len(BILLING_DISPUTE)
    levels = [m.data["level"] for m in messages if m.type == "frustration"]
    assert levels[0] == "calm" and levels[-1] in ("upset", "escalating")
    prompts = [m.data for m in messages if m.type == "prompt"]
    assert prompts, "an escalating call gets prompts"
    assert len({p["id"] for p in prompts}) == len(prompts), "no prompt shown twice"
    assert messages[-1].data["flagged"] is True


def test_the_record_holds_the_whole_call_and_a_follow_up(services):
    play(services, "CArec", BILLING_DISPUTE).end("completed")
    call = services.store.get_call("CArec")
    assert call["status"] == "completed"
    assert [u["text"] for u in call["utterances"]] == [t[2] for t in BILLING_DISPUTE]
    assert len(call["frustration"]) == 4, "one point per caller utterance"
    assert call["prompts"] and call["flagged"] and call["peak_level"] in ("upset", "escalating")
    assert call["caller_name"] == "Maria Lopez"
    assert "Maria Lopez" in call["follow_ups"][0]["what"]


def test_partials_are_shown_live_but_only_finals_are_stored(services):
    subscription = services.bus.subscribe("front-desk")
    live = services.calls.open(CallStarted("CApart"), with_audio=False)
    live.add_utterance(utterance("CApart", "caller", 1.0, "I need to", -25, final=False))
    live.add_utterance(utterance("CApart", "caller", 1.0, "I need to book a visit", -25))
    live.end("completed")
    transcripts = [m.data for m in drain(subscription) if m.type == "transcript"]
    assert [t["final"] for t in transcripts] == [False, True]
    assert [u["text"] for u in services.store.get_call("CApart")["utterances"]] == [
        "I need to book a visit"
    ]


def test_a_failing_stage_is_logged_and_the_call_goes_on(config):
    app = create_app(config, scorer=BrokenScorer())
    services = services_of(app)
    live = play(services, "CAbroken", BILLING_DISPUTE[:3])
    live.end("completed")
    assert counters.get("frustration.errors") == 2
    assert len(services.store.get_call("CAbroken")["utterances"]) == 3


def test_the_database_going_away_mid_call_loses_nothing(services, tmp_path):
    db = tmp_path / "voice.db"
    live = play(services, "CAdb", BILLING_DISPUTE[:2])
    services.publisher.flush()
    subscription = services.bus.subscribe("front-desk")

    shutil.move(db, tmp_path / "away.db")
    db.mkdir()
    services.store.engine.dispose()
    for speaker, at, text, loudness in BILLING_DISPUTE[2:]:
        live.add_utterance(utterance("CAdb", speaker, at, text, loudness))
    seen = [m.type for m in drain(subscription)]
    assert seen.count("transcript") == 4, "the console kept getting the call"
    assert counters.get("db.write_failures") >= 1

    db.rmdir()
    shutil.move(tmp_path / "away.db", db)
    services.store.engine.dispose()
    live.end("completed")
    call = services.store.get_call("CAdb")
    assert [u["text"] for u in call["utterances"]] == [t[2] for t in BILLING_DISPUTE]
    assert call["status"] == "completed"


def test_ending_twice_is_harmless_and_unknown_calls_are_refused(services):
    live = play(services, "CAtwice", BILLING_DISPUTE[:1])
    assert live.end("completed") is True
    assert live.end("completed") is False
    assert services.calls.end("CAunknown", "completed") is False


def test_start_up_closes_calls_of_a_dead_process_but_not_of_a_running_instance(config):
    import os
    import socket

    from voice.records import RecordStore

    store = RecordStore(config.database_url)
    store.migrate()
    host = socket.gethostname()
    store.open_call(CallStarted("CAdead"), instance_id=f"{host}:999999:abcdef")
    store.open_call(CallStarted("CAalive"), instance_id=f"{host}:{os.getppid()}:123456")
    store.open_call(CallStarted("CAelsewhere"), instance_id="other-host:7:fedcba")
    services = services_of(create_app(config))
    assert store.get_call("CAdead")["status"] == "interrupted"
    assert store.get_call("CAdead")["follow_ups"], "it still gets a follow-up"
    assert store.get_call("CAalive")["status"] == "live"
    assert store.get_call("CAelsewhere")["status"] == "live", "another instance's call"
    services.calls.heartbeat_once()
    assert store.get_call("CAelsewhere")["status"] == "live", "its heartbeat is fresh"


class StuckWorker:
    stats = {"chunks_in": 0}

    def close(self):
        """Returns although its thread is still decoding."""

    def release_audio(self):
        """Keeps its buffers: its decoder still runs (as TranscriptionWorker does then)."""


def test_a_late_line_from_a_stuck_decoder_after_the_end_is_ignored(services):
    subscription = services.bus.subscribe("front-desk")
    live = play(services, "CAlate", BILLING_DISPUTE[:1])
    live.worker = StuckWorker()  # its decoder thread outlives the join
    live.end("completed")
    live.add_utterance(utterance("CAlate", "caller", 30.0, "a line after the end", -20))
    services.publisher.flush()
    types = [m.type for m in drain(subscription)]
    assert types[-1] == "call_ended"
    assert len(services.store.get_call("CAlate")["utterances"]) == 1


def test_a_failing_listener_does_not_lose_the_utterance(services):
    live = services.calls.open(CallStarted("CAlisten"), with_audio=False)
    live.listeners.append(lambda event: 1 / 0)
    live.add_utterance(utterance("CAlisten", "caller", 1.0, "I need a refill", -25))
    live.end("completed")
    assert [u["text"] for u in services.store.get_call("CAlisten")["utterances"]] == [
        "I need a refill"
    ]
    assert counters.get("calls.listener_errors") >= 1


def test_a_second_stream_for_a_live_call_takes_it_over_without_closing_it(services):
    first = play(services, "CAtwo", BILLING_DISPUTE[:3])
    second = services.calls.open(CallStarted("CAtwo", "+15550001"), with_audio=False)
    assert first.ended and services.calls.get("CAtwo") is second
    assert second.coach is first.coach and second.coach.caller_name == "Maria Lopez"
    assert first.end("interrupted") is False, "the old stream's end changes nothing"
    for speaker, at, text, loudness in BILLING_DISPUTE[3:]:
        second.add_utterance(utterance("CAtwo", speaker, at, text, loudness))
    second.end("completed")
    call = services.store.get_call("CAtwo")
    assert call["status"] == "completed" and len(call["follow_ups"]) == 1
    assert [u["text"] for u in call["utterances"]] == [t[2] for t in BILLING_DISPUTE]
    assert len({p["id"] for p in call["prompts"]}) == len(call["prompts"]), "no prompt repeated"
