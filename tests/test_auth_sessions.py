"""Logins that can be revoked: each test replays a cookie the way an attacker would.

A cookie copied before logout, removal, demotion or a password change must stop
working; so must a cookie forged with the secret key for a user who does not
exist, and one past its idle or absolute lifetime.  Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time

import pytest
from conftest import PASSWORD, csrf_token_of, login, logout


@pytest.fixture
def app(auth_app):  # noqa: ANN001, ANN201
    """conftest's ``auth_app``: each database, quick SSE re-checks."""
    return auth_app


def copy_of(app, client):  # noqa: ANN001, ANN201
    """A second client holding the same session cookie (a stolen or copied cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def logged_in(client) -> bool:  # noqa: ANN001
    return client.get("/console/session").status_code == 200


def test_a_cookie_copied_before_logout_is_dead_after_it(app, store) -> None:  # noqa: ANN001
    victim = app.test_client()
    login(victim, store, "desk")
    thief = copy_of(app, victim)
    assert logged_in(thief)
    logout(victim)
    assert not logged_in(victim) and not logged_in(thief)
    assert thief.get("/console").status_code == 302


def test_logout_is_post_only_and_needs_the_csrf_token(app, store) -> None:  # noqa: ANN001
    client = app.test_client()
    login(client, store, "desk")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # a cross-site form cannot log her out
    assert logged_in(client)


def test_removing_a_user_ends_her_logins(app, store) -> None:  # noqa: ANN001
    client = app.test_client()
    login(client, store, "desk")
    assert store.users.remove("desk")
    assert not logged_in(client)
    assert client.get("/console").status_code == 302


def test_a_demoted_manager_loses_review_and_the_api_at_once(app, store) -> None:  # noqa: ANN001
    client = app.test_client()
    login(client, store, "boss", "manager")
    assert client.get("/review").status_code == 200
    assert client.get("/api/calls").status_code == 200
    store.users.add("boss", PASSWORD, "receptionist", ["front-desk"])
    assert client.get("/review").status_code == 302  # the old login is gone
    assert client.get("/api/calls").status_code == 401
    login(client, store, "boss", "receptionist")
    assert client.get("/review").status_code == 403


def test_a_password_change_ends_existing_logins(app, store) -> None:  # noqa: ANN001
    client = app.test_client()
    login(client, store, "desk")
    store.users.add("desk", "a-brand-new-passphrase", "receptionist", ["front-desk"])
    assert not logged_in(client)


def test_a_cookie_forged_for_a_user_who_does_not_exist_is_refused(app, store) -> None:  # noqa: ANN001
    login(app.test_client(), store, "boss", "manager")
    sign = app.session_interface.get_signing_serializer(app).dumps
    now = time.time()
    forgeries = [
        {"_user_id": "999:1", "_fresh": True, "login_at": now, "seen_at": now},
        {"_user_id": "1:99", "_fresh": True, "login_at": now, "seen_at": now},  # a wrong version
        {"_user_id": "1:1", "_fresh": True},  # no login time
        {"user": {"username": "ghost", "role": "manager"}},  # the old cookie shape
    ]
    for forged in forgeries:
        client = app.test_client()
        client.set_cookie("session", sign(forged))
        assert client.get("/review").status_code == 302, forged
        assert client.get("/api/calls").status_code == 401, forged


@pytest.mark.parametrize("field, age_s", [("seen_at", 61 * 60), ("login_at", 13 * 3600)])
def test_idle_and_absolute_lifetimes_end_a_login(app, store, field, age_s) -> None:  # noqa: ANN001
    client = app.test_client()
    login(client, store, "desk")
    with client.session_transaction() as session:
        session[field] = time.time() - age_s
        if field == "login_at":
            session["seen_at"] = time.time()
    assert not logged_in(client)


def test_an_open_event_stream_ends_when_the_login_is_revoked(app, store) -> None:  # noqa: ANN001
    client = app.test_client()
    login(client, store, "desk")
    response = client.get("/events", buffered=False)
    assert response.status_code == 200
    chunks = iter(response.response)
    for _ in range(3):  # streaming (snapshot, heartbeats) while the login is good
        next(chunks)
    store.users.remove("desk")
    deadline = time.monotonic() + 5
    with pytest.raises(StopIteration):
        while time.monotonic() < deadline:
            next(chunks)
    assert time.monotonic() < deadline, "the stream kept going for a removed user"
    response.close()


def test_login_without_the_csrf_token_is_refused(app, store) -> None:  # noqa: ANN001
    """A cross-origin login POST (login CSRF) gets 400 and logs nobody in."""
    store.users.add("desk", PASSWORD, "receptionist", ["front-desk"])
    client = app.test_client()
    response = client.post("/login", data={"username": "desk", "password": PASSWORD},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 400
    assert b"reload the page" in response.data
    assert not logged_in(client)
    forged = client.post("/login", data={"username": "desk", "password": PASSWORD,
                                         "csrf_token": "made-up"})
    assert forged.status_code == 400 and not logged_in(client)
    good = client.post("/login", data={"username": "desk", "password": PASSWORD,
                                       "csrf_token": csrf_token_of(client)})
    assert good.status_code == 302 and logged_in(client)
