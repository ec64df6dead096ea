"""Wearable sync (owned by the wearable-integrations issue).

PLACEHOLDER until that issue lands: the signatures are the contract the scheduler calls.
"""

from __future__ import annotations

import datetime as dt


def sync_due_connections(now: dt.datetime | None = None, limit: int = 200) -> int:
    """Claim and sync connections whose next sync time has passed; return how many synced."""
    return 0


def refresh_expiring_tokens(now: dt.datetime | None = None, within_s: int = 900) -> int:
    """Refresh access tokens that expire soon; return how many refreshed."""
    return 0
