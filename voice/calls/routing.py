"""Reaching the instance that runs a call: prompt actions and status callbacks over the bus.

A call lives on one instance (its ``calls`` row names it: ``instance_id``,
renewed by the heartbeat), but a receptionist's Done, or Twilio's status
callback, may land on any instance behind the load balancer.  Each instance
listens on a control channel of its own on the bus (``control_channel``); the
instance that got the request looks up the call's owner and sends it the
request there, and the owner applies it to the live call: the coach hears the
Done, the call ends and files its complete record (summary, flags, follow-up).

Nothing waits on the owner: the receiving instance has already recorded the
request (the prompt's status, the call's status) and told the desk's consoles,
so an owner that died meanwhile loses nothing the record needs.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from voice.events import is_end_status
from voice.metrics import counters

if TYPE_CHECKING:
    from voice.bus import Bus
    from voice.calls.registry import CallRegistry
    from voice.records import RecordStore

log = logging.getLogger(__name__)

CONTROL_PREFIX = "_instance:"
END_CALL = "end_call"
PROMPT_ACTION = "prompt_action"


def control_channel(instance_id: str) -> str:
    """The bus channel (a "desk" no person works) an instance listens to for its calls."""
    return CONTROL_PREFIX + instance_id


class CallRouter:
    """Sends call requests to the owning instance; applies the ones sent to this one."""

    def __init__(self, bus: Bus, calls: CallRegistry, store: RecordStore,
                 instance_id: str) -> None:
        self.bus = bus
        self.calls = calls
        self.store = store
        self.instance_id = instance_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscription: Any = None

    # --- sending ------------------------------------------------------------------------

    def owner_elsewhere(self, call_sid: str) -> str | None:
        """The other instance running ``call_sid`` live, or None (here, ended or unknown)."""
        try:
            owner = self.store.live_call_owners().get(call_sid)
        except Exception as exc:
            log.warning("call %s: could not look up its instance: %s", call_sid,
                        exc.__class__.__name__)
            return None
        return owner if owner and owner != self.instance_id else None

    def send(self, owner: str, kind: str, data: dict[str, Any]) -> bool:
        """Put one request on ``owner``'s control channel; False when the bus refused it."""
        try:
            self.bus.publish(control_channel(owner), kind, data)
        except Exception as exc:
            counters.incr("routing.send_failures")
            log.warning("call %s: could not send %s to instance %s: %s", data.get("call_sid"),
                        kind, owner, exc)
            return False
        counters.incr(f"routing.sent.{kind}")
        return True

    def end_elsewhere(self, call_sid: str, status: str) -> bool:
        """Ask the instance running ``call_sid`` to end it; False when none else runs it."""
        owner = self.owner_elsewhere(call_sid)
        if owner is None:
            return False
        return self.send(owner, END_CALL, {"call_sid": call_sid, "status": status,
                                           "from": self.instance_id})

    def prompt_action_elsewhere(self, call_sid: str, prompt_id: str, action: str,
                                by: str) -> bool:
        """Tell the coach on the instance running ``call_sid``; False when none else runs it."""
        owner = self.owner_elsewhere(call_sid)
        if owner is None:
            return False
        return self.send(owner, PROMPT_ACTION, {
            "call_sid": call_sid, "id": prompt_id, "status": action, "by": by,
            "from": self.instance_id})

    # --- receiving ----------------------------------------------------------------------

    def start(self) -> CallRouter:
        """Listen on this instance's control channel (a daemon thread)."""
        self._subscription = self.bus.subscribe(control_channel(self.instance_id))
        self._thread = threading.Thread(target=self._run, name="call-router", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self._stop.set()
        if self._subscription is not None:
            self._subscription.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._subscription.get(timeout=0.5)
            except Exception as exc:  # a closed subscription while stopping
                if not self._stop.is_set():
                    log.warning("control channel failed: %s", exc.__class__.__name__)
                    self._stop.wait(1.0)
                continue
            if message is not None:
                self.apply(message.type, message.data)

    def apply(self, kind: str, data: dict[str, Any]) -> bool:
        """Apply one request sent to this instance; False when the call is not live here."""
        call_sid = str(data.get("call_sid") or "")
        try:
            if kind == END_CALL:
                status = data.get("status") or "completed"
                if not is_end_status(status):
                    log.warning("call %s: end request with unknown status %r ignored",
                                call_sid, status)
                    return False
                done = self.calls.end_soon(call_sid, status)
                if done:
                    log.info("call %s: ended on request of instance %s", call_sid,
                             data.get("from"))
            elif kind == PROMPT_ACTION:
                done = self._apply_prompt_action(call_sid, data)
            else:
                counters.incr("routing.unknown_requests")
                return False
        except Exception:
            counters.incr("routing.apply_errors")
            log.exception("call %s: applying %s failed", call_sid, kind)
            return False
        counters.incr(f"routing.applied.{kind}" if done else f"routing.not_live.{kind}")
        return done

    def _apply_prompt_action(self, call_sid: str, data: dict[str, Any]) -> bool:
        call = self.calls.get(call_sid)
        if call is None:
            return False
        call.acknowledge_prompt(str(data.get("id")), str(data.get("status")))
        log.info("call %s: prompt %s %s by %s (sent by instance %s)", call_sid, data.get("id"),
                 data.get("status"), data.get("by"), data.get("from"))
        return True
