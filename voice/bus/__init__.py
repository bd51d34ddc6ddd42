"""Event buses: in-process by default, Redis across instances."""

from __future__ import annotations

from voice.bus.base import Bus, BusMessage, Subscription
from voice.bus.memory import MemoryBus


def make_bus(redis_url: str | None) -> Bus:
    """The Redis bus when ``redis_url`` is set, else the in-process bus."""
    if redis_url:
        from voice.bus.redis import RedisBus

        return RedisBus(redis_url)
    return MemoryBus()


__all__ = ["Bus", "BusMessage", "MemoryBus", "Subscription", "make_bus"]
