"""The console blueprint and what every page shares: sign-in check, CSRF, forms, errors.

Each page runs in one `db.transaction()` opened by `staff_page`, which finds the signed-in
staff member from the session cookie and passes the session and the Principal to the view;
views call the same use cases as the API with them. A write inside a page goes through a
savepoint (`attempt`), so a refused change rolls back alone and the page can say why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from marshmallow import Schema, ValidationError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, TooManyRequests
from werkzeug.wrappers import Response

from service.accounts.auth import Principal
from service.console import sessions
from service.db import utcnow
from service.errors import Conflict, Forbidden, Invalid, ServiceError, flatten_messages
from service.extensions import db, get_settings

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)
STAFF = ("clinician", "admin")
SESSION_KEY = "sid"

# What a form may get wrong (bad input, a clash with the current state): the page says why and
# the form stays usable. Anything else (not yours, no such record) is an error page.
REFUSALS = (Invalid, Conflict)

csrf = CSRFProtect()
blp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@blp.before_request
def _protect_forms() -> None:
    g.pop("principal", None)
    g.pop("staff_email", None)
    # The API authenticates with bearer tokens (nothing for a forged request to ride on); the
    # console uses a cookie, so every form it accepts must carry the session's CSRF token.
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        csrf.protect()


def staff_page(*roles: str) -> Callable[[F], F]:
    """Run the view for a signed-in staff member as `view(session, principal, **kwargs)`."""
    allowed = roles or STAFF

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(**kwargs: Any) -> Any:
            with db.transaction() as tx:
                found = sessions.current(tx, get_settings(), session.get(SESSION_KEY), utcnow())
                if found is None:
                    session.pop(SESSION_KEY, None)
                    target = request.full_path.rstrip("?") if request.method == "GET" else None
                    return redirect(url_for("console.login", next=target), 303)
                principal, email = found
                g.principal, g.staff_email = principal, email
                if principal.role not in allowed:
                    raise Forbidden("This page is for clinicians of a clinic.")
                return view(tx, principal, **kwargs)

        return cast(F, wrapper)

    return decorator


@contextmanager
def attempt(tx: Session) -> Iterator[None]:
    """Run a use case's writes in a savepoint: a ServiceError undoes them and propagates."""
    with tx.begin_nested():
        yield


def load_form(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """Load form fields through the API's schema; the same 422 messages, naming each field."""
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        errors = flatten_messages(exc.messages)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise Invalid(detail, errors=errors) from exc
    return loaded


def fields_of(form: Mapping[str, str], *names: str) -> dict[str, str]:
    """The named form fields that were filled in (blank fields mean 'leave unchanged')."""
    return {name: form[name].strip() for name in names if form.get(name, "").strip()}


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path on this host, else Today."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console/"):
            return target
    return url_for("console.today")


def done(message: str, to: str) -> Response:
    """Say what happened and go back to a page (POST-redirect-GET)."""
    flash(message, "success")
    return redirect(to, 303)


def refused(error: ServiceError, to: str) -> Response:
    """Say why a change was refused and go back to the page it came from."""
    flash(plain_error(error), "error")
    return redirect(to, 303)


def plain_error(error: ServiceError) -> str:
    """A use case's refusal in words for the page (field names kept, no codes)."""
    if isinstance(error, Invalid) and error.errors and all("field" in e for e in error.errors):
        return "; ".join(f"{e['field']}: {e['message']}" for e in error.errors[:5])
    return error.detail


@blp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> tuple[str, int]:
    return render_template(
        "console/error.html", title=error.title, message=plain_error(error)
    ), error.status


@blp.errorhandler(CSRFError)
def _csrf_error(error: CSRFError) -> tuple[str, int]:
    message = "This form has expired or did not come from this console. Reload and try again."
    return render_template("console/error.html", title="Form expired", message=message), 400


@blp.errorhandler(TooManyRequests)
def _too_many(error: TooManyRequests) -> Response:
    response = Response(
        render_template(
            "console/login.html",
            error="Too many sign-in attempts. Wait a minute, then try again.",
            email=request.form.get("email", ""),
            next=request.form.get("next", ""),
        ),
        status=429,
    )
    if error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    return render_template(
        "console/error.html", title=error.name, message=error.description
    ), error.code or 500


@blp.errorhandler(Exception)
def _unexpected(error: Exception) -> tuple[str, int]:
    # As the API's handler: undo what the request started, log it, say nothing of internals.
    db.session.rollback()
    log.exception("unhandled error in the console", exc_info=error)
    message = "Something went wrong on our side. It has been logged; please try again."
    return render_template("console/error.html", title="Server error", message=message), 500


def principal_or_none() -> Principal | None:
    """The principal of the current page, when it has one (templates show the menu)."""
    principal: Principal | None = g.get("principal")
    return principal
