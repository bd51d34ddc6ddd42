"""CallRegistry: the live calls of this process, by call sid, and their heartbeat.

The registry opens a ``LiveCall`` with the ``CallParts`` it was given and its own
``forget`` as the call's on-end callback, so a call never reaches back into a
container to remove itself.  The heartbeat lets other instances tell this
process's live calls from those of an instance that died.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from voice.calls.live import CallParts, LiveCall
from voice.events import CallStarted, EndStatus
from voice.records import RecordStore

log = logging.getLogger(__name__)


class CallRegistry:
    """The live calls of this process, by call sid, and their heartbeat."""

    def __init__(self, parts: CallParts, store: RecordStore, heartbeat_s: float = 30.0,
                 stale_after_s: float = 120.0) -> None:
        self.parts = parts
        self.store = store
        self.heartbeat_s = heartbeat_s  # VOICE_HEARTBEAT_S
        self.stale_after_s = stale_after_s  # VOICE_STALE_CALL_S
        self._calls: dict[str, LiveCall] = {}
        self._lock = threading.Lock()
        self._heartbeat_stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def open(
        self, started: CallStarted, stream_sid: str | None = None, with_audio: bool = True
    ) -> LiveCall:
        """Start a call; a second stream for a live call takes it over,
        keeping its frustration and coaching state and its one record."""
        previous = self.get(started.call_sid)
        if previous is not None:
            previous.hand_over()
        call = LiveCall(self.parts, started, stream_sid, previous, on_end=self.forget)
        call.start(with_audio=with_audio)
        with self._lock:
            if not call.ended:
                self._calls[started.call_sid] = call
        return call

    def get(self, call_sid: str) -> LiveCall | None:
        """The live call for ``call_sid``, if any."""
        with self._lock:
            return self._calls.get(call_sid)

    def end(self, call_sid: str, status: EndStatus) -> bool:
        """End a live call and wait for it; False when it is not live here."""
        call = self.get(call_sid)
        return call.end(status) if call else False

    def end_soon(self, call_sid: str, status: EndStatus) -> bool:
        """End a live call on a background thread (a webhook must answer at once)."""
        call = self.get(call_sid)
        if call is None or call.ended:
            return False
        threading.Thread(target=call.end, args=(status,), name=f"end-{call_sid}",
                         daemon=True).start()
        return True

    def forget(self, call: LiveCall) -> None:
        """Drop an ended call (not a newer stream that took it over)."""
        with self._lock:
            if self._calls.get(call.call_sid) is call:
                del self._calls[call.call_sid]

    def live(self) -> list[LiveCall]:
        """Calls still running."""
        with self._lock:
            return list(self._calls.values())

    def asr_lag(self) -> dict[str, dict[str, Any]]:
        """Per live call: ASR lag (s), whether it is delayed, max lag, chunks in and dropped."""
        out = {}
        for call in self.live():
            status = call.asr_status()
            if status is not None:
                out[call.call_sid] = status
        return out

    def end_all(self, status: EndStatus = "interrupted") -> None:
        """End every live call (shutdown)."""
        for call in self.live():
            call.end(status)

    # --- heartbeat: other instances can tell our calls from a dead instance's -------

    def heartbeat_once(self) -> list[str]:
        """Renew this instance's live calls; close calls nobody renewed; returns those."""
        store = self.store
        try:
            store.touch_calls([c.call_sid for c in self.live()])
            closed = store.close_interrupted_calls(stale_after_s=self.stale_after_s)
        except Exception as exc:
            log.warning("call heartbeat skipped: %s", exc.__class__.__name__)
            return []
        if closed:
            log.warning("closed %d call(s) whose instance stopped answering: %s",
                        len(closed), closed)
        return closed

    def close_calls_of_dead_instances(self) -> list[str]:
        """At start-up: close calls left live by a process of this host that is gone,
        and any call whose heartbeat is stale."""
        host = socket.gethostname()
        dead = []
        for call_sid, owner in self.store.live_call_owners().items():
            owner_host, _, rest = (owner or "").partition(":")
            pid = rest.partition(":")[0]
            if owner_host == host and pid.isdigit() and not _process_alive(int(pid)):
                dead.append(call_sid)
        return self.store.close_interrupted_calls(self.stale_after_s, also=dead)

    def start_heartbeat(self) -> None:
        """Renew heartbeats and sweep stale calls every ``heartbeat_s`` seconds."""
        def beat() -> None:
            while not self._heartbeat_stop.wait(self.heartbeat_s):
                self.heartbeat_once()

        self._heartbeat = threading.Thread(target=beat, name="call-heartbeat", daemon=True)
        self._heartbeat.start()

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread."""
        self._heartbeat_stop.set()


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a call "owned" by this new process cannot be live yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
