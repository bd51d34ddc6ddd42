"""The call-like data the models learn from is kept apart from the call data they are judged on.

``models/call_phrases.jsonl`` (train: fitted on; dev: used to choose and calibrate) must not
repeat or closely paraphrase a caller line of the evaluation call dialogues or of the held-out
call utterances: a paraphrase in training flatters every "calm calls ever upset" and "caught"
figure the README reports.  The check is lexical (difflib's ratio and content-word overlap),
so it catches rewordings of the same sentence, not two lines about the same topic.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter

from voice.frustration.training import CALL_DIALOGUES, CALL_HELDOUT, CALL_PHRASES, read_jsonl

WORD = re.compile(r"[a-z']+")
# Words that carry no content of their own in a front-desk line (courtesy, pronouns, glue).
FILLER = frozenset(
    "i the a an to my me is it and of you for this that in on at be was i'm it's can't i'd "
    "with have just so all can thank thanks please hi okay yes no".split())
MIN_WORDS = 5            # shorter lines ("Okay.", "Thanks.") are bound to recur in any call
MAX_RATIO = 0.7          # difflib.SequenceMatcher ratio on the lower-cased lines
MAX_CONTENT_OVERLAP = 0.4  # Jaccard of the content words


def _words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def _content(text: str) -> set[str]:
    return {w for w in _words(text) if w not in FILLER}


def _too_close(a: str, b: str) -> tuple[float, float] | None:
    if min(len(_words(a)), len(_words(b))) < MIN_WORDS:
        return None
    ratio = difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()
    ca, cb = _content(a), _content(b)
    overlap = len(ca & cb) / max(1, len(ca | cb))
    return (ratio, overlap) if ratio >= MAX_RATIO or overlap >= MAX_CONTENT_OVERLAP else None


def _judged_on() -> list[tuple[str, str]]:
    lines = [(f"call_dialogues {d['id']}", t["text"]) for d in read_jsonl(CALL_DIALOGUES)
             if d["split"] == "eval" for t in d["turns"]
             if t["speaker"] == "caller" and t["text"]]
    return lines + [("call_utterances", row["text"]) for row in read_jsonl(CALL_HELDOUT)]


def test_no_training_or_dev_phrase_paraphrases_an_evaluation_caller_line() -> None:
    phrases = read_jsonl(CALL_PHRASES)
    close = [f"{where}: {line!r} ~ {p['split']} {p['text']!r} "
             f"(ratio {c[0]:.2f}, overlap {c[1]:.2f})"
             for where, line in _judged_on() for p in phrases
             if (c := _too_close(p["text"], line))]
    assert close == []


def test_call_phrases_hold_each_line_once() -> None:
    counts = Counter(row["text"] for row in read_jsonl(CALL_PHRASES))
    assert [text for text, n in counts.items() if n > 1] == []


def test_the_closeness_check_flags_a_reworded_line_and_passes_a_different_one() -> None:
    assert _too_close("I can't stand cold weather, my knees ache all winter.",
                      "Hi, I can't stand this cold weather, my knees ache every morning.")
    assert _too_close("I've been on hold for thirty-five minutes.",
                      "Finally. I've been on hold for thirty five minutes.")
    assert _too_close("I can't stand this heat wave, I haven't slept properly in days.",
                      "Hi, I can't stand this cold weather, my knees ache every morning.") is None
