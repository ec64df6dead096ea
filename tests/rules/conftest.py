"""Shared helpers for the rules tests: a small valid rule set to vary."""

from __future__ import annotations

import pytest

BASE = """\
ruleset: demo
title: Demo
settings:
  decision_times: ["08:30", "15:00"]
  max_tips_per_day: 2
  target: {initial: 4000, min: 2000, max: 6000, max_weekly_increase: 0.10}
tips:
  rest:
    category: pain
    title: Rest
    text: "Pain {pain.latest}/10"
  walk:
    category: general
    title: Walk
    text: Go for a walk
    variants:
      - {title: Walk 2, text: Second wording}
      - {title: Walk 3, text: Third wording}
  care:
    category: safety
    title: Care
    text: Seek care
rules:
  - id: flare
    priority: 90
    when: pain.latest >= 7
    then:
      - send_tip: rest
      - set_target: "plan.target * 0.8"
"""


def yaml_text(extra: str = "") -> str:
    """Return the base rule set with `extra` (dedented) appended (rules or top-level keys)."""
    return BASE + extra


@pytest.fixture
def base_text() -> str:
    """The base rule-set text."""
    return BASE
