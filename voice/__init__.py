"""The front-desk call coach: ``create_app`` builds the Flask service.

The factory reads the configuration, opens the records store (migrating it and
closing calls a crash left open), picks the bus, loads the speech model, the
sentiment model and the playbook (each may be missing: the service still starts
and ``/healthz`` says what is absent), and registers the blueprints.
"""

from __future__ import annotations

import atexit
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask

from voice import errors, logsafe
from voice.config import Config

if TYPE_CHECKING:
    from voice.services import Services

log = logging.getLogger("voice")


def create_app(config: Config | None = None, **services_overrides: Any) -> Flask:
    """Build the app; ``services_overrides`` replace loaded parts (tests use fakes)."""
    from voice.auth import init_auth
    from voice.extensions import sock
    from voice.services import build_services, install

    config = config or Config.from_env()
    logsafe.install(config.log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=config.secret_key,
        TESTING=config.testing,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.session_hours),
        # The transport allows 4x the frame limit so a merely oversized frame is skipped
        # (and counted) by the stream handler instead of closing the call's socket.
        SOCK_SERVER_OPTIONS={"ping_interval": 25, "max_message_size": 4 * config.max_frame_bytes},
    )

    services = build_services(config, **services_overrides)
    if not config.testing and config.secret_key_generated:
        log.warning("VOICE_SECRET_KEY is unset: logins last only until the next restart "
                    "(run `voice init` to write one to .env)")
    if not config.testing and not services.store.users.list_all():
        log.warning("no logins exist yet: run `voice init` (creates a manager) or "
                    "`voice users add NAME --role receptionist`")
    install(app, services)
    if not config.twilio_auth_token:
        if config.insecure_dev:
            log.warning("TWILIO_AUTH_TOKEN is unset and VOICE_INSECURE_DEV=1: accepting "
                        "UNSIGNED Twilio requests (development only)")
        else:
            log.warning("TWILIO_AUTH_TOKEN is unset: Twilio webhooks and streams are refused "
                        "(set it, or VOICE_INSECURE_DEV=1 for local development)")

    sock.init_app(app)
    init_auth(app, config)
    _register_blueprints(app)
    errors.init_app(app, config.max_request_bytes)
    if config.demo:
        _start_demo(services)
    if not config.testing:
        services.calls.start_heartbeat()
        from voice.metrics import GaugeRefresher

        GaugeRefresher(services).start()
        atexit.register(services.close)
        from voice.records.retention import DailyPurge

        DailyPurge(services.store, config.retention_days).start()
    return app


def _start_demo(services: Services) -> None:
    from voice.scenarios.player import start_demo_loop
    from voice.scenarios.script import SCENARIO_DIR

    scenario = SCENARIO_DIR / "billing_dispute.yaml"
    start_demo_loop(services, scenario, services.config.demo_speed)
    log.info("demo mode: looping %s on desk %s (simulated calls are marked as such)",
             scenario.name, services.config.desk_name)


def _register_blueprints(app: Flask) -> None:
    from voice import api, auth, console, followups, health, review
    from voice import twilio as twilio_ingress

    app.register_blueprint(auth.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(twilio_ingress.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(followups.bp)
    app.register_blueprint(api.bp)
