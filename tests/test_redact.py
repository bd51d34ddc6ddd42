"""Card numbers and SSNs never reach storage or the bus; phone numbers and birth dates do."""

from __future__ import annotations

import json

import pytest

from voice import create_app
from voice.config import Config, ConfigError
from voice.events import CallStarted, Utterance, Word
from voice.records.redact import Redactor, luhn_ok, ssn_ok

R = Redactor.from_patterns([("mrn", r"\bmrn (?:\w+ ){0,1}\d+\b")])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my card is 4111 1111 1111 1111 thanks", "my card is [card] thanks"),
        ("4111-1111-1111-1111", "[card]"),
        ("card 4111111111111111 expires twelve twenty five",
         "card [card] expires twelve twenty five"),
        ("its four one one one one one one one one one one one one one one one",
         "its [card]"),
        ("five five five five uh five five five five five five five five four four four four ok",
         "[card] ok"),
        ("four one one one double one one one one one one one one one one one", "[card]"),
        ("forty one eleven eleven eleven eleven eleven eleven eleven", "[card]"),
        ("my social is 123-45-6789", "my social is [ssn]"),
        ("social security one two three four five six seven eight nine",
         "social security [ssn]"),
        ("it's one two three forty five six seven eight nine", "it's [ssn]"),
    ],
)
def test_card_numbers_and_ssns_are_replaced(text: str, expected: str) -> None:
    assert R.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "call me back at five five five three two one seven seven eight eight",
        "my number is 555 321 7788",
        "it's one five five five three two one seven seven eight eight",
        "date of birth oh three fifteen nineteen eighty",
        "my birthday is 03/15/1980",
        "born march fifteenth nineteen eighty",
        "a bill for four hundred and twelve dollars",
        "4111 1111 1111 1112",  # sixteen digits that fail the Luhn check
        "my ssn is not 000-12-3456",  # area 000 is never issued
    ],
)
def test_phone_numbers_dates_and_amounts_are_kept(text: str) -> None:
    assert R.redact(text) == text


def test_extra_patterns_from_the_config_are_replaced() -> None:
    assert R.redact("my mrn is mrn 889123 ok") == "my mrn is [mrn] ok"
    config = Config.from_env({"VOICE_REDACT_PATTERNS": r"member=\bmember id \w+;;mrn=\bmrn \d+"})
    assert config.redact_patterns == (("member", r"\bmember id \w+"), ("mrn", r"\bmrn \d+"))
    with pytest.raises(ConfigError, match="VOICE_REDACT_PATTERNS"):
        Config.from_env({"VOICE_REDACT_PATTERNS": "mrn=("})
    with pytest.raises(ConfigError, match="label=regex"):
        Config.from_env({"VOICE_REDACT_PATTERNS": "no label here"})


def test_checks() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert ssn_ok("123456789") and not ssn_ok("666123456") and not ssn_ok("912345678")


def test_word_timings_of_a_redacted_number_are_masked() -> None:
    words = "my card is four one one one one one one one one one one one one one one one".split()
    assert [w for w in R.redact_words(words) if w] == ["my", "card", "is", "[card]"]


def _call_with_a_card(app) -> str:  # noqa: ANN001
    services = app.extensions["voice"]
    session = services.calls.open(CallStarted("CA-redact", "+15550001111", desk="front-desk"),
                                  with_audio=False)
    text = "my card is four one one one one one one one one one one one one one one one"
    words = tuple(Word(w, i * 0.3, i * 0.3 + 0.2) for i, w in enumerate(text.split()))
    session.add_utterance(Utterance("CA-redact", "caller", text, 1.0, 6.0, True, words))
    session.add_utterance(Utterance("CA-redact", "caller", "and my social is 123-45-6789",
                                    7.0, 9.0, True))
    session.end("completed")
    services.publisher.flush()
    return "CA-redact"


def test_stored_utterances_are_redacted(database_url: str) -> None:
    app = create_app(Config.for_testing(database_url=database_url))
    sid = _call_with_a_card(app)
    record = app.extensions["voice"].store.get_call(sid)
    texts = [u["text"] for u in record["utterances"]]
    assert texts == ["my card is [card]", "and my social is [ssn]"]
    assert [w["text"] for w in record["utterances"][0]["words"]] == ["my", "card", "is", "[card]"]
    assert "4111" not in json.dumps(record) and "one one one" not in json.dumps(record)


@pytest.mark.redis
def test_what_goes_over_redis_is_redacted(redis_url: str, tmp_path) -> None:  # noqa: ANN001
    import redis

    app = create_app(Config.for_testing(database_url=f"sqlite:///{tmp_path / 'v.db'}",
                                        redis_url=redis_url))
    _call_with_a_card(app)
    client = redis.Redis.from_url(redis_url)
    raw = json.dumps([[k.decode(), {a.decode(): b.decode() for a, b in v.items()}]
                      for k, v in client.xrange("voice:desk:front-desk:events")])
    assert "[card]" in raw and "[ssn]" in raw
    assert "one one one one" not in raw and "6789" not in raw
