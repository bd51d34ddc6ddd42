"""The caller's name, as the caller gives it ("my name is …", "this is … calling").

Pure text rules on a caller utterance; ``first_name`` is what a card says back
("Dana", or "Mrs. Jones" when only a title and surname were given).
"""

from __future__ import annotations

import re

_NAME_WORD = r"[a-z][a-z'\-]*"
_NAME = rf"(?P<name>{_NAME_WORD}(?: {_NAME_WORD}){{0,2}})"
_NAME_PATTERNS = (
    re.compile(rf"\bmy name is {_NAME}"),
    re.compile(rf"\bmy name's {_NAME}"),
    re.compile(rf"\bthis is {_NAME} (?:calling|here|speaking)\b"),
    re.compile(rf"\b(?:it's|it is) {_NAME} (?:calling|here)\b"),
    re.compile(rf"\bthis is (?P<name>(?:mr|mrs|ms|miss|dr) {_NAME_WORD})\b"),
)
TITLES = {"mr": "Mr.", "mrs": "Mrs.", "ms": "Ms.", "miss": "Miss", "dr": "Dr."}
_NOT_NAMES = frozenset(
    """a about again also am an and any as at back been but by calling can could did do
    does for from going got had has have having her here him his how i i'm im in is it
    it's just like me mom my no not now of on or our patient really she so sorry still
    that the their them then they this to told trying uh um very was we well what when
    who why will with would yeah yes you your""".split()
)


def extract_caller_name(text: str) -> str | None:
    """The name a caller gives ("my name is …", "this is … calling", "it's … here")."""
    clean = re.sub(r"[^a-z'\- ]+", " ", text.lower())
    clean = re.sub(r"\s+", " ", clean)
    for pattern in _NAME_PATTERNS:
        found = pattern.search(clean)
        if found:
            name = _name_words(found.group("name").split())
            if name:
                return name
    return None


def _name_words(words: list[str]) -> str | None:
    kept: list[str] = []
    for word in words:
        if word in _NOT_NAMES:
            break
        kept.append(TITLES.get(word, word.capitalize()))
    if not kept or (len(kept) == 1 and kept[0] in TITLES.values()):
        return None
    return " ".join(kept)


def first_name(name: str) -> str:
    """What a card calls the caller: the first name, or title and surname."""
    titled = name.split(" ")[0] in TITLES.values()
    return name if titled else name.split(" ")[0]


def uses_name(text: str, name: str) -> bool:
    """Whether the receptionist's words say any part of the caller's name."""
    words = set(re.findall(r"[a-z'\-]+", text.lower()))
    parts = [w.lower().rstrip(".") for w in name.split()]
    return any(p in words for p in parts if p not in TITLES)
