"""Extensions, created unbound here and bound to the app in create_app."""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import Api

from service.config import Settings
from service.db import Database

db = Database()
api = Api()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def get_settings() -> Settings:
    """The settings of the running app."""
    settings: Settings = current_app.extensions["backstride.settings"]
    return settings
