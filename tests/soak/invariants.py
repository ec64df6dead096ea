"""What must hold after the soak, read from the database and from the fakes' own logs.

Every count named `*_violations` (or listed in VIOLATIONS) must be 0. The rest describe the run.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass
from statistics import quantiles
from typing import Any

from sqlalchemy import Engine, func, select

from service.activity.models import WalkingSession
from service.connections.models import WearableConnection
from service.delivery.models import PushDelivery
from service.evaluation.models import Evaluation, PendingEvaluation
from service.evaluation.pending import TRIGGER
from service.patients.models import Device, PatientProfile
from service.reports.models import PainReport
from tests.soak.fakes_host import FakesReport
from tests.soak.load import Attempt, LoadLog

SETTLE_SLACK_S = 15.0
VIOLATIONS = (
    "uploads_missing",
    "uploads_doubled",
    "reports_missing",
    "reports_doubled",
    "evaluations_missing",
    "evaluations_doubled",
    "uploads_not_evaluated",
    "pending_marks_left",
    "tips_undelivered",
    "tips_twice_to_a_device",
    "refreshes_at_once",
    "refresh_tokens_reused",
    "connections_lost",
    "web_5xx",
    "web_503_outside_db_restart",
    "web_4xx",
    "web_dropped_unexplained",
    "web_not_recovered",
)


@dataclass(frozen=True)
class Windows:
    """When the faults happened (epoch seconds), to judge the web tier's answers."""

    db_down: tuple[float, float]  # stop begun .. start finished
    worker_kill: float
    faults: tuple[float, float]  # first fault .. last fault's end
    grace_s: float = 15.0


def web_tier(attempts: list[Attempt], windows: Windows, examples: list[str]) -> dict[str, Any]:
    """Judge every answer: 5xx, 503s outside the restart, drops outside the kill, recovery.

    The first violations are described in `examples`."""
    down_from, down_to = windows.db_down
    in_restart = lambda t: down_from <= t <= down_to + windows.grace_s  # noqa: E731
    kill = windows.worker_kill
    # In flight when the worker died (or sent to its socket just after, before the master
    # noticed): the kill fell between the attempt's start and its error.
    in_flight = lambda a: a.started - 1 <= kill <= a.started + a.latency + 1  # noqa: E731
    out: dict[str, Any] = Counter()
    for a in attempts:
        done = a.started + a.latency  # judged by when the answer came
        if a.status == 0:
            near = in_flight(a) or in_restart(done)
            verdict = "web_dropped_during_kill_or_restart" if near else "web_dropped_unexplained"
        elif a.status == 503:
            ok = a.retry_after and in_restart(done)
            verdict = "web_503_retryable" if ok else "web_503_outside_db_restart"
        elif a.status >= 500:
            verdict = "web_5xx"
        elif a.status >= 400:
            verdict = "web_4xx"
        else:
            verdict = "web_ok"
        out[verdict] += 1
        if verdict in VIOLATIONS and len(examples) < 20:
            examples.append(
                f"{verdict}: {a.kind} on instance {a.instance} at "
                f"{a.started - down_from:+.1f}s from the DB stop, {a.status} {a.error}"
            )
    # Recovery: after the database came back, every instance answered 2xx again by itself.
    recovered = []
    for instance in sorted({a.instance for a in attempts}):
        firsts = [
            a.started + a.latency
            for a in attempts
            if a.instance == instance and a.started >= down_to and 200 <= a.status < 300
        ]
        recovered.append(min(firsts) - down_to if firsts else None)
    out["web_not_recovered"] = sum(1 for r in recovered if r is None)
    out["web_recovery_s"] = round(max((r for r in recovered if r is not None), default=0.0), 2)
    out["web_requests"] = len(attempts)
    return dict(out)


def latency(attempts: list[Attempt], windows: Windows) -> dict[str, str]:
    """p50/p95/p99 of answered attempts before, during and after the faults (ms)."""
    start, end = windows.faults
    phases: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    for a in attempts:
        if a.status == 0:
            continue
        phase = "before" if a.started < start else "during" if a.started <= end else "after"
        phases[phase].append(a.latency * 1000)
    out = {}
    for phase, values in phases.items():
        if len(values) < 2:
            out[phase] = f"n={len(values)}"
            continue
        cuts = quantiles(values, n=100, method="inclusive")
        out[phase] = f"n={len(values)} p50={cuts[49]:.0f} p95={cuts[94]:.0f} p99={cuts[98]:.0f}"
    return out


def stored_writes(engine: Engine, log: LoadLog) -> dict[str, int]:
    """Every accepted walk and pain report stored exactly once (and nothing unaccounted)."""
    with engine.connect() as conn:
        walks = Counter(
            (p, e)
            for p, e in conn.execute(
                select(WalkingSession.patient_id, WalkingSession.external_id).where(
                    WalkingSession.external_id.like("soak-%")
                )
            )
        )
        report_rows = Counter(conn.scalars(select(PainReport.patient_id)))
        report_ids = set(conn.scalars(select(PainReport.id)))
    accepted_walks = Counter((p, e) for p, e, _ in log.walks)
    accepted_reports = Counter(p for p, _ in log.reports)
    ids = [i for _, i in log.reports]
    doubled_reports = len(ids) - len(set(ids))
    for patient, rows in report_rows.items():
        # A report given up on (no answer after every retry) may have been stored once.
        doubled_reports += max(
            0, rows - accepted_reports[patient] - log.abandoned_reports.get(patient, 0)
        )
    return {
        "uploads_accepted": len(accepted_walks),
        "uploads_missing": sum(1 for key in accepted_walks if walks[key] == 0),
        "uploads_doubled": sum(1 for n in walks.values() if n > 1)
        + sum(1 for n in accepted_walks.values() if n > 1),
        "reports_accepted": len(ids),
        "reports_missing": sum(1 for i in ids if i not in report_ids),
        "reports_doubled": doubled_reports,
    }


def evaluations(
    engine: Engine, due_at: dict[int, dt.datetime], until: dt.datetime
) -> dict[str, int]:
    """Each patient due during the run evaluated once per decision time: none missed, none twice."""
    with engine.connect() as conn:
        per_key = Counter(
            (p, k)
            for p, k in conn.execute(
                select(Evaluation.patient_id, Evaluation.decision_key).where(
                    Evaluation.trigger == "schedule"
                )
            )
        )
        still_due = set(
            conn.scalars(
                select(PatientProfile.user_id).where(PatientProfile.next_decision_at <= until)
            )
        )
    evaluated = {p for p, _ in per_key}
    due = {p for p, at in due_at.items() if at <= until}
    return {
        "evaluations_due": len(due),
        "evaluations_run": sum(per_key.values()),
        "evaluations_missing": len((due - evaluated) | (still_due & due)),
        "evaluations_doubled": sum(1 for n in per_key.values() if n > 1),
    }


def deferred_evaluations(engine: Engine, log: LoadLog, load_end: dt.datetime) -> dict[str, int]:
    """Every accepted upload was followed by an `activity` evaluation of its patient (the
    debounced job: many uploads, one evaluation), and no mark is left waiting.

    `evaluated_at` is the clock the job read when it started, before it claimed the marks: an
    upload committed between the two is read by that evaluation yet stamped earlier. On a busy
    machine the gap reaches seconds, so the check allows SETTLE_SLACK_S; an evaluation that
    never came would leave its mark behind (`pending_marks_left`) or a gap of a whole run."""
    last_upload: dict[int, float] = {}
    for patient, _, at in log.walks:
        last_upload[patient] = max(at, last_upload.get(patient, 0.0))
    with engine.connect() as conn:
        latest = dict(
            conn.execute(
                select(Evaluation.patient_id, func.max(Evaluation.evaluated_at))
                .where(Evaluation.trigger == TRIGGER)
                .group_by(Evaluation.patient_id)
            ).all()
        )
        # Syncs go on marking patients after the load stops; those marks are new work.
        left = int(
            conn.execute(
                select(func.count()).where(PendingEvaluation.marked_at <= load_end)
            ).scalar_one()
        )
    missed = sum(
        1
        for patient, at in last_upload.items()
        if patient not in latest or latest[patient].timestamp() < at - SETTLE_SLACK_S
    )
    return {
        "uploads_not_evaluated": missed,
        "activity_evaluations": len(latest),
        "pending_marks_left": left,
    }


def pushes(engine: Engine, fakes: FakesReport, dead: set[str]) -> dict[str, int]:
    """Every tip reached every live device at least once, and never twice (collapse ids aside).

    Delivery is at least once by design: a worker killed between the provider's 200 and its
    own record sends again after the lease, under the same collapse id (the tip id), so the
    phone shows it once. Those repeats are counted (`pushes_repeated_collapsed`); a device
    getting one tip twice under different or missing collapse ids is a violation.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            select(PushDelivery.tip_id, PushDelivery.status, Device.token).join(
                Device, Device.id == PushDelivery.device_id
            )
        ).all()
        statuses = Counter(conn.scalars(select(PushDelivery.status)))
        devices = set(conn.scalars(select(Device.token)))
    accepted: defaultdict[tuple[str, str], list[str | None]] = defaultdict(list)
    for push in fakes.pushes:
        if push.status == 200 and push.tip_id is not None:
            accepted[push.token, push.tip_id].append(push.collapse_id)
    undelivered = sum(
        1 for tip, _, token in rows if token not in dead and not accepted[token, str(tip)]
    )
    repeated = sum(1 for ids in accepted.values() if len(ids) > 1)
    twice = sum(
        1 for (_, tip), ids in accepted.items() if len(ids) > 1 and any(c != tip for c in ids)
    )
    return {
        "deliveries": len(rows),
        "deliveries_by_status": dict(statuses),  # type: ignore[dict-item]
        "pushes_answered": len(fakes.pushes),
        "pushes_accepted": sum(len(v) for v in accepted.values()),
        "pushes_repeated_collapsed": repeated - twice,
        "dead_devices_removed": len(dead - devices),
        "tips_undelivered": undelivered,
        "tips_twice_to_a_device": twice,
    }


def refreshes(fakes: FakesReport, windows: Windows, examples: list[str]) -> dict[str, int]:
    """No connection refreshed its token twice at once, nor presented a refresh token the
    provider had already rotated: the soak's provider spends a refresh token when it answers
    it (as Strava, Fitbit and Withings do), so a second presentation - overlapping the first
    or after it - is refused with invalid_grant and the patient must link again."""
    by_token: defaultdict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for refresh in fakes.refreshes:
        by_token[refresh.token].append((refresh.began, refresh.ended, refresh.status))
    at_once = reused = 0
    for spans in by_token.values():
        spans.sort()
        for (first_start, first_end, status), (second_start, _, _) in itertools.pairwise(spans):
            if second_start < first_end:
                at_once += 1
            else:
                reused += 1
            if len(examples) < 30:
                examples.append(
                    f"refresh token presented again {second_start - first_end:.1f} s after its "
                    f"first answer ({status} after {first_end - first_start:.1f} s), "
                    f"{second_start - windows.db_down[0]:+.1f} s from the DB stop"
                )
    return {
        "refreshes": len(fakes.refreshes),
        "refreshes_at_once": at_once,
        "refresh_tokens_reused": reused,
        "provider_requests": fakes.provider_requests,
        "provider_blocked_answers": fakes.provider_blocked_answers,
    }


def connections_lost(engine: Engine) -> dict[str, int]:
    """No link was lost: no fault in the soak withdraws a grant, so every connection must
    still be active (a refused refresh token or access token would have marked it)."""
    with engine.connect() as conn:
        lost = conn.execute(
            select(func.count()).where(WearableConnection.status != "active")
        ).scalar_one()
    return {"connections_lost": int(lost)}


def count_due(engine: Engine, until: dt.datetime) -> int:
    """Patients still due at `until` (the drain waits for none)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(PatientProfile.next_decision_at <= until)
            ).scalar_one()
        )


def count_pending_work(engine: Engine, load_end: dt.datetime) -> int:
    """Deliveries still pending and patients marked for evaluation before the load stopped
    (the drain waits for none; syncs keep marking patients afterwards)."""
    with engine.connect() as conn:
        pushes = conn.execute(
            select(func.count()).where(PushDelivery.status == "pending")
        ).scalar_one()
        marks = conn.execute(
            select(func.count()).where(PendingEvaluation.marked_at <= load_end)
        ).scalar_one()
    return int(pushes) + int(marks)
