import threading

import pytest
from bus_helpers import wait_subscribed
from twilio_helpers import wait_for

from voice.bus import MemoryBus


def make_bus(kind, redis_url=None):
    if kind == "memory":
        return MemoryBus(history=50, subscriber_queue=5)
    from voice.bus.redis import RedisBus

    return RedisBus(redis_url, history=50, subscriber_queue=5)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def bus_kind(request):
    if request.param == "redis":
        return "redis", request.getfixturevalue("redis_url")
    return "memory", None


def test_subscribers_of_a_desk_get_its_events_in_order(bus_kind):
    bus = make_bus(*bus_kind)
    subscription = bus.subscribe("desk-a")
    other = bus.subscribe("desk-b")
    wait_subscribed(bus, "desk-a")
    wait_subscribed(bus, "desk-b")
    sent = [bus.publish("desk-a", "transcript", {"n": n}) for n in range(3)]
    got = [subscription.get(2) for _ in range(3)]
    assert [m.data["n"] for m in got] == [0, 1, 2]
    assert [m.id for m in got] == [m.id for m in sent]
    assert other.get(0.2) is None, "another desk sees nothing"
    subscription.close()
    other.close()
    bus.close()


def test_reconnecting_subscriber_gets_what_it_missed(bus_kind):
    bus = make_bus(*bus_kind)
    first = bus.publish("desk", "call_started", {"n": 1})
    bus.publish("desk", "transcript", {"n": 2})
    bus.publish("desk", "prompt", {"n": 3})
    subscription = bus.subscribe("desk", after=first.id)
    got = [subscription.get(2), subscription.get(2)]
    assert [m.data["n"] for m in got] == [2, 3]
    wait_subscribed(bus, "desk")
    bus.publish("desk", "call_ended", {"n": 4})
    assert subscription.get(2).data["n"] == 4
    assert subscription.get(0.2) is None, "no duplicates after replay"
    subscription.close()


def test_slow_subscriber_never_blocks_the_publisher(bus_kind):
    bus = make_bus(*bus_kind)
    subscription = bus.subscribe("desk")
    wait_subscribed(bus, "desk")
    done = threading.Event()

    def publish_many():
        for n in range(40):
            bus.publish("desk", "transcript", {"n": n})
        done.set()

    threading.Thread(target=publish_many, daemon=True).start()
    assert done.wait(5), "publishing finished although nobody read"
    # all 40 have reached the subscription once 35 made way in its queue of 5
    assert wait_for(lambda: subscription.dropped >= 35, timeout=5), subscription.dropped
    kept = [subscription.get(0.5) for _ in range(5)]
    assert [m.data["n"] for m in kept] == list(range(35, 40)), "the newest events are kept"
    assert subscription.dropped == 35
    subscription.close()


@pytest.mark.redis
def test_event_published_on_one_instance_reaches_a_console_on_another(redis_url):
    instance_a = make_bus("redis", redis_url)
    instance_b = make_bus("redis", redis_url)
    console_on_b = instance_b.subscribe("front-desk")
    wait_subscribed(instance_a, "front-desk")
    instance_a.publish("front-desk", "prompt", {"text": "Acknowledge the wait"})
    message = console_on_b.get(2)
    assert message is not None and message.data == {"text": "Acknowledge the wait"}
    console_on_b.close()
    assert instance_a.ping() and instance_b.ping()


def test_redis_bus_reports_unreachable_server():
    from voice.bus.redis import RedisBus

    bus = RedisBus("redis://127.0.0.1:1/0")
    assert not bus.ping()


def test_resuming_says_whether_the_history_covered_the_gap(bus_kind):
    bus = make_bus(*bus_kind)
    first = bus.publish("desk", "call_started", {"n": 1})
    known = bus.subscribe("desk", after=first.id)
    assert known.resumed
    fresh = bus.subscribe("desk")
    assert not fresh.resumed, "no id: start from a snapshot"
    stranger = bus.subscribe("desk", after="deadbeef-3" if bus.name == "memory" else "bogus")
    assert not stranger.resumed, "an id from another process is not resumed"
    for sub in (known, fresh, stranger):
        sub.close()
        sub.close()  # closing twice is harmless


def test_history_trimmed_past_the_id_is_not_resumed():
    bus = MemoryBus(history=3)
    first = bus.publish("desk", "transcript", {"n": 0})
    for n in range(1, 6):
        bus.publish("desk", "transcript", {"n": n})
    assert not bus.subscribe("desk", after=first.id).resumed


def test_concurrent_publishers_lose_nothing_and_keep_id_order(bus_kind):
    bus = make_bus(*bus_kind)
    bus._subscriber_queue = 2000
    subscription = bus.subscribe("desk")
    wait_subscribed(bus, "desk")
    threads = [
        threading.Thread(target=lambda: [bus.publish("desk", "t", {}) for _ in range(100)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    got = []
    while (message := subscription.get(1.0)) is not None:
        got.append(message.id)
    assert len(got) == 400 and subscription.dropped == 0

    def order(message_id):
        head, _, tail = message_id.rpartition("-")
        return (int(head), int(tail)) if head.isdigit() else int(tail)

    assert got == sorted(got, key=order)
    subscription.close()
