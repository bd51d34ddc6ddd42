"""The ``voice`` command: serve, models, users, score, simulate, db.

Operators run everything through this one command; ``voice --help`` lists it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from voice.config import Config, ConfigError

if TYPE_CHECKING:
    from flask import Flask

    from voice.records import RecordStore
    from voice.records.users import UserStore


def _config(dotenv: bool = True) -> Config:
    try:
        return Config.from_env(dotenv=dotenv)
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


@click.group()
@click.version_option(package_name="voice-coach")
def main() -> None:
    """Front-desk call coach: live transcription, frustration and prompts for receptionists."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--threads", default=None, type=int,
              help="Threads for ordinary requests (default VOICE_THREADS, 32; streams have "
                   "their own pool: VOICE_STREAM_THREADS).")
@click.option("--demo", is_flag=True, help="Also loop a demo call so the console shows activity.")
@click.option("--dev", "dev_server", is_flag=True, help="Use Flask's development server.")
@click.option("--insecure-dev", is_flag=True,
              help="Accept UNSIGNED Twilio requests while TWILIO_AUTH_TOKEN is unset "
                   "(local development only; same as VOICE_INSECURE_DEV=1).")
def serve(host: str, port: int, threads: int | None, demo: bool, dev_server: bool,
          insecure_dev: bool) -> None:
    """Run the service under gunicorn with the guarded thread worker (as the Procfile does)."""
    config = _config()
    if demo:
        config = config.replace(demo=True)
    if insecure_dev:
        config = config.replace(insecure_dev=True)
    _store(config).engine.dispose()  # a database that is not there stops us here, in one line
    click.echo(f"Call coach on http://{host}:{port}  (console: http://{host}:{port}/console)")
    if dev_server:
        from voice import create_app

        create_app(config).run(host=host, port=port, threaded=True)
        return
    from gunicorn.app.base import BaseApplication

    from voice.serving import gunicorn_settings

    settings = gunicorn_settings(config, f"{host}:{port}", threads)

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            for name, value in settings.items():
                self.cfg.set(name, value)

        def load(self) -> Flask:
            from voice import create_app

            return create_app(config)

    _Gunicorn().run()


@main.group()
def models() -> None:
    """Speech and sentiment models: fetch, status, tune, train-frustration."""


@models.command("fetch")
@click.option("--name", default="vosk-model-small-en-us-0.15", show_default=True,
              help="Vosk model name on the Vosk model site.")
@click.option("--dest", type=click.Path(path_type=Path), default=None,
              help="Folder to unpack into (default: the models/ folder).")
@click.option("--url", default=None, help="Download from this URL instead.")
@click.option("--sha256", default=None, help="Expected SHA-256 of the zip.")
def models_fetch(name: str, dest: Path | None, url: str | None, sha256: str | None) -> None:
    """Download a Vosk speech model into models/ (progress bar, checksum, atomic unpack)."""
    from voice.speech_models import ModelFetchError, fetch_model

    target = dest or _config().models_dir
    try:
        path = fetch_model(name=name, dest=target, url=url, sha256=sha256)
    except ModelFetchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"speech model ready: {path}")


@models.command("status")
def models_status() -> None:
    """Say which speech model and sentiment model the service would load."""
    from voice.speech_models import describe_missing_model, resolve_speech_model

    config = _config()
    path = resolve_speech_model(config.vosk_model_path, config.models_dir)
    click.echo(f"speech model: {path if path else 'missing. ' + describe_missing_model()}")
    click.echo(f"sentiment model: {config.sentiment_model or _default_sentiment()}")


@models.command("tune")
@click.option("--model", "source", type=click.Path(path_type=Path), default=None,
              help="Model folder to copy (default: the one the service would load).")
@click.option("--max-active", type=int, default=700, show_default=True)
@click.option("--beam", type=float, default=7.0, show_default=True)
@click.option("--lattice-beam", type=float, default=1.0, show_default=True)
@click.option("--name", default=None, help="Folder name under models/ for the copy.")
def models_tune(source: Path | None, max_active: int, beam: float, lattice_beam: float,
                name: str | None) -> None:
    """Write a copy of a speech model with cheaper decoder settings under models/."""
    from voice.speech_models import resolve_speech_model, tune_model

    config = _config()
    source = source or resolve_speech_model(config.vosk_model_path, config.models_dir)
    if source is None:
        raise click.ClickException("no speech model to tune: give --model or set "
                                   "VOSK_MODEL_PATH")
    try:
        target = tune_model(source, config.models_dir, {
            "max-active": max_active, "beam": beam, "lattice-beam": lattice_beam}, name=name)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"tuned copy of {source}: {target}")
    click.echo(f"use it with VOSK_MODEL_PATH={target}")


def _default_sentiment() -> str:
    from voice.frustration.model import default_finetuned_dir

    card = default_finetuned_dir() / "card.json"
    extra = ""
    if card.exists():
        trained = json.loads(card.read_text()).get("trained", "?")
        extra = f"; opt-in minilm-finetuned (int8 ONNX, trained {trained})"
    return "offline default: frozen MiniLM + head (models/frustration_head.npz)" + extra


@main.group()
def users() -> None:
    """People who log in to the console and review pages."""


def _store(config: Config | None = None) -> RecordStore:
    """The records store, migrated; an unreachable database is one clear error line."""
    from voice.records import DatabaseUnreachable, RecordStore

    store = RecordStore((config or _config()).database_url)
    try:
        store.migrate()
    except DatabaseUnreachable as exc:
        store.engine.dispose()
        raise click.ClickException(str(exc)) from None
    return store


def _users() -> UserStore:
    return _store().users


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["receptionist", "manager"]), default="receptionist",
              show_default=True)
@click.option("--desk", "desks", multiple=True,
              help="A desk she works (repeatable); a receptionist sees only her desks' calls. "
                   "Default for a new receptionist: VOICE_DESK_NAME.")
@click.password_option(envvar="VOICE_USER_PASSWORD",
                       help="12+ characters, not a common one (default: VOICE_USER_PASSWORD, "
                            "else asked).")
def users_add(username: str, role: str, desks: tuple[str, ...], password: str) -> None:
    """Create a user, or reset their password and role (ends their logins).

    The password comes from VOICE_USER_PASSWORD when set (for scripts), else it is asked.
    """
    from voice.records.users import UserError

    store = _users()
    known = {u["username"] for u in store.list_all()}
    wanted: list[str] | None = list(desks) or None
    if wanted is None and role == "receptionist" and username not in known:
        wanted = [_config().desk_name]
    try:
        user = store.add(username, password, role, wanted)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    where = f" at {', '.join(user.desks)}" if user.desks else ""
    click.echo(f"user {username} ({role}){where} saved")


@users.command("list")
def users_list() -> None:
    """List users, their roles, desks and live API tokens."""
    for user in _users().list_all():
        desks = ",".join(user["desks"]) or "-"
        click.echo(f"{user['username']}\t{user['role']}\t{desks}\ttokens={user['tokens']}")


@users.command("remove")
@click.argument("username")
def users_remove(username: str) -> None:
    """Delete a user (their logins and API tokens stop working at once)."""
    if not _users().remove(username):
        raise click.ClickException(f"no user {username}")
    click.echo(f"user {username} removed")


@users.command("desks")
@click.argument("username")
@click.argument("desks", nargs=-1, required=True)
def users_desks(username: str, desks: tuple[str, ...]) -> None:
    """Set the desks USERNAME works (replaces the old list)."""
    from voice.records.users import UserError

    try:
        user = _users().set_desks(username, desks)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"user {username} works {', '.join(user.desks)}")


@users.command("token")
@click.argument("username")
@click.option("--revoke", is_flag=True, help="Revoke every token of USERNAME instead.")
def users_token(username: str, revoke: bool) -> None:
    """Print a new API token for USERNAME on the last line (scoped by their role and desks)."""
    from voice.records.users import UserError

    store = _users()
    try:
        if revoke:
            click.echo(f"revoked {store.revoke_tokens(username)} token(s) of {username}")
            return
        token = store.issue_token(username)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"new API token for {username} (shown once; send it as "
               "Authorization: Bearer <token>; revoke with --revoke):")
    click.echo(token)


@main.command("init")
@click.option("--env-file", type=click.Path(path_type=Path), default=Path(".env"),
              show_default=True)
def init(env_file: Path) -> None:
    """First-run setup: secrets in .env, the schema, and a manager login if there is none."""
    import secrets

    from dotenv import dotenv_values, set_key

    _tighten(env_file)  # before a secret is added to it
    current = dotenv_values(env_file) if env_file.exists() else {}
    environment = _config(dotenv=False)  # the process's own settings, before any .env
    set_already = {"VOICE_SECRET_KEY": not environment.secret_key_generated,
                   "VOICE_API_TOKEN": bool(environment.api_token)}
    added = []
    for name, already in set_already.items():
        if not current.get(name) and not already:
            value = secrets.token_urlsafe(24)
            env_file.touch(mode=0o600, exist_ok=True)
            set_key(str(env_file), name, value, quote_mode="never")
            added.append(name)
    if added:
        env_file.chmod(0o600)  # set_key rewrites the file under the umask
        click.echo(f"wrote {', '.join(added)} to {env_file}")
    store = _store()
    if not store.users.list_all():
        password = secrets.token_urlsafe(12)
        store.users.add("manager", password, "manager")
        click.echo("created the first login -> username: manager  password: " + password)
        click.echo("(add receptionists with: voice users add NAME --role receptionist)")


def _tighten(env_file: Path) -> None:
    """Make ``env_file`` readable by its owner only (0600) whenever it is looser; say so."""
    if not env_file.exists():
        return
    mode = env_file.stat().st_mode & 0o777
    if mode & 0o077:
        env_file.chmod(0o600)
        click.echo(f"tightened {env_file} from {mode:04o} to 0600: it holds secrets, so only "
                   "its owner may read it")


@main.group()
def db() -> None:
    """The records database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    store = _store()
    click.echo(f"database {store.kind} is up to date")


@main.command("calls")
@click.option("--flagged", is_flag=True, help="Only calls flagged for review.")
@click.option("--limit", default=20, show_default=True)
def calls(flagged: bool, limit: int) -> None:
    """Print recent call records as JSON lines."""
    for call in _store().list_calls(flagged=True if flagged else None, limit=limit):
        click.echo(json.dumps(call))


def _attach_commands() -> None:
    """The commands other packages own; a broken import fails ``voice`` loudly."""
    from voice.frustration.cli import score_command, train_command
    from voice.records.commands import audit_command, purge_command
    from voice.tools.simulate import simulate_command

    main.add_command(audit_command, "audit")
    main.add_command(purge_command, "purge")
    main.add_command(score_command, "score")
    models.add_command(train_command, "train-frustration")
    main.add_command(simulate_command, "simulate")


_attach_commands()
