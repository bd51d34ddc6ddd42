import pytest

from voice.config import Config, ConfigError


def test_defaults_need_nothing_from_the_environment():
    config = Config.from_env({})
    assert config.database_url == "sqlite:///voice.db"
    assert config.redis_url is None
    assert config.twilio_auth_token == ""
    assert not config.webhooks_open


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "http://localhost"),
        ("VOICE_PUBLIC_URL", "coach.example.com"),
        ("VOICE_DESK_NUMBER", "front desk"),
        ("VOICE_DESK_NUMBER", "client:"),
        ("VOICE_INSECURE_DEV", "maybe"),
        ("VOICE_MAX_FRAME_BYTES", "lots"),
        ("VOSK_MODEL_PATH", "/no/such/folder"),
        ("VOICE_LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_values_stop_start_up_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: value})


def test_desk_may_be_a_number_or_a_softphone_client():
    assert Config.from_env({"VOICE_DESK_NUMBER": "+1 555 0100"}).desk_number == "+1 555 0100"
    assert Config.from_env({"VOICE_DESK_NUMBER": "client:desk1"}).desk_number == "client:desk1"


def test_unsigned_webhooks_only_with_explicit_dev_flag_and_no_token():
    assert Config.from_env({"VOICE_INSECURE_DEV": "1"}).webhooks_open
    assert not Config.from_env({"VOICE_INSECURE_DEV": "1", "TWILIO_AUTH_TOKEN": "t"}).webhooks_open


def test_public_url_loses_its_trailing_slash():
    assert Config.from_env({"VOICE_PUBLIC_URL": "https://a.example/"}).public_url == (
        "https://a.example"
    )


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VOICE_API_TOKEN", raising=False)
    (tmp_path / ".env").write_text("VOICE_API_TOKEN=from-dotenv\n")
    assert Config.from_env().api_token == "from-dotenv"
    monkeypatch.delenv("VOICE_API_TOKEN", raising=False)


def test_replace_rejects_unknown_settings():
    with pytest.raises(ConfigError, match="nonsense"):
        Config.for_testing(nonsense=1)
