"""Who is calling: bearer-token authentication and role checks for views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request
from sqlalchemy import bindparam, select

from service.accounts.models import User
from service.accounts.security import decode_token
from service.errors import Forbidden, Unauthorized
from service.extensions import db, get_settings

F = TypeVar("F", bound=Callable[..., Any])
_USER_AUTH = select(
    User.__table__.c.token_version, User.__table__.c.role, User.__table__.c.clinic_id
).where(User.__table__.c.id == bindparam("id"))
BEARER_HEADERS = {"WWW-Authenticate": 'Bearer realm="backstride"'}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: int
    role: str
    clinic_id: int | None

    @property
    def is_staff(self) -> bool:
        """Clinicians and admins."""
        return self.role in {"clinician", "admin"}


def _authenticate() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token", headers=BEARER_HEADERS)
    claims = decode_token(token.strip(), get_settings())
    if claims is None:
        raise Unauthorized("invalid or expired token", headers=BEARER_HEADERS)
    # Every authenticated request pays for this lookup: one Core statement outside any
    # transaction (no BEGIN or COMMIT round trip, no ORM object), before the use case begins.
    with db.lookup() as conn:
        row = conn.execute(_USER_AUTH, {"id": claims.user_id}).first()
    # A bumped token_version revokes every token issued before it.
    if row is None or row.token_version != claims.version:
        raise Unauthorized("token revoked", headers=BEARER_HEADERS)
    return Principal(user_id=claims.user_id, role=row.role, clinic_id=row.clinic_id)


def current_principal() -> Principal:
    """The caller of the current request (authenticated by `require`)."""
    principal: Principal = g.principal
    return principal


def require(*roles: str) -> Callable[[F], F]:
    """Authenticate the request and allow only the given roles."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = _authenticate()
            if roles and principal.role not in roles:
                raise Forbidden(f"this route is for: {', '.join(roles)}")
            g.principal = principal
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator
