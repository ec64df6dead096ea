"""Seam for safety episodes and clearances (issue 11, SPEC §11.1): not built yet.

The console's Today list, alert queue and patient page ask these functions, so that when
episodes land only this module changes: open episodes rank a patient first on Today, the
queue lists them above alerts, and the patient page shows them with the resolve form
(`resume`, `resume_lower`, `keep_paused`, note) and the clearances for conditions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from service.auth import Principal


def open_episode_counts(session: Session, scope: Select[Any]) -> dict[int, int]:
    """Open safety episodes per patient among the ids `scope` selects (none until issue 11)."""
    del session, scope
    return {}


def open_episodes(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The caller's clinic's open safety episodes, most severe first (none until issue 11)."""
    del session, principal
    return []


def patient_safety(session: Session, principal: Principal, patient_id: int) -> dict[str, Any]:
    """A patient's episodes and clearances for the patient page (empty until issue 11)."""
    del session, principal, patient_id
    return {"episodes": [], "clearances": []}
