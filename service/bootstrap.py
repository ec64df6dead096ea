"""First-run setup: default rule set for every clinic, demo data (evaluation-pipeline issue)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.accounts.models import Clinic
from service.config import Settings


def ensure_clinic_defaults(session: Session, clinic: Clinic) -> None:
    """Install and publish the default rule set for a clinic (idempotent)."""
    # Filled in by the evaluation pipeline: installs rules/defaults/low_back_walking.yaml.


def run(settings: Settings) -> None:
    """Install defaults for every clinic and seed the demo clinic once."""
