"""A stored patient's safety records in a simulation history (`service.rulesets.history`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules import reference
from service.safety.models import Clearance, EpisodeReview, SafetyEpisode


def add_safety(
    session: Session, history: reference.History, patient_id: int, first: dt.datetime
) -> None:
    """Add clearances, the episodes opened before `first`, and the decisions from `first` on.

    From `first` the simulation opens its own episodes from the reports and applies the
    clinicians' decisions (as `resolutions`) at their times, as the service did.
    """
    for at, condition in session.execute(
        select(Clearance.cleared_at, Clearance.condition).where(Clearance.patient_id == patient_id)
    ):
        history.clearances.append(reference.Clearance(at, condition))
    episodes = session.scalars(
        select(SafetyEpisode)
        .where(SafetyEpisode.patient_id == patient_id)
        .order_by(SafetyEpisode.opened_at, SafetyEpisode.id)
    )
    for episode in episodes:
        if episode.opened_at < first:
            closed = episode.closed_at if episode.closed_at and episode.closed_at < first else None
            history.episodes.append(
                reference.SafetyEpisode(
                    episode.opened_at, episode.tier, frozenset(episode.flags), closed_at=closed
                )
            )
    reviews = session.execute(
        select(EpisodeReview.decided_at, EpisodeReview.decision, EpisodeReview.daily_target)
        .join(SafetyEpisode, SafetyEpisode.id == EpisodeReview.episode_id)
        .where(SafetyEpisode.patient_id == patient_id, EpisodeReview.decided_at >= first)
        .order_by(EpisodeReview.decided_at, EpisodeReview.id)
    )
    for at, decision, target in reviews:
        history.resolutions.append(reference.Resolution(at, decision, target))
