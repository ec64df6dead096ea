"""Keep secrets out of logs: query parameters that carry them, and credential headers.

Some secrets cannot leave the URL: OAuth puts `code` and `state` in the callback's query, and
Withings, Strava and Garmin call the webhook URL we registered (`?secret=...`), with no header of
our choosing. So every log line is scrubbed instead: the app's through `ScrubFilter` on the root
handlers, gunicorn's access and error logs through `GunicornLogger` (`flask serve` installs it).
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

from gunicorn.glogging import Logger

REDACTED = "[redacted]"
# Query parameters whose values are secrets (compared lower-cased, after percent-decoding).
SECRET_PARAMS = frozenset(
    {
        "code",
        "state",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "verification_token",
        "verify_token",
        "hub.verify_token",
        "password",
        "api_key",
        "key",
        "signature",
        "sig",
    }
)
# Headers (and their WSGI environ names) whose whole value is a credential.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
SECRET_ENVIRON = frozenset({"http_authorization", "http_proxy_authorization", "http_cookie"})

# `name=value` after `?`, `&` or `;`: a query parameter inside a URL or a request line. A value
# stops at `?`, so a URL nested in another parameter's value has its own query scrubbed.
_IN_URL = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;?#\s\"']+)=(?P<value>[^&;?#\s\"']*)")
_BARE = re.compile(r"(?P<lead>^|[&;])(?P<name>[^=&;?#\s\"']+)=(?P<value>[^&;#\s\"']*)")


def _redact(match: re.Match[str]) -> str:
    name = match.group("name")
    if unquote(name).lower() not in SECRET_PARAMS or not match.group("value"):
        return match.group(0)
    return f"{match.group('lead')}{name}={REDACTED}"


def scrub_text(text: str) -> str:
    """Redact secret query parameters of every URL in a piece of text."""
    if "=" not in text:
        return text
    return _IN_URL.sub(_redact, text)


def scrub_query(query: str) -> str:
    """Redact secret parameters of a bare query string (no leading `?`)."""
    if "=" not in query:
        return query
    return _BARE.sub(_redact, query)


class ScrubFilter(logging.Filter):
    """A handler filter that redacts secret query parameters in messages and tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message (and exception text) scrubbed; never drops a record."""
        message = record.getMessage()
        scrubbed = scrub_text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        return True


def install_scrub_filter(handlers: list[logging.Handler]) -> None:
    """Add a ScrubFilter to each handler that has none."""
    for handler in handlers:
        if not any(isinstance(f, ScrubFilter) for f in handler.filters):
            handler.addFilter(ScrubFilter())


_ATOM = re.compile(r"%\(([^)]+)\)s")


class GunicornLogger(Logger):
    """gunicorn's logger with secrets scrubbed from access-log atoms and every error line."""

    def setup(self, cfg: Any) -> None:
        """Configure as gunicorn does, then filter every handler it set up."""
        super().setup(cfg)
        install_scrub_filter(self.error_log.handlers)
        install_scrub_filter(self.access_log.handlers)

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        """The access-log atoms, scrubbed where the configured format uses them."""
        atoms = super().atoms(resp, req, environ, request_time)
        for name in _ATOM.findall(self.cfg.access_log_format):
            # Header and environ atoms are stored lower-cased; the one-letter ones are not.
            key = name.lower() if name.startswith("{") else name
            value = atoms.get(key)
            if not isinstance(value, str):
                continue
            atoms[key] = _scrub_atom(key, value)
        return atoms


def _scrub_atom(key: str, value: str) -> str:
    if key in {"q", "{query_string}e"}:
        return scrub_query(value)
    if key.startswith("{") and (
        ((key.endswith("}i") or key.endswith("}o")) and key[1:-2] in SECRET_HEADERS)
        or (key.endswith("}e") and key[1:-2] in SECRET_ENVIRON)
    ):
        return REDACTED
    return scrub_text(value)
