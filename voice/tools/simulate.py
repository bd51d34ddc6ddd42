"""``voice simulate``: play a scenario file as a call inside a running service.

The client side of simulated calls: it validates the file locally, sends it to
``POST /api/simulate`` (or, with ``--audio``, speaks it into the service's
Twilio stream: ``voice.tools.audio_call``), follows the call record while it
plays and prints the call sid last.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from voice.config import ClientSettings
from voice.scenarios.player import MAX_SPEED, MIN_SPEED
from voice.scenarios.script import ScenarioError, load_scenario, scenario_to_json


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
@click.option("--token", default=lambda: ClientSettings.from_env().api_token,
              help="API token (default: $VOICE_API_TOKEN).", show_default="$VOICE_API_TOKEN")
@click.option("--timeout", "timeout_s", default=None, type=float,
              help="Seconds to wait for the call to end (default: its length plus 60 s).")
@click.option("--audio", is_flag=True,
              help="Speak the script with espeak-ng through the service's Twilio Media "
                   "Streams WebSocket (the service needs a speech model).")
@click.option("--voice", default="en-us", show_default=True,
              help="espeak-ng voice for --audio (each speaker gets its own variant and pitch).")
@click.option("--twilio-token", default=lambda: ClientSettings.from_env().twilio_auth_token,
              show_default="$TWILIO_AUTH_TOKEN",
              help="The service's Twilio auth token, to sign the --audio stream.")
@click.option("--public-url", default=lambda: ClientSettings.from_env().public_url,
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
        from voice.tools.audio_call import start_audio_call

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
