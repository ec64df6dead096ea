"""Signing in and out of the console."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from service.console import sessions
from service.console.web import SESSION_KEY, blp, safe_next
from service.db import utcnow
from service.errors import TooManyRequests, Unauthorized
from service.extensions import db, get_settings, sign_in_limit


@blp.route("/login", methods=["GET", "POST"])
# The same per-address budget as POST /v1/auth/token: alternating between the two buys nothing.
@sign_in_limit
def login() -> Response | tuple[str, int, dict[str, str]] | str:
    """Show the sign-in form; check the credentials as the API does and open a session."""
    target = request.values.get("next", "")
    if request.method == "GET":
        return render_template("console/login.html", next=target, email="", error=None)
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    if not email or not password:
        return _failed("Enter your email and password.", email, target, 422)
    try:
        session_id = sessions.sign_in(db.transaction, get_settings(), email, password, utcnow())
    except Unauthorized:
        return _failed("Wrong email or password.", email, target, 401)
    except (sessions.NotStaff, TooManyRequests) as exc:
        # Locked after repeated failures: the use case says for how long (and Retry-After).
        message = exc.detail[:1].upper() + exc.detail[1:]
        message += "" if message.endswith(".") else "."
        return _failed(message, email, target, exc.status, exc.headers)
    # A fresh cookie (and CSRF token) for the signed-in session: nothing from before carries over.
    session.clear()
    session[SESSION_KEY] = session_id
    session.permanent = True
    return redirect(safe_next(target), 303)


def _failed(
    message: str, email: str, target: str, status: int, headers: dict[str, str] | None = None
) -> tuple[str, int, dict[str, str]]:
    page = render_template("console/login.html", next=target, email=email, error=message)
    return page, status, headers or {}


@blp.route("/logout", methods=["POST"])
def logout() -> Response:
    """End the session on the server and in the browser."""
    with db.transaction() as tx:
        sessions.sign_out(tx, session.get(SESSION_KEY))
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("console.login"), 303)
