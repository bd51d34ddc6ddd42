"""The caller's name, as the caller gives it ("my name is …", "this is … calling").

Detection is ``voice.names`` (shared with the call records); ``first_name`` is what a card says back
("Dana", or "Mrs. Jones" when only a title and surname were given).
"""

from __future__ import annotations

import re

from voice.names import extract_caller_name as find_caller_name

TITLES = {"mr": "Mr.", "mrs": "Mrs.", "ms": "Ms.", "miss": "Miss", "dr": "Dr."}


def extract_caller_name(text: str) -> str | None:
    """The name a caller gives, read the way Vosk writes it (``voice.names``: "my name is …",
    "this is robert alvarez i got …", "calling for my mother ana ruiz", a spelled name)."""
    return find_caller_name(text)


def first_name(name: str) -> str:
    """What a card calls the caller: the first name, or title and surname."""
    titled = name.split(" ")[0] in TITLES.values()
    return name if titled else name.split(" ")[0]


def uses_name(text: str, name: str) -> bool:
    """Whether the receptionist's words say any part of the caller's name."""
    words = set(re.findall(r"[a-z'\-]+", text.lower()))
    parts = [w.lower().rstrip(".") for w in name.split()]
    return any(p in words for p in parts if p not in TITLES)
