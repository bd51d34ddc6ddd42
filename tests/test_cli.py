from click.testing import CliRunner
from dotenv import dotenv_values

from voice.cli import main


def test_init_fills_empty_placeholders_and_creates_the_first_manager(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("VOICE_SECRET_KEY", "VOICE_API_TOKEN", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'voice.db'}")
    env = tmp_path / ".env"
    env.write_text("VOICE_DESK_NAME=front-desk\nVOICE_API_TOKEN=\nVOICE_SECRET_KEY=\n")
    result = CliRunner().invoke(main, ["init", "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    values = dotenv_values(env)
    assert len(values["VOICE_API_TOKEN"]) > 20 and len(values["VOICE_SECRET_KEY"]) > 20
    assert values["VOICE_DESK_NAME"] == "front-desk"
    assert "username: manager" in result.output
    again = CliRunner().invoke(main, ["init", "--env-file", str(env)])
    assert "wrote" not in again.output and "created" not in again.output
    assert dotenv_values(env) == values, "a second init changes nothing"


def test_users_add_list_desks_and_remove(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'voice.db'}")
    monkeypatch.delenv("VOICE_USER_PASSWORD", raising=False)
    runner = CliRunner()
    added = runner.invoke(main, ["users", "add", "pat", "--role", "manager"],
                          input="a-long-password\na-long-password\n")
    assert added.exit_code == 0, added.output
    desk = runner.invoke(main, ["users", "add", "jo", "--desk", "north", "--desk", "south"],
                         input="a-long-password\na-long-password\n")
    assert desk.exit_code == 0 and "north, south" in desk.output, desk.output
    listing = runner.invoke(main, ["users", "list"]).output
    assert "pat\tmanager" in listing and "jo\treceptionist\tnorth,south" in listing
    moved = runner.invoke(main, ["users", "desks", "jo", "east"])
    assert moved.exit_code == 0 and "jo\treceptionist\teast" in runner.invoke(
        main, ["users", "list"]).output
    short = runner.invoke(main, ["users", "add", "sam"], input="short\nshort\n")
    assert short.exit_code != 0 and "12 characters" in short.output
    assert runner.invoke(main, ["users", "remove", "pat"]).exit_code == 0
    assert runner.invoke(main, ["users", "remove", "pat"]).exit_code != 0


def test_users_add_takes_the_password_from_voice_user_password(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'voice.db'}")
    monkeypatch.setenv("VOICE_USER_PASSWORD", "scripted-pass-phrase")
    monkeypatch.setenv("VOICE_DESK_NAME", "reception")
    result = CliRunner().invoke(main, ["users", "add", "kim"], input="")
    assert result.exit_code == 0 and "at reception" in result.output, result.output
    from voice.records import RecordStore

    assert RecordStore(f"sqlite:///{tmp_path / 'voice.db'}").users.check_login(
        "kim", "scripted-pass-phrase").desks == ("reception",)


def test_bad_configuration_is_reported_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://nope")
    result = CliRunner().invoke(main, ["users", "list"])
    assert result.exit_code != 0 and "DATABASE_URL" in result.output


def test_models_fetch_says_clearly_when_the_site_cannot_be_reached(tmp_path):
    result = CliRunner().invoke(
        main, ["models", "fetch", "--dest", str(tmp_path), "--url", "http://127.0.0.1:9/m.zip"]
    )
    assert result.exit_code != 0
    assert "cannot fetch" in result.output and "127.0.0.1:9" in result.output
