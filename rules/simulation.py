"""Replay a rule set over a patient's history, day by day, as live evaluation would.

For every local day from `start` to `end` the simulator evaluates at each decision time
(`schedule`) and at each pain or exercise report (`pain_report`, `exercise_report`), in time
order, through the same path as the service: `compute_facts` -> `History.state` (the patient
unavailable inside their quiet hours, so a randomised rule's decision there is ineligible, as
live) -> `RuleSet.evaluate`, then applies the decision to the history (plan change, hold, tips, rule
fires, safety episodes opened, escalated or attached to) so later evaluations see it. A
clinician's resolution in the history is applied at its time: `resume` and `resume_lower`
close the episode then open (`resume_lower` also sets the target), `keep_paused` is recorded
and keeps it open. Daily step totals are only known at the end of a day, so
the simulator shows "steps so far" as the day's total pro-rated over 07:00-21:00 local time.

Cost is bounded: one evaluation reads the whole history (the reference facts are written for
clarity, not speed), so a simulation needs `work = evaluations x (rules + tips + history
entries + days of history)`, where evaluations are the decision times of every day plus the
reports in the range. Past `MAX_WORK` (about a second on a small 2-core server)
`simulate` raises `SimulationTooLarge` before running anything.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from rules.decision import Decision, EvaluationState
from rules.errors import SimulationTooLarge
from rules.randomization import in_quiet_hours
from rules.reference import (
    DailySteps,
    History,
    Hold,
    PlanChange,
    Resolution,
    SafetyEpisode,
    TipRecord,
    compute_facts,
    effective_steps,
)
from rules.ruleset import RuleSet

_DAY_START_H, _DAY_END_H = 7.0, 21.0
MAX_WORK = 200_000
"""Most `evaluations x (rules + tips + history entries + days)` one simulation may take."""


@dataclass
class DayResult:
    """One simulated day: end-of-day target, last facts, fired rules and tips sent.

    `episode`: the tier of the safety episode open at the end of the day (None: none);
    `safety`: what happened to episodes that day, in words ("11:00 episode opened (emergency)").
    """

    day: date
    target: int | None
    facts: dict[str, object]
    steps: int | None = None
    fired: list[str] = field(default_factory=list)
    tips: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    held: bool = False
    decisions: list[Decision] = field(default_factory=list)
    episode: str | None = None
    safety: list[str] = field(default_factory=list)


def simulation_work(ruleset: RuleSet, history: History, start: date, end: date) -> int:
    """The work a simulation needs: evaluations x (rules + tips + history entries + days)."""
    zone = history.zone
    first = min(
        [start, history.enrolled_at.astimezone(zone).date()]
        + [row.day for row in history.daily_steps]
        + ([history.shoes_changed_on] if history.shoes_changed_on else [])
    )
    span = max((end - first).days + 1, 0)
    days = max((end - start).days + 1, 0)
    reports = sum(
        1
        for moment in [p.recorded_at for p in history.pain]
        + [e.performed_at for e in history.exercise]
        if start <= moment.astimezone(zone).date() <= end
    )
    evaluations = days * len(ruleset.settings.decision_times) + reports
    entries = sum(
        len(part)
        for part in (
            history.daily_steps,
            history.walks,
            history.pain,
            history.exercise,
            history.plan,
            history.holds,
            history.tips,
            history.rule_fires,
            history.clearances,
            history.resolutions,
            history.episodes,
        )
    )
    return evaluations * (len(ruleset.rules) + len(ruleset.tips) + entries + span)


def simulate(ruleset: RuleSet, history: History, start: date, end: date) -> list[DayResult]:
    """Replay `ruleset` over `history` from `start` to `end` (local dates, inclusive).

    Raises `SimulationTooLarge` past `MAX_WORK`, and `RuleRuntimeError` when a rule fails.
    """
    work = simulation_work(ruleset, history, start, end)
    if work > MAX_WORK:
        raise SimulationTooLarge(
            f"this simulation needs {work:,} units of work (evaluations x (rules + tips + "
            f"history entries + days)), more than the limit of {MAX_WORK:,}: simulate fewer "
            "days or a shorter history"
        )
    history = copy.deepcopy(history)
    zone = history.zone
    if not history.plan:
        initial = int(ruleset.settings.target_initial)
        history.plan.append(PlanChange(history.enrolled_at, initial, "initial"))
    results = []
    day = start
    while day <= end:
        result = DayResult(day, None, {})
        for moment, trigger in _events(ruleset, history, day):
            if isinstance(trigger, Resolution):
                result.safety.append(_resolve(history, trigger))
                continue
            view = _as_of(history, moment)
            facts = compute_facts(view, moment)
            state = _available(ruleset, history, history.state(moment), moment)
            decision = ruleset.evaluate(facts, trigger, state, moment, texts=False)
            _apply(history, decision, moment)
            if decision.episode is not None and decision.episode.action != "attach":
                words = {"open": "episode opened", "escalate": "episode escalated"}
                local = moment.astimezone(zone).strftime("%H:%M")
                tier = decision.episode.tier
                result.safety.append(f"{local} {words[decision.episode.action]} ({tier})")
            result.decisions.append(decision)
            result.facts = facts
            result.fired += [rule_id for rule_id in decision.fired if rule_id not in result.fired]
            result.tips += [tip.tip_id for tip in decision.tips]
            result.alerts += [alert.severity for alert in decision.alerts]
        end_of_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        result.target = history.target_at(end_of_day - timedelta(microseconds=1))
        result.steps = effective_steps(history, day)
        last = end_of_day - timedelta(microseconds=1)
        episode = history.open_episode(last)
        result.episode = episode.tier if episode is not None else None
        result.held = episode is not None or any(
            h.start <= end_of_day < h.start + timedelta(days=h.days) for h in history.holds
        )
        results.append(result)
        day += timedelta(days=1)
    return results


def _available(
    ruleset: RuleSet, history: History, state: EvaluationState, moment: datetime
) -> EvaluationState:
    """Mark the patient unavailable inside their quiet hours, as the service does before a
    live evaluation (`service.outcomes.record.prepare_states`): a randomised rule's decision
    there is recorded ineligible, never drawn."""
    hours = history.quiet_hours or ruleset.settings.quiet_hours
    if in_quiet_hours(moment, history.zone, hours):
        state.unavailable = "quiet hours"
    return state


def _events(
    ruleset: RuleSet, history: History, day: date
) -> list[tuple[datetime, str | Resolution]]:
    zone = history.zone
    events: list[tuple[datetime, str | Resolution]] = [
        (datetime.combine(day, moment, tzinfo=zone), "schedule")
        for moment in ruleset.settings.decision_times
    ]
    events += [
        (p.recorded_at, "pain_report")
        for p in history.pain
        if p.recorded_at.astimezone(zone).date() == day
    ]
    events += [
        (e.performed_at, "exercise_report")
        for e in history.exercise
        if e.performed_at.astimezone(zone).date() == day
    ]
    # A clinician's decision goes before an evaluation at the same instant.
    events += [(r.at, r) for r in history.resolutions if r.at.astimezone(zone).date() == day]
    return sorted(events, key=lambda event: (event[0], not isinstance(event[1], Resolution)))


def _resolve(history: History, resolution: Resolution) -> str:
    """Apply a clinician's decision to the episode open at its time; say what it did."""
    at = resolution.at
    local = at.astimezone(history.zone).strftime("%H:%M")
    episode = history.open_episode(at)
    if episode is None:
        return f"{local} {resolution.decision}: no safety episode was open (ignored)"
    episode.reviews.append(resolution)
    if not resolution.closes:
        return f"{local} keep_paused: the {episode.tier} episode stays open"
    episode.closed_at = at
    if resolution.decision == "resume_lower" and resolution.daily_target is not None:
        history.plan.append(PlanChange(at, resolution.daily_target, "resume_lower"))
        return f"{local} resume_lower: episode closed, target {resolution.daily_target:,}"
    return f"{local} {resolution.decision}: episode closed"


def _as_of(history: History, moment: datetime) -> History:
    """Return the history as the service would know it at `moment` (today's steps pro-rated)."""
    local = moment.astimezone(history.zone)
    hours = local.hour + local.minute / 60
    fraction = min(max((hours - _DAY_START_H) / (_DAY_END_H - _DAY_START_H), 0.0), 1.0)
    rows = []
    for row in history.daily_steps:
        if row.day == local.date():
            distance = None if row.distance_m is None else row.distance_m * fraction
            rows.append(DailySteps(row.day, row.source, int(row.steps * fraction), distance))
        elif row.day < local.date():
            rows.append(row)
    return dataclasses.replace(history, daily_steps=rows)


def _apply(history: History, decision: Decision, moment: datetime) -> None:
    history.rule_fires += [(rule_id, moment) for rule_id in decision.fired]
    history.tips += [
        TipRecord(moment, tip.tip_id, tip.rule_id, tip.variant, tip.category)
        for tip in decision.tips
    ]
    if decision.target is not None:
        history.plan.append(PlanChange(moment, decision.target, decision.target_rule or ""))
    if decision.hold_days:
        history.holds.append(Hold(moment, decision.hold_days))
    change = decision.episode
    if change is not None:
        episode = history.open_episode(moment)
        if episode is None:  # "open" (or facts that missed an episode the history holds)
            episode = SafetyEpisode(moment, change.tier, change.flags)
            episode.escalations.append((moment, change.tier))
            history.episodes.append(episode)
        elif change.action == "escalate":
            episode.tier = change.tier
            episode.escalations.append((moment, change.tier))
        episode.flags |= change.flags
        if decision.trigger == "pain_report":
            episode.reports.append(moment)
    _forget(history, moment)


def _forget(history: History, moment: datetime) -> None:
    """Drop what no later evaluation can read, so each one costs the same however long the run.

    Later evaluations read each rule's last firing, each tip's last variant, the tips of
    their own day and the check-ins since the last pain report (checkins.unanswered);
    everything older than two days beyond those is dead weight.
    """
    horizon = moment - timedelta(days=2)
    latest_fire: dict[str, datetime] = {}
    for rule_id, at in history.rule_fires:
        latest_fire[rule_id] = max(at, latest_fire.get(rule_id, at))
    history.rule_fires = [(r, at) for r, at in history.rule_fires if at >= horizon] + [
        (r, at) for r, at in latest_fire.items() if at < horizon
    ]
    latest_tip: dict[str | None, TipRecord] = {}
    for tip in history.tips:
        if tip.tip_id not in latest_tip or tip.created_at >= latest_tip[tip.tip_id].created_at:
            latest_tip[tip.tip_id] = tip
    answered = max((p.recorded_at for p in history.pain if p.recorded_at <= moment), default=None)
    kept = [
        tip
        for tip in history.tips
        if tip.created_at >= horizon
        or (tip.category == "checkin" and (answered is None or tip.created_at > answered))
    ]
    kept_ids = {id(tip) for tip in kept}
    history.tips = kept + [
        tip for tip in latest_tip.values() if tip.created_at < horizon and id(tip) not in kept_ids
    ]


def format_table(results: list[DayResult]) -> str:
    """Render simulation results as a day-by-day text table."""
    lines = [
        f"{'date':<10}  {'steps':>6}  {'target':>6}  {'pain':>4}  hold  {'safety':<9}  "
        "fired -> tips"
    ]
    for result in results:
        facts = result.facts
        steps = result.steps
        pain = facts.get("pain.latest")
        fired = ",".join(result.fired) or "-"
        tips = ",".join(result.tips) or "-"
        alerts = f" ALERT({','.join(result.alerts)})" if result.alerts else ""
        events = f" [{'; '.join(result.safety)}]" if result.safety else ""
        lines.append(
            f"{result.day.isoformat():<10}  {_cell(steps):>6}  {_cell(result.target):>6}  "
            f"{_cell(pain):>4}  {'yes ' if result.held else '    '}  "
            f"{_cell(result.episode):<9}  {fired} -> {tips}{alerts}{events}"
        )
    return "\n".join(lines)


def format_episodes(results: list[DayResult]) -> str:
    """Safety episodes and clinicians' resolutions of a simulation, one event a line."""
    lines = [f"  {r.day.isoformat()} {event}" for r in results for event in r.safety]
    if results and results[-1].episode is not None:
        lines.append(f"  the {results[-1].episode} episode is still open at the end")
    return "\n".join(["Safety episodes and resolutions:", *(lines or ["  none"])])


def _cell(value: object) -> str:
    return "-" if value is None else str(value)
