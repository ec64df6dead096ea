"""Every model, imported in one place so the metadata (and Alembic) sees the whole schema."""

from __future__ import annotations

from service.accounts.models import Clinic, Invite, LoginThrottle, User
from service.activity.models import DailyActivity, IntradaySteps, WalkingSession
from service.alerts.models import ClinicianAlert
from service.audit.models import AuditEvent
from service.connections.models import (
    OAuthState,
    QuarantinedRecord,
    WearableConnection,
    WebhookReceipt,
)
from service.console.models import ConsoleSession
from service.db import Base
from service.delivery.models import PushDelivery
from service.evaluation.models import Evaluation, RuleFiring
from service.fhir.models import FhirExport, FhirExportPart
from service.idempotency.models import IdempotencyKey
from service.outcomes.models import DecisionRecord
from service.patients.models import Device, PatientProfile
from service.plans.models import Plan, PlanChange
from service.questionnaires.models import ClinicInstrument, Questionnaire, QuestionnaireResponse
from service.ratelimit import RateLimitCounter
from service.reports.models import ExerciseSession, PainReport
from service.rulesets.models import RuleSet, RuleSetVersion
from service.safety.models import Clearance, EpisodeReview, SafetyEpisode
from service.tips.models import Tip

__all__ = [
    "AuditEvent",
    "Base",
    "Clearance",
    "Clinic",
    "ClinicInstrument",
    "ClinicianAlert",
    "ConsoleSession",
    "DailyActivity",
    "DecisionRecord",
    "Device",
    "EpisodeReview",
    "Evaluation",
    "ExerciseSession",
    "FhirExport",
    "FhirExportPart",
    "IdempotencyKey",
    "IntradaySteps",
    "Invite",
    "LoginThrottle",
    "OAuthState",
    "PainReport",
    "PatientProfile",
    "Plan",
    "PlanChange",
    "PushDelivery",
    "QuarantinedRecord",
    "Questionnaire",
    "QuestionnaireResponse",
    "RateLimitCounter",
    "RuleFiring",
    "RuleSet",
    "RuleSetVersion",
    "SafetyEpisode",
    "Tip",
    "User",
    "WalkingSession",
    "WearableConnection",
    "WebhookReceipt",
]
