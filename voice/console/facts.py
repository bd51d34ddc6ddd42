"""The facts the console page needs from Python, handed to console.js as one JSON block.

The page template writes ``page_facts(...)`` as one JSON block into the ``data-facts``
attribute of ``<div id="console-facts">`` (no template carries an inline ``<script>``,
not even a JSON one: the CSP and ``test_auth_headers`` forbid it); console.js parses it
once and declares none of these itself.
"""

from __future__ import annotations

from typing import Any

from voice.coach.playbook import Playbook, card_titles
from voice.console.sse import TRANSCRIPT_LINES
from voice.events import LEVELS, SPEAKERS, Speaker

FACTS_ELEMENT_ID = "console-facts"
SPEAKER_LABELS: dict[Speaker, str] = {"caller": "Caller", "receptionist": "You"}


def page_facts(playbook: Playbook | None) -> dict[str, Any]:
    """Levels and their labels, card-kind titles, speakers and the transcript's length."""
    return {
        "levels": list(LEVELS),
        "level_labels": {level: level.capitalize() for level in LEVELS},
        "kind_titles": card_titles(playbook),
        "speakers": list(SPEAKERS),
        "speaker_labels": dict(SPEAKER_LABELS),
        "transcript_lines": TRANSCRIPT_LINES,
    }
