"""Guessing passwords: throttling per username and address, no username oracle, weak passwords.

The brute-force tests send the wrong password the way a script would; the
timing test compares known and unknown usernames as a ratio of medians (so a
busy machine slows both alike); the policy test tries passwords people pick.
"""

from __future__ import annotations

import re
import statistics
import time

import pytest
import redis
from conftest import PASSWORD, csrf_token_of

from voice import create_app
from voice.config import Config
from voice.records.passwords import common_passwords, password_problem
from voice.records.users import UserError
from voice.services import services_of


def make_app(database_url: str, **overrides: object):  # noqa: ANN201
    return create_app(Config.for_testing(database_url=database_url, **overrides))


def try_login(client, username: str, password: str):  # noqa: ANN001, ANN201
    token = csrf_token_of(client)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


def test_fifty_wrong_passwords_then_the_right_one_is_still_refused(database_url) -> None:  # noqa: ANN001
    app = make_app(database_url)
    services_of(app).store.users.add("boss", PASSWORD, "manager")
    client = app.test_client()
    codes = [try_login(client, "boss", f"guess-number-{n:03d}").status_code for n in range(50)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    right = try_login(client, "BOSS ", PASSWORD)  # case and spaces do not reset the count
    assert right.status_code == 429
    wait = int(right.headers["Retry-After"])
    assert 1 <= wait <= 61  # the limiter rounds the window up to the next second
    assert re.search(r"Too many failed logins for this username\. Try again in \d+ seconds",
                     right.get_data(as_text=True))
    assert client.get("/console/session").status_code == 401


def test_one_address_trying_many_usernames_is_throttled(database_url) -> None:  # noqa: ANN001
    app = make_app(database_url, login_limit_address="8 per minute")
    client = app.test_client()
    codes = [try_login(client, f"user{n}", "not-the-password").status_code for n in range(12)]
    assert codes[:8] == [401] * 8 and set(codes[8:]) == {429}
    page = try_login(client, "someone-new", "x").get_data(as_text=True)
    assert "from this address" in page


def test_a_right_password_does_not_count_against_the_limit(database_url) -> None:  # noqa: ANN001
    app = make_app(database_url)
    services_of(app).store.users.add("desk", PASSWORD, "receptionist", ["front-desk"])
    for _ in range(8):
        client = app.test_client()
        assert try_login(client, "desk", PASSWORD).status_code == 302


@pytest.mark.redis
def test_the_limit_is_shared_through_redis_across_instances(redis_url, tmp_path) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'voice.db'}"
    first, second = make_app(url, redis_url=redis_url), make_app(url, redis_url=redis_url)
    services_of(first).store.users.add("boss", PASSWORD, "manager")
    for n in range(3):
        assert try_login(first.test_client(), "boss", f"wrong-{n}").status_code == 401
    for n in range(2):
        assert try_login(second.test_client(), "boss", f"wrong-{n}").status_code == 401
    assert try_login(second.test_client(), "boss", PASSWORD).status_code == 429
    keys = redis.Redis.from_url(redis_url).keys("*voice-login*")
    assert keys, "the counts should live in Redis"
    for app in (first, second):
        services_of(app).bus.close()


def test_unknown_usernames_answer_as_slowly_as_known_ones(tmp_path) -> None:  # noqa: ANN001
    """No username oracle: the median time of both answers agrees within a ratio."""
    app = make_app(f"sqlite:///{tmp_path / 'voice.db'}", login_limit_user="1000 per minute",
                   login_limit_address="1000 per minute")
    services_of(app).store.users.add("boss", PASSWORD, "manager")
    client = app.test_client()
    token = csrf_token_of(client)

    def timed(username: str) -> float:
        start = time.perf_counter()
        response = client.post("/login", data={"username": username, "password": "wrong-guess",
                                               "csrf_token": token})
        assert response.status_code == 401
        return time.perf_counter() - start

    timed("boss"), timed("nobody")  # warm both paths
    known, unknown = [], []
    for n in range(9):  # interleaved, so a busy moment slows both
        known.append(timed("boss"))
        unknown.append(timed(f"nobody{n}"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2.0, f"unknown/known = {ratio:.2f} (known {known}, unknown {unknown})"


@pytest.mark.parametrize("password", [
    "short", "password", "12345678", "password1234", "123456789012", "qwertyuiopas",
    "Password1234!", "aaaaaaaaaaaa", "abababababab", "boss-boss-boss-2026",
])
def test_weak_passwords_are_refused(database_url, password) -> None:  # noqa: ANN001
    from voice.records import RecordStore

    store = RecordStore(database_url)
    store.migrate()
    with pytest.raises(UserError):
        store.users.add("boss", password, "manager")
    assert store.users.list_all() == []


def test_the_policy_names_the_problem_and_accepts_a_passphrase() -> None:
    assert "12 characters" in password_problem("short")
    assert "common" in password_problem("password1234")
    assert password_problem("correct-horse-battery") is None
    assert len(common_passwords()) >= 3000
