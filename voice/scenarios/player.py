"""Playing scripted calls inside the service: the scenario player and the demo loop.

``ScenarioPlayer`` plays a ``Scenario`` through the same pipeline a phone call
uses from the utterance stage on (frustration, coach, bus, console, records),
pacing each turn at ``at / speed`` seconds and showing a partial transcript
before each final one.  ``start_demo_loop`` keeps a demo call going for
``voice serve --demo``.  ``POST /api/simulate`` starts a player; the client that
calls it (``voice simulate``) lives in ``voice.tools``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from voice.calls import now_iso
from voice.events import AudioFeatures, CallStarted, EndStatus, Utterance
from voice.scenarios.script import Scenario, ScenarioError, ScenarioTurn, load_scenario

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
