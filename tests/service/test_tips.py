"""The tips inbox: keyset pages, unread filter, read, opened and feedback."""

from __future__ import annotations

import datetime as dt
from typing import Any

from service.extensions import db
from service.tips.models import Tip
from service.tips.schemas import TipPageSchema
from tests.support.factories import Seed

T0 = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)


def add_tips(patient_id: int, count: int, *, start: dt.datetime = T0) -> list[int]:
    """Insert tips the way the evaluation pipeline would (one per minute from `start`)."""
    with db.transaction() as session:
        tips = [
            Tip(
                patient_id=patient_id,
                rule_id=f"rule-{i}",
                tip_key=f"tip-{i}",
                category="general",
                title=f"Tip {i}",
                text=f"Text {i}",
                why=f"because {i}",
                created_at=start + dt.timedelta(minutes=i),
            )
            for i in range(count)
        ]
        session.add_all(tips)
        session.flush()
        return [tip.id for tip in tips]


def test_it_pages_through_the_inbox_newest_first(client: Any, seed: Seed) -> None:
    ids = add_tips(seed.patient_a, 45)
    # Two tips share a timestamp: the id breaks the tie, so no tip is lost or repeated.
    add_tips(seed.patient_b, 3)
    with db.transaction() as session:
        same = session.get(Tip, ids[20])
        assert same is not None
        same.created_at = T0 + dt.timedelta(minutes=21)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        url = "/v1/me/tips?limit=20" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url, headers=seed.headers("patient_a"))
        assert response.status_code == 200
        seen.extend(item["id"] for item in response.json["items"])
        pages += 1
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))
    assert seen[0] == ids[-1]


def test_it_shows_why_and_the_default_page_size(client: Any, seed: Seed) -> None:
    add_tips(seed.patient_a, 25)
    body = client.get("/v1/me/tips", headers=seed.headers("patient_a")).json
    assert len(body["items"]) == 20
    item = body["items"][0]
    assert item["rule_id"] == "rule-24"
    assert item["why"] == "because 24"
    assert item["read_at"] is None
    assert set(item) >= {"id", "rule_id", "category", "title", "text", "created_at", "read_at"}
    # The inbox is serialised by hand for speed: it must still be what the schema documents.
    assert TipPageSchema().validate(body) == {}
    assert dt.datetime.fromisoformat(item["created_at"]) == T0 + dt.timedelta(minutes=24)


def test_it_filters_unread_and_marks_read_once(client: Any, seed: Seed) -> None:
    ids = add_tips(seed.patient_a, 3)
    headers = seed.headers("patient_a")
    first = client.post(f"/v1/me/tips/{ids[0]}/read", headers=headers)
    assert first.status_code == 200
    read_at = first.json["read_at"]
    assert read_at is not None
    again = client.post(f"/v1/me/tips/{ids[0]}/read", headers=headers)
    assert again.json["read_at"] == read_at
    unread = client.get("/v1/me/tips?unread=true", headers=headers).json["items"]
    assert [t["id"] for t in unread] == [ids[2], ids[1]]
    read = client.get("/v1/me/tips?unread=false", headers=headers).json["items"]
    assert [t["id"] for t in read] == [ids[0]]


def test_it_records_feedback_and_opens(client: Any, seed: Seed) -> None:
    ids = add_tips(seed.patient_a, 2)
    headers = seed.headers("patient_a")
    feedback = client.post(
        f"/v1/me/tips/{ids[0]}/feedback", json={"helpful": True, "done": False}, headers=headers
    )
    assert feedback.status_code == 200
    assert feedback.json["helpful"] is True
    assert feedback.json["done"] is False
    assert feedback.json["read_at"] is not None
    opened = client.post(f"/v1/me/tips/{ids[1]}/opened", headers=headers)
    assert opened.status_code == 200
    tip = db.session.get(Tip, ids[1], populate_existing=True)
    assert tip is not None
    assert tip.opened_at is not None
    assert tip.read_at is not None
    missing = client.post(f"/v1/me/tips/{ids[0]}/feedback", json={}, headers=headers)
    assert missing.status_code == 422
    assert missing.json["errors"][0]["field"] == "helpful"


def test_it_hides_other_patients_tips(client: Any, seed: Seed) -> None:
    ids = add_tips(seed.patient_a, 1)
    headers = seed.headers("patient_b")
    assert client.post(f"/v1/me/tips/{ids[0]}/read", headers=headers).status_code == 404
    assert client.get("/v1/me/tips", headers=headers).json["items"] == []


def test_it_rejects_bad_cursors_and_limits(client: Any, seed: Seed) -> None:
    headers = seed.headers("patient_a")
    for cursor in ("garbage", "WyJ4IiwgMV0", "%00"):
        response = client.get(f"/v1/me/tips?cursor={cursor}", headers=headers)
        assert response.status_code == 400, cursor
        assert response.json["errors"][0]["field"] == "cursor"
    for limit in ("0", "201", "ten"):
        response = client.get(f"/v1/me/tips?limit={limit}", headers=headers)
        assert response.status_code == 422
        assert response.json["errors"][0]["field"] == "limit"
