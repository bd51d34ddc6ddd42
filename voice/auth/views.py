"""The login form and logout.

``POST /login`` is a Flask-WTF form (CSRF token required) behind the login
throttle; ``POST /logout`` (POST only, CSRF-checked) ends every login of the
user by bumping their session version, so a copied cookie dies too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from voice.auth import bp
from voice.auth.identity import Person, current_person, stamp_login
from voice.auth.throttle import throttled_login
from voice.metrics import counters
from voice.services import current_services


class LoginForm(FlaskForm):
    """Username and password (with Flask-WTF's CSRF token)."""

    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("console.index")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("console.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
@throttled_login
def login() -> Any:
    """The login form."""
    form = LoginForm()
    if request.method == "GET":
        return render_template("login.html", form=form)
    user = None
    if form.validate_on_submit():
        store = current_services().store
        user = store.users.check_login((form.username.data or "").strip(),
                                       form.password.data or "")
    if user is None:
        counters.incr("auth.logins_failed")
        return render_template("login.html", form=form, error="Wrong username or password."), 401
    session.clear()  # nothing from before the login survives it (session fixation)
    login_user(Person.of(user))
    stamp_login()
    session.permanent = True
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> Any:
    """End this user's logins everywhere and forget this one."""
    person = current_person()
    if person is not None and person.user_id is not None:
        current_services().store.users.end_sessions(person.user_id)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
