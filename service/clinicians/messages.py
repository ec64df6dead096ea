"""A word from the clinician: a personal message that reaches the patient like any tip.

The message is a Tip of category `clinician` (rule id `clinician`): it lands in the inbox and
goes through the push outbox in the same transaction, with the patient's quiet hours (the
rule set's when they have none). It is written by a person, not a rule, so the rules' daily
budget neither drops it nor counts it. Every message is audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import rules
from rules.templates import Template, compile_template
from service.accounts.auth import Principal
from service.audit.service import record
from service.delivery import outbox
from service.errors import field_error
from service.evaluation.models import Evaluation
from service.evaluation.record import facts_from_record
from service.patients.access import patient_in_scope
from service.patients.models import PatientProfile
from service.rulesets.compiled import Assignment, resolve
from service.tips.models import CLINICIAN_CATEGORY, Tip
from service.tips.service import tip_view

RULE_ID = "clinician"
DEFAULT_TITLE = "A word from your clinician"
WHY = "Your clinician wrote this message for you."


def _ruleset(session: Session, profile: PatientProfile) -> rules.RuleSet:
    assignment = Assignment(profile.user_id, profile.clinic_id, profile.ruleset_id)
    return resolve(session, [assignment])[profile.user_id].ruleset


def send_message(
    session: Session,
    principal: Principal,
    patient_id: int,
    body: dict[str, Any],
    now: dt.datetime,
) -> dict[str, Any]:
    """Write the clinician's message to the patient's inbox and push outbox (audited)."""
    profile = patient_in_scope(session, principal, patient_id)
    text = body["text"].strip()
    title = (body.get("title") or DEFAULT_TITLE).strip()
    if not text:
        raise field_error("text", "write a message")
    for name, value in (("text", text), ("title", title)):
        # A tip picked from the rule set may still hold a {placeholder} with no value yet.
        if "{" in value or "}" in value:
            raise field_error(name, "replace every {...} placeholder with words before sending")
    ruleset = _ruleset(session, profile)
    from_tip = body.get("tip")
    if from_tip is not None and from_tip not in ruleset.tips:
        raise field_error("tip", f"no tip {from_tip!r} in the patient's rule set")
    tip = Tip(
        patient_id=patient_id,
        rule_id=RULE_ID,
        tip_key=from_tip or "message",
        category=CLINICIAN_CATEGORY,
        title=title,
        text=text,
        urgent=False,
        why=WHY,
        created_at=now,
    )
    session.add(tip)
    session.flush()
    outbox.enqueue(session, [tip], now, quiet_hours=ruleset.settings.quiet_hours)
    record(
        session,
        principal,
        "patient.message",
        "patient",
        patient_id,
        {"tip_id": tip.id, "from_tip": from_tip},
    )
    return tip_view(tip)


def suggestions(session: Session, principal: Principal, patient_id: int) -> list[dict[str, str]]:
    """The patient's rule set's tips (main wording), filled in from their latest facts.

    A placeholder without a value stays as `{expression}` for the clinician to replace.
    """
    profile = patient_in_scope(session, principal, patient_id)
    ruleset = _ruleset(session, profile)
    stored = session.scalar(
        select(Evaluation.facts)
        .where(Evaluation.patient_id == patient_id)
        .order_by(Evaluation.id.desc())
        .limit(1)
    )
    facts = {**ruleset.settings.facts(), **facts_from_record(stored or {})}
    return [
        {
            "tip": tip.id,
            "title": _fill(tip.variants[0].title, facts),
            "text": _fill(tip.variants[0].text, facts),
        }
        for tip in ruleset.tips.values()
    ]


def _fill(template: Template, facts: dict[str, object]) -> str:
    """The template as the engine renders it; a placeholder with no value stays `{...}`."""
    out = []
    for piece in template.pieces or (template.text,):
        if isinstance(piece, str):
            out.append(piece)
            continue
        source = "{" + piece.expression.text + "}"
        try:
            value = piece.expression.evaluate(facts)
            # The engine's own wording of one value (numbers, labels of codes).
            shown = None if value is None else compile_template(source).render(facts)
        except (KeyError, TypeError, ValueError, ArithmeticError, rules.RuleRuntimeError):
            shown = None
        out.append(shown or source)
    return "".join(out)
