"""Which compiled rule set each patient follows, compiled once per immutable version.

A patient follows the published version of their assigned rule set; without one (or when it
has never been published), their clinic's default rule set; without that, the bundled
`rules/defaults/low_back_walking.yaml`. Versions never change once written, so a compiled
`rules.RuleSet` is cached by version id for the life of the process.

A stored version that no longer loads (e.g. written before the engine's checks tightened)
fails only its own patients: `resolve` gives them a `CompiledVersion` carrying the error
(`failure`), with the bundled default's settings to schedule by, and the evaluation records
their evaluations as failed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

import rules
from rules.instruments import TRUSTED
from service.rulesets.models import RuleSet, RuleSetVersion

_CACHE_SIZE = 256


@dataclass(frozen=True)
class CompiledVersion:
    """A compiled rule set and the stored version it came from (None = the bundled default).

    `failure`: why the stored version could not be compiled; `ruleset` is then the bundled
    default, whose settings (decision times, quiet hours) keep the patient scheduled.
    """

    version_id: int | None
    ruleset: rules.RuleSet
    failure: Exception | None = None


@dataclass(frozen=True)
class Assignment:
    """What resolution needs to know about a patient."""

    patient_id: int
    clinic_id: int | None
    ruleset_id: int | None


class _Cache:
    """A small thread-safe LRU of compiled versions (request threads and jobs share it)."""

    def __init__(self) -> None:
        self._items: OrderedDict[int, rules.RuleSet] = OrderedDict()
        self._lock = threading.Lock()
        self._bundled: rules.RuleSet | None = None

    def get(self, version_id: int) -> rules.RuleSet | None:
        with self._lock:
            found = self._items.get(version_id)
            if found is not None:
                self._items.move_to_end(version_id)
            return found

    def put(self, version_id: int, ruleset: rules.RuleSet) -> None:
        with self._lock:
            self._items[version_id] = ruleset
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def bundled(self) -> rules.RuleSet:
        with self._lock:
            if self._bundled is None:
                self._bundled = rules.load_ruleset(
                    rules.default_ruleset_text(), source=str(rules.DEFAULT_RULESET_PATH)
                )
            return self._bundled


_cache = _Cache()


def register_compiled(version_id: int, ruleset: rules.RuleSet) -> None:
    """Have a stored version evaluated by this compiled rule set (until forgotten or evicted).

    The seam where a test puts a rule set that fails at run time, a failure the loader's
    checks would never let an uploaded text produce.
    """
    _cache.put(version_id, ruleset)


def forget_compiled() -> None:
    """Drop every cached compilation: for a database emptied and refilled (its ids restart)."""
    _cache.clear()


def bundled_default() -> CompiledVersion:
    """The rule set shipped with the service."""
    return CompiledVersion(None, _cache.bundled())


def compile_version(version_id: int, yaml_text: str) -> rules.RuleSet:
    """Compile a stored version (cached: versions are immutable)."""
    found = _cache.get(version_id)
    if found is None:
        # Its asks were checked against its clinic's instruments when it was uploaded.
        found = rules.load_ruleset(yaml_text, source=f"version {version_id}", instruments=TRUSTED)
        _cache.put(version_id, found)
    return found


def _compiled(
    session: Session, version_ids: set[int]
) -> tuple[dict[int, rules.RuleSet], dict[int, Exception]]:
    """Compiled versions by id, and the versions that failed to compile with their errors."""
    out: dict[int, rules.RuleSet] = {}
    broken: dict[int, Exception] = {}
    missing = []
    for version_id in version_ids:
        cached = _cache.get(version_id)
        if cached is None:
            missing.append(version_id)
        else:
            out[version_id] = cached
    if missing:
        rows = session.execute(
            select(RuleSetVersion.id, RuleSetVersion.yaml_text).where(
                RuleSetVersion.id.in_(missing)
            )
        )
        for version_id, text in rows:
            try:
                out[version_id] = compile_version(version_id, text)
            except Exception as exc:  # any error: this version's patients fail, nobody else
                broken[version_id] = exc
    return out, broken


def compiled_versions(
    session: Session, version_ids: Iterable[int | None]
) -> dict[int | None, rules.RuleSet]:
    """The compiled rule set of each stored version id (None: the bundled default).

    Versions that no longer compile are left out.
    """
    wanted = set(version_ids)
    compiled, _ = _compiled(session, {v for v in wanted if v is not None})
    out: dict[int | None, rules.RuleSet] = {v: compiled[v] for v in compiled}
    if None in wanted:
        out[None] = _cache.bundled()
    return out


def resolve(session: Session, patients: Iterable[Assignment]) -> dict[int, CompiledVersion]:
    """The compiled rule set each patient follows, in two queries for the whole batch."""
    patients = list(patients)
    assigned = {p.ruleset_id for p in patients if p.ruleset_id is not None}
    clinics = {p.clinic_id for p in patients if p.clinic_id is not None}
    published_by_ruleset: dict[int, int] = {}
    default_by_clinic: dict[int, int] = {}
    if assigned or clinics:
        rows = session.execute(
            select(RuleSet.id, RuleSet.clinic_id, RuleSet.is_default, RuleSetVersion.id)
            .join(
                RuleSetVersion,
                (RuleSetVersion.ruleset_id == RuleSet.id)
                & (RuleSetVersion.version == RuleSet.published_version),
            )
            .where(
                or_(
                    RuleSet.id.in_(assigned or {-1}),
                    RuleSet.clinic_id.in_(clinics or {-1}) & RuleSet.is_default.is_(True),
                )
            )
        )
        for ruleset_id, clinic_id, is_default, found_id in rows:
            published_by_ruleset[ruleset_id] = found_id
            if is_default:
                default_by_clinic[clinic_id] = found_id
    chosen: dict[int, int | None] = {}
    for patient in patients:
        version_id: int | None = None
        if patient.ruleset_id is not None:
            version_id = published_by_ruleset.get(patient.ruleset_id)
        if version_id is None and patient.clinic_id is not None:
            version_id = default_by_clinic.get(patient.clinic_id)
        chosen[patient.patient_id] = version_id
    compiled, broken = _compiled(session, {v for v in chosen.values() if v is not None})
    fallback = bundled_default()
    versions: dict[int | None, CompiledVersion] = {None: fallback}
    versions.update((vid, CompiledVersion(vid, ruleset)) for vid, ruleset in compiled.items())
    versions.update(
        (vid, CompiledVersion(vid, fallback.ruleset, error)) for vid, error in broken.items()
    )
    return {pid: versions[vid] for pid, vid in chosen.items()}
