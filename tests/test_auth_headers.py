"""Security headers on every answer, no inline script anywhere, Secure cookies behind https,
and the users migration upgrading a database that already has users."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import PASSWORD, csrf_token_of, login
from sqlalchemy import text

from voice import create_app
from voice.config import Config
from voice.records import RecordStore
from voice.services import services_of

VOICE = Path(__file__).resolve().parent.parent / "voice"


def script_src(csp: str) -> str:
    return next(part for part in csp.split(";") if part.strip().startswith("script-src"))


def test_every_answer_carries_the_security_headers(app, client) -> None:  # noqa: ANN001
    answers = [client.get("/login"), client.get("/healthz"), client.get("/console"),
               client.get("/nope"), client.get("/console/static/console.js")]
    login(client, services_of(app).store, "boss", "manager")
    answers += [client.get("/console"), client.get("/review"), client.get("/api/calls")]
    for response in answers:
        headers = response.headers
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        csp = headers["Content-Security-Policy"]
        assert script_src(csp).split() == ["script-src", "'self'"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_no_template_has_inline_script_or_event_handlers() -> None:
    for template in VOICE.rglob("*.html"):
        html = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag, f"{template}: inline <script>"
        assert not re.search(r"\son[a-z]+\s*=", html), f"{template}: inline event handler"
        assert "javascript:" not in html, template
        assert "style=\"" not in html, f"{template}: inline style (the CSP has no unsafe-inline)"


@pytest.mark.parametrize("public_url, secure", [("https://coach.example.com", True),
                                                ("http://10.0.0.5:5000", False)])
def test_the_session_cookie_is_secure_behind_https(config: Config, public_url, secure) -> None:  # noqa: ANN001
    app = create_app(config.replace(public_url=public_url))
    services_of(app).store.users.add("desk", PASSWORD, "receptionist", ["front-desk"])
    client = app.test_client()
    response = client.post("/login", data={"username": "desk", "password": PASSWORD,
                                           "csrf_token": csrf_token_of(client)})
    cookie = response.headers["Set-Cookie"]
    assert ("; Secure" in cookie) is secure
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("Strict-Transport-Security" in response.headers) is secure


def test_the_migration_keeps_users_and_gives_receptionists_the_default_desk(
    database_url: str,
) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    store = RecordStore(database_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(VOICE / "records" / "migrations"))
    with store.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0002")
    with store.engine.begin() as connection:
        for name, role in (("jen", "receptionist"), ("max", "manager")):
            connection.execute(
                text("INSERT INTO users (username, password_hash, role, created_at) "
                     "VALUES (:u, 'x', :r, CURRENT_TIMESTAMP)"), {"u": name, "r": role})
    store.migrate()
    by_name = {u["username"]: u for u in store.users.list_all()}
    assert by_name["jen"]["desks"] == ["front-desk"] and by_name["max"]["desks"] == []
    assert store.users.user_for_token("vct_nothing") is None
    store.engine.dispose()
