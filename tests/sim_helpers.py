"""Helpers shared by the console, review, simulate and browser tests."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from voice.scenarios.player import ScenarioPlayer
from voice.scenarios.script import SCENARIO_DIR, load_scenario
from voice.services import services_of

ANGRY_WORDS = ("ridiculous", "unacceptable", "three times", "collections", "done with",
               "not my mistake", "nobody", "again", "hour", "still")


class FakeScorer:
    """A keyword scorer standing in for the sentiment model (fast, deterministic)."""

    name = "fake-keywords"

    def score(self, texts: Sequence[str]) -> list[float]:
        """0.9 for a line with an angry phrase, else 0.1."""
        return [0.9 if any(w in t.lower() for w in ANGRY_WORDS) else 0.1 for t in texts]


def scenario_path(name: str) -> Path:
    """A shipped scenario file."""
    return SCENARIO_DIR / f"{name}.yaml"


def play(app, name: str, speed: float = 500.0) -> str:  # noqa: ANN001
    """Play a shipped scenario to the end through the app's pipeline; return its sid."""
    player = ScenarioPlayer(services_of(app), load_scenario(scenario_path(name)), speed)
    assert player.run() == "completed"
    return player.call_sid


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):  # noqa: ANN001, ANN201
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
