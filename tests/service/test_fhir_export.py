"""Bulk export of a clinic (FHIR Bulk Data style) over real HTTP: kick-off, poll, NDJSON files."""

from __future__ import annotations

import datetime as dt
import time
import zlib
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from service.audit.models import AuditEvent
from service.extensions import db
from service.fhir import worker
from service.fhir.models import FhirExport, FhirExportPart
from tests.conftest import LiveServer
from tests.service.test_fhir_bundle import programme
from tests.support.factories import Seed
from tests.support.fhir import ndjson_errors, schema_errors

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def _kick_off(server: LiveServer, seed: Seed, query: str = "", who: str = "clinician") -> Any:
    return requests.get(
        f"{server.url}/v1/clinician/fhir/$export{query}",
        headers={**ASYNC, **seed.headers(who)},
        timeout=30,
    )


def _poll(url: str, headers: dict[str, str], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        response = requests.get(url, headers=headers, timeout=30)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        assert response.headers["X-Progress"]
        time.sleep(0.05)


def _files(manifest: dict[str, Any], headers: dict[str, str]) -> dict[str, str]:
    files = {}
    for output in manifest["output"]:
        response = requests.get(
            output["url"], headers={**headers, "Accept": "application/fhir+ndjson"}, timeout=30
        )
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == "application/fhir+ndjson"
        assert len(response.text.splitlines()) == output["count"]
        files[output["type"]] = response.text
    return files


def test_it_exports_the_clinic_as_valid_ndjson_files(live_server: LiveServer, seed: Seed) -> None:
    programme(seed)
    kick_off = _kick_off(live_server, seed)
    assert kick_off.status_code == 202, kick_off.text
    status_url = kick_off.headers["Content-Location"]
    assert status_url.startswith(f"{live_server.url}/v1/clinician/fhir/exports/")
    done = _poll(status_url, seed.headers("clinician"))
    assert done.status_code == 200, done.text
    manifest = done.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith("/v1/clinician/fhir/$export")
    assert [o["type"] for o in manifest["output"]] == [
        "Organization", "Patient", "Device", "Observation", "Goal", "Communication",
    ]  # fmt: skip
    files = _files(manifest, seed.headers("clinician"))
    assert ndjson_errors(files) == []
    assert len(files["Patient"].splitlines()) == 2  # A and B, both North; nobody from South
    counts = {o["type"]: o["count"] for o in manifest["output"]}
    # A: 4 days + 1 pain; B: 1 day + 1 pain.
    assert counts["Observation"] == 7
    assert counts["Communication"] == 3
    assert "B's tip" in files["Communication"]


def test_it_exports_only_the_types_asked_for(live_server: LiveServer, seed: Seed) -> None:
    programme(seed)
    kick_off = _kick_off(live_server, seed, "?_type=Patient,Goal")
    done = _poll(kick_off.headers["Content-Location"], seed.headers("clinician"))
    assert [o["type"] for o in done.json()["output"]] == ["Patient", "Goal"]
    unknown = _kick_off(live_server, seed, "?_type=Patient,Condition")
    assert unknown.status_code == 422
    assert unknown.json()["issue"][0]["expression"] == ["_type"]
    assert "Condition" in unknown.json()["issue"][0]["details"]["text"]


def test_it_streams_a_synchronous_export_without_prefer(
    live_server: LiveServer, seed: Seed
) -> None:
    programme(seed)
    response = requests.get(
        f"{live_server.url}/v1/clinician/fhir/$export?_type=Patient,Observation",
        headers={"Accept": "application/fhir+ndjson", **seed.headers("other_clinician")},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/fhir+ndjson"
    assert response.text == ""  # South has no patients
    mine = requests.get(
        f"{live_server.url}/v1/clinician/fhir/$export?_type=Patient,Observation",
        headers=seed.headers("clinician"),
        timeout=30,
    )
    lines = mine.text.splitlines()
    assert [line.count('"resourceType":"Patient"') for line in lines[:2]] == [1, 1]
    by_type: dict[str, list[str]] = {}
    for line in lines:
        kind = line.split('"resourceType":"', 1)[1].split('"', 1)[0]
        by_type.setdefault(kind, []).append(line)
    files = {kind: "\n".join(found) + "\n" for kind, found in by_type.items()}
    assert ndjson_errors(files, partial=True) == []
    assert sorted(files) == ["Observation", "Patient"]


def test_it_makes_admins_name_the_clinic(live_server: LiveServer, seed: Seed) -> None:
    programme(seed)
    unnamed = _kick_off(live_server, seed, who="admin")
    assert unnamed.status_code == 422
    assert unnamed.json()["issue"][0]["expression"] == ["clinic"]
    assert _kick_off(live_server, seed, "?clinic=999999", who="admin").status_code == 404
    other = _kick_off(live_server, seed, f"?clinic={seed.other_clinic_id}")
    assert other.status_code == 403
    named = _kick_off(live_server, seed, f"?clinic={seed.clinic_id}", who="admin")
    assert named.status_code == 202
    done = _poll(named.headers["Content-Location"], seed.headers("admin"))
    assert done.status_code == 200
    # The clinic's own clinician may read the clinic's export; South's may not know it exists.
    assert (
        requests.get(
            named.headers["Content-Location"], headers=seed.headers("clinician"), timeout=30
        ).status_code
        == 200
    )
    assert (
        requests.get(
            named.headers["Content-Location"], headers=seed.headers("other_clinician"), timeout=30
        ).status_code
        == 404
    )


def test_it_refuses_a_second_export_while_one_is_waiting(app: Flask, seed: Seed) -> None:
    client = app.test_client()
    headers = {**ASYNC, **seed.headers("clinician")}
    with db.transaction() as session:
        session.add(
            FhirExport(
                id="waiting", clinic_id=seed.clinic_id, requested_by=seed.clinician,
                status="queued", types=["Patient"], request_url="x",
            )
        )  # fmt: skip
    refused = client.get("/v1/clinician/fhir/$export", headers=headers)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "5"
    assert refused.json["issue"][0]["code"] == "throttled"
    assert schema_errors(refused.json) == []


def test_it_cancels_an_export_and_deletes_its_files(live_server: LiveServer, seed: Seed) -> None:
    programme(seed)
    kick_off = _kick_off(live_server, seed)
    url = kick_off.headers["Content-Location"]
    assert _poll(url, seed.headers("clinician")).status_code == 200
    export_id = url.rsplit("/", 1)[1]
    cancelled = requests.delete(url, headers=seed.headers("clinician"), timeout=30)
    assert cancelled.status_code == 202
    assert requests.get(url, headers=seed.headers("clinician"), timeout=30).status_code == 404
    parts = db.session.scalar(select(func.count()).where(FhirExportPart.export_id == export_id))
    assert parts == 0
    # The clinic may start a new export at once.
    again = _kick_off(live_server, seed)
    assert again.status_code == 202
    assert _poll(again.headers["Content-Location"], seed.headers("clinician")).status_code == 200


def test_it_audits_exports_and_downloads(live_server: LiveServer, seed: Seed) -> None:
    programme(seed)
    kick_off = _kick_off(live_server, seed, "?_type=Patient")
    manifest = _poll(kick_off.headers["Content-Location"], seed.headers("clinician")).json()
    _files(manifest, seed.headers("clinician"))
    requests.get(
        f"{live_server.url}/v1/clinician/fhir/$export",
        headers=seed.headers("clinician"),
        timeout=30,
    )
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.action.like("fhir.%"), AuditEvent.actor_id == seed.clinician)
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["fhir.export.start", "fhir.export.download", "fhir.export.sync"]


def _queued(seed: Seed, export_id: str, **values: Any) -> None:
    with db.transaction() as session:
        session.add(
            FhirExport(
                id=export_id,
                clinic_id=seed.clinic_id,
                requested_by=seed.clinician,
                types=["Patient", "Observation"],
                request_url="http://localhost/v1/clinician/fhir/$export",
                **{"status": "queued", **values},
            )
        )


def test_it_lets_exactly_one_worker_claim_an_export(app: Flask, seed: Seed) -> None:
    now = dt.datetime.now(dt.UTC)
    _queued(seed, "contested")
    with db.transaction() as session:
        first = worker.claim(session, now, "contested")
    with db.transaction() as session:
        second = worker.claim(session, now, "contested")
    assert first == ("contested", 1)
    assert second is None


def test_it_reruns_an_export_whose_worker_died(app: Flask, seed: Seed) -> None:
    programme(seed)
    now = dt.datetime.now(dt.UTC)
    # A worker took it, wrote a part, and its process ended: the lease ran out a minute ago.
    _queued(
        seed, "orphan", status="running", attempts=1, started_at=now - dt.timedelta(minutes=5),
        lease_until=now - dt.timedelta(minutes=1),
    )  # fmt: skip
    with db.transaction() as session:
        session.add(
            FhirExportPart(
                export_id="orphan", resource_type="Patient", seq=0, count=1,
                data=zlib.compress(b'{"resourceType":"Patient","id":"stale"}\n'),
            )
        )  # fmt: skip
    assert worker.run_due() == 1
    export = db.session.get(FhirExport, "orphan")
    db.session.refresh(export)
    assert (export.status, export.attempts) == ("completed", 2)
    text = b"".join(
        zlib.decompress(data)
        for data in db.session.scalars(
            select(FhirExportPart.data)
            .where(FhirExportPart.export_id == "orphan", FhirExportPart.resource_type == "Patient")
            .order_by(FhirExportPart.seq)
        )
    ).decode()
    assert "stale" not in text
    assert len(text.splitlines()) == 2
    assert worker.run_due() == 0  # nothing left to do


def test_it_writes_large_types_as_several_parts_served_as_one_file(
    live_server: LiveServer, seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    programme(seed)
    monkeypatch.setattr(worker, "PART_LINES", 2)
    kick_off = _kick_off(live_server, seed, "?_type=Observation")
    manifest = _poll(kick_off.headers["Content-Location"], seed.headers("clinician")).json()
    export_id = kick_off.headers["Content-Location"].rsplit("/", 1)[1]
    parts = db.session.scalar(select(func.count()).where(FhirExportPart.export_id == export_id))
    assert parts == 4  # 7 observations, 2 a part
    files = _files(manifest, seed.headers("clinician"))
    assert ndjson_errors(files, partial=True) == []
    assert len(files["Observation"].splitlines()) == 7


def test_it_deletes_expired_exports(app: Flask, seed: Seed) -> None:
    now = dt.datetime.now(dt.UTC)
    _queued(seed, "old", status="completed", expires_at=now - dt.timedelta(seconds=1))
    _queued(seed, "fresh", status="completed", expires_at=now + dt.timedelta(hours=1))
    assert worker.purge_expired(now) == 1
    assert db.session.scalars(select(FhirExport.id)).all() == ["fresh"]
