"""Shared parts of the contract checks (see tests/fakes/contracts.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml

from tests.fakes.server import Exchange

CONTRACTS = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"
PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"


def load(name: str) -> Any:
    """Load a contract document (JSON or YAML)."""
    text = (CONTRACTS / name).read_text()
    return yaml.safe_load(text) if name.endswith((".yaml", ".yml")) else json.loads(text)


class Contract:
    """Checks exchanges against one provider's document."""

    # Paths the document does not describe (OAuth endpoints live outside the data APIs),
    # with the reason; everything else must match a documented operation.
    outside: ClassVar[Mapping[str, str]] = {}

    def check(self, exchange: Exchange) -> list[str]:
        """Return the ways `exchange` breaks the document (none: it keeps to it)."""
        if exchange.request.path in self.outside:
            return []
        return self.problems(exchange)

    def problems(self, exchange: Exchange) -> list[str]:
        """Check a documented exchange (override)."""
        raise NotImplementedError

    def check_all(self, exchanges: Iterable[Exchange]) -> list[str]:
        """Return the problems of every exchange, each prefixed with its request."""
        found = []
        for exchange in exchanges:
            where = f"{exchange.request.method} {exchange.request.path}"
            found.extend(f"{where}: {problem}" for problem in self.check(exchange))
        return found
