"""Configuration: the only module that reads the environment."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from integrations.budget import parse_limits
from integrations.wearables import PROVIDERS as PROVIDER_CLASSES
from service.keystrength import GENERATE_HINT, encoding_of, entropy_bits

# Every registered wearable provider; each reads its <NAME>_* variables.
PROVIDERS = tuple(PROVIDER_CLASSES)
INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"
DEFAULT_BIND = "127.0.0.1:8000"
# HS256 tokens are only as strong as the key: 256 bits, the hash's own size (RFC 7518 3.2).
MIN_SECRET_KEY_BITS = 256


class ConfigError(RuntimeError):
    """The environment does not describe a runnable service."""


@dataclass(frozen=True)
class ProviderSettings:
    """Credentials and endpoints of one wearable provider."""

    client_id: str | None = None
    client_secret: str | None = None
    base_url: str | None = None
    auth_url: str | None = None
    token_url: str | None = None
    webhook_secret: str | None = None
    # Request budgets ('100/minute;2000/day', or 'none'); None keeps the documented default
    # (the provider class's `quota`).
    rate_limit: str | None = None
    user_rate_limit: str | None = None

    @property
    def configured(self) -> bool:
        """Whether the provider can be linked at all."""
        return bool(self.client_id and self.client_secret)


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to know about its environment."""

    env: str = "development"
    database_url: str = f"sqlite:///{INSTANCE_DIR / 'backstride.db'}"
    secret_key: str = ""
    token_encryption_keys: tuple[str, ...] = ()
    access_token_ttl_s: int = 3600
    public_base_url: str = f"http://{DEFAULT_BIND}"
    # Where `flask serve` binds gunicorn, and its worker count.
    bind: str = DEFAULT_BIND
    web_concurrency: int = 2
    # When set, GET /metrics wants `Authorization: Bearer <metrics_token>`.
    metrics_token: str | None = None
    redis_url: str | None = None
    # Namespace of the provider request budgets in Redis (several deployments may share one).
    budget_key_prefix: str = "backstride-budget"
    login_rate_limit: str = "10 per minute"
    # Clinician console sessions: signed out after this long idle, and after this long at most.
    console_session_idle_s: int = 3600
    console_session_max_s: int = 12 * 3600
    max_body_bytes: int = 1024 * 1024
    # argon2id cost; tests lower it, production keeps the library's RFC 9106 defaults.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    scheduler_enabled: bool = False
    sync_interval_s: int = 3600
    # A patient's deferred `activity` evaluation runs at most once per this many seconds (0: at
    # every evaluate_pending run). Pain and exercise reports are evaluated at once regardless.
    activity_evaluation_interval_s: int = 0
    # Wearable sync: worker threads per scheduler tick, and at most this many per provider.
    sync_concurrency: int = 16
    sync_provider_concurrency: int = 8
    providers: Mapping[str, ProviderSettings] = field(default_factory=dict)
    fcm_credentials_file: str | None = None
    fcm_base_url: str | None = None
    apns_key_file: str | None = None
    apns_key_id: str | None = None
    apns_team_id: str | None = None
    apns_topic: str | None = None
    apns_base_url: str | None = None
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:ops@backstride.example"
    log_level: str = "INFO"

    @property
    def is_production(self) -> bool:
        """Whether this is a production deployment (secure cookies, HSTS)."""
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite (some SQL differs)."""
        return self.database_url.startswith("sqlite")

    def provider(self, name: str) -> ProviderSettings:
        """Settings of one provider (empty when not configured)."""
        return self.providers.get(name, ProviderSettings())

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 0:
        raise ConfigError(f"{name} must be 0 or more seconds, got {value}")
    return value


def _limits(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name) or None
    try:
        parse_limits(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must look like '100/minute;2000/day', got {raw!r}") from exc
    return raw


def _provider_settings(env: Mapping[str, str]) -> dict[str, ProviderSettings]:
    result = {}
    for name in PROVIDERS:
        prefix = name.upper()
        result[name] = ProviderSettings(
            client_id=env.get(f"{prefix}_CLIENT_ID") or None,
            client_secret=env.get(f"{prefix}_CLIENT_SECRET") or None,
            base_url=env.get(f"{prefix}_BASE_URL") or None,
            auth_url=env.get(f"{prefix}_AUTH_URL") or None,
            token_url=env.get(f"{prefix}_TOKEN_URL") or None,
            webhook_secret=env.get(f"{prefix}_WEBHOOK_SECRET") or None,
            rate_limit=_limits(env, f"{prefix}_RATE_LIMIT"),
            user_rate_limit=_limits(env, f"{prefix}_USER_RATE_LIMIT"),
        )
    # The sandbox needs no credentials: it is always linkable.
    result["sandbox"] = ProviderSettings(client_id="sandbox", client_secret="sandbox")  # noqa: S106
    return result


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment; refuse to start production without secrets."""
    env = os.environ if env is None else env
    mode = env.get("BACKSTRIDE_ENV", "development")
    secret_key = env.get("SECRET_KEY", "")
    keys = tuple(k.strip() for k in env.get("TOKEN_ENCRYPTION_KEY", "").split(",") if k.strip())
    if mode == "production":
        missing = [
            n for n, v in (("SECRET_KEY", secret_key), ("TOKEN_ENCRYPTION_KEY", keys)) if not v
        ]
        if missing:
            raise ConfigError(f"production requires {', '.join(missing)}")
        _check_secret_key(secret_key)
    else:
        secret_key = secret_key or _development_secret("secret_key", lambda: secrets.token_hex(32))
        keys = keys or (_development_secret("fernet_key", lambda: Fernet.generate_key().decode()),)
    for key in keys:
        try:
            Fernet(key)
        except ValueError as exc:
            raise ConfigError("TOKEN_ENCRYPTION_KEY must be Fernet keys, comma-separated") from exc
    defaults = Settings()
    bind = env.get("BIND") or defaults.bind
    return Settings(
        env=mode,
        database_url=env.get("DATABASE_URL") or defaults.database_url,
        secret_key=secret_key,
        token_encryption_keys=keys,
        access_token_ttl_s=_int(env, "ACCESS_TOKEN_TTL", defaults.access_token_ttl_s),
        public_base_url=(env.get("PUBLIC_BASE_URL") or _url_of_bind(bind)).rstrip("/"),
        bind=bind,
        web_concurrency=_int(env, "WEB_CONCURRENCY", defaults.web_concurrency),
        metrics_token=env.get("METRICS_TOKEN") or None,
        redis_url=env.get("REDIS_URL") or None,
        budget_key_prefix=env.get("BUDGET_KEY_PREFIX") or defaults.budget_key_prefix,
        login_rate_limit=env.get("LOGIN_RATE_LIMIT", defaults.login_rate_limit),
        console_session_idle_s=_int(env, "CONSOLE_SESSION_IDLE", defaults.console_session_idle_s),
        console_session_max_s=_int(env, "CONSOLE_SESSION_MAX", defaults.console_session_max_s),
        scheduler_enabled=env.get("SCHEDULER", "0") == "1",
        sync_interval_s=_int(env, "SYNC_INTERVAL", defaults.sync_interval_s),
        activity_evaluation_interval_s=_seconds(
            env, "ACTIVITY_EVALUATION_INTERVAL", defaults.activity_evaluation_interval_s
        ),
        sync_concurrency=_int(env, "SYNC_CONCURRENCY", defaults.sync_concurrency),
        sync_provider_concurrency=_int(
            env, "SYNC_PROVIDER_CONCURRENCY", defaults.sync_provider_concurrency
        ),
        providers=_provider_settings(env),
        fcm_credentials_file=env.get("FCM_CREDENTIALS_FILE") or None,
        fcm_base_url=env.get("FCM_BASE_URL") or None,
        apns_key_file=env.get("APNS_KEY_FILE") or None,
        apns_key_id=env.get("APNS_KEY_ID") or None,
        apns_team_id=env.get("APNS_TEAM_ID") or None,
        apns_topic=env.get("APNS_TOPIC") or None,
        apns_base_url=env.get("APNS_BASE_URL") or None,
        vapid_private_key=env.get("VAPID_PRIVATE_KEY") or None,
        log_level=env.get("LOG_LEVEL", "INFO"),
    )


def _check_secret_key(key: str) -> None:
    """Refuse a production SECRET_KEY with less than 256 bits of entropy (service/keystrength)."""
    bits = entropy_bits(key)
    if bits < MIN_SECRET_KEY_BITS:
        raise ConfigError(
            f"SECRET_KEY must carry at least {MIN_SECRET_KEY_BITS // 8} bytes of entropy in "
            f"production; read as {encoding_of(key)} it carries about {bits // 8} "
            f"(hex counts 4 bits a digit, base64 6 bits a character; repeats count once). "
            f"Generate one with: {GENERATE_HINT}"
        )


def _url_of_bind(bind: str) -> str:
    """The URL a gunicorn bound at `bind` answers on (wildcard addresses become loopback)."""
    if bind.startswith(("unix:", "fd://")):
        return f"http://{DEFAULT_BIND}"
    host, colon, port = bind.removeprefix("tcp://").rpartition(":")
    if not colon or (host.startswith("[") and not host.endswith("]")):
        host, port = bind, "8000"  # gunicorn's default port
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(host, host)  # noqa: S104
    return f"http://{host}:{port}"


def _development_secret(name: str, make: Any, directory: Path = INSTANCE_DIR) -> str:
    """Keep a development secret in instance/ so tokens survive restarts of `make run`.

    Several processes may start at once (test workers, gunicorn's), so the file is written
    whole under a private name and then linked into place: a reader never sees it half-written,
    and the first process to link wins for all of them.
    """
    directory.mkdir(exist_ok=True)
    path = directory / f".{name}"
    if not path.exists():
        fd, partial = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(make())
            os.link(partial, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(partial)
    return path.read_text().strip()
