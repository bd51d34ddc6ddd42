"""The queued publisher hands a burst of events to the bus at once, in order, and
an event that cannot be encoded costs only itself (memory bus and real Redis)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
import redis

from voice.bus import MemoryBus
from voice.bus.base import BusMessage, Outgoing
from voice.bus.publisher import BATCH_MAX, QueuedPublisher
from voice.bus.redis import RedisBus, _stream_key
from voice.metrics import counters


class GatedBus(MemoryBus):
    """A memory bus whose first ``publish_many`` waits for the test to open a gate."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.first_call = threading.Event()

    def publish_many(self, events: Sequence[Outgoing]) -> list[BusMessage]:
        self.first_call.set()
        self.gate.wait(5)
        self.batches.append(len(events))
        return super().publish_many(events)


def test_events_queued_while_the_bus_is_busy_go_in_one_batch_in_order():
    bus = GatedBus()
    subscription = bus.subscribe("desk")
    publisher = QueuedPublisher(bus)
    publisher.publish("desk", "transcript", {"n": 0})
    assert bus.first_call.wait(5)
    for n in range(1, 11):
        publisher.publish("desk", "transcript", {"n": n})
    bus.gate.set()
    assert publisher.flush(timeout=5)
    assert bus.batches == [1, 10]
    got = [subscription.get(1) for _ in range(11)]
    assert [m.data["n"] for m in got] == list(range(11))
    publisher.close()


def test_a_burst_larger_than_a_batch_is_split_and_nothing_is_lost():
    bus = GatedBus()
    publisher = QueuedPublisher(bus)
    publisher.publish("desk", "transcript", {"n": 0})
    assert bus.first_call.wait(5)
    for n in range(1, BATCH_MAX + 6):
        publisher.publish("desk", "transcript", {"n": n})
    bus.gate.set()
    assert publisher.flush(timeout=5)
    assert bus.batches == [1, BATCH_MAX, 5]
    publisher.close()


@pytest.mark.redis
def test_redis_publishes_a_batch_in_one_pipeline_with_consecutive_sequence(redis_url):
    bus = RedisBus(redis_url)
    bus.publish("other-desk", "transcript", {})  # loads the script (a fresh Redis has none)
    pipelines = []
    make_pipeline = bus.client.pipeline
    bus.client.pipeline = lambda **kw: pipelines.append(kw) or make_pipeline(**kw)  # type: ignore[method-assign]
    before = _calls(bus.client, "evalsha")
    messages = bus.publish_many([Outgoing("desk", "transcript", {"n": n}, f"key-{n}")
                                 for n in range(5)])
    assert [m.seq for m in messages] == [1, 2, 3, 4, 5]
    assert _calls(bus.client, "evalsha") - before == 5
    assert pipelines == [{"transaction": False}], "five publishes, one round trip"
    entries = bus.client.xrange(_stream_key("desk"))
    assert [e[0].decode() for e in entries] == [m.id for m in messages]
    again = bus.publish_many([Outgoing("desk", "transcript", {"n": 4}, "key-4")])
    assert again[0].id == "", "a retried event Redis already ran is not sent twice"
    assert len(bus.client.xrange(_stream_key("desk"))) == 5
    bus.close()


@pytest.mark.redis
def test_redis_publishing_survives_a_flushed_script_cache(redis_url):
    bus = RedisBus(redis_url)
    bus.publish("desk", "transcript", {"n": 1})
    bus.client.script_flush()
    assert bus.publish("desk", "transcript", {"n": 2}).seq == 2
    bus.close()


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_an_event_that_cannot_be_encoded_is_skipped_and_the_rest_of_its_batch_sent(
        kind, request):
    bus: MemoryBus | RedisBus
    if kind == "redis":
        bus = RedisBus(request.getfixturevalue("redis_url"))
    else:
        bus = MemoryBus()
    unsendable = counters.get("bus.publish_unsendable")
    gate = threading.Event()
    real = bus.publish_many

    def held(events: Sequence[Outgoing]) -> list[BusMessage]:
        gate.wait(5)
        if any(isinstance(e.data.get("n"), set) for e in events):
            raise TypeError("Object of type set is not JSON serializable")  # as json.dumps
        return real(events)

    bus.publish_many = held  # type: ignore[method-assign]
    subscription = bus.subscribe("desk")
    publisher = QueuedPublisher(bus)
    for n in (0, 1, {2}, 3, 4):
        publisher.publish("desk", "transcript", {"n": n})
    gate.set()
    assert publisher.flush(timeout=5)
    if kind == "redis":
        sent = [e[1][b"payload"].decode() for e in bus.client.xrange(_stream_key("desk"))]
        assert [s.count('"n": ') for s in sent] == [1, 1, 1, 1]
        assert all(f'"n": {n}' in s for n, s in zip((0, 1, 3, 4), sent, strict=True))
    else:
        assert [subscription.get(1).data["n"] for _ in range(4)] == [0, 1, 3, 4]
    assert counters.get("bus.publish_unsendable") == unsendable + 1
    publisher.close()
    subscription.close()
    bus.close()


@pytest.mark.redis
def test_redis_refuses_an_unencodable_batch_before_sending_any_of_it(redis_url):
    bus = RedisBus(redis_url)
    with pytest.raises(TypeError):
        bus.publish_many([Outgoing("desk", "transcript", {"n": 1}),
                          Outgoing("desk", "transcript", {"n": {2}})])
    assert bus.client.xrange(_stream_key("desk")) == []
    bus.close()


def _calls(client: redis.Redis, command: str) -> int:
    stats = client.info("commandstats").get(f"cmdstat_{command}") or {}
    return int(stats.get("calls", 0))
