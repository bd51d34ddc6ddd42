"""Test helpers for the event bus: wait until a subscription is really listening.

A Redis subscription sends SUBSCRIBE and returns; a publish from another
connection can overtake it.  ``wait_subscribed`` asks the bus itself (Redis:
``PUBSUB NUMSUB``) instead of sleeping and hoping.
"""

from __future__ import annotations

from typing import Any

from sim_helpers import wait_for

from voice.bus.redis import _channel


def subscriber_count(bus: Any, desk: str) -> int:
    """How many subscriptions the bus itself has for ``desk``."""
    if bus.name == "memory":
        return bus.subscriber_count(desk)
    counts = bus.client.pubsub_numsub(_channel(desk, bus.db))  # [(channel, count)]
    return int(counts[0][1]) if counts else 0


def wait_subscribed(bus: Any, desk: str, count: int = 1, timeout: float = 10.0) -> None:
    """Block until ``count`` subscriptions listen on ``desk`` (the explicit ready signal)."""
    wait_for(lambda: subscriber_count(bus, desk) >= count, timeout=timeout)
