"""Configuration has one home: ``voice/config.py`` alone reads or writes the environment.

The source test greps the package; the behaviour tests show what that buys:
``voice models fetch``/``status`` follow ``VOICE_MODELS_DIR``, ``serve --demo``
changes the ``Config`` it hands to the app instead of ``os.environ``, and the
config says when it made the secret key up.
"""

import io
import os
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

import voice
from voice.cli import main
from voice.config import ClientSettings, Config, normalise_database_url

PACKAGE = Path(voice.__file__).parent
ENVIRONMENT_ACCESS = re.compile(r"\bos\.environ\b|\bgetenv\b|\bputenv\b|\bunsetenv\b")


def test_only_config_py_reads_or_writes_the_environment():
    readers = sorted(
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "config.py" or path.parent != PACKAGE
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ENVIRONMENT_ACCESS.search(line)
    )
    assert readers == [], "\n".join(readers)
    assert ENVIRONMENT_ACCESS.search((PACKAGE / "config.py").read_text())


def _fake_model(folder: Path) -> Path:
    (folder / "conf").mkdir(parents=True)
    (folder / "conf" / "model.conf").write_text("--sample-frequency=16000\n")
    return folder


def test_models_status_and_fetch_honour_voice_models_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    models_dir = tmp_path / "elsewhere"
    model = _fake_model(models_dir / "vosk-model-tiny")
    monkeypatch.setenv("VOICE_MODELS_DIR", str(models_dir))
    status = CliRunner().invoke(main, ["models", "status"])
    assert status.exit_code == 0, status.output
    assert f"speech model: {model}" in status.output
    # Already present there, so fetch answers without the network.
    fetched = CliRunner().invoke(main, ["models", "fetch", "--name", "vosk-model-tiny"])
    assert fetched.exit_code == 0, fetched.output
    assert f"speech model ready: {model}" in fetched.output


def _zip_of_model() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("vosk-model-served/conf/model.conf", "--sample-frequency=16000\n")
        archive.writestr("vosk-model-served/am/final.mdl", b"\0" * 64)
    return buffer.getvalue()


def test_models_fetch_downloads_into_voice_models_dir(tmp_path, monkeypatch):
    body = _zip_of_model()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
        models_dir = tmp_path / "models-here"
        monkeypatch.setenv("VOICE_MODELS_DIR", str(models_dir))
        url = f"http://127.0.0.1:{server.server_address[1]}/m.zip"
        result = CliRunner().invoke(
            main, ["models", "fetch", "--name", "vosk-model-served", "--url", url])
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    assert (models_dir / "vosk-model-served" / "am" / "final.mdl").is_file()
    assert f"speech model ready: {models_dir / 'vosk-model-served'}" in result.output


class _AppThatRecords:
    def __init__(self) -> None:
        self.configs: list[Config] = []

    def __call__(self, config: Config):
        self.configs.append(config)
        return self

    def run(self, **_kwargs) -> None:
        """Flask's ``run``: return at once instead of serving."""


def test_serve_flags_change_the_config_not_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("VOICE_DEMO", "VOICE_INSECURE_DEV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'voice.db'}")
    recorder = _AppThatRecords()
    monkeypatch.setattr(voice, "create_app", recorder)
    before = dict(os.environ)
    result = CliRunner().invoke(main, ["serve", "--dev", "--demo", "--insecure-dev"])
    assert result.exit_code == 0, result.output
    assert dict(os.environ) == before
    [config] = recorder.configs
    assert config.demo and config.insecure_dev
    plain = CliRunner().invoke(main, ["serve", "--dev"])
    assert plain.exit_code == 0, plain.output
    assert not recorder.configs[1].demo and not recorder.configs[1].insecure_dev


def test_config_says_whether_it_made_the_secret_key_up():
    made_up = Config.from_env({})
    assert made_up.secret_key_generated and len(made_up.secret_key) == 32
    given = Config.from_env({"VOICE_SECRET_KEY": "s3cret"})
    assert given.secret_key == "s3cret" and not given.secret_key_generated
    assert not Config.for_testing().secret_key_generated
    changed = made_up.replace(demo=True)
    assert changed.secret_key == made_up.secret_key and changed.secret_key_generated


@pytest.mark.parametrize(("raw", "normal"), [
    ("postgres://u@db.example/calls", "postgresql+psycopg://u@db.example/calls"),
    ("postgresql://u@db.example/calls", "postgresql+psycopg://u@db.example/calls"),
    ("postgresql+psycopg://u@db.example/calls", "postgresql+psycopg://u@db.example/calls"),
    ("sqlite:///voice.db", "sqlite:///voice.db"),
])
def test_database_url_is_normalised_once_by_the_config(raw, normal):
    assert Config.from_env({"DATABASE_URL": raw}).database_url == normal
    assert normalise_database_url(normal) == normal


def test_client_defaults_ignore_server_settings_they_do_not_use():
    settings = ClientSettings.from_env({"VOICE_API_TOKEN": " tok ", "DATABASE_URL": "mysql://x",
                                        "VOICE_PUBLIC_URL": "https://a.example"})
    assert settings == ClientSettings(api_token="tok", public_url="https://a.example")
