"""The records store: the only code that opens a database session.

``RecordStore`` is the one object callers hold; it is put together from parts
split by what they store: ``database.Database`` (engine, transactions,
migration, ``users``: ``records.users.UserStore`` for logins, desks and API
tokens), ``call_writes.CallWrites`` (a call's rows while it runs and its close),
``heartbeats.Heartbeats`` (which instance runs which live call; interrupted
calls), ``actions.Actions`` (prompt-card actions, follow-up edits) and
``call_reads.CallReads`` (calls read back, counts, topic trends).  While a call
runs, writes go through ``writer.RecordWriter`` so the call never waits on the
database.
"""

from __future__ import annotations

from voice.records.actions import FOLLOW_UP_STATUSES, PROMPT_ACTIONS, Actions
from voice.records.call_reads import CallReads
from voice.records.call_writes import CallWrites
from voice.records.database import RecordError, make_engine, migrate
from voice.records.heartbeats import INTERRUPTED_FOLLOW_UP, Heartbeats

__all__ = ["FOLLOW_UP_STATUSES", "INTERRUPTED_FOLLOW_UP", "PROMPT_ACTIONS", "RecordError",
           "RecordStore", "make_engine", "migrate"]


class RecordStore(CallWrites, Heartbeats, Actions, CallReads):
    """Reads and writes call records; thread-safe (a session per call)."""
