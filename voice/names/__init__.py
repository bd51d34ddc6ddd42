"""Who is calling: the name a caller gives, read from text the way Vosk writes it.

Vosk's English models write lower case with no punctuation and numbers as words
("hi this is robert alvarez i got a statement"), so a name's end is found by
the words around it, not by commas.  ``find_name`` knows the ways people give a
name on the phone:

* ``my name is …`` / ``my name's …`` / ``the name is …`` (any word may be a name);
* ``this is …`` / ``it's …`` / ``i'm …`` when the next word is a common given
  name, a title (``mrs jones``), or is followed by ``calling``/``here``/``again``;
* ``… here`` / ``… calling`` right after a greeting (``hi robert alvarez here``);
* ``calling for my mother ana ruiz`` (the patient's name, ``on_behalf`` set);
* a name spelled out (``ruiz r u i z``; ``my last name is r u i z``).

Pure functions; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voice.names.first_names import FIRST_NAMES

TITLES = {
    "mr": "Mr.", "mister": "Mr.", "mrs": "Mrs.", "missus": "Mrs.", "misses": "Mrs.",
    "ms": "Ms.", "miss": "Miss", "dr": "Dr.", "doctor": "Dr.",
}
RELATIONS = frozenset(
    """mother mom father dad husband wife son daughter grandmother grandma grandfather
    grandpa aunt uncle sister brother partner child kid baby""".split()
)
# Words that end a name (or rule one out): function words, common verbs, fillers.
STOP = frozenset(
    """a about after again ah all also am an and any are as ask asking at back be because
    been before being but by call called calling calls can can't cannot could did didn't do
    does doesn't doing don't down even ever for from get gets getting give go going gonna
    got had has hasn't have haven't having he her here hers hi him his hmm how i i'd i'll
    i'm i've if in into is isn't it it's its just kind know last let like looking me mine
    more my name need needed needs never no not now of off oh ok okay on one only or our
    out over phone please really regarding returning right said saw say says see she so
    some someone sorry speaking still sure thank thanks that that's the their them then
    there these they they're this those though to today told tomorrow too trying two uh um
    up us very wait waiting want wanted wanting was wasn't we well were what when where
    which who why with won't would wouldn't yeah yes yesterday you you're your
    yours""".split()
)
_GREETINGS = frozenset("hi hello hey yes yeah good morning afternoon evening".split())
_FOLLOWERS = frozenset("calling here speaking again from with".split())
_SPELL_CUES = frozenset("spelled spelling spell that's thats".split())
_WORD = re.compile(r"[a-z][a-z'\-]*")


@dataclass(frozen=True)
class FoundName:
    """A name heard on the call; ``on_behalf`` when it is the patient's, not the caller's."""

    name: str
    on_behalf: bool = False
    relation: str | None = None


def _words(text: str) -> list[str]:
    clean = text.lower().replace("’", "'")
    clean = re.sub(r"\bit is\b", "it's", clean)
    clean = re.sub(r"\bi am\b", "i'm", clean)
    clean = re.sub(r"\bname is\b", "name's", clean)
    return _WORD.findall(clean)


def _spelled(words: list[str], i: int) -> tuple[str | None, int]:
    """A run of three or more single letters from ``i`` (a name spelled out)."""
    j = i
    while j < len(words) and len(words[j]) == 1:
        j += 1
    if j - i >= 4 and words[j - 1] == "i" and j < len(words) and words[j] in STOP:
        j -= 1  # "... s k i i have": the last "i" is the speaker
    if j - i >= 3:
        return "".join(words[i:j]), j
    return None, i


def _take(words: list[str], i: int, gazetteer_needed: bool) -> tuple[list[str], int] | None:
    """Name words from ``i`` (a title, then up to three words that are not STOP)."""
    title = None
    if i < len(words) and words[i] in TITLES:
        title, i = TITLES[words[i]], i + 1
    spelled, after = _spelled(words, i)
    if spelled:
        return ([title] if title else []) + [spelled.capitalize()], after
    taken: list[str] = []
    while i < len(words) and len(taken) < 3 and words[i] not in STOP and len(words[i]) > 1:
        if words[i].endswith("'s"):  # "doctor chen's office": a place, not a person
            return None
        taken.append(words[i])
        i += 1
    if not taken:
        return None
    if gazetteer_needed and title is None and taken[0] not in FIRST_NAMES:
        follows = words[i] if i < len(words) else ""
        if follows not in _FOLLOWERS:
            return None
    # a name spelled right after it confirms or completes it
    j = i + 1 if i < len(words) and words[i] in _SPELL_CUES else i
    spelled, after = _spelled(words, j)
    if spelled:
        if spelled not in taken:
            taken = taken[:1] + [spelled] if len(taken) == 1 else taken
        i = after
    return ([title] if title else []) + [w.capitalize() for w in taken], i


def _format(parts: list[str]) -> str:
    return " ".join(p if p.endswith(".") or p == "Miss" else _cap(p) for p in parts)


def _cap(word: str) -> str:
    return "-".join(p[:1].upper() + p[1:] for p in word.split("-"))


def find_name(text: str) -> FoundName | None:
    """The name a caller gives in ``text``, or None."""
    words = _words(text)
    found = _last_name_spelled(words)
    for i, word in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word == "name's" and (i == 0 or words[i - 1] in ("my", "the", "name's")):
            got = _take(words, i + 1, gazetteer_needed=False)
        elif word == "name's" and words[i - 1] == "last" and found:
            continue
        elif (word == "is" and i > 0 and words[i - 1] == "this") or word in ("it's", "i'm"):
            got = _take(words, i + 1, gazetteer_needed=True)
        elif word in RELATIONS and i > 0 and words[i - 1] in ("my", "our"):
            got = _take(words, i + 1, gazetteer_needed=True)
            if got and not _titled_only(got[0]):
                return FoundName(_format(got[0]), on_behalf=True, relation=word)
            continue
        elif i < 3 and all(w in _GREETINGS for w in words[:i]) and word in FIRST_NAMES:
            got = _take(words, i, gazetteer_needed=False)
            if got and (got[1] >= len(words) or words[got[1]] not in ("here", "calling")):
                got = None
        else:
            continue
        del nxt
        if got and not _titled_only(got[0]):
            parts = got[0]
            if found and len(parts) == 1:
                parts = parts + [found]
            return FoundName(_format(parts))
    return FoundName(found) if found else None


def _titled_only(parts: list[str]) -> bool:
    return len(parts) == 1 and parts[0] in TITLES.values()


def _last_name_spelled(words: list[str]) -> str | None:
    for i in range(len(words) - 2):
        if words[i] == "last" and words[i + 1] == "name's":
            spelled, _ = _spelled(words, i + 2)
            if spelled:
                return spelled.capitalize()
            if i + 2 < len(words) and words[i + 2] not in STOP:
                return words[i + 2].capitalize()
    return None


def extract_caller_name(text: str) -> str | None:
    """The caller's name as a string (the patient's when calling for someone), or None."""
    found = find_name(text)
    return found.name if found else None


def receptionist_name(text: str) -> str | None:
    """The receptionist's name from her greeting ("… this is jenny how can i help")."""
    words = _words(text)
    for i in range(len(words) - 1):
        if (words[i] == "is" and i > 0 and words[i - 1] == "this") or words[i] == "i'm" \
                or words[i] == "name's":
            if words[i + 1] not in STOP and len(words[i + 1]) > 1:
                return _cap(words[i + 1])
    return None
