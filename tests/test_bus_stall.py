"""Nothing lost on the bus: a Redis stall (``DEBUG SLEEP``) and a gap in the sequence.

The stall tests run a private ``redis-server`` on a loopback port (so ``DEBUG
SLEEP`` stalls no one else's Redis) and stall it while events are published:
the publisher keeps them and retries, every event reaches the desk's stream
exactly once and in order, and a console streaming ``/events`` meanwhile gets
every transcript line.  The gap test shows the console taking a snapshot when
the desk's sequence numbers jump.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator

import pytest
import redis
import requests
from bus_helpers import wait_subscribed
from conftest import LiveServer, missing
from serve_helpers import PASSWORD, free_port, login_session
from twilio_helpers import wait_for

from voice import create_app
from voice.bus import BusMessage
from voice.bus.publisher import QueuedPublisher
from voice.bus.redis import RedisBus, _stream_key
from voice.console.sse import event_stream
from voice.metrics import counters
from voice.services import services_of

STALL_S = 5


@pytest.fixture
def private_redis(tmp_path) -> Iterator[str]:
    """A redis-server of this test's own on 127.0.0.1, DEBUG allowed from loopback."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server", "install the redis-server package")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--enable-debug-command", "local", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        assert wait_for(lambda: _pings(url), timeout=10), "private redis-server did not start"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except (OSError, redis.RedisError):
        return False


def stall(url: str, seconds: int = STALL_S) -> threading.Thread:
    """``DEBUG SLEEP`` on a thread of its own: the whole server stops answering."""
    def sleep() -> None:
        redis.Redis.from_url(url, socket_timeout=seconds + 10).execute_command(
            "DEBUG", "SLEEP", seconds)

    thread = threading.Thread(target=sleep, daemon=True)
    thread.start()
    assert wait_for(lambda: not _answers_quickly(url), timeout=10), "the stall never began"
    return thread


def _answers_quickly(url: str) -> bool:
    """Whether the server answers a PING within 0.3 s (a sleeping one does not)."""
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.3).ping())
    except (OSError, redis.RedisError):
        return False


def publish_through(sleeper: threading.Thread, publish, first: int, last: int) -> None:  # noqa: ANN001
    """Publish ``first..last`` in three bursts: into the stall, while the publisher
    retries after its first failure, and after the server answers again."""
    numbers = list(range(first, last + 1))
    third = len(numbers) // 3
    for n in numbers[:third]:
        publish(n)
    assert wait_for(lambda: counters.get("bus.publish_errors") >= 1, timeout=STALL_S + 5), \
        "the publisher never met the stall"
    for n in numbers[third:2 * third]:
        publish(n)
    sleeper.join()
    for n in numbers[2 * third:]:
        publish(n)


def test_the_publisher_keeps_every_event_through_a_redis_stall(private_redis):
    bus = RedisBus(private_redis)
    publisher = QueuedPublisher(bus)
    for n in range(5):
        publisher.publish("desk", "transcript", {"n": n})
    assert publisher.flush(timeout=5)
    publish_through(stall(private_redis),
                    lambda n: publisher.publish("desk", "transcript", {"n": n}), 5, 24)
    assert publisher.flush(timeout=30)
    entries = bus.client.xrange(_stream_key("desk"))
    payloads = [e[1][b"payload"] for e in entries]
    assert [int(e[1][b"seq"]) for e in entries] == list(range(1, 26))
    assert [p.decode().count(f'"n": {n}}}') for n, p in enumerate(payloads)] == [1] * 25
    assert counters.get("bus.publish_errors") >= 1
    assert counters.get("bus.publish_dropped") == 0
    publisher.close()
    bus.close()


def test_a_console_gets_every_transcript_line_through_a_redis_stall(config, private_redis):
    app = create_app(config.replace(redis_url=private_redis))
    svc = services_of(app)
    svc.store.users.add("desk", PASSWORD, "receptionist", ["front-desk"])
    lines: list[str] = []
    with LiveServer(app) as live:
        session = login_session(live.url, "desk")
        response = requests.get(live.url + "/events", headers=dict(session.headers),
                                stream=True, timeout=60)

        streaming = threading.Event()

        def read() -> None:
            try:
                for raw in response.iter_lines(decode_unicode=True):
                    if raw == "event: snapshot":  # sent once the view has subscribed
                        streaming.set()
                    if raw and raw.startswith("data:") and '"line"' in raw:
                        lines.append(raw)
            except (requests.RequestException, AttributeError, OSError):
                return  # closed by the test

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert streaming.wait(10), "the console's stream never started"
        wait_subscribed(svc.bus, "front-desk")
        svc.publisher.publish("front-desk", "transcript", {"line": 0})
        assert wait_for(lambda: len(lines) == 1, timeout=10)
        publish_through(stall(private_redis),
                        lambda n: svc.publisher.publish("front-desk", "transcript", {"line": n}),
                        1, 16)
        assert wait_for(lambda: len(lines) >= 17, timeout=30), lines
        response.close()
    assert [int(raw.split('"line":')[1].rstrip("}")) for raw in lines] == list(range(17))
    assert counters.get("bus.publish_errors") >= 1


class ScriptedSubscription:
    """Hands out given messages, then nothing (an edge fake for the generator)."""

    def __init__(self, messages: list[BusMessage]) -> None:
        self.messages = list(messages)
        self.resumed = False
        self.dropped = 0
        self.closed = False

    def get(self, timeout: float) -> BusMessage | None:
        return self.messages.pop(0) if self.messages else None

    def close(self) -> None:
        self.closed = True


def test_a_jump_in_the_desks_sequence_makes_the_console_take_a_snapshot():
    messages = [BusMessage(id=f"1-{n}", type="transcript", data={"n": n}, seq=n)
                for n in (1, 2, 5, 6)]
    snapshots = []

    def snapshot() -> dict:
        snapshots.append(1)
        return {"desk": "front-desk", "calls": []}

    stream = event_stream(ScriptedSubscription(messages), snapshot, send_snapshot=False)
    out = [next(stream) for _ in range(6)]
    kinds = [chunk.split("event: ")[1].split("\n")[0] for chunk in out if "event: " in chunk]
    assert kinds == ["transcript", "transcript", "snapshot", "transcript", "transcript"]
    assert counters.get("console.event_gaps") == 1
    stream.close()
