"""One call end to end: audio frames over the signed WebSocket to a prompt card on /events.

The only fake is the speech engine at the edge (``ScriptedEngine``: each voice's
audio is heard as its own scripted lines); the frustration scorer is the real
default (``load_scorer()``: MiniLM and the committed head), the coach and the
bus are the app's own, and the desk's console reads the events over a real
Server-Sent Events stream with a receptionist's login.
"""

from __future__ import annotations

import json
import threading

import pytest
import requests
from audio_fixtures import CALLER_WAV, RECEPTIONIST_WAV, read_mulaw_wav
from bus_helpers import wait_subscribed
from conftest import LiveServer, running_app
from serve_helpers import PASSWORD, login_session
from twilio_helpers import ScriptedEngine, StreamClient, wait_for

from voice.frustration import load_scorer
from voice.services import services_of

CALL = "CA" + "e" * 32
CALLER_SAYS = [
    "hi this is robert alvarez calling about a statement i got",
    "this is ridiculous i have called three times about this bill",
    "nobody ever calls me back and now you sent it to collections",
    "i am done with this it is completely unacceptable",
    "i already paid it and i am still getting these letters",
    "why does nobody there listen to me",
]
RECEPTIONIST_SAYS = [
    "good morning maple street family practice how can i help",
    "okay let me pull up your account",
    "i understand",
]


class DeskConsole:
    """The desk's ``/events`` stream read on a thread: ``(event, data)`` in arrival order."""

    def __init__(self, url: str, session: requests.Session) -> None:
        self.events: list[tuple[str, dict]] = []
        self.started = threading.Event()
        self.response = requests.get(url + "/events", headers=dict(session.headers),
                                     stream=True, timeout=120)
        assert self.response.status_code == 200
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event = ""
        try:
            for raw in self.response.iter_lines(decode_unicode=True):
                if raw.startswith("event: "):
                    event = raw[len("event: "):]
                elif raw.startswith("data: "):
                    self.events.append((event, json.loads(raw[len("data: "):])))
                    if event == "snapshot":
                        self.started.set()
        except (requests.RequestException, AttributeError, OSError):
            return  # closed by the test

    def of(self, kind: str) -> list[dict]:
        """The data of every event of ``kind`` so far."""
        return [data for event, data in list(self.events) if event == kind]

    def close(self) -> None:
        self.response.close()


@pytest.fixture(scope="module")
def scorer():  # noqa: ANN201
    """The real default frustration scorer, loaded once."""
    return load_scorer()


def test_audio_over_the_websocket_reaches_the_desk_as_a_prompt_card(config, scorer) -> None:  # noqa: ANN001
    engine = ScriptedEngine(lines={"caller": CALLER_SAYS, "receptionist": RECEPTIONIST_SAYS})
    caller, receptionist = read_mulaw_wav(CALLER_WAV)[0], read_mulaw_wav(RECEPTIONIST_WAV)[0]
    with running_app(config, speech=engine, scorer=scorer) as app, LiveServer(app) as live:
        svc = services_of(app)
        svc.store.users.add("jenny", PASSWORD, "receptionist", ["front-desk"])
        console = DeskConsole(live.url, login_session(live.url, "jenny"))
        try:
            assert console.started.wait(30), "the console's stream never started"
            wait_subscribed(svc.bus, "front-desk")
            client = StreamClient(live.url, CALL)
            client.begin()
            client.play(caller, receptionist)
            client.stop()
            assert wait_for(lambda: console.of("call_ended"), timeout=60), console.events
        finally:
            console.close()

    said = {speaker: [u["text"] for u in console.of("transcript")
                      if u["speaker"] == speaker and u["final"]]
            for speaker in ("caller", "receptionist")}
    # inbound audio was heard as the caller, outbound as the receptionist, in order
    for speaker, lines in said.items():
        assert lines == [engine.line(speaker, n) for n in range(1, len(lines) + 1)], said
    assert said["caller"][:4] == CALLER_SAYS[:4]
    assert said["receptionist"][:2] == RECEPTIONIST_SAYS[:2]

    states = console.of("frustration")
    assert states and all(s["call_sid"] == CALL for s in states)
    assert states[0]["level"] == "calm"  # the polite opening
    assert any(s["level"] in ("upset", "escalating") for s in states), states
    assert any(s["rising"] for s in states), states

    kinds = [event for event, data in console.events if data.get("call_sid") == CALL]
    first_upset = next(i for i, (event, data) in enumerate(
        (e, d) for e, d in console.events if d.get("call_sid") == CALL)
        if event == "frustration" and data["level"] != "calm")
    assert "prompt" in kinds[first_upset:], kinds  # a card follows the caller's anger
    prompts = console.of("prompt")
    assert all(p["call_sid"] == CALL and p["text"] for p in prompts)
    assert kinds[0] == "call_started" and kinds[-1] == "call_ended"
