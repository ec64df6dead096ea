"""The safety facts' inputs for a batch of patients at one moment, in two queries per chunk.

`rules.reference.compute_facts` defines them: the episode open at `now` (opened at or before it,
not closed by then), the last time a clinician closed one (red flags reported at or before it
no longer count), and the conditions cleared at or before `now`. Episodes and clearances are
few per patient, so the rows come back as they are and are reduced here.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.codes import tier_rank
from service.safety.models import Clearance, SafetyEpisode
from service.sqlutil import among, chunks


class SafetyState(NamedTuple):
    """One patient's safety inputs: open episode (since, tier), last closing, cleared codes."""

    episode: tuple[dt.datetime, str] | None = None
    resolved_at: dt.datetime | None = None
    cleared: frozenset[str] = frozenset()


def load_safety(session: Session, ids: list[int], now: dt.datetime) -> dict[int, SafetyState]:
    """Patient id -> SafetyState at `now`, for the patients that have episodes or clearances."""
    episodes: dict[int, tuple[dt.datetime, str]] = {}
    resolved: dict[int, dt.datetime] = {}
    cleared: dict[int, set[str]] = {}
    episode_columns = (
        SafetyEpisode.patient_id,
        SafetyEpisode.opened_at,
        SafetyEpisode.tier,
        SafetyEpisode.closed_at,
    )
    connection = session.connection()
    for chunk in chunks(session, ids):
        rows = connection.execute(
            select(*episode_columns).where(
                among(session, SafetyEpisode.patient_id, chunk), SafetyEpisode.opened_at <= now
            )
        )
        for pid, opened, tier, closed in rows:
            if closed is not None and closed <= now:
                resolved[pid] = max(closed, resolved.get(pid, closed))
                continue
            found = episodes.get(pid)
            if found is None or (tier_rank(tier), opened) > (tier_rank(found[1]), found[0]):
                episodes[pid] = (opened, tier)
        clearances = connection.execute(
            select(Clearance.patient_id, Clearance.condition).where(
                among(session, Clearance.patient_id, chunk), Clearance.cleared_at <= now
            )
        )
        for pid, condition in clearances:
            cleared.setdefault(pid, set()).add(condition)
    return {
        pid: SafetyState(episodes.get(pid), resolved.get(pid), frozenset(cleared.get(pid, ())))
        for pid in episodes.keys() | resolved.keys() | cleared.keys()
    }
