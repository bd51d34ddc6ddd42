"""Playing scripted calls: the scenario player, the demo loop and ``voice simulate``.

``ScenarioPlayer`` plays a ``Scenario`` inside the service through the same
pipeline a phone call uses from the utterance stage on (frustration, coach,
bus, console, records), pacing each turn at ``at / speed`` seconds and showing
a partial transcript before each final one.  ``start_demo_loop`` keeps a demo
call going for ``voice serve --demo``.  ``simulate_command`` is the client side:
it validates a scenario file locally, sends it to ``POST /api/simulate`` (or,
with ``--audio``, speaks it into the Twilio stream: ``voice.simulate_audio``) and
waits for the call to finish, printing the call sid last.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from voice.calls import now_iso
from voice.events import AudioFeatures, CallStarted, EndStatus, Utterance
from voice.scenario import Scenario, ScenarioError, ScenarioTurn, load_scenario, parse_scenario

if TYPE_CHECKING:
    from voice.calls import LiveCall
    from voice.services import Services

log = logging.getLogger(__name__)

WORDS_PER_SECOND = 2.6
END_PAUSE_S = 2.0
MIN_SPEED, MAX_SPEED = 0.1, 1000.0


def new_call_sid() -> str:
    """A call sid for a simulated call: ``SIM`` and 32 hex digits."""
    return "SIM" + uuid.uuid4().hex


def scenario_to_json(scenario: Scenario) -> dict[str, Any]:
    """A scenario as the JSON body ``POST /api/simulate`` takes (the YAML's fields)."""
    body: dict[str, Any] = {"title": scenario.title, "caller": scenario.caller}
    if scenario.desk:
        body["desk"] = scenario.desk
    body["turns"] = [
        {k: v for k, v in vars(turn).items() if v is not None} for turn in scenario.turns
    ]
    return body


def scenario_from_json(data: Any, max_bytes: int | None = None) -> Scenario:
    """Validate a JSON scenario with the file validator; errors name the turn and field."""
    if not isinstance(data, dict):
        raise ScenarioError("request body", "expected a JSON object with title, caller and turns")
    try:
        text = json.dumps(data, indent=1)
    except RecursionError:
        raise ScenarioError("request body", "nested too deeply to be a scenario") from None
    if max_bytes is None:
        return parse_scenario(text, "request body")
    return parse_scenario(text, "request body", max_bytes=max_bytes)


class ScenarioPlayer:
    """Plays one scenario as a live call, in real time divided by ``speed``."""

    def __init__(
        self,
        services: Services,
        scenario: Scenario,
        speed: float = 1.0,
        call_sid: str | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise ValueError(f"speed must be between {MIN_SPEED:g} and {MAX_SPEED:g}")
        self.services = services
        self.scenario = scenario
        self.speed = speed
        self.call_sid = call_sid or new_call_sid()
        self.stop_event = stop or threading.Event()
        self.thread: threading.Thread | None = None
        self.status: EndStatus | None = None

    def start(self) -> ScenarioPlayer:
        """Open the call now (its record exists on return), play it in a background thread."""
        call = self._open()
        self.thread = threading.Thread(target=self._finish, args=(call,),
                                       name=f"simulate-{self.call_sid}", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Cut the call short (it ends as ``interrupted``)."""
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the call to finish; True when it did."""
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return self.status is not None

    def run(self) -> EndStatus:
        """Play the whole call in this thread; returns how it ended."""
        return self._finish(self._open())

    def _finish(self, call: LiveCall) -> EndStatus:
        status: EndStatus = "failed"
        try:
            status = "completed" if self._play(call) else "interrupted"
        except Exception:
            log.exception("simulated call %s failed", self.call_sid)
        finally:
            call.end(status)
            self.status = status
        return status

    def _open(self) -> LiveCall:
        config = self.services.config
        started = CallStarted(
            call_sid=self.call_sid,
            from_number=self.scenario.caller,
            to_number=config.desk_number,
            desk=self.scenario.desk or config.desk_name,
            started_at=now_iso(),
            simulated=True,
        )
        log.info("simulating %r as call %s at speed %g", self.scenario.title, self.call_sid,
                 self.speed)
        return self.services.calls.open(started, with_audio=False)

    def _play(self, call: LiveCall) -> bool:
        """Feed every turn at its time; False when stopped early."""
        began = time.monotonic()
        previous_at = 0.0
        for turn in self.scenario.turns:
            for due, utterance in self._utterances(turn, previous_at):
                if not self._wait_until(began, due):
                    return False
                call.add_utterance(utterance)
            previous_at = turn.at
        return self._wait_until(began, previous_at + END_PAUSE_S)

    def _wait_until(self, began: float, call_time: float) -> bool:
        delay = began + call_time / self.speed - time.monotonic()
        return not (delay > 0 and self.stop_event.wait(delay)) and not self.stop_event.is_set()

    def _utterances(self, turn: ScenarioTurn, previous_at: float) -> list[tuple[float, Utterance]]:
        """The partial (for longer lines) and the final utterance of a turn, with due times.

        The final arrives at ``turn.at``; the speech is taken to have started
        earlier, as long as its words take to say, but not before the last turn.
        """
        words = turn.text.split()
        t_start = max(previous_at, turn.at - len(words) / WORDS_PER_SECOND)
        audio = AudioFeatures(rms_dbfs=turn.loudness) if turn.loudness is not None else None
        final = Utterance(self.call_sid, turn.speaker, turn.text, t_start, turn.at, True,
                          audio=audio)
        if len(words) < 4 or turn.at - t_start < 0.5:
            return [(turn.at, final)]
        midway = (t_start + turn.at) / 2
        partial = Utterance(self.call_sid, turn.speaker, " ".join(words[: len(words) // 2]),
                            t_start, midway, False)
        return [(midway, partial), (turn.at, final)]


def start_demo_loop(
    services: Services, scenario_path: str | Path, speed: float = 1.0, pause_s: float = 10.0
) -> threading.Event:
    """Loop the demo scenario forever in a daemon thread; set the returned event to stop.

    The file is re-read before every run, so edits show up on the next loop; a
    broken file is logged and retried after the pause.
    """
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                scenario = load_scenario(scenario_path)
                ScenarioPlayer(services, scenario, speed=speed, stop=stop).run()
            except ScenarioError as err:
                log.error("demo scenario unusable: %s", err)
            except Exception:
                log.exception("demo call failed; trying again after a pause")
            stop.wait(pause_s)

    threading.Thread(target=loop, name="demo-loop", daemon=True).start()
    log.info("demo: looping %s at speed %g", scenario_path, speed)
    return stop


# --- the client: `voice simulate` ------------------------------------------------------


def _fail(message: str) -> click.ClickException:
    return click.ClickException(message)


def _post_scenario(url: str, token: str, body: dict[str, Any], speed: float) -> str:
    import requests

    try:
        response = requests.post(
            f"{url}/api/simulate", json={**body, "speed": speed},
            headers={"Authorization": f"Bearer {token}"}, timeout=15,
        )
    except requests.RequestException as exc:
        raise _fail(f"cannot reach the service at {url} ({exc.__class__.__name__}): "
                    "is `voice serve` running there?") from None
    if response.status_code == 401:
        raise _fail(f"the service at {url} refused the token (401): use the VOICE_API_TOKEN "
                    "the service was started with (--token or the environment)")
    if response.status_code == 403:
        raise _fail("the token is valid but not allowed to simulate (403)")
    if response.status_code == 400:
        errors = _json(response).get("errors") or [_json(response).get("message", response.text)]
        raise _fail("the service rejected the scenario:\n  " + "\n  ".join(map(str, errors)))
    if response.status_code != 202:
        raise _fail(f"unexpected answer from {url}/api/simulate: HTTP {response.status_code} "
                    f"{response.text[:200]}")
    return str(_json(response)["call_sid"])


def _json(response: Any) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _report_progress(call: dict[str, Any], seen: dict[str, int]) -> None:
    """Echo the lines and prompts that appeared since the last poll."""
    for line in call.get("utterances", [])[seen["lines"]:]:
        click.echo(f"  {line['t_end']:6.1f}s {line['speaker']:>12}: {line['text']}")
    for prompt in call.get("prompts", [])[seen["prompts"]:]:
        click.echo(f"  {prompt['t']:6.1f}s {'PROMPT':>12}: [{prompt['kind']}] {prompt['text']}")
    level = call.get("frustration", [{}])[-1].get("level") if call.get("frustration") else None
    if level and level != seen.get("level"):
        click.echo(f"  {'':6}  {'level':>12}: {level}")
        seen["level"] = level
    seen["lines"] = len(call.get("utterances", []))
    seen["prompts"] = len(call.get("prompts", []))


def _wait_for_call(url: str, token: str, call_sid: str, timeout_s: float) -> dict[str, Any]:
    import requests

    deadline = time.monotonic() + timeout_s
    seen: dict[str, Any] = {"lines": 0, "prompts": 0, "level": None}
    while True:
        try:
            response = requests.get(f"{url}/api/calls/{call_sid}", timeout=10,
                                    headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException as exc:
            raise _fail(f"lost the service at {url} while waiting for {call_sid}: {exc}") from None
        if response.status_code == 200:
            call: dict[str, Any] = response.json()
            _report_progress(call, seen)
            if call.get("status") != "live":
                return call
        elif response.status_code != 404:  # 404: the record is not written yet
            raise _fail(f"GET /api/calls/{call_sid} answered HTTP {response.status_code}")
        if time.monotonic() > deadline:
            raise _fail(f"gave up after {timeout_s:g} s: call {call_sid} is still live")
        time.sleep(0.5)


@click.command("simulate")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--url", default="http://localhost:5000", show_default=True,
              help="Where the service runs.")
@click.option("--speed", default=4.0, show_default=True,
              type=click.FloatRange(MIN_SPEED, MAX_SPEED),
              help="Play this many times faster than the script's times.")
@click.option("--token", default=lambda: os.environ.get("VOICE_API_TOKEN", ""),
              help="API token (default: $VOICE_API_TOKEN).", show_default="$VOICE_API_TOKEN")
@click.option("--timeout", "timeout_s", default=None, type=float,
              help="Seconds to wait for the call to end (default: its length plus 60 s).")
@click.option("--audio", is_flag=True,
              help="Speak the script with espeak-ng through the service's Twilio Media "
                   "Streams WebSocket (the service needs a speech model).")
@click.option("--voice", default="en-us", show_default=True,
              help="espeak-ng voice for --audio (each speaker gets its own variant and pitch).")
@click.option("--twilio-token", default=lambda: os.environ.get("TWILIO_AUTH_TOKEN", ""),
              show_default="$TWILIO_AUTH_TOKEN",
              help="The service's Twilio auth token, to sign the --audio stream.")
@click.option("--public-url", default=lambda: os.environ.get("VOICE_PUBLIC_URL", ""),
              show_default="$VOICE_PUBLIC_URL",
              help="The service's public URL, which --audio signs (default: --url).")
def simulate_command(scenario_file: Path, url: str, speed: float, token: str,
                     timeout_s: float | None, audio: bool, voice: str, twilio_token: str,
                     public_url: str) -> None:
    """Play SCENARIO_FILE as a call inside the running service; prints the call sid last."""
    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as err:
        raise _fail(f"invalid scenario: {err}") from None
    if not token:
        raise _fail("no API token: pass --token or set VOICE_API_TOKEN (the service's token)")
    url = url.rstrip("/")
    click.echo(f"Playing {scenario.title!r}: {len(scenario.turns)} turns, "
               f"about {scenario.duration_s / speed:.0f} s at speed {speed:g}, on {url}")
    streamer = None
    if audio:
        from voice.simulate_audio import start_audio_call

        streamer = start_audio_call(scenario, url, speed, voice=voice,
                                    twilio_token=twilio_token, public_url=public_url or None)
        call_sid, length_s = streamer.call_sid, streamer.duration_s
    else:
        call_sid = _post_scenario(url, token, scenario_to_json(scenario), speed)
        length_s = scenario.duration_s
    click.echo(f"Started {call_sid}; watch it on {url}/console")
    call = _wait_for_call(url, token, call_sid,
                          timeout_s if timeout_s is not None else length_s / speed + 60)
    if streamer is not None:
        streamer.finish(call)
    reasons = [r["reason"] for r in call.get("flag_reasons") or []]
    flagged = "flagged: " + "; ".join(reasons or ["yes"]) if call.get("flagged") else "not flagged"
    click.echo(f"Call ended ({call.get('status')}), peak {call.get('peak_level') or 'n/a'}, "
               f"{len(call.get('prompts', []))} prompt(s), {flagged}")
    click.echo(call_sid)
