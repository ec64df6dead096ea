"""`/docs`: Swagger UI for /openapi.json, served from the pinned `flask-swagger-ui` package's
copy of the Swagger UI dist (never from a CDN), started by our own script (no inline code)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, render_template, send_from_directory
from werkzeug.wrappers import Response

from service.errors import NotFound

# Only the dist folder is used, not the package's blueprint (its page has inline script).
SWAGGER_DIST = Path(str(files("flask_swagger_ui") / "dist"))
ASSETS = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-16x16.png",
        "favicon-32x32.png",
    }
)

blp = Blueprint("docs", __name__, template_folder="templates")


@blp.get("/docs")
def docs() -> str:
    """Render Swagger UI for the API's OpenAPI document."""
    return render_template("docs.html")


@blp.get("/docs/assets/<path:filename>")
def asset(filename: str) -> Response:
    """Serve one file of the packaged Swagger UI dist (404 for anything else)."""
    if filename not in ASSETS:
        raise NotFound("no such asset")
    return send_from_directory(SWAGGER_DIST, filename, max_age=86400)
