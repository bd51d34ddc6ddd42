"""Live calls: ``LiveCall`` wires the stages for one call, ``CallRegistry`` holds them."""

from voice.calls.live import CallParts, FeedResult, LiveCall, now_iso
from voice.calls.registry import CallRegistry

__all__ = ["CallParts", "FeedResult", "CallRegistry", "LiveCall", "now_iso"]
