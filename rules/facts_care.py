"""Catalogue entries of care and safety: pain, red flags and their tiers, safety episodes, the
patient's conditions and clearances (SPEC §6 and §11.1; shared terms in `rules.facts`)."""

from __future__ import annotations

from rules.codes import CONDITION_LABELS, RED_FLAG_LABELS, TIER_LABELS
from rules.fact_model import Fact
from rules.kinds import Kind

CARE_FACTS = [
    Fact(
        "pain.latest",
        Kind.NUMBER,
        "0-10",
        "latest pain score",
        "Score of the report with the greatest recorded_at <= now; null if none.",
        nullable=True,
        low=0,
        high=10,
    ),
    Fact(
        "pain.hours_since",
        Kind.NUMBER,
        "h",
        "age of the latest pain report",
        "(now - recorded_at of that report) in hours, rounded to 1 decimal; null if none.",
        nullable=True,
        low=0,
        high=1000000,
        grid=0.1,
    ),
    Fact(
        "pain.avg_7d",
        Kind.NUMBER,
        "0-10",
        "mean pain over reports in the last 7 days",
        "Mean score of reports in the event window, rounded to 1 decimal; null if none.",
        nullable=True,
        low=0,
        high=10,
        grid=0.1,
    ),
    Fact(
        "pain.max_7d",
        Kind.NUMBER,
        "0-10",
        "highest pain in the last 7 days",
        "Maximum score of reports in the event window; null if none.",
        nullable=True,
        low=0,
        high=10,
    ),
    Fact(
        "pain.reports_7d",
        Kind.NUMBER,
        "reports",
        "pain reports in the last 7 days",
        "Count of reports in the event window.",
        nullable=False,
        low=0,
        high=10000,
    ),
    Fact(
        "pain.change",
        Kind.NUMBER,
        "points",
        "latest minus the preceding 7-day mean",
        "pain.latest minus the mean score of the reports with recorded_at in "
        "[latest - 168 h, latest) (strictly before the latest one), rounded to 1 decimal; "
        "null if there is no latest report or no report in that interval.",
        nullable=True,
        low=-10,
        high=10,
        grid=0.1,
    ),
    Fact(
        "pain.red_flags",
        Kind.SET,
        "codes",
        "red flags reported in the last 72 h",
        "Union of red_flags of reports with now - 72 h < recorded_at <= now and recorded_at "
        "after the last resolution (empty set if none).",
        nullable=False,
        codes=RED_FLAG_LABELS,
    ),
    Fact(
        "pain.red_flag",
        Kind.BOOL,
        "",
        "whether any red flag was reported in the last 72 h",
        "pain.red_flags is non-empty.",
        nullable=False,
    ),
    Fact(
        "pain.red_flag_tier",
        Kind.STRING,
        "tier",
        "the most severe triage tier of those red flags",
        "emergency, urgent or soon: the highest tier of a code in pain.red_flags (see "
        "`python -m rules facts` for each code's tier); null if pain.red_flags is empty.",
        nullable=True,
        codes=TIER_LABELS,
    ),
    Fact(
        "pain.latest_red_flag_tier",
        Kind.STRING,
        "tier",
        "the most severe tier of the red flags in the latest report",
        "The highest tier of a red flag of the report pain.latest comes from, if that report "
        "was recorded after the last resolution; null if it has no red flag or there is none.",
        nullable=True,
        codes=TIER_LABELS,
    ),
    Fact(
        "safety.episode_open",
        Kind.BOOL,
        "",
        "a safety episode is open",
        "True if some episode has opened_at <= now and is not closed at or before now. An "
        "emergency or urgent red flag opens one; only a clinician closes it.",
        nullable=False,
    ),
    Fact(
        "safety.episode_tier",
        Kind.STRING,
        "tier",
        "the tier of the open safety episode",
        "The tier of the open episode (the most severe it has escalated to); null if none is open.",
        nullable=True,
        codes=TIER_LABELS,
    ),
    Fact(
        "safety.days_since_resolved",
        Kind.NUMBER,
        "days",
        "days since a clinician closed the last safety episode",
        "today minus the local date of the last resolution; null if no episode was ever closed.",
        nullable=True,
        low=0,
        high=100000,
    ),
    Fact(
        "patient.conditions",
        Kind.SET,
        "codes",
        "the patient's condition codes",
        "Set of condition codes from the patient profile (empty set if none).",
        nullable=False,
        codes=CONDITION_LABELS,
    ),
    Fact(
        "patient.cleared",
        Kind.SET,
        "codes",
        "conditions a clinician has cleared the patient for",
        "Set of the condition codes of clearances recorded at or before now (empty set if none).",
        nullable=False,
        codes=CONDITION_LABELS,
    ),
    Fact(
        "patient.uncleared_conditions",
        Kind.SET,
        "codes",
        "the patient's conditions that still wait for a clinician's clearance",
        "patient.conditions that need clearance (recent_surgery, osteoporosis, pregnancy, "
        "spinal_stenosis, acute_disc_herniation) minus patient.cleared.",
        nullable=False,
        codes=CONDITION_LABELS,
    ),
    Fact(
        "patient.has_clinic",
        Kind.BOOL,
        "",
        "the patient belongs to a clinic",
        "True if the patient is linked to a clinic (whose clinicians see their alerts); false "
        "for a patient who registered without an invite.",
        nullable=False,
    ),
    Fact(
        "patient.days_enrolled",
        Kind.NUMBER,
        "days",
        "days since enrolment",
        "today minus the local date of the enrolment time (0 on the first day).",
        nullable=False,
        low=0,
        high=100000,
    ),
]
