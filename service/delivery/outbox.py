"""The push outbox (owned by the delivery issue).

PLACEHOLDER until tip delivery lands: `enqueue` is the contract the evaluation pipeline calls,
in the same transaction as the tips, right after flushing them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from service.tips.models import Tip


def enqueue(session: Session, tips: Sequence[Tip], now: dt.datetime) -> int:
    """Write one pending delivery per (tip, registered device); return how many."""
    return 0
