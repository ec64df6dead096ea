"""Backstride service: the Flask application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from service.config import Settings, load_settings

API_TITLE = "Backstride API"
API_VERSION = "v1"
API_DESCRIPTION = (
    "Errors are RFC 9457 problem+json. Input limits: every date and time lies between "
    "2000-01-01 and tomorrow in UTC+14 (a progression hold and a simulation's range may look a "
    "year further ahead; a posted history's own dates run to 2099-12-31); "
    "ids are positive 64-bit integers; page sizes (`limit`) are 1 to 200; strings may not "
    "contain NUL characters or unpaired surrogates; JSON bodies nest at most 32 levels and "
    "weigh at most 1 MiB."
)


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the app: configure, init extensions, register blueprints, errors and CLI."""
    settings = _settings(config)
    app = Flask(__name__, instance_relative_config=False)
    _configure(app, settings)
    _guard_inputs(app)
    _init_extensions(app, settings)
    _plug_ports()
    _register_blueprints(app)
    _register_console(app, settings)
    _register_error_handlers(app)
    _register_cli(app)
    return app


def _settings(config: Settings | Mapping[str, Any] | None) -> Settings:
    if isinstance(config, Settings):
        return config
    settings = load_settings()
    return settings.replace(**config) if config else settings


def _configure(app: Flask, settings: Settings) -> None:
    from service.logscrub import install_scrub_filter

    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    install_scrub_filter(logging.getLogger().handlers)
    # Alembic announces each of its autogenerate plugins at INFO on every run: noise.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    app.extensions["backstride.settings"] = settings
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE=API_TITLE,
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        # Without Redis the limits live in the database (service/ratelimit.py), so that every
        # gunicorn worker shares them; Flask-Limiter's memory storage would count per process.
        RATELIMIT_STORAGE_URI=settings.redis_url or "backstride+db://",
        RATELIMIT_HEADERS_ENABLED=True,
        JSON_SORT_KEYS=False,
    )


def _guard_inputs(app: Flask) -> None:
    from service.inputs import IdConverter, TextConverter, refuse_hostile_json

    # Every `<int:...>` in a route is a row id: anything else in its place is a plain 404.
    app.url_map.converters["int"] = IdConverter
    # Every other segment is text the database can hold (PostgreSQL refuses a NUL).
    app.url_map.converters["default"] = app.url_map.converters["string"] = TextConverter
    app.before_request(refuse_hostile_json)


def _init_extensions(app: Flask, settings: Settings) -> None:
    import service.models  # noqa: F401 - every mapper is known before anything queries
    from service.extensions import api, db, limiter
    from service.ops.routes import install_request_metrics

    db.configure(settings.database_url)
    app.teardown_appcontext(db.remove)
    limiter.init_app(app)
    api.init_app(
        app,
        spec_kwargs={
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                }
            },
            "security": [{"bearerAuth": []}],
            "info": {"description": API_DESCRIPTION},
        },
    )
    install_request_metrics(app)


def _plug_ports() -> None:
    from service import ports
    from service.evaluation import hooks

    ports.plug_evaluation(hooks)


def _register_blueprints(app: Flask) -> None:
    from service.extensions import api
    from service.ops.routes import blp as ops_blp
    from service.routes import API_BLUEPRINTS

    app.register_blueprint(ops_blp)
    for blueprint in API_BLUEPRINTS:
        api.register_blueprint(blueprint)


def _register_console(app: Flask, settings: Settings) -> None:
    from service.console.app import init_console

    init_console(app, settings)


def _register_error_handlers(app: Flask) -> None:
    from service.errors import register_error_handlers

    register_error_handlers(app)


def _register_cli(app: Flask) -> None:
    from service.cli import register_cli

    register_cli(app)
