"""Rule-set management use cases: validate, upload immutable versions, publish, simulate."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import rules
from rules.history import parse_history
from service.accounts.auth import Principal
from service.accounts.models import Clinic
from service.audit.service import record
from service.errors import Conflict, Invalid, NotFound, field_error
from service.patients.access import patient_in_scope
from service.questionnaires.instruments import instrument_ids
from service.rulesets.compiled import compile_version
from service.rulesets.examples import example_history
from service.rulesets.history import load_history
from service.rulesets.models import RuleSet, RuleSetVersion

DEFAULT_SLUG = "low-back-walking"


@dataclass(frozen=True)
class Checked:
    """A rule set that loaded cleanly, with advice that does not block it."""

    ruleset: rules.RuleSet
    warnings: list[dict[str, str]]


def check(text: str, instruments: Collection[str] | None = None) -> Checked:
    """Load and validate YAML; raise Invalid with `{line, column, path, message}` errors.

    `instruments`: the questionnaires an `ask` may name (the built-in ones when None).
    """
    try:
        ruleset = rules.load_ruleset(text, source="upload", instruments=instruments)
    except rules.RuleSetError as exc:
        errors = [issue.as_dict() for issue in exc.errors]
        first = exc.errors[0] if exc.errors else None
        detail = "invalid rule set"
        if first is not None:
            where = f"{first.path}: " if first.path else ""
            detail = f"line {first.line}, column {first.column}: {where}{first.message}"
        raise Invalid(detail, errors=errors) from None
    return Checked(ruleset, rules.warnings(ruleset))


def _status(ruleset: RuleSet, version: RuleSetVersion) -> str:
    if ruleset.published_version == version.version:
        return "published"
    return "retired" if version.published_at is not None else "draft"


def version_view(ruleset: RuleSet, version: RuleSetVersion, text: bool = False) -> dict[str, Any]:
    """A version as the API shows it."""
    out: dict[str, Any] = {
        "ruleset": ruleset.slug,
        "version": version.version,
        "status": _status(ruleset, version),
        "author_id": version.author_id,
        "created_at": version.created_at,
        "published_at": version.published_at,
    }
    if text:
        out["yaml"] = version.yaml_text
    return out


def _find(session: Session, clinic_id: int | None, slug: str) -> RuleSet:
    found = session.scalar(
        select(RuleSet).where(RuleSet.clinic_id == clinic_id, RuleSet.slug == slug)
    )
    if found is None:
        raise NotFound(f"no rule set '{slug}' in your clinic")
    return found


def _version(session: Session, ruleset: RuleSet, number: int) -> RuleSetVersion:
    found = session.scalar(
        select(RuleSetVersion).where(
            RuleSetVersion.ruleset_id == ruleset.id, RuleSetVersion.version == number
        )
    )
    if found is None:
        # Path segments that are not version numbers arrive as 0 (service.inputs.IdConverter).
        which = f"version {number}" if number >= 1 else "such version"
        raise NotFound(f"rule set '{ruleset.slug}' has no {which}")
    return found


def add_version(
    session: Session, clinic_id: int, text: str, author_id: int | None, now: dt.datetime
) -> tuple[RuleSet, RuleSetVersion]:
    """Store a validated YAML text as the next version of its slug (caller commits).

    The same bytes uploaded again are the version that already holds them.
    """
    ruleset, version, _created = store_version(session, clinic_id, text, author_id, now)
    return ruleset, version


def store_version(
    session: Session, clinic_id: int, text: str, author_id: int | None, now: dt.datetime
) -> tuple[RuleSet, RuleSetVersion, bool]:
    """`add_version`, also saying whether the version is new (caller commits)."""
    parsed = check(text, instrument_ids(session, clinic_id)).ruleset
    ruleset = session.scalar(
        select(RuleSet).where(RuleSet.clinic_id == clinic_id, RuleSet.slug == parsed.slug)
    )
    if ruleset is None:
        ruleset = RuleSet(clinic_id=clinic_id, slug=parsed.slug, title=parsed.title, created_at=now)
        session.add(ruleset)
        session.flush()
    else:
        same = session.scalar(
            select(RuleSetVersion)
            .where(RuleSetVersion.ruleset_id == ruleset.id, RuleSetVersion.yaml_text == text)
            .order_by(RuleSetVersion.version.desc())
            .limit(1)
        )
        if same is not None:
            return ruleset, same, False
        ruleset.title = parsed.title
    latest = session.scalar(
        select(func.max(RuleSetVersion.version)).where(RuleSetVersion.ruleset_id == ruleset.id)
    )
    version = RuleSetVersion(
        ruleset_id=ruleset.id,
        version=(latest or 0) + 1,
        yaml_text=text,
        author_id=author_id,
        created_at=now,
    )
    session.add(version)
    session.flush()
    return ruleset, version, True


def create_version(
    session: Session, principal: Principal, text: str, now: dt.datetime
) -> tuple[dict[str, Any], bool]:
    """Upload a new draft version (or find the one with these exact bytes); True when new.

    Two uploads racing for the same number get a 409.
    """
    try:
        ruleset, version, created = store_version(
            session, _clinic(principal), text, principal.user_id, now
        )
    except IntegrityError as exc:
        raise Conflict("another version was uploaded at the same time; retry") from exc
    if created:
        record(
            session,
            principal,
            "ruleset.version_created",
            "ruleset",
            ruleset.slug,
            {"version": version.version},
        )
    status = _status(ruleset, version)
    return {"ruleset": ruleset.slug, "version": version.version, "status": status}, created


def _clinic(principal: Principal) -> int:
    if principal.clinic_id is None:
        raise Conflict("your account belongs to no clinic")
    return principal.clinic_id


def list_rulesets(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The caller's clinic's rule sets."""
    latest = (
        select(RuleSetVersion.ruleset_id, func.max(RuleSetVersion.version).label("latest"))
        .group_by(RuleSetVersion.ruleset_id)
        .subquery()
    )
    rows = session.execute(
        select(RuleSet, latest.c.latest)
        .outerjoin(latest, latest.c.ruleset_id == RuleSet.id)
        .where(RuleSet.clinic_id == principal.clinic_id)
        .order_by(RuleSet.slug)
    )
    return [
        {
            "slug": rs.slug,
            "title": rs.title,
            "is_default": rs.is_default,
            "published_version": rs.published_version,
            "latest_version": latest_version,
            "created_at": rs.created_at,
        }
        for rs, latest_version in rows
    ]


def list_versions(session: Session, principal: Principal, slug: str) -> list[dict[str, Any]]:
    """Every version of one rule set, newest first."""
    ruleset = _find(session, principal.clinic_id, slug)
    versions = session.scalars(
        select(RuleSetVersion)
        .where(RuleSetVersion.ruleset_id == ruleset.id)
        .order_by(RuleSetVersion.version.desc())
    )
    return [version_view(ruleset, v) for v in versions]


def get_version(session: Session, principal: Principal, slug: str, number: int) -> dict[str, Any]:
    """One version with its YAML text."""
    ruleset = _find(session, principal.clinic_id, slug)
    return version_view(ruleset, _version(session, ruleset, number), text=True)


def diff_versions(
    session: Session, principal: Principal, slug: str, old: int, new: int
) -> list[str]:
    """The unified diff (difflib, three lines of context) from version `old` to `new`."""
    ruleset = _find(session, principal.clinic_id, slug)
    before = _version(session, ruleset, old).yaml_text.splitlines()
    after = _version(session, ruleset, new).yaml_text.splitlines()
    return list(
        difflib.unified_diff(
            before, after, f"{slug} version {old}", f"{slug} version {new}", lineterm=""
        )
    )


def publish(session: Session, ruleset: RuleSet, number: int, now: dt.datetime) -> RuleSetVersion:
    """Make a version the one patients of this rule set follow (caller commits).

    `published_at` is the time of the latest publication: a rollback to an older version
    shows when it was published again (each publication is also an audit event).
    Publishing the version already published changes nothing.
    """
    version = _version(session, ruleset, number)
    if ruleset.published_version != version.version or version.published_at is None:
        version.published_at = now
        ruleset.published_version = version.version
    return version


def publish_version(
    session: Session, principal: Principal, slug: str, number: int, now: dt.datetime
) -> dict[str, Any]:
    """Publish a version: from now on, patients assigned to the slug follow it."""
    ruleset = _find(session, principal.clinic_id, slug)
    previous = ruleset.published_version
    version = publish(session, ruleset, number, now)
    record(
        session,
        principal,
        "ruleset.published",
        "ruleset",
        slug,
        {
            "version": number,
            "previous": previous,
            "published_at": version.published_at.isoformat() if version.published_at else None,
        },
    )
    return version_view(ruleset, version)


def simulate(
    session: Session, principal: Principal, slug: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Replay a version (default: the newest) over a stored patient's, a posted or a built-in
    history."""
    ruleset = _find(session, principal.clinic_id, slug)
    number = body.get("version")
    if number is None:
        number = session.scalar(
            select(func.max(RuleSetVersion.version)).where(RuleSetVersion.ruleset_id == ruleset.id)
        )
    version = _version(session, ruleset, number or 0)
    compiled = compile_version(version.id, version.yaml_text)
    start, end = body["from_"], body["to"]
    if end < start or (end - start).days > 366:
        raise field_error("to", "must be on or after 'from' and at most 366 days later")
    if body.get("patient_id") is not None:
        profile = patient_in_scope(session, principal, body["patient_id"])
        history = load_history(session, profile, start)
    elif body.get("history") is not None:
        try:
            history = parse_history(body["history"])
        except rules.HistoryError as exc:
            errors = [{"field": f"history.{where}", "message": m} for where, m in exc.errors]
            first = errors[0]
            raise Invalid(f"{first['field']}: {first['message']}", errors=errors) from None
    elif body.get("example") is not None:
        history = example_history(body["example"], end)
    else:
        raise field_error("patient_id", "give a patient_id, a history or an example")
    try:
        days = rules.simulate(compiled, history, start, end)
    except rules.SimulationTooLarge as exc:
        raise field_error("to", str(exc)) from None
    except rules.RuleRuntimeError as exc:
        raise field_error(f"rules.{exc.rule_id}", f"{exc.expression}: {exc.message}") from None
    record(
        session,
        principal,
        "ruleset.simulated",
        "ruleset",
        slug,
        {
            "version": version.version,
            "patient_id": body.get("patient_id"),
            "example": body.get("example"),
        },
    )
    return {
        "ruleset": slug,
        "version": version.version,
        "days": [
            {
                "date": day.day,
                "steps": day.steps,
                "target": day.target,
                "held": day.held,
                "facts": {
                    k: sorted(v) if isinstance(v, frozenset) else v for k, v in day.facts.items()
                },
                "fired": day.fired,
                "tips": day.tips,
                "sent": [
                    {
                        "tip": tip.tip_id,
                        "rule": tip.rule_id,
                        "title": tip.title,
                        "why": tip.why,
                        "urgent": tip.urgent,
                    }
                    for decision in day.decisions
                    for tip in decision.tips
                ],
                "alerts": day.alerts,
                "pain": _pain_of(history, day.day),
                "episode": day.episode,
                "safety": day.safety,
            }
            for day in days
        ],
    }


def _pain_of(history: rules.History, day: dt.date) -> list[int]:
    """The pain scores the history holds for a local day (simulation charts plot them)."""
    zone = history.zone
    return [p.score for p in history.pain if p.recorded_at.astimezone(zone).date() == day]


def published_slugs(session: Session, clinic_id: int | None) -> dict[str, int | None]:
    """Each of the clinic's rule sets by slug, with its published version (None: never)."""
    rows = session.execute(
        select(RuleSet.slug, RuleSet.published_version)
        .where(RuleSet.clinic_id == clinic_id)
        .order_by(RuleSet.slug)
    )
    return {str(slug): version for slug, version in rows}


def ensure_default(session: Session, clinic: Clinic, now: dt.datetime) -> RuleSet:
    """Install and publish the bundled default rule set for a clinic (idempotent)."""
    ruleset = session.scalar(
        select(RuleSet).where(RuleSet.clinic_id == clinic.id, RuleSet.slug == DEFAULT_SLUG)
    )
    if ruleset is None:
        ruleset, version = add_version(session, clinic.id, rules.default_ruleset_text(), None, now)
        publish(session, ruleset, version.version, now)
    if not ruleset.is_default:
        ruleset.is_default = True
    if ruleset.published_version is None:
        publish(session, ruleset, 1, now)
    return ruleset
