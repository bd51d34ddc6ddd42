"""The password policy: long enough, not a common password, not the username.

``password_problem`` says in one sentence what is wrong with a password, or
returns None when it is acceptable.  The common-password list is the data file
``common_passwords.txt`` beside this module (a few thousand entries, see its
header); a password is refused when it, or it with trailing digits and symbols
removed (``password1234!``), is on the list, and when it contains a username of
four or more characters.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

MIN_LENGTH = 12
COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
_TAIL = string.digits + string.punctuation + " "


@cache
def common_passwords() -> frozenset[str]:
    """The built-in list of common passwords, lower-cased."""
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.lower() for line in lines if line and not line.startswith("# "))


def password_problem(password: str, username: str = "") -> str | None:
    """What makes ``password`` unacceptable for ``username``, or None."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    lowered = password.lower()
    common = common_passwords()
    if lowered in common or lowered.rstrip(_TAIL) in common:
        return "that password is on the list of common passwords: choose another"
    if len(set(lowered)) < 4:
        return "the password repeats too few characters: choose another"
    if len(username) >= 4 and username.lower() in lowered:
        return "the password must not contain the username"
    return None
