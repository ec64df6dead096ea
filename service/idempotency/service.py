"""Idempotent requests: a retry carrying the same `Idempotency-Key` gets the first answer.

Follows the IETF draft "The Idempotency-Key HTTP Header Field"
(draft-ietf-httpapi-idempotency-key-header): a key is the client's, scoped here to the patient;
the first request with it runs and its answer (status and body) is stored with a fingerprint of
the request; a retry with the same request gets that answer and stores nothing; the same key
with a different request is refused with 422, as the draft recommends. Keys live 24 hours.

Two retries racing: each runs in a transaction whose FIRST write inserts (patient, key). The
second INSERT waits on the first transaction's uncommitted row (PostgreSQL: the unique index;
SQLite: the single writer lock), then fails on the unique constraint once the first commits,
and the second request answers with the stored reply. So the draft's 409 ("still being
processed") is never needed: the wait is one short transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.db import Transactions
from service.errors import Conflict, field_error
from service.idempotency.models import IdempotencyKey
from service.idempotency.schemas import HEADER

log = logging.getLogger(__name__)
TTL = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Answer:
    """What a request answered: HTTP status and JSON body; `replayed` when it was stored."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


class _Taken(Exception):
    """Another request with the same key committed first."""


def fingerprint(scope: str, payload: Any) -> str:
    """A digest of what was asked: the route's scope and the JSON body, key order ignored."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))  # ASCII-escaped
    return hashlib.sha256(f"{scope}\n{canonical}".encode()).hexdigest()


def run_once(
    transactions: Transactions,
    patient_id: int,
    key: str,
    request_fingerprint: str,
    *,
    now: dt.datetime,
    use_case: Callable[[Session], Answer],
) -> Answer:
    """Answer once per (patient, key): replay the stored answer, or run the use case and store it.

    The use case runs in the transaction that claims the key, so its data and the stored
    answer commit together; the lookups before and after it are transactions of their own.
    """
    stored = _lookup(transactions, patient_id, key, request_fingerprint, now)
    if stored is not None:
        return stored
    try:
        with transactions() as session:
            claim = IdempotencyKey(
                patient_id=patient_id, key=key, fingerprint=request_fingerprint, created_at=now
            )
            session.add(claim)
            try:
                session.flush()  # the first write: a racing retry waits here for our commit
            except IntegrityError as exc:
                raise _Taken from exc
            answer = use_case(session)
            claim.status, claim.response = answer.status, answer.body
            return answer
    except _Taken:
        log.info("patient %s: a concurrent request used the same idempotency key", patient_id)
    stored = _lookup(transactions, patient_id, key, request_fingerprint, now)
    if stored is None:  # the other request's row expired or was purged in between
        raise Conflict(f"{HEADER}: a request with this key is being processed; retry")
    return stored


def _lookup(
    transactions: Transactions,
    patient_id: int,
    key: str,
    request_fingerprint: str,
    now: dt.datetime,
) -> Answer | None:
    """The stored answer to this key, None when there is none (an expired one is dropped)."""
    with transactions() as session:
        row = session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.patient_id == patient_id, IdempotencyKey.key == key
            )
        )
        if row is None:
            return None
        if row.created_at <= now - TTL:
            # Not purged yet, but expired: the key starts afresh.
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row.id))
            return None
        if row.fingerprint != request_fingerprint:
            raise field_error(HEADER, "this key was already used with a different request")
        if row.status is None or row.response is None:
            return None
        return Answer(row.status, row.response, replayed=True)


def purge_expired(session: Session, now: dt.datetime) -> int:
    """Delete keys older than their 24 hours; return how many."""
    deleted = session.scalars(
        delete(IdempotencyKey)
        .where(IdempotencyKey.created_at <= now - TTL)
        .returning(IdempotencyKey.id)
        .execution_options(synchronize_session=False)
    )
    return len(deleted.all())
