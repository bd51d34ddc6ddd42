"""Log lines: caller numbers masked, and a newline in ``From`` cannot forge a line.

The attack runs against a real ``voice serve``: a signed voice webhook whose
``From`` holds a newline and a fake log line.  The server's log shows the
number masked and the newline escaped, and no line starts with the forgery.
"""

from __future__ import annotations

import logging

import requests
from serve_helpers import ServeProcess
from twilio.request_validator import RequestValidator
from twilio_helpers import TOKEN

from voice.logsafe import SafeFormatter, escape_field, mask_number

FORGED = "2026-12-03 08:00:00,000 WARNING voice.auth: login manager accepted"


def test_numbers_are_masked() -> None:
    assert mask_number("+15550001234") == "+1********34"
    assert mask_number("15550001") == "1*****01"
    assert mask_number("client:front-desk-1") == "client:***"
    assert mask_number("sip:alice@example.com") == "sip:***"
    assert mask_number("") == "unknown" and mask_number(None) == "unknown"
    assert mask_number("123") == "***"
    assert "0001234" not in mask_number("+1 (555) 000-1234")


def test_control_characters_are_escaped() -> None:
    assert escape_field("a\nb\r\x1b[31m\u2028") == "a\\nb\\r\\x1b[31m\\u2028"
    assert escape_field("plain +1555") == "plain +1555"


def test_the_formatter_keeps_one_record_on_one_line() -> None:
    record = logging.LogRecord("voice", logging.INFO, __file__, 1, "call %s from %s",
                               ("CA1", "+1\n" + FORGED), None)
    line = SafeFormatter("%(levelname)s %(message)s").format(record)
    assert "\n" not in line and "\\n" + FORGED in line


def test_a_newline_in_from_cannot_forge_a_log_line_on_a_real_server(tmp_path) -> None:
    with ServeProcess(tmp_path) as server:
        form = {"CallSid": "CA" + "1" * 32, "From": "+15550001234\n" + FORGED,
                "To": "+15550100", "CallStatus": "ringing"}
        url = "https://coach.example.com/twilio/voice"
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        answer = requests.post(server.url + "/twilio/voice", data=form, timeout=10,
                               headers={"X-Twilio-Signature": signature})
        assert answer.status_code == 200
        log = server.log()
    assert "streaming to the coach" in log
    assert not any(line.startswith(FORGED) for line in log.splitlines())
    assert "+15550001234" not in log and "from +1****" in log
