"""Pure parsing of Twilio Media Streams messages (no sockets, no Flask)."""

import base64
import json

import pytest

from voice.tools.frames import FrameBuilder
from voice.twilio.protocol import (
    Connected,
    Dtmf,
    Mark,
    Media,
    MediaFormat,
    ProtocolError,
    SequenceTracker,
    Start,
    Stop,
    parse_frame,
)

SID = "MZ" + "1" * 32
CALL = "CA" + "2" * 32
ACCOUNT = "AC" + "3" * 32

# The examples on Twilio's "Media Streams - WebSocket Messages" page, field for field.
TWILIO_START = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": ACCOUNT,
        "streamSid": SID,
        "callSid": CALL,
        "tracks": ["inbound", "outbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"desk": "front-desk", "from": "+15550001"},
    },
    "streamSid": SID,
}
TWILIO_MEDIA = {
    "event": "media",
    "sequenceNumber": "3",
    "media": {"track": "outbound", "chunk": "1", "timestamp": "5",
              "payload": base64.b64encode(b"\xff\x7f\x00").decode()},
    "streamSid": SID,
}


def test_connected_message():
    frame = parse_frame('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
    assert frame == Connected(protocol="Call", version="1.0.0")


def test_start_message_as_twilio_documents_it():
    frame = parse_frame(json.dumps(TWILIO_START))
    assert isinstance(frame, Start)
    assert frame.sequence_number == 1
    assert (frame.stream_sid, frame.call_sid, frame.account_sid) == (SID, CALL, ACCOUNT)
    assert frame.tracks == ("inbound", "outbound")
    assert frame.media_format == MediaFormat("audio/x-mulaw", 8000, 1)
    assert frame.media_format.is_phone_mulaw
    assert frame.custom_parameters == {"desk": "front-desk", "from": "+15550001"}


def test_media_message_numbers_arrive_as_strings_and_payload_is_decoded():
    frame = parse_frame(json.dumps(TWILIO_MEDIA))
    assert frame == Media(sequence_number=3, stream_sid=SID, track="outbound", chunk=1,
                          timestamp=5, payload=b"\xff\x7f\x00")


def test_stop_mark_and_dtmf_messages():
    stop = parse_frame(json.dumps({"event": "stop", "sequenceNumber": "5", "streamSid": SID,
                                   "stop": {"accountSid": ACCOUNT, "callSid": CALL}}))
    assert stop == Stop(5, SID, CALL, ACCOUNT)
    mark = parse_frame(json.dumps({"event": "mark", "sequenceNumber": "4", "streamSid": SID,
                                   "mark": {"name": "my label"}}))
    assert mark == Mark(4, SID, "my label")
    dtmf = parse_frame(json.dumps({"event": "dtmf", "streamSid": SID, "sequenceNumber": "5",
                                   "dtmf": {"track": "inbound_track", "digit": "1"}}))
    assert dtmf == Dtmf(5, SID, "inbound_track", "1")


def test_bytes_frames_are_read_as_utf8_text():
    assert isinstance(parse_frame(json.dumps(TWILIO_MEDIA).encode()), Media)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("this is not json", "bad_json"),
        ("[1, 2, 3]", "bad_json"),
        ('{"event": "hello"}', "unknown_event"),
        ('{"no_event": true}', "unknown_event"),
        (b"\xff\xfe\x00binary", "not_text"),
        ('{"event": "start", "streamSid": "MZ1"}', "missing_field"),
        ('{"event": "start", "streamSid": "MZ1", "start": {"tracks": ["inbound"]}}',
         "missing_field"),
        ('{"event": "media", "streamSid": "MZ1"}', "missing_field"),
    ],
)
def test_malformed_messages_raise_a_coded_error(text, code):
    with pytest.raises(ProtocolError) as caught:
        parse_frame(text)
    assert caught.value.code == code
    assert caught.value.detail


def _media(**changes):
    message = json.loads(json.dumps(TWILIO_MEDIA))
    message["media"].update(changes)
    return json.dumps(message)


def test_payload_that_is_not_base64():
    with pytest.raises(ProtocolError) as caught:
        parse_frame(_media(payload="%%% not base64 %%%"))
    assert caught.value.code == "bad_base64"
    assert caught.value.event == "media"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"track": "sideways"}, "bad_track"),
        ({"timestamp": "soon"}, "bad_field"),
        ({"timestamp": "-20"}, "bad_field"),
        ({"timestamp": None}, "missing_field"),
        ({"chunk": [1]}, "bad_field"),
    ],
)
def test_bad_media_fields(changes, code):
    with pytest.raises(ProtocolError) as caught:
        parse_frame(_media(**changes))
    assert caught.value.code == code


def test_media_without_stream_sid_is_refused():
    message = dict(TWILIO_MEDIA)
    del message["streamSid"]
    with pytest.raises(ProtocolError) as caught:
        parse_frame(json.dumps(message))
    assert caught.value.code == "missing_field"


def test_oversized_frame_is_refused_before_it_is_parsed():
    big = _media(payload=base64.b64encode(b"\xff" * 5000).decode())
    with pytest.raises(ProtocolError) as caught:
        parse_frame(big, max_bytes=1024)
    assert caught.value.code == "too_large"
    assert isinstance(parse_frame(big, max_bytes=len(big)), Media)


def test_unusual_media_format_is_reported_not_refused():
    message = json.loads(json.dumps(TWILIO_START))
    message["start"]["mediaFormat"] = {"encoding": "audio/l16", "sampleRate": 16000,
                                       "channels": 1}
    frame = parse_frame(json.dumps(message))
    assert not frame.media_format.is_phone_mulaw


def test_sequence_tracker_reports_gaps_and_reorders():
    tracker = SequenceTracker()
    assert [tracker.observe(n) for n in (None, 1, 2, 3)] == [None] * 4
    gap = tracker.observe(7)
    assert (gap.expected, gap.got, gap.missing) == (4, 7, 3)
    assert tracker.observe(8) is None
    late = tracker.observe(5)
    assert (late.expected, late.got, late.missing) == (9, 5, 0)
    assert tracker.observe(9) is None
    assert (tracker.gaps, tracker.missing) == (2, 3)


def test_builder_writes_frames_the_parser_reads_back_in_order():
    builder = FrameBuilder(CALL)
    texts = [builder.connected(), builder.start({"desk": "d"}),
             builder.media("inbound", b"\x01\x02", 0), builder.media("outbound", b"\x03", 0),
             builder.media("inbound", b"\x04", 20), builder.mark("m"), builder.dtmf("5"),
             builder.stop()]
    frames = [parse_frame(t) for t in texts]
    tracker = SequenceTracker()
    assert all(tracker.observe(getattr(f, "sequence_number", None)) is None for f in frames)
    assert [type(f).__name__ for f in frames] == [
        "Connected", "Start", "Media", "Media", "Media", "Mark", "Dtmf", "Stop"]
    assert frames[1].call_sid == CALL and frames[1].custom_parameters == {"desk": "d"}
    assert [(f.track, f.chunk, f.timestamp, f.payload) for f in frames[2:5]] == [
        ("inbound", 1, 0, b"\x01\x02"), ("outbound", 1, 0, b"\x03"), ("inbound", 2, 20, b"\x04")]
    assert frames[-1].call_sid == CALL


def test_call_media_interleaves_both_tracks_in_20ms_chunks():
    builder = FrameBuilder(CALL)
    inbound, outbound = b"\x10" * 400, b"\x20" * 250
    out = list(builder.call_media(inbound, outbound))
    frames = [parse_frame(text) for _, text in out]
    assert [f.track for f in frames[:4]] == ["inbound", "outbound", "inbound", "outbound"]
    assert [t for t, _ in out[::2]] == [0.0, 0.02, 0.04]
    assert b"".join(f.payload for f in frames if f.track == "inbound") == inbound
    padded = b"".join(f.payload for f in frames if f.track == "outbound")
    assert padded == outbound + b"\xff" * 150
