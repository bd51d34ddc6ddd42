"""Retention: old calls lose their transcripts and names, keep their counts; purges are audited."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from records_helpers import CALLS, run_call

from voice.cli import main
from voice.config import Config, ConfigError
from voice.records.audit import AuditLog
from voice.records.retention import DailyPurge, parse_age, purge
from voice.records.trends import follow_up_outcomes, tense_by_topic
from voice.services import services_of

pytestmark = pytest.mark.usefixtures("office_clock")  # dated records, clock-relative figures

NOW = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
OLD = "2026-08-01T15:00:00+00:00"  # 124 days before NOW


@pytest.fixture
def app(records_app):  # noqa: ANN001, ANN201
    """conftest's ``records_app``: each database, New York time, the keyword scorer."""
    return records_app


@pytest.fixture
def store(app):  # noqa: ANN001, ANN201
    run_call(app, "CA-old", CALLS["billing"], start=OLD)
    run_call(app, "CA-new", CALLS["insurance"], number="+15550002222",
             start="2026-11-30T15:00:00+00:00")
    return services_of(app).store


def test_purge_removes_what_identifies_and_keeps_the_counts(store) -> None:  # noqa: ANN001
    before_tense = tense_by_topic(store, weeks=30, now=NOW)
    before_outcomes = follow_up_outcomes(store, weeks=30, now=NOW)
    dry = purge(store, 90, dry_run=True, now=NOW)
    assert (dry.calls, dry.dry_run) == (1, True) and dry.utterances == len(CALLS["billing"])
    assert store.get_call("CA-old")["utterances"], "a dry run deletes nothing"

    result = purge(store, 90, now=NOW)
    assert result.calls == 1 and result.frustration_points > 0 and result.prompts >= 0
    old = store.get_call("CA-old")
    assert old["purged"] and old["utterances"] == [] and old["frustration"] == []
    assert old["prompts"] == [] and old["summary"] == [] and old["timeline"] == []
    assert old["caller_name"] is None and old["from"] == "" and old["flag_reasons"] == []
    item = old["follow_ups"][0]
    assert item["what"] == "[purged]" and item["for_whom"] == "" and item["source"] is None
    assert item["due_at"] and item["status"] == "open", "outcome fields stay for the trends"
    assert old["topic"] == "billing" and old["peak_level"] and old["desk"] == "front-desk"
    assert old["started_at"].startswith("2026-08-01") and old["flagged"] in (True, False)
    assert tense_by_topic(store, weeks=30, now=NOW) == before_tense
    assert follow_up_outcomes(store, weeks=30, now=NOW) == before_outcomes
    assert "Robert" not in str(old) and "+15553217788" not in str(old)
    assert store.get_call("CA-new")["utterances"], "recent calls are untouched"
    assert purge(store, 90, now=NOW).calls == 0, "purging twice finds nothing new"


def test_voice_purge_asks_first_and_audits_itself(store, database_url, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    dry = runner.invoke(main, ["purge", "--older-than", "90d", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "1 call(s)" in dry.output and "nothing was deleted" in dry.output
    refused = runner.invoke(main, ["purge", "--older-than", "90d"], input="n\n")
    assert refused.exit_code != 0 and store.get_call("CA-old")["utterances"]
    done = runner.invoke(main, ["purge", "--older-than", "90d", "--yes"])
    assert done.exit_code == 0 and "purged 1 call(s)" in done.output
    assert not store.get_call("CA-old")["utterances"]
    purges = [e for e in AuditLog(store).entries() if e["action"] == "purge"]
    assert [e["detail"]["dry_run"] for e in purges] == [False, True]
    assert purges[0]["detail"]["calls"] == 1 and purges[0]["user"].startswith("cli:")
    bad = runner.invoke(main, ["purge", "--older-than", "ninety"])
    assert bad.exit_code != 0 and "not an age" in bad.output


def test_the_daily_purge_uses_the_retention_setting(store) -> None:  # noqa: ANN001
    result = DailyPurge(store, 90).run_once()
    assert result is not None and result.calls == 1
    assert AuditLog(store).entries()[0]["user"] == "retention"


def test_retention_days_setting() -> None:
    assert Config.from_env({}).retention_days == 90
    assert Config.from_env({"VOICE_RETENTION_DAYS": "0"}).retention_days == 0
    with pytest.raises(ConfigError, match="VOICE_RETENTION_DAYS"):
        Config.from_env({"VOICE_RETENTION_DAYS": "-3"})
    assert parse_age("90d") == 90 and parse_age("12w") == 84 and parse_age("30") == 30
    with pytest.raises(ValueError):
        parse_age("soon")
