"""Finished calls stay finished: no stream ``start`` or voice webhook reopens or edits one.

The attack of issue 9: a captured (or freshly minted, still valid) stream token
and the constant upgrade signature are replayed after the call has ended, with
another caller and desk.  The socket is refused (1008), the voice webhook answers
``<Hangup/>`` without a stream, and the stored call keeps its status, end time,
caller, desk and its one follow-up -- on SQLite and on PostgreSQL.  Tokens carry
an expiry inside their MAC, so an old one opens nothing.
"""

import time
import xml.etree.ElementTree as ET

import pytest
from audio_fixtures import CALLER_WAV, RECEPTIONIST_WAV, read_mulaw_wav
from conftest import running_app
from twilio.request_validator import RequestValidator
from twilio_helpers import TOKEN, ScriptedEngine, StreamClient, close_code

from voice.events import CallStarted
from voice.metrics import counters
from voice.records import RecordStore
from voice.services import services_of
from voice.twilio.signature import call_stream_token, stream_token_problem

CALL = "CA" + "f" * 32
PUBLIC = "https://coach.example.com"
KEPT = ("status", "ended_at", "from", "to", "desk", "started_at")


@pytest.fixture
def stream_app(config, database_url):
    with running_app(config.replace(database_url=database_url), speech=ScriptedEngine()) as app:
        yield app


@pytest.fixture
def finished(stream_app, server) -> dict:
    """CALL streamed to the end (``stop``): its stored record."""
    caller, receptionist = read_mulaw_wav(CALLER_WAV)[0], read_mulaw_wav(RECEPTIONIST_WAV)[0]
    client = StreamClient(server.url, CALL)
    client.begin(**{"from": "+15550001", "to": "+15550100", "desk": "front-desk"})
    client.play(caller[:16000], receptionist[:16000])
    client.stop()
    call = services_of(stream_app).store.get_call(CALL)
    assert call["status"] == "completed" and len(call["follow_ups"]) == 1
    return call


def assert_unchanged(app, before: dict) -> None:
    after = services_of(app).store.get_call(CALL)
    assert {k: after[k] for k in KEPT} == {k: before[k] for k in KEPT}
    assert len(after["follow_ups"]) == 1
    assert [u["text"] for u in after["utterances"]] == [u["text"] for u in before["utterances"]]
    assert services_of(app).calls.get(CALL) is None


def test_a_new_start_for_a_finished_call_is_refused_and_changes_nothing(
    stream_app, server, finished
):
    replay = StreamClient(server.url, CALL)  # a valid, freshly minted token for this call
    replay.begin(**{"from": "+15559999", "to": "+15550100", "desk": "another-desk"})
    assert close_code(replay) == 1008
    assert_unchanged(stream_app, finished)
    assert counters.get("twilio.stream.call_ended") == 1
    assert counters.get("twilio.streams_started") == 1


def test_the_voice_webhook_for_a_finished_call_hangs_up_without_a_stream(stream_app, finished):
    form = {"CallSid": CALL, "From": "+15559999", "To": "+15550100", "CallStatus": "ringing"}
    headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(
        PUBLIC + "/twilio/voice", form)}
    answer = stream_app.test_client().post("/twilio/voice", data=form, headers=headers)
    assert answer.status_code == 200
    root = ET.fromstring(answer.data)
    assert [child.tag for child in root] == ["Hangup"]
    assert b"token" not in answer.data and b"Stream" not in answer.data
    assert_unchanged(stream_app, finished)
    assert counters.get("twilio.voice_for_ended_call") == 1


def test_an_expired_stream_token_opens_nothing(stream_app, server):
    old = call_stream_token(TOKEN, CALL, expires_at=int(time.time()) - 1)
    assert stream_token_problem(TOKEN, CALL, old) == "the token has expired"
    client = StreamClient(server.url, CALL)
    client.begin(token=old)
    assert close_code(client) == 1008
    assert services_of(stream_app).store.get_call(CALL) is None
    assert counters.get("twilio.stream.bad_call_token") == 1


def test_an_expiry_cannot_be_extended_without_the_key() -> None:
    token = call_stream_token(TOKEN, CALL, expires_at=int(time.time()) - 1)
    _, _, mac = token.partition(".")
    forged = f"{int(time.time()) + 3600}.{mac}"
    assert stream_token_problem(TOKEN, CALL, forged) == "not this call's token"
    assert stream_token_problem(TOKEN, CALL, "garbage") == "not a stream token"


def test_the_store_never_reopens_an_ended_call_and_keeps_a_live_calls_caller(database_url):
    store = RecordStore(database_url)
    store.migrate()
    first = CallStarted(call_sid=CALL, from_number="+15550001", to_number="+15550100",
                        desk="front-desk", started_at="2026-01-05T10:00:00+00:00")
    assert store.open_call(first, "MZ1")
    takeover = CallStarted(call_sid=CALL, from_number="+15559999", to_number="+15550199",
                           desk="another-desk", started_at="2026-01-05T10:05:00+00:00")
    assert store.open_call(takeover, "MZ2")
    live = store.get_call(CALL)
    assert (live["from"], live["to"], live["desk"]) == ("+15550001", "+15550100", "front-desk")
    assert store.close_call(CALL, "completed", follow_up="Call back")
    before = store.get_call(CALL)
    assert store.open_call(takeover, "MZ3") is False
    after = store.get_call(CALL)
    assert {k: after[k] for k in KEPT} == {k: before[k] for k in KEPT}
    assert store.call_status(CALL) == "completed" and store.call_status("CA-none") is None
