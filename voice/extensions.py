"""Flask extensions shared by the blueprints (created here, bound in ``create_app``)."""

from flask_sock import Sock

sock = Sock()
