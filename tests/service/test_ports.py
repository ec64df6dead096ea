"""The evaluation port: lower packages reach the evaluation through it, plugged by create_app."""

from __future__ import annotations

import pytest
from flask import Flask

from service import ports
from service.evaluation import hooks


def test_create_app_plugs_the_evaluation_hooks_into_the_port(app: Flask) -> None:
    assert ports.evaluation() is hooks


def test_an_unplugged_port_says_how_to_plug_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "_evaluation", None)
    with pytest.raises(RuntimeError, match="create_app"):
        ports.evaluation()
