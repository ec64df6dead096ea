"""Password hashing (argon2id) and signed, revocable access tokens."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.config import Settings

ALGORITHM = "HS256"


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def hash_password(password: str, settings: Settings) -> str:
    """Hash a password with argon2id."""
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib).hash(password)


def verify_password(stored_hash: str, password: str, settings: Settings) -> bool:
    """Check a password against its hash, in constant time."""
    try:
        return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib).verify(
            stored_hash, password
        )
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the email is unknown, so timing does not reveal accounts.
def dummy_hash(settings: Settings) -> str:
    """A stable hash of a random password for constant-time failures."""
    return _dummy(settings.argon2_time_cost, settings.argon2_memory_kib)


@lru_cache(maxsize=4)
def _dummy(time_cost: int, memory_kib: int) -> str:
    return _hasher(time_cost, memory_kib).hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class TokenClaims:
    """What a valid access token says about its bearer."""

    user_id: int
    role: str
    clinic_id: int | None
    version: int


def issue_token(claims: TokenClaims, settings: Settings, now: dt.datetime | None = None) -> str:
    """Sign a short-lived access token."""
    now = now or dt.datetime.now(dt.UTC)
    payload = {
        "sub": str(claims.user_id),
        "role": claims.role,
        "clinic": claims.clinic_id,
        "ver": claims.version,
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(seconds=settings.access_token_ttl_s)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(payload, settings.secret_key, algorithm=ALGORITHM)


def decode_token(token: str, settings: Settings) -> TokenClaims | None:
    """Verify a token's signature and expiry; None when it does not check out."""
    # A phone sends the same token on every request until it expires: remember what a good
    # signature said, keyed by (key, token), and only re-check the expiry.
    cached = _verified.get((settings.secret_key, token))
    if cached is not None:
        claims, expires = cached
        return claims if time.time() < expires else None
    claims_and_expiry = _verify(token, settings.secret_key)
    if claims_and_expiry is None:
        return None
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()  # crude but bounded; a full cache is rebuilt within seconds
    _verified[(settings.secret_key, token)] = claims_and_expiry
    return claims_and_expiry[0]


_VERIFIED_MAX = 10_000
_verified: dict[tuple[str, str], tuple[TokenClaims, float]] = {}


def _verify(token: str, key: str) -> tuple[TokenClaims, float] | None:
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "iat", "ver", "role"]},
        )
        claims = TokenClaims(
            user_id=int(payload["sub"]),
            role=str(payload["role"]),
            clinic_id=payload.get("clinic"),
            version=int(payload["ver"]),
        )
        return claims, float(payload["exp"])
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
