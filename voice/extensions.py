"""Flask extensions shared by the blueprints (created here, bound in ``create_app``).

``sock`` serves the Twilio WebSocket; ``csrf`` (Flask-WTF) guards every form and
console POST; ``limiter`` (Flask-Limiter) throttles logins, in memory by default
and in Redis when ``REDIS_URL`` is set, so every instance counts the same tries.
"""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sock import Sock
from flask_wtf import CSRFProtect

sock = Sock()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
