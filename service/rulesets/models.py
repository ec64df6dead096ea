"""Rule sets and their immutable versions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk, utcnow


class RuleSet(Base):
    """A clinic's named rule set; patients follow its published version."""

    __tablename__ = "rulesets"
    __table_args__ = (UniqueConstraint("clinic_id", "slug"),)

    id: Mapped[IdPk]
    clinic_id: Mapped[int] = mapped_column(BigId, ForeignKey("clinics.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    published_version: Mapped[int | None]
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RuleSetVersion(Base):
    """One uploaded YAML text; never changed once written."""

    __tablename__ = "ruleset_versions"
    __table_args__ = (UniqueConstraint("ruleset_id", "version"),)

    id: Mapped[IdPk]
    ruleset_id: Mapped[int] = mapped_column(BigId, ForeignKey("rulesets.id", ondelete="CASCADE"))
    version: Mapped[int]
    yaml_text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_at: Mapped[dt.datetime | None]
