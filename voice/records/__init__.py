"""Call records: tables, migrations, the store that reads them and the writer that fills them."""

from voice.records.reach import DatabaseUnreachable
from voice.records.store import RecordError, RecordStore
from voice.records.writer import CallRecorder, RecordWriter

__all__ = ["CallRecorder", "DatabaseUnreachable", "RecordError", "RecordStore", "RecordWriter"]
