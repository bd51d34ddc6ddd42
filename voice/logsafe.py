"""What may go into a log line: masked phone numbers, fields that cannot forge lines.

Caller numbers are personal data and log files travel (support tickets, log
shippers), so a number is logged as ``mask_number`` shows it: the leading
``+`` and country digit and the last two digits, the rest as ``*``.  Anything a
caller or client controls (a ``From`` value, a mark name, a stream sid) can hold a
newline that would start a forged log line; ``SafeFormatter`` escapes control
characters in every message it formats, and ``install`` puts it on the
service's log handler.
"""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,15}")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def escape_field(value: object) -> str:
    """``value`` as text with control characters shown as escapes (``\\n``, ``\\x1b``)."""
    text = str(value)
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def mask_number(number: str | None) -> str:
    """A caller's number for the log: ``+1*****01``; a SIP/client address keeps its scheme."""
    if not number:
        return "unknown"
    number = str(number)
    scheme, sep, _rest = number.partition(":")
    if sep and _SCHEME.fullmatch(scheme):
        return f"{scheme}:***"
    digits = [c for c in number if c.isdigit()]
    if len(digits) <= 4:
        return "*" * len(digits) or "***"
    head = "+" if number.startswith("+") else ""
    return f"{head}{digits[0]}{'*' * (len(digits) - 3)}{''.join(digits[-2:])}"


class SafeFormatter(logging.Formatter):
    """A formatter whose message part cannot contain a line break or terminal escape."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        """Format with the message's control characters escaped (tracebacks keep theirs)."""
        record.message = escape_field(record.message)
        return super().formatMessage(record)


def install(level: str) -> None:
    """Log to stderr through ``SafeFormatter`` unless logging is already set up."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(SafeFormatter(FORMAT))
        root.addHandler(handler)
        root.setLevel(level)
        return
    for existing in root.handlers:  # a plain stderr handler someone set up: make it safe
        if type(existing) is logging.StreamHandler and not isinstance(existing.formatter,
                                                                      SafeFormatter):
            existing.setFormatter(SafeFormatter(FORMAT))
