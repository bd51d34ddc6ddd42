"""Start-up safety: ``voice init`` tightens ``.env``; an unreachable database is one clear line.

The database attacks run the real commands in subprocesses (``voice serve``,
``voice db upgrade`` and the Procfile's WSGI import) against a PostgreSQL port
nobody listens on, a PostgreSQL database that does not exist, an unresolvable
host and a SQLite file in a folder that does not exist: each exits non-zero with
one line naming ``DATABASE_URL``, the host or file, and what to check; no
traceback, and never the password.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from serve_helpers import VENV_BIN, free_port

from voice.cli import main


def _init_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("VOICE_SECRET_KEY", "VOICE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'voice.db'}")
    return tmp_path / ".env"


def test_init_tightens_a_world_readable_env_file_and_says_so(tmp_path, monkeypatch):
    env = _init_env(tmp_path, monkeypatch)
    env.write_text("VOICE_SECRET_KEY=already-set\nVOICE_API_TOKEN=also-set\n")
    env.chmod(0o644)
    result = CliRunner().invoke(main, ["init", "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert "tightened" in result.output and "0644" in result.output
    again = CliRunner().invoke(main, ["init", "--env-file", str(env)])
    assert "tightened" not in again.output


def test_init_writes_new_secrets_into_an_owner_only_file(tmp_path, monkeypatch):
    env = _init_env(tmp_path, monkeypatch)
    os.umask(0o022)
    result = CliRunner().invoke(main, ["init", "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


UNREACHABLE = {
    "nobody listening": (f"postgresql://postgres:s3cret-pw@127.0.0.1:{free_port()}/voice",
                         "127.0.0.1"),
    "no such database": ("postgresql://postgres:s3cret-pw@127.0.0.1:5432/no_such_db_here",
                         "no_such_db_here"),
    "unknown host": ("postgresql://postgres:s3cret-pw@db.invalid/voice", "db.invalid"),
    "sqlite folder missing": ("sqlite:////no/such/folder/voice.db", "/no/such/folder"),
}


def _run(args: list[str], url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "VOICE_LOAD_SPEECH_MODEL": "0",
           "VOICE_LOAD_SENTIMENT_MODEL": "0"}
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120,
                          cwd="/tmp")


@pytest.mark.parametrize("case", sorted(UNREACHABLE))
@pytest.mark.parametrize("command", ["serve", "db upgrade", "wsgi"])
def test_an_unreachable_database_is_one_clear_line(case: str, command: str):
    url, where = UNREACHABLE[case]
    if command == "wsgi":
        args = [sys.executable, "-c", "import voice.wsgi"]
    else:
        args = [str(VENV_BIN / "voice"), *command.split(), *(
            ["--port", str(free_port())] if command == "serve" else [])]
    done = _run(args, url)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if "DATABASE_URL" in line]
    assert len(lines) == 1, done.stderr[-2000:]
    assert where in lines[0] and "check" in lines[0]
    assert "Traceback" not in done.stderr and "s3cret-pw" not in done.stderr + done.stdout
