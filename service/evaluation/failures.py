"""A rule set that fails for a patient fails only that patient's evaluation.

Whatever goes wrong for one patient - their facts cannot be derived, the rule set raises while
it runs (`rules.RuleRuntimeError`: a value its load-time checks could not foresee, or a bug),
or their stored version no longer compiles - the pipeline records that patient's evaluation
as `failed` with the error, applies nothing for them and goes on with everyone else in the
batch. Their next decision time moves on as
usual, so a broken rule set is retried at the next decision point, not in a loop.

Who is told: the clinic that owns the rule set, through one warning alert in its shared queue
(every clinician of the clinic sees it and any of them can publish a corrected version; the
version's author may be away or gone). One alert per version and kind of failure (stage, rule,
error type), not one per patient per tick: the alert's unique `dedupe_key` lets the database
keep exactly one however many patients, ticks and scheduler processes hit the same failure.
The bundled default belongs to the operators: its alert has no clinic, so admins see it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import rules
from service.alerts.models import ClinicianAlert
from service.rulesets.compiled import CompiledVersion
from service.rulesets.models import RuleSet, RuleSetVersion
from service.sqlutil import insert_for

log = logging.getLogger(__name__)
MAX_MESSAGE = 300


@dataclass(frozen=True)
class Failure:
    """Why one patient's evaluation failed.

    `stage`: `load` (the version does not compile), `facts` (deriving the facts raised) or
    `rules` (the rule set raised while it ran); `rule_id`: the rule that raised, when known.
    """

    stage: str
    error: str
    message: str
    rule_id: str | None = None

    @property
    def kind(self) -> str:
        """What makes two failures the same for alerting: stage, rule and error type."""
        return f"{self.stage}:{self.rule_id or '-'}:{self.error}"

    def record(self) -> dict[str, Any]:
        """The failed evaluation's `error` column."""
        return {
            "stage": self.stage,
            "rule_id": self.rule_id,
            "error": self.error,
            "message": self.message,
        }

    def describe(self) -> str:
        """One line for people: where it failed and what the error said."""
        where = {
            "load": "the version could not be loaded",
            "facts": "the patient's facts could not be computed",
            "rules": f"rule {self.rule_id} failed" if self.rule_id else "the rules failed",
        }[self.stage]
        return f"{where} ({self.error}: {self.message})"


def failure(stage: str, exc: BaseException) -> Failure:
    """A Failure from an exception (message on one line, bounded)."""
    message = " ".join(str(exc).split())[:MAX_MESSAGE] or "no message"
    return Failure(stage, type(exc).__name__[:60], message)


def rule_failure(exc: Exception) -> Failure:
    """The Failure of a rule set that raised while it ran.

    The engine reports a rule's failure as `RuleRuntimeError` naming the rule and the
    expression or template; the error type recorded is the underlying one (e.g.
    OverflowError) when there is one. Anything else the engine raises is kept as it is.
    """
    if not isinstance(exc, rules.RuleRuntimeError):
        return failure("rules", exc)
    cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
    where = " ".join(exc.expression.split())
    if len(where) > 120:
        where = where[:119] + "…"
    what = f"{exc.message} (in {where})" if where else exc.message
    message = " ".join(what.split())[:MAX_MESSAGE] or "no message"
    rule_id = exc.rule_id if exc.rule_id != "?" else None
    return Failure("rules", type(cause).__name__[:60], message, rule_id)


# The columns of an Evaluation row the service writes, and of a failed one (COPY on PostgreSQL
# needs every NOT NULL column).
EVALUATION_COLUMNS = (
    "patient_id",
    "trigger",
    "decision_key",
    "ruleset_version_id",
    "evaluated_at",
    "facts",
    "decision",
    "actions",
)
FAILED_COLUMNS = (*EVALUATION_COLUMNS, "status", "error")


def failed_row(
    patient_id: int,
    why: Failure,
    *,
    version_id: int | None,
    key: str | None,
    trigger: str,
    now: dt.datetime,
    facts: Mapping[str, object] | None,
) -> tuple[Any, ...]:
    """The values of FAILED_COLUMNS: the facts if they were derived, nothing decided, the error."""
    return (patient_id, trigger, key, version_id, now, facts or {}, {}, {}, "failed", why.record())


@dataclass(frozen=True)
class Failed:
    """A failed evaluation as written: whose, which record, which version, why."""

    patient_id: int
    evaluation_id: int
    version: CompiledVersion
    failure: Failure


def notify_owners(session: Session, failed: list[Failed], now: dt.datetime) -> int:
    """Raise one warning alert per failing version and kind of failure; return how many are new.

    Each (version, kind) is logged once per call with the number of patients it hit.
    """
    first: dict[tuple[int | None, str], Failed] = {}
    hits: dict[tuple[int | None, str], int] = {}
    for item in failed:
        group = (item.version.version_id, item.failure.kind)
        first.setdefault(group, item)
        hits[group] = hits.get(group, 0) + 1
    owners = _owners(session, {vid for vid, _ in first if vid is not None})
    created = 0
    for (version_id, kind), item in first.items():
        slug, number, clinic_id = owners.get(version_id, (item.version.ruleset.slug, None, None))
        label = f"{slug} version {number}" if number is not None else f"{slug} (bundled default)"
        log.warning("rule set %s failed for %d patients: %s", label, hits[version_id, kind], kind)
        message = (
            f"Rule set {label} could not be evaluated: {item.failure.describe()}. Each patient "
            "it fails for gets no tips, target changes or alerts from it until a corrected "
            "version is published; their reports and activity are still stored. This "
            "patient's evaluation history shows the error; further failures of this kind "
            "raise no new alert."
        )
        key = f"ruleset-failure:{version_id or 'bundled'}:{kind}"[:200]
        stmt = (
            insert_for(session, ClinicianAlert)
            .values(
                clinic_id=clinic_id,
                patient_id=item.patient_id,
                evaluation_id=item.evaluation_id,
                severity="warning",
                message=message,
                created_at=now,
                dedupe_key=key,
            )
            .on_conflict_do_nothing(index_elements=[ClinicianAlert.dedupe_key])
            .returning(ClinicianAlert.id)
        )
        # Another patient, tick or process may have raised it first: then nothing is added.
        if session.execute(stmt).scalar() is not None:
            created += 1
    return created


def _owners(session: Session, version_ids: set[int]) -> dict[int | None, tuple[str, int, int]]:
    """Version id -> (rule-set slug, version number, owning clinic)."""
    if not version_ids:
        return {}
    rows = session.execute(
        select(RuleSetVersion.id, RuleSet.slug, RuleSetVersion.version, RuleSet.clinic_id)
        .join(RuleSet, RuleSet.id == RuleSetVersion.ruleset_id)
        .where(RuleSetVersion.id.in_(sorted(version_ids)))
    )
    return {vid: (slug, number, clinic) for vid, slug, number, clinic in rows}
