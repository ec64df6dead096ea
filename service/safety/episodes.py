"""Safety episodes as evaluations leave them: written in the evaluation's own transaction.

A decision says what it does to the patient's episode (`rules.Decision.episode`): `open` a new
one, `escalate` the open one to a more severe tier, or `attach` a flagged report to it. Only a
clinician closes an episode (`service.safety.service.resolve`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules import Decision
from rules.codes import tier_rank
from service.safety.models import OPEN, SafetyEpisode
from service.sqlutil import among, chunks, insert_for

EpisodeWrite = tuple[int, int | None, Decision]
"""(patient id, the evaluation's id, its decision) for a decision whose `episode` is set."""


def record_changes(session: Session, writes: Sequence[EpisodeWrite], now: dt.datetime) -> None:
    """Open, escalate or attach to each patient's episode as their decision says."""
    writes = [w for w in writes if w[2].episode is not None]
    if not writes:
        return
    ids = sorted({pid for pid, _, _ in writes})
    found: dict[int, SafetyEpisode] = {}
    for chunk in chunks(session, ids):
        query = select(SafetyEpisode).where(
            among(session, SafetyEpisode.patient_id, chunk), SafetyEpisode.closed_at.is_(None)
        )
        found.update((episode.patient_id, episode) for episode in session.scalars(query))
    opens: list[dict[str, Any]] = []
    for pid, evaluation_id, decision in writes:
        change = decision.episode
        assert change is not None
        episode = found.get(pid)
        if episode is None:
            opens.append(
                {
                    "patient_id": pid,
                    "tier": change.tier,
                    "flags": sorted(change.flags),
                    "opened_at": now,
                    "evaluation_id": evaluation_id,
                    "reports": 0,
                }
            )
            continue
        if tier_rank(change.tier) > tier_rank(episode.tier):
            episode.tier, episode.escalated_at = change.tier, now
        episode.flags = sorted(set(episode.flags) | change.flags)
        if decision.trigger == "pain_report":
            episode.reports += 1
            episode.last_report_at = now
    if opens:
        # Another evaluation of the same patient may have opened one since we looked: the
        # partial unique index keeps theirs and this insert adds nothing.
        statement = insert_for(session, SafetyEpisode).values(opens)
        session.execute(
            statement.on_conflict_do_nothing(index_elements=["patient_id"], index_where=OPEN)
        )
