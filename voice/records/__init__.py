"""Call records: tables, migrations and the store that reads and writes them."""

from voice.records.store import CallRecorder, RecordError, RecordStore

__all__ = ["CallRecorder", "RecordError", "RecordStore"]
