"""The suite's own guards: a skip fails under VOICE_REQUIRE_ALL=1; the DB wipe needs a test DB."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RefusedDatabase, postgres_url_or_skip, require_test_database

TESTS = Path(__file__).parent


@pytest.mark.parametrize("url", [
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://postgres@127.0.0.1:5432/voice",
    "postgresql+psycopg://u:p@db.example.com/production_test",
    "postgresql://postgres@127.0.0.1:5432/",
])
def test_the_schema_wipe_refuses_a_database_that_is_not_a_test_one(monkeypatch, url) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("VOICE_TEST_POSTGRES_URL", url)
    with pytest.raises(RefusedDatabase, match="refusing to drop the schema"):
        postgres_url_or_skip()


def test_a_database_url_from_the_environment_is_refused_too(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    monkeypatch.setenv("VOICE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    with pytest.raises(RefusedDatabase):
        postgres_url_or_skip()


def test_a_test_database_name_is_accepted() -> None:
    require_test_database("postgresql://postgres@127.0.0.1:5432/test")
    require_test_database("postgresql://postgres@127.0.0.1:5432/test_testshard")


def run_suite_with_a_skip(tmp_path: Path, require_all: str) -> subprocess.CompletedProcess:
    """Run a two-test suite (one passes, one skips) under this suite's conftest."""
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n\n"
        "def test_passes():\n    assert True\n\n"
        "def test_skips():\n    pytest.skip('nothing to test here')\n")
    env = {**os.environ, "VOICE_REQUIRE_ALL": require_all,
           "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120, check=False)


def test_a_skip_fails_the_run_under_require_all(tmp_path) -> None:
    result = run_suite_with_a_skip(tmp_path, "1")
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
    assert "VOICE_REQUIRE_ALL=1: 1 test(s) skipped, so the run fails" in result.stdout


def test_a_skip_is_only_a_skip_without_require_all(tmp_path) -> None:
    result = run_suite_with_a_skip(tmp_path, "0")
    assert result.returncode == pytest.ExitCode.OK, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
