"""The console's Server-Sent Events stream: formatting, snapshot and the generator.

A stream subscribes to one desk's bus channel.  A reconnecting page sends
``Last-Event-ID`` (or ``?last_event_id=``); when the bus still holds that id it
replays what the page missed (``subscription.resumed``).  Otherwise -- a fresh
page, an id from before a server restart, or one older than the kept history --
the page gets a ``snapshot`` of the desk's live calls first (read from the call
records, so calls streaming into another instance show too) and replaces its
state with it, and again whenever it sees that it missed messages (a
jump in the desk's sequence numbers, or its own queue overflowing).
Before a call's first message (or a snapshot naming it) goes out, ``viewed`` is
told, so the view is audited; when it refuses, the stream ends unsent.
Heartbeat comments keep proxies from closing an idle stream and let the server
notice a browser that went away; the subscription is closed
(once) whenever the generator stops or the response is closed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from voice.bus import BusMessage, Subscription
from voice.events import CallStarted, FrustrationState, Prompt, Utterance, Word
from voice.metrics import counters

TRANSCRIPT_LINES = 6
RETRY_MS = 3000


def sse_message(event: str, data: Any, id: str | None = None) -> str:
    """One SSE message; ``data`` is JSON-encoded onto a single line."""
    head = f"id: {id}\n" if id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def sse_bus_message(message: BusMessage) -> str:
    """A bus message as an SSE message carrying the bus id."""
    return sse_message(message.type, message.data, id=message.id)


def live_call_view(call: dict[str, Any]) -> dict[str, Any]:
    """What a console needs to draw a call it joins mid-way, from its record.

    The call itself, its last frustration reading, its last transcript lines and its
    open cards, each in the shape the live event carries (``to_wire()`` of the event
    rebuilt from the record), so the page reads one set of names.
    """
    sid = call["call_sid"]
    started = CallStarted(sid, call.get("from") or "", call.get("to") or "",
                          call.get("desk") or "", call.get("started_at") or "",
                          bool(call.get("simulated")), bool(call.get("transcribed", True)))
    curve = call.get("frustration") or []
    finals = [u for u in call.get("utterances") or [] if u.get("final", True)]
    return started.to_wire() | {
        "frustration": _reading(sid, curve[-1]).to_wire() if curve else None,
        "transcript": [_line(sid, u).to_wire() for u in finals[-TRANSCRIPT_LINES:]],
        "prompts": [_card(sid, p).to_wire() for p in call.get("prompts") or []
                    if p.get("status") == "shown"],
    }


def _reading(call_sid: str, point: dict[str, Any]) -> FrustrationState:
    return FrustrationState(call_sid, point["score"], point["level"], point["trend"],
                            point["rising"], tuple(point.get("reasons") or ()), point["t"],
                            point.get("utterance_score"))


def _line(call_sid: str, u: dict[str, Any]) -> Utterance:
    words = tuple(Word(w["text"], w["start"], w["end"], w.get("conf", 1.0))
                  for w in u.get("words") or ())
    return Utterance(call_sid, u["speaker"], u["text"], u["t_start"], u["t_end"],
                     bool(u.get("final", True)), words)


def _card(call_sid: str, p: dict[str, Any]) -> Prompt:
    return Prompt(call_sid, p["id"], p["kind"], p["text"], p.get("why") or "", p.get("t") or 0.0)


def desk_snapshot(store: Any, desk: str) -> dict[str, Any]:
    """The desk's live calls as one ``snapshot`` payload."""
    calls = []
    for summary in store.list_calls(status="live", limit=50):
        if summary.get("desk") != desk:
            continue
        call = store.get_call(summary["call_sid"])
        if call is not None:
            calls.append(live_call_view(call))
    calls.sort(key=lambda c: c.get("started_at") or "")
    return {"desk": desk, "calls": calls}


def _snapshot_calls(payload: dict[str, Any]) -> list[str]:
    return [str(c.get("call_sid") or "") for c in payload.get("calls") or []]


def _message_call(message: BusMessage) -> str:
    data = message.data
    return str(data.get("call_sid") or "") if isinstance(data, dict) else ""


class ClosingOnce:
    """Wraps a subscription so that closing it twice (generator and response) is harmless."""

    def __init__(self, subscription: Subscription,
                 on_close: Callable[[], None] | None = None) -> None:
        self._subscription = subscription
        self._on_close = on_close
        self._lock = threading.Lock()
        self.closed = False

    @property
    def resumed(self) -> bool:
        """Whether the bus replayed everything after the reader's last id."""
        return bool(self._subscription.resumed)

    @property
    def dropped(self) -> int:
        """Messages the bus lost for this reader."""
        return self._subscription.dropped

    def get(self, timeout: float) -> BusMessage | None:
        """The next message, or None after ``timeout``."""
        return self._subscription.get(timeout)

    def close(self) -> None:
        """Close the wrapped subscription the first time only."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        try:
            self._subscription.close()
        finally:
            if self._on_close is not None:
                self._on_close()


def event_stream(
    subscription: Subscription,
    snapshot: Callable[[], dict[str, Any]] | None,
    heartbeat_s: float = 15.0,
    poll_s: float = 1.0,
    send_snapshot: bool = True,
    allowed: Callable[[], bool] | None = None,
    recheck_s: float = 15.0,
    viewed: Callable[[Iterable[str]], bool] | None = None,
) -> Iterator[str]:
    """Yield SSE text until the client goes away; always closes ``subscription``.

    ``snapshot`` (when given) is sent first when ``send_snapshot`` (the bus did
    not resume the reader), and again whenever messages went missing: this reader
    fell so far behind that the bus dropped some for it, or the desk's sequence
    jumped (``BusMessage.seq``: a publish lost upstream, a Redis reconnect).
    ``allowed`` is asked every ``recheck_s``: once it says no (logged out, removed,
    moved off the desk) the stream ends, and the page's reconnect meets the login check.
    ``viewed`` is given the calls each snapshot or message shows; False ends the stream.
    """
    def shown(sids: Iterable[str]) -> bool:
        return viewed is None or viewed([s for s in sids if s])

    try:
        yield f"retry: {RETRY_MS}\n\n"
        if snapshot is not None and send_snapshot:
            first = snapshot()
            if not shown(_snapshot_calls(first)):
                return
            yield sse_message("snapshot", first)
        dropped = subscription.dropped
        last_seq = 0
        last_write = last_check = time.monotonic()
        while True:
            if allowed is not None and time.monotonic() - last_check >= recheck_s:
                last_check = time.monotonic()
                if not allowed():
                    return
            message = subscription.get(timeout=min(poll_s, heartbeat_s))
            missed = subscription.dropped != dropped
            if message is not None and message.seq:
                if last_seq and message.seq > last_seq + 1:
                    counters.incr("console.event_gaps")
                    missed = True
                last_seq = max(last_seq, message.seq)
            if missed and snapshot is not None:
                dropped = subscription.dropped
                again = snapshot()
                if not shown(_snapshot_calls(again)):
                    return
                yield sse_message("snapshot", again)
            if message is not None:
                if not shown([_message_call(message)]):
                    return
                yield sse_bus_message(message)
                last_write = time.monotonic()
            elif time.monotonic() - last_write >= heartbeat_s:
                yield ": heartbeat\n\n"
                last_write = time.monotonic()
    finally:
        subscription.close()
