"""Prompt text templates with slots that read naturally when a slot is empty.

A prompt's text names slots in braces, ``{caller_name}``.  A slot the prompt's
conditions cannot promise must sit inside an optional part in square brackets,
``[{caller_name}, ]I can certainly understand how you feel.``: the whole bracketed
part is dropped when any slot in it is empty, so the card never reads
"``, I can certainly …``".  This module owns parsing (with checks) and rendering.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

SLOTS = ("caller_name", "first_name", "topic", "promise", "promised_when")
_TOKEN = re.compile(r"(\{[^{}]*\}|\[|\])")
_SENTENCE_END = re.compile(r"(^|[.!?\"“:])\s*$")


class TemplateError(ValueError):
    """A prompt text is malformed (unknown slot, unbalanced brackets …)."""


@dataclass(frozen=True)
class Part:
    """A run of literal text and slots; ``optional`` parts vanish if a slot is empty."""

    pieces: tuple[tuple[str, bool], ...]  # (text, is_slot)
    optional: bool


@dataclass(frozen=True)
class Template:
    """A parsed prompt text."""

    source: str
    parts: tuple[Part, ...]

    @property
    def slots(self) -> frozenset[str]:
        """Every slot the text uses."""
        return frozenset(t for p in self.parts for t, is_slot in p.pieces if is_slot)

    def render(self, values: Mapping[str, str]) -> str:
        """The card text with slots filled and empty optional parts dropped."""
        out: list[str] = []
        dropped = False
        for part in self.parts:
            if part.optional and any(s and not values.get(t) for t, s in part.pieces):
                dropped = True
                continue
            text = "".join(values.get(t, "") if s else t for t, s in part.pieces)
            if dropped and _SENTENCE_END.search("".join(out)):
                text = _capitalize(text)
            out.append(text)
            dropped = False
        return _tidy("".join(out))


def parse_template(text: str, guaranteed: frozenset[str] = frozenset()) -> Template:
    """Parse ``text``; slots outside ``[ ]`` must be in ``guaranteed``."""
    parts: list[Part] = []
    pieces: list[tuple[str, bool]] = []
    optional = False
    for token in _TOKEN.split(text):
        if token in ("[", "]"):
            if (token == "[") == optional:
                raise TemplateError(f"unbalanced '{token}' in text (no nesting)")
            parts.append(Part(tuple(pieces), optional))
            pieces, optional = [], token == "["
        elif token.startswith("{"):
            pieces.append((_slot(token, optional, guaranteed), True))
        elif token:
            pieces.append((token, False))
    if optional:
        raise TemplateError("text has a '[' that is never closed")
    parts.append(Part(tuple(pieces), False))
    return Template(text, tuple(p for p in parts if p.pieces))


def _slot(token: str, optional: bool, guaranteed: frozenset[str]) -> str:
    name = token[1:-1].strip()
    if name not in SLOTS:
        raise TemplateError(f"unknown slot {token} (known: {', '.join(SLOTS)})")
    if not optional and name not in guaranteed:
        raise TemplateError(
            f"slot {token} may be empty: put it inside [ ] (e.g. '[{token}, ]') "
            "or add a condition that guarantees it"
        )
    return name


def _capitalize(text: str) -> str:
    """Upper-case the first letter (after any leading spaces or punctuation)."""
    return re.sub(r"^([^A-Za-z]*)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r"^[,;:\s]+", "", text)
    return text[:1].upper() + text[1:]
