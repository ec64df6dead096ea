"""Response headers: a strict Content-Security-Policy and the usual hardening, on every page.

Console pages load only this origin's CSS and JS (no inline script or style; SVG charts use
presentation attributes). `/docs` runs the packaged Swagger UI, whose components set inline
styles, so its policy allows inline *styles* (never scripts). JSON responses get a policy that
allows nothing, which stops a browser from ever rendering one as a page.
"""

from __future__ import annotations

from flask import Flask, Response, request

from service.config import Settings

CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
HSTS = "max-age=31536000; includeSubDomains"


def install_security_headers(app: Flask, settings: Settings) -> None:
    """Add the headers to every response (HSTS only in production, behind TLS)."""
    production = settings.is_production

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        path = request.path
        wanted = dict(COMMON)
        if path.startswith("/console"):
            wanted["Content-Security-Policy"] = CONSOLE_CSP
            if not path.startswith("/console/static/"):
                # Patient data: never kept in a shared cache or the browser's history cache.
                headers["Cache-Control"] = "no-store"
        elif path == "/docs" or path.startswith("/docs/"):
            wanted["Content-Security-Policy"] = DOCS_CSP
        else:
            wanted["Content-Security-Policy"] = API_CSP
        if production:
            wanted["Strict-Transport-Security"] = HSTS
        # A view's own value wins. One pass over the headers, where a setdefault per name
        # scanned them all six times (every response pays for this).
        present = {name.lower() for name in headers.keys()}  # noqa: SIM118 - Headers is a list
        headers.extend(
            (name, value) for name, value in wanted.items() if name.lower() not in present
        )
        return response
