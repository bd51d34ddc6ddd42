"""Configuration: the one place that reads the environment.

``Config.from_env()`` reads every setting the service knows (and a ``.env`` file
when present), applies safe fallbacks and refuses bad values with a
``ConfigError`` that names the variable, so a mistake stops start-up instead of
surfacing mid-call.  Command-line flags change a ``Config`` with ``replace``;
they never write the environment.  The few other things that touch the
environment live here too: ``ClientSettings`` (the defaults of the client tools,
which must not fail on a server setting they do not use),
``sentiment_model_from_env`` (for ``voice score``) and ``use_offline_model_hub``
(which must run before ``transformers`` is imported).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


def _flag(env: dict[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def _number(env: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} must be between {low:g} and {high:g}")
    return value


def _url(env: dict[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    parsed = urlparse(raw)
    if parsed.scheme.split("+")[0] not in schemes or not (parsed.netloc or parsed.path):
        raise ConfigError(f"{name}={raw!r} is not a {'/'.join(schemes)} URL")
    return raw


def normalise_database_url(url: str) -> str:
    """The SQLAlchemy URL for ``url``: ``postgres://`` and ``postgresql://`` use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _database_url(env: dict[str, str]) -> str:
    url = _url(env, "DATABASE_URL", ("sqlite", "postgresql", "postgres"))
    return normalise_database_url(url) if url else "sqlite:///voice.db"


def _setting(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _sentiment_model(env: Mapping[str, str]) -> str | None:
    return _setting(env, "VOICE_SENTIMENT_MODEL") or None


def _timezone(env: dict[str, str]) -> str:
    raw = (env.get("VOICE_TIMEZONE") or "").strip() or "UTC"
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"VOICE_TIMEZONE={raw!r} is not an IANA time zone (e.g. America/Chicago)"
        ) from None
    return raw


def _rate(env: dict[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a rate limit (like '5 per minute;20 per hour')"
        ) from None
    return raw


def _redact_patterns(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """``VOICE_REDACT_PATTERNS``: ``label=regex`` entries, one per line or split by ``;;``."""
    import re

    raw = env.get("VOICE_REDACT_PATTERNS") or ""
    patterns = []
    for entry in re.split(r"\n|;;", raw):
        if not entry.strip():
            continue
        label, sep, regex = entry.strip().partition("=")
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", label.strip()) or not regex:
            raise ConfigError(
                f"VOICE_REDACT_PATTERNS entry {entry.strip()!r} must read label=regex "
                "(label in lower-case letters, digits, _)"
            )
        try:
            re.compile(regex)
        except re.error as exc:
            raise ConfigError(f"VOICE_REDACT_PATTERNS {label}: bad regex: {exc}") from None
        patterns.append((label.strip(), regex))
    return tuple(patterns)


def _desk_number(env: dict[str, str]) -> str:
    raw = (env.get("VOICE_DESK_NUMBER") or "").strip()
    if not raw:
        return ""
    if raw.startswith("client:"):
        if len(raw) == len("client:"):
            raise ConfigError("VOICE_DESK_NUMBER='client:' needs an identity after 'client:'")
        return raw
    digits = raw.lstrip("+").replace(" ", "").replace("-", "")
    if not digits.isdigit() or len(digits) < 3:
        raise ConfigError(
            f"VOICE_DESK_NUMBER={raw!r} is neither a phone number (+15551234567) "
            "nor client:<identity>"
        )
    return raw


@dataclass(frozen=True)
class Config:
    """Every setting of the service; build with ``from_env`` or ``for_testing``."""

    twilio_auth_token: str = ""
    public_url: str | None = None
    desk_number: str = ""
    desk_name: str = "front-desk"
    vosk_model_path: str | None = None
    models_dir: Path = REPO_ROOT / "models"
    prompts_dir: Path = REPO_ROOT / "prompts"
    database_url: str = "sqlite:///voice.db"
    redis_url: str | None = None
    api_token: str = ""
    secret_key: str = ""  # empty: a random key is made (logins then end at a restart)
    secret_key_generated: bool = False  # set when the key above was made up, not configured
    sentiment_model: str | None = None
    insecure_dev: bool = False
    load_speech_model: bool = True
    load_sentiment_model: bool = True
    max_frame_bytes: int = 64 * 1024
    asr_queue_chunks: int = 1500
    decode_threads: int = 0  # 0: one decoding thread per core
    asr_lag_warn_s: float = 2.0
    asr_partial_interval_s: float = 0.2
    asr_vad_gate: bool = True
    asr_end_silence_s: float = 0.5  # silence after speech that ends a turn
    asr_graph_reset_s: float = 0.0  # rebuild a reused recognizer's graph after this much audio
    header_timeout_s: float = 10.0
    stream_start_timeout_s: float = 5.0
    stream_threads: int = 256
    max_connections: int = 2000
    events_per_login: int = 4
    live_view_window_s: float = 600.0
    max_request_bytes: int = 1 << 20
    max_scenario_bytes: int = 256 * 1024
    bus_buffer_events: int = 10_000
    log_level: str = "INFO"
    timezone: str = "UTC"
    retention_days: int = 90
    redact_patterns: tuple[tuple[str, str], ...] = ()
    demo: bool = False
    demo_speed: float = 1.0
    session_idle_minutes: float = 60.0
    session_hours: float = 12.0
    login_limit_user: str = "5 per minute;20 per hour"
    login_limit_address: str = "30 per 10 minutes"
    metrics_token: str = ""
    metrics_loopback: bool = True
    heartbeat_s: float = 30.0
    stale_call_s: float = 120.0
    workers: int = 1
    torch_threads: int = 1
    threads: int = 32
    testing: bool = False

    def __post_init__(self) -> None:
        if not self.secret_key:
            object.__setattr__(self, "secret_key", secrets.token_hex(16))
            object.__setattr__(self, "secret_key_generated", True)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, dotenv: bool = True) -> Config:
        """Read the configuration from ``environ`` (default ``os.environ`` plus ``.env``)."""
        if environ is None:
            if dotenv:
                from dotenv import load_dotenv

                load_dotenv(Path.cwd() / ".env", override=False)
            environ = dict(os.environ)
        env = environ
        log_level = (env.get("VOICE_LOG_LEVEL") or "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(
                f"VOICE_LOG_LEVEL={log_level!r} must be DEBUG, INFO, WARNING or ERROR"
            )
        vosk_path = (env.get("VOSK_MODEL_PATH") or "").strip() or None
        if vosk_path and not Path(vosk_path).is_dir():
            raise ConfigError(f"VOSK_MODEL_PATH={vosk_path!r} is not a folder")
        public_url = _url(env, "VOICE_PUBLIC_URL", ("http", "https"))
        redis_url = _url(env, "REDIS_URL", ("redis", "rediss", "unix"))
        heartbeat_s = _number(env, "VOICE_HEARTBEAT_S", 30.0, 0.2, 3600.0)
        stale_call_s = _number(env, "VOICE_STALE_CALL_S", 120.0, 1.0, 86400.0)
        if stale_call_s < 2 * heartbeat_s:
            raise ConfigError(f"VOICE_STALE_CALL_S={stale_call_s:g} must be at least twice "
                              f"VOICE_HEARTBEAT_S={heartbeat_s:g}, or live calls of a healthy "
                              "instance would be closed between two heartbeats")
        workers = int(_number(env, "VOICE_WORKERS", 1, 1, 64))
        if workers > 1 and not redis_url:
            raise ConfigError(f"VOICE_WORKERS={workers} needs REDIS_URL: each worker is an "
                              "instance, and instances reach each other over Redis")
        if workers > 1 and not env.get("PROMETHEUS_MULTIPROC_DIR"):
            raise ConfigError(f"VOICE_WORKERS={workers} needs PROMETHEUS_MULTIPROC_DIR (an "
                              "empty folder) so /metrics adds up every worker's numbers")
        return cls(
            twilio_auth_token=_setting(env, "TWILIO_AUTH_TOKEN"),
            public_url=public_url.rstrip("/") if public_url else None,
            desk_number=_desk_number(env),
            desk_name=(env.get("VOICE_DESK_NAME") or "front-desk").strip(),
            vosk_model_path=vosk_path,
            models_dir=Path(env.get("VOICE_MODELS_DIR") or REPO_ROOT / "models"),
            prompts_dir=Path(env.get("VOICE_PROMPTS_DIR") or REPO_ROOT / "prompts"),
            database_url=_database_url(env),
            redis_url=redis_url,
            api_token=_setting(env, "VOICE_API_TOKEN"),
            secret_key=_setting(env, "VOICE_SECRET_KEY"),
            sentiment_model=_sentiment_model(env),
            insecure_dev=_flag(env, "VOICE_INSECURE_DEV"),
            load_speech_model=_flag(env, "VOICE_LOAD_SPEECH_MODEL", True),
            load_sentiment_model=_flag(env, "VOICE_LOAD_SENTIMENT_MODEL", True),
            max_frame_bytes=int(_number(env, "VOICE_MAX_FRAME_BYTES", 64 * 1024, 1024, 16 << 20)),
            asr_queue_chunks=int(_number(env, "VOICE_ASR_QUEUE_CHUNKS", 1500, 10, 1_000_000)),
            decode_threads=int(_number(env, "VOICE_DECODE_THREADS", 0, 0, 256)),
            asr_lag_warn_s=_number(env, "VOICE_ASR_LAG_WARN_S", 2.0, 0.1, 600.0),
            asr_partial_interval_s=_number(env, "VOICE_ASR_PARTIAL_INTERVAL_S", 0.2, 0.0, 10.0),
            asr_vad_gate=_flag(env, "VOICE_ASR_VAD_GATE", True),
            asr_end_silence_s=_number(env, "VOICE_ASR_END_SILENCE_S", 0.5, 0.2, 5.0),
            asr_graph_reset_s=_number(env, "VOICE_ASR_GRAPH_RESET_S", 0.0, 0.0, 86400.0),
            header_timeout_s=_number(env, "VOICE_HEADER_TIMEOUT_S", 10.0, 1.0, 300.0),
            stream_start_timeout_s=_number(env, "VOICE_STREAM_START_TIMEOUT_S", 5.0, 0.5, 120.0),
            stream_threads=int(_number(env, "VOICE_STREAM_THREADS", 256, 4, 4096)),
            max_connections=int(_number(env, "VOICE_MAX_CONNECTIONS", 2000, 16, 100_000)),
            events_per_login=int(_number(env, "VOICE_EVENTS_PER_LOGIN", 4, 1, 1000)),
            live_view_window_s=_number(env, "VOICE_LIVE_VIEW_WINDOW_S", 600.0, 0.0, 86400.0),
            max_request_bytes=int(_number(env, "VOICE_MAX_REQUEST_BYTES", 1 << 20, 1024,
                                          1 << 30)),
            max_scenario_bytes=int(_number(env, "VOICE_MAX_SCENARIO_BYTES", 256 * 1024, 1024,
                                           64 << 20)),
            bus_buffer_events=int(_number(env, "VOICE_BUS_BUFFER_EVENTS", 10_000, 10,
                                          10_000_000)),
            log_level=log_level,
            timezone=_timezone(env),
            retention_days=int(_number(env, "VOICE_RETENTION_DAYS", 90, 0, 36500)),
            redact_patterns=_redact_patterns(env),
            demo=_flag(env, "VOICE_DEMO"),
            demo_speed=_number(env, "VOICE_DEMO_SPEED", 1.0, 0.1, 100.0),
            session_idle_minutes=_number(env, "VOICE_SESSION_IDLE_MINUTES", 60.0, 10.0, 24 * 60),
            session_hours=_number(env, "VOICE_SESSION_HOURS", 12.0, 0.1, 24 * 31),
            login_limit_user=_rate(env, "VOICE_LOGIN_LIMIT_USER", "5 per minute;20 per hour"),
            login_limit_address=_rate(env, "VOICE_LOGIN_LIMIT_ADDRESS", "30 per 10 minutes"),
            metrics_token=(env.get("VOICE_METRICS_TOKEN") or "").strip(),
            metrics_loopback=_flag(env, "VOICE_METRICS_LOOPBACK", True),
            heartbeat_s=heartbeat_s,
            stale_call_s=stale_call_s,
            workers=workers,
            torch_threads=int(_number(env, "VOICE_TORCH_THREADS", 1, 1, 256)),
            threads=int(_number(env, "VOICE_THREADS", 32, 2, 1024)),
        )

    @classmethod
    def for_testing(cls, **overrides: Any) -> Config:
        """A config for tests: in-memory-ish defaults, no models unless asked."""
        base = cls(
            twilio_auth_token="test-auth-token",
            public_url="https://coach.example.com",
            desk_number="+15550100",
            database_url="sqlite://",
            api_token="test-api-token",
            secret_key="test-secret",
            load_speech_model=False,
            load_sentiment_model=False,
            testing=True,
        )
        return base.replace(**overrides)

    def replace(self, **overrides: Any) -> Config:
        """A copy with some settings changed (unknown names are an error)."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return replace(self, **overrides)

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies get the ``Secure`` flag (the public URL is https)."""
        return bool(self.public_url and self.public_url.startswith("https://"))

    @property
    def webhooks_open(self) -> bool:
        """Whether unsigned Twilio requests are accepted (development only)."""
        return not self.twilio_auth_token and self.insecure_dev


@dataclass(frozen=True)
class ClientSettings:
    """The environment's defaults for the client tools (``voice simulate``).

    Read apart from ``Config`` so a client on an operator's laptop does not stop
    over a server setting (a database URL, say) that it never uses.
    """

    api_token: str = ""
    twilio_auth_token: str = ""
    public_url: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientSettings:
        """Read ``VOICE_API_TOKEN``, ``TWILIO_AUTH_TOKEN`` and ``VOICE_PUBLIC_URL``."""
        env = os.environ if environ is None else environ
        return cls(
            api_token=_setting(env, "VOICE_API_TOKEN"),
            twilio_auth_token=_setting(env, "TWILIO_AUTH_TOKEN"),
            public_url=_setting(env, "VOICE_PUBLIC_URL"),
        )


def sentiment_model_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """``VOICE_SENTIMENT_MODEL`` alone (``voice score`` needs no other setting)."""
    return _sentiment_model(os.environ if environ is None else environ)


def use_offline_model_hub() -> None:
    """Keep Hugging Face libraries off the network (unless the operator said otherwise).

    Call before ``transformers`` is first imported: it reads ``HF_HUB_OFFLINE``
    and ``TRANSFORMERS_OFFLINE`` at import time.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def prometheus_multiprocess() -> bool:
    """Whether metrics are kept for several worker processes (``PROMETHEUS_MULTIPROC_DIR``).

    prometheus_client reads the variable itself when it is imported; ``voice.metrics``
    asks here whether it did.
    """
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def platform_bind(default_port: int = 5000) -> str:
    """The address a platform's process manager expects (``$PORT``, as in a Procfile)."""
    return f"0.0.0.0:{os.environ.get('PORT', str(default_port))}"
