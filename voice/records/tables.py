"""SQLAlchemy tables for call records, users (desks, API tokens) and follow-ups.

Only ``store.py`` opens sessions on these; everything else sees plain dicts
and dataclasses.  Alembic migrations under ``migrations/`` create them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Timezone-aware now in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    """Someone who logs in: a receptionist or a manager."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Bumped by logout, a password or role change: every cookie naming an older one is dead.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    desks: Mapped[list[UserDesk]] = relationship(
        back_populates="user", order_by="UserDesk.desk", cascade="all, delete-orphan"
    )
    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class UserDesk(Base):
    """One desk a user works (a receptionist sees only her desks' calls)."""

    __tablename__ = "user_desks"
    __table_args__ = (UniqueConstraint("user_id", "desk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    desk: Mapped[str] = mapped_column(String(120))

    user: Mapped[User] = relationship(back_populates="desks")


class ApiToken(Base):
    """A per-user API token; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")


class Call(Base):
    """One phone call (or simulated call) and its outcome."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    stream_sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    from_number: Mapped[str] = mapped_column(String(255), default="")
    to_number: Mapped[str] = mapped_column(String(255), default="")
    desk: Mapped[str] = mapped_column(String(120), default="front-desk", index=True)
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="live", index=True)
    transcribed: Mapped[bool] = mapped_column(Boolean, default=True)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    caller_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    topic: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    peak_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    flag_reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    instance_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    utterances: Mapped[list[UtteranceRow]] = relationship(
        back_populates="call", order_by="UtteranceRow.id", cascade="all, delete-orphan"
    )
    frustration: Mapped[list[FrustrationPoint]] = relationship(
        back_populates="call", order_by="FrustrationPoint.id", cascade="all, delete-orphan"
    )
    prompts: Mapped[list[PromptRow]] = relationship(
        back_populates="call", order_by="PromptRow.id", cascade="all, delete-orphan"
    )
    follow_ups: Mapped[list[FollowUp]] = relationship(
        back_populates="call", order_by="FollowUp.id", cascade="all, delete-orphan"
    )


class UtteranceRow(Base):
    """A final utterance of one speaker, written as it arrives."""

    __tablename__ = "utterances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    speaker: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    t_start: Mapped[float] = mapped_column(Float)
    t_end: Mapped[float] = mapped_column(Float)
    final: Mapped[bool] = mapped_column(Boolean, default=True)
    words: Mapped[list[Any]] = mapped_column(JSON, default=list)
    audio: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    call: Mapped[Call] = relationship(back_populates="utterances")


class FrustrationPoint(Base):
    """One point of the call's frustration curve."""

    __tablename__ = "frustration_points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    t: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(20))
    trend: Mapped[float] = mapped_column(Float, default=0.0)
    rising: Mapped[bool] = mapped_column(Boolean, default=False)
    utterance_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)

    call: Mapped[Call] = relationship(back_populates="frustration")


class PromptRow(Base):
    """A prompt card shown during the call and what the receptionist did with it."""

    __tablename__ = "prompts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    prompt_id: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    why: Mapped[str] = mapped_column(Text, default="")
    t: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20), default="shown")
    acted_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    acted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    call: Mapped[Call] = relationship(back_populates="prompts")


class FollowUp(Base):
    """The follow-up item filed when a call ends."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    assignee: Mapped[str | None] = mapped_column(String(120), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    call: Mapped[Call] = relationship(back_populates="follow_ups")
