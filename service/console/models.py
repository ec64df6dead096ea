"""Signed-in clinician console sessions (the browser keeps only a random id in its cookie)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, utcnow


class ConsoleSession(Base):
    """One browser signed in to the console; deleting the row signs it out."""

    __tablename__ = "console_sessions"

    # SHA-256 of the random session id: a leaked table cannot be replayed as cookies.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The user's token_version at sign-in: revoking their tokens signs the console out too.
    token_version: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
