"""Every topic of the playbook reaches the records and follow-ups in its own words.

One call per topic id in ``prompts/topics.yaml`` runs through the real call wiring
(keyword scorer standing in for the model) and must file a follow-up about that
topic's ``phrase``; a topic added to the YAML without a caller line here fails the
first test, so the table cannot drift from the playbook again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from voice import create_app
from voice.coach import PlaybookError, load_playbook
from voice.events import CallStarted, Utterance
from voice.services import services_of

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
PLAYBOOK = load_playbook(PROMPTS)

# A caller line that names each topic by one of its keywords.
CALLER_LINES = {
    "billing": "Hi, this is Ann Kim calling, I got a bill I don't understand.",
    "insurance": "Hi, this is Ann Kim calling, my insurance denied the claim.",
    "waiting": "Hi, this is Ann Kim calling, I've been on hold for forty minutes.",
    "rescheduled": "Hi, this is Ann Kim calling, you had to reschedule my visit again.",
    "results_callback": "Hi, this is Ann Kim calling, I never got my lab results.",
    "refills": "Hi, this is Ann Kim calling, my prescription refill never went through.",
}


class QuietScorer:
    """A stand-in sentiment model: everyone is calm."""

    name = "quiet-fake"

    def score(self, texts):  # noqa: ANN001, ANN201
        return [0.05 for _ in texts]


def test_every_topic_in_the_playbook_has_a_caller_line_here():
    assert set(CALLER_LINES) == {t.id for t in PLAYBOOK.topics}


@pytest.mark.parametrize("topic", PLAYBOOK.topics, ids=lambda t: t.id)
def test_a_call_about_each_topic_files_a_follow_up_in_its_phrase(config, topic):
    app = create_app(config, scorer=QuietScorer(), scorer_status="fake")
    services = services_of(app)
    sid = f"CAtopic{topic.id}"
    call = services.calls.open(CallStarted(sid, "+15550002", desk="front-desk"), with_audio=False)
    call.add_utterance(Utterance(sid, "caller", CALLER_LINES[topic.id], 1.0, 4.0, True))
    call.end("completed")
    record = services.store.get_call(sid)
    assert record["topic"] == topic.id
    summary = record["follow_ups"][0]["summary"]
    assert f"about {topic.phrase}" in summary and "their call" not in summary
    assert summary.startswith("Confirm that what was agreed with Ann Kim about")


def test_a_call_with_no_topic_is_about_their_call(config):
    app = create_app(config, scorer=QuietScorer(), scorer_status="fake")
    services = services_of(app)
    call = services.calls.open(CallStarted("CAnotopic", "+15550003"), with_audio=False)
    call.add_utterance(Utterance("CAnotopic", "caller", "Hello there.", 1.0, 2.0, True))
    call.end("completed")
    assert "about their call" in services.store.get_call("CAnotopic")["follow_ups"][0]["summary"]


def _topics_file(tmp_path: Path, phrase_line: str) -> Path:
    shutil_text = (PROMPTS / "stages.yaml").read_text(encoding="utf-8")
    (tmp_path / "stages.yaml").write_text(shutil_text, encoding="utf-8")
    (tmp_path / "topics.yaml").write_text(
        "topics:\n  - id: parking\n    label: the parking\n" + phrase_line
        + "    keywords: ['\\bparking\\b']\n",
        encoding="utf-8",
    )
    return tmp_path


def test_a_topic_without_a_phrase_is_refused_with_its_line(tmp_path):
    with pytest.raises(PlaybookError) as info:
        load_playbook(_topics_file(tmp_path, ""))
    assert info.value.file.endswith("topics.yaml") and info.value.line == 2
    assert "missing 'phrase'" in info.value.problem


@pytest.mark.parametrize("phrase", ["The parking lot.", "{topic}", "Parking"])
def test_a_phrase_that_does_not_read_after_about_is_refused(tmp_path, phrase):
    with pytest.raises(PlaybookError) as info:
        load_playbook(_topics_file(tmp_path, f"    phrase: '{phrase}'\n"))
    assert info.value.line == 4 and "follows 'about'" in info.value.problem
