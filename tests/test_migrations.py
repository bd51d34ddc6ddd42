"""Migrations upgrade an empty database and one at the previous revision, keeping its data."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

import voice.records.store as store_module
from voice.records.store import RecordStore, make_engine

MIGRATIONS = Path(store_module.__file__).parent / "migrations"


def _alembic(connection) -> AlembicConfig:  # noqa: ANN001
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _head() -> str:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert len(heads) == 1, f"one head expected, found {heads}"
    return heads[0]


def _previous() -> str:
    """The revision just before the head (what a database from the last release is at)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    down = ScriptDirectory.from_config(cfg).get_revision(_head()).down_revision
    assert isinstance(down, str), f"the head has one parent, not {down}"
    return down


def test_an_empty_database_upgrades_to_the_one_head(database_url: str) -> None:
    store = RecordStore(database_url)
    store.migrate()
    with store.engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        tables = set(inspect(connection).get_table_names())
    assert version == _head()
    assert {"calls", "utterances", "follow_ups", "audit_log"} <= tables


@pytest.mark.parametrize("start", ["previous", "0002"])
def test_a_database_at_the_previous_revision_keeps_its_data(database_url: str, start: str) -> None:
    revision = _previous() if start == "previous" else start
    engine = make_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(_alembic(connection), revision)
        connection.execute(text(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES "
            "('jenny', 'x', 'receptionist', '2026-11-01 09:00:00')"))
        if "user_desks" in inspect(connection).get_table_names():
            connection.execute(text("INSERT INTO user_desks (user_id, desk) "
                                    "SELECT id, 'north' FROM users"))
        connection.execute(text(
            "INSERT INTO calls (call_sid, from_number, to_number, desk, started_at, status, "
            "transcribed, simulated, flagged, flag_reasons, stats, caller_name, topic) VALUES "
            "('CA-kept', '+15550001111', '+15550100', 'front-desk', '2026-11-20 15:00:00', "
            "'completed', true, false, true, '[\"reached upset at 12 s\"]', '{}', 'Ana Ruiz', "
            "'billing')"))
        call_id = connection.execute(text("SELECT id FROM calls")).scalar()
        connection.execute(text(
            "INSERT INTO utterances (call_id, speaker, text, t_start, t_end, final, words) "
            f"VALUES ({call_id}, 'caller', 'my bill is wrong', 1.0, 2.0, true, '[]')"))
        connection.execute(text(
            "INSERT INTO follow_ups (call_id, summary, status, assignee, note, created_at, "
            f"closed_at) VALUES ({call_id}, 'Call Ana back', 'closed', 'pat', 'done', "
            "'2026-11-20 16:00:00', '2026-11-21 09:00:00')"))
    engine.dispose()

    store = RecordStore(database_url)
    store.migrate()
    call = store.get_call("CA-kept")
    assert call["caller_name"] == "Ana Ruiz" and call["topic"] == "billing"
    assert [u["text"] for u in call["utterances"]] == ["my bill is wrong"]
    assert call["flag_reasons"][0]["reason"] == "reached upset at 12 s"
    assert call["flag_reasons"][0]["evidence"]["text"] == "my bill is wrong"
    (item,) = call["follow_ups"]
    assert (item["what"], item["owner"], item["notes"]) == ("Call Ana back", "pat", "done")
    assert item["status"] == "done", "closed became done"
    assert item["due_at"] is None and item["kind"] == "decide" and item["closed_at"]
    assert call["summary"] == [] and call["topics"] == ["billing"]
    (jenny,) = store.users.list_all()
    desks = ["front-desk"] if revision == "0002" else ["north"]  # 0002: given the default desk
    assert (jenny["username"], jenny["role"], jenny["desks"]) == ("jenny", "receptionist", desks)
    with store.engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == _head()
