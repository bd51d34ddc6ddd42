"""Read the committed test recordings (8 kHz mono mu-law WAV) for tests and benchmarks.

The recordings are made by ``tests/fixtures/make_recordings.sh``: a short Korean
conversation, ``caller_ko.wav`` for the inbound track and ``receptionist_ko.wav``
for the outbound track, the same length, speakers taking turns.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
CALLER_WAV = FIXTURES / "caller_ko.wav"
RECEPTIONIST_WAV = FIXTURES / "receptionist_ko.wav"
WAVE_FORMAT_MULAW = 7
RATE = 8000


def read_mulaw_wav(path: Path) -> tuple[bytes, float]:
    """Return the raw mu-law bytes of a mono 8 kHz mu-law WAV and its duration (s).

    The stdlib ``wave`` module reads PCM only, so the RIFF chunks are walked here.
    """
    blob = Path(path).read_bytes()
    if blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a WAV file")
    fmt, data, pos = None, None, 12
    while pos + 8 <= len(blob):
        tag, size = blob[pos:pos + 4], struct.unpack("<I", blob[pos + 4:pos + 8])[0]
        body = blob[pos + 8:pos + 8 + size]
        if tag == b"fmt ":
            fmt = struct.unpack("<HHI", body[:8])
        elif tag == b"data":
            data = body
        pos += 8 + size + (size & 1)
    if fmt != (WAVE_FORMAT_MULAW, 1, RATE) or data is None:
        raise ValueError(f"{path}: want 8 kHz mono mu-law, got format/channels/rate {fmt}")
    return data, len(data) / RATE


def mulaw_chunks(data: bytes, chunk_ms: int = 20) -> Iterator[tuple[float, bytes]]:
    """Split mu-law bytes into Twilio-sized chunks: ``(start time in s, payload)``."""
    step = RATE * chunk_ms // 1000
    for i in range(0, len(data), step):
        yield i / RATE, data[i:i + step]
